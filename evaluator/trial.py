"""One challenger's ongoing trial against the champion: the fresh labeled events both models
scored so far, accumulated round after round for the sequential test."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from arena.join import LabeledExample
from evaluator.sequential import SequentialTest


class Trial:
    """The evidence on one (champion, challenger) pair; each event counts once."""

    def __init__(self, champion_id: int, challenger_id: int, n_classes: int) -> None:
        self.champion_id = champion_id
        self.challenger_id = challenger_id
        self.test = SequentialTest()
        self._seen: set[str] = set()
        self._labels: list[int] = []
        self._champion: list[NDArray[np.float32]] = []
        self._challenger: list[NDArray[np.float32]] = []
        self._n_classes = n_classes

    def __len__(self) -> int:
        return len(self._labels)

    def unseen(self, examples: Sequence[LabeledExample]) -> list[LabeledExample]:
        """The examples this trial has not scored yet."""
        return [e for e in examples if e.event_id not in self._seen]

    def add(
        self,
        examples: Sequence[LabeledExample],
        champion_proba: NDArray[np.float32],
        challenger_proba: NDArray[np.float32],
    ) -> None:
        """Both models' probabilities on ``examples`` (in order)."""
        if not len(examples) == len(champion_proba) == len(challenger_proba):
            raise ValueError("one row of probabilities per example, for each model")
        for e, p_champ, p_chall in zip(examples, champion_proba, challenger_proba, strict=True):
            self._seen.add(e.event_id)
            self._labels.append(e.label)
            self._champion.append(p_champ)
            self._challenger.append(p_chall)
            self.test.add(int(np.argmax(p_champ)) == e.label, int(np.argmax(p_chall)) == e.label)

    def labels(self) -> NDArray[np.int64]:
        return np.asarray(self._labels, dtype=np.int64)

    def champion_proba(self) -> NDArray[np.float32]:
        return _rows(self._champion, self._n_classes)

    def challenger_proba(self) -> NDArray[np.float32]:
        return _rows(self._challenger, self._n_classes)


def _rows(rows: list[NDArray[np.float32]], n_classes: int) -> NDArray[np.float32]:
    if not rows:
        return np.empty((0, n_classes), np.float32)
    return np.stack(rows).astype(np.float32)
