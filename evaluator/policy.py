"""When a challenger replaces the champion: enough evidence, a real margin, no collapsed class.

``judge`` is the evaluator's rule: a sequential test (``evaluator.sequential``) looked at
every round on a growing sample of fresh events. ``decide`` is the one-shot version on a
fixed sample (McNemar), for callers that decide once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evaluator.classification import classification_metrics
from evaluator.sequential import SequentialTest
from evaluator.stats import McNemarResult, mcnemar


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one comparison, with the evidence the evaluator records."""

    promote: bool
    reason: str
    champion_metrics: dict[str, float]
    challenger_metrics: dict[str, float]
    mcnemar: McNemarResult
    p_value: float  # the test's p-value of "the challenger is no better" (always-valid in judge)


@dataclass(frozen=True, slots=True)
class PromotionPolicy:
    """Promotion rules, checked in order; the first that fails names itself in the reason.

    1. at least ``min_samples`` labeled events the challenger never trained on;
    2. challenger accuracy minus champion accuracy at least ``min_margin``;
    3. one-sided McNemar p-value (challenger better) below ``significance``;
    4. no class with at least ``min_class_samples`` events, and that the champion predicts
       with a precision of at least ``min_champion_precision``, loses more than
       ``max_recall_drop`` of recall.

    Rule 3 bounds the false-promotion rate of one decision between two equally good models
    by ``significance``. Re-deciding the same challenger on overlapping windows tests
    repeatedly and inflates that rate, so callers should decide once per fresh sample.
    """

    min_samples: int
    min_margin: float
    significance: float
    max_recall_drop: float
    min_class_samples: int = 5
    max_samples: int = 2_000
    min_champion_precision: float = 0.5

    def judge(
        self,
        y_true: ArrayLike,
        champion_proba: ArrayLike,
        challenger_proba: ArrayLike,
        n_classes: int,
        test: SequentialTest,
        *,
        final: bool = False,
    ) -> Decision | None:
        """The sequential rule, at one look; None means "keep collecting".

        ``test`` has seen the same paired events. In order:

        1. fewer than ``min_samples`` events: wait;
        2. always-valid p of "the challenger is worse" below ``significance``: reject;
        3. always-valid p of "no better" below ``significance``, the margin at least
           ``min_margin`` and no collapsed class: promote;
        4. ``max_samples`` events, or ``final`` (it is being superseded): reject, naming
           the rule that held it back; otherwise wait.

        Each challenger is promoted wrongly (when it is in truth no better) with
        probability at most ``significance``, however many rounds look at it.
        """
        y = np.asarray(y_true, dtype=np.int64)
        n = y.shape[0]
        if n < self.min_samples and not final:
            return None
        champ, chall, paired = _compare(y, champion_proba, challenger_proba, n_classes)

        def verdict(promote: bool, reason: str) -> Decision:
            return Decision(promote, reason, champ, chall, paired, test.p_better)

        evidence = f"always-valid p={test.p_better:.2g} on {n} events ({test.c} won, {test.b} lost)"
        if n < self.min_samples:
            return verdict(False, f"not enough samples: {n} < {self.min_samples}")
        if test.p_worse < self.significance:
            return verdict(
                False,
                f"worse: accuracy {chall['accuracy']:.4g} vs {champ['accuracy']:.4g}, "
                f"always-valid p={test.p_worse:.2g} on {n} events",
            )
        margin = chall["accuracy"] - champ["accuracy"]
        held_back = None
        if test.p_better >= self.significance:
            held_back = f"not significant: {evidence}"
        elif round(margin, 12) < self.min_margin:
            held_back = f"margin {margin:.4g} < {self.min_margin:g} ({evidence})"
        else:
            collapsed = self._worst_recall_drop(y, champ, chall)
            if collapsed is not None:
                k, before, after = collapsed
                held_back = f"recall of class {k} collapsed: {before:.2f} -> {after:.2f}"
        if held_back is None:
            return verdict(
                True,
                f"promote: accuracy {chall['accuracy']:.4g} vs {champ['accuracy']:.4g}, {evidence}",
            )
        if final or n >= self.max_samples:
            return verdict(False, held_back)
        return None

    def decide(
        self,
        y_true: ArrayLike,
        champion_proba: ArrayLike,
        challenger_proba: ArrayLike,
        n_classes: int,
    ) -> Decision:
        """Compare champion and challenger on the same labeled events."""
        y = np.asarray(y_true, dtype=np.int64)
        champ, chall, test = _compare(y, champion_proba, challenger_proba, n_classes)

        def verdict(promote: bool, reason: str) -> Decision:
            return Decision(promote, reason, champ, chall, test, test.one_sided_p)

        n = y.shape[0]
        if n < self.min_samples:
            return verdict(False, f"not enough samples: {n} < {self.min_samples}")
        margin = chall["accuracy"] - champ["accuracy"]
        # Rounding keeps "0.01 - 0.0" style float noise from rejecting an exact margin.
        if round(margin, 12) < self.min_margin:
            return verdict(False, f"margin {margin:.4g} < {self.min_margin:g}")
        if test.one_sided_p >= self.significance:
            return verdict(
                False, f"not significant: p={test.one_sided_p:.2g} >= {self.significance:g}"
            )
        collapsed = self._worst_recall_drop(y, champ, chall)
        if collapsed is not None:
            k, before, after = collapsed
            return verdict(False, f"recall of class {k} collapsed: {before:.2f} -> {after:.2f}")
        return verdict(
            True,
            f"promote: accuracy {chall['accuracy']:.4g} vs {champ['accuracy']:.4g}, "
            f"p={test.one_sided_p:.2g}",
        )

    def _worst_recall_drop(
        self, y: NDArray[np.int64], champ: dict[str, float], chall: dict[str, float]
    ) -> tuple[int, float, float] | None:
        counts = np.bincount(y)
        worst: tuple[int, float, float] | None = None
        worst_drop = self.max_recall_drop
        for k in np.flatnonzero(counts >= self.min_class_samples):
            # A champion that calls nearly everything k (as a broken one after a drift can)
            # has a high recall of k that means nothing: only a class it predicts with some
            # precision has recall to lose.
            if champ.get(f"precision_class_{k}", 0.0) < self.min_champion_precision:
                continue
            before = champ[f"recall_class_{k}"]
            after = chall[f"recall_class_{k}"]
            if before - after > worst_drop:
                worst, worst_drop = (int(k), before, after), before - after
        return worst


def _compare(
    y: NDArray[np.int64], champion_proba: ArrayLike, challenger_proba: ArrayLike, n_classes: int
) -> tuple[dict[str, float], dict[str, float], McNemarResult]:
    """Both models' metrics on the same events, and McNemar's paired counts."""
    champ = classification_metrics(y, champion_proba, n_classes)
    chall = classification_metrics(y, challenger_proba, n_classes)
    paired = mcnemar(
        np.asarray(champion_proba).argmax(axis=1) == y,
        np.asarray(challenger_proba).argmax(axis=1) == y,
    )
    return champ, chall, paired
