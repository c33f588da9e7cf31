"""When a challenger replaces the champion: enough evidence, a real margin, no collapsed class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evaluator.classification import classification_metrics
from evaluator.stats import McNemarResult, mcnemar


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one comparison, with the evidence the evaluator records."""

    promote: bool
    reason: str
    champion_metrics: dict[str, float]
    challenger_metrics: dict[str, float]
    mcnemar: McNemarResult


@dataclass(frozen=True, slots=True)
class PromotionPolicy:
    """Promotion rules, checked in order; the first that fails names itself in the reason.

    1. at least ``min_samples`` labeled events the challenger never trained on;
    2. challenger accuracy minus champion accuracy at least ``min_margin``;
    3. one-sided McNemar p-value (challenger better) below ``significance``;
    4. no class with at least ``min_class_samples`` events loses more than
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

    def decide(
        self,
        y_true: ArrayLike,
        champion_proba: ArrayLike,
        challenger_proba: ArrayLike,
        n_classes: int,
    ) -> Decision:
        """Compare champion and challenger on the same labeled events."""
        y = np.asarray(y_true, dtype=np.int64)
        champ = classification_metrics(y, champion_proba, n_classes)
        chall = classification_metrics(y, challenger_proba, n_classes)
        test = mcnemar(
            np.asarray(champion_proba).argmax(axis=1) == y,
            np.asarray(challenger_proba).argmax(axis=1) == y,
        )

        def verdict(promote: bool, reason: str) -> Decision:
            return Decision(promote, reason, champ, chall, test)

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
            before = champ[f"recall_class_{k}"]
            after = chall[f"recall_class_{k}"]
            if before - after > worst_drop:
                worst, worst_drop = (int(k), before, after), before - after
        return worst
