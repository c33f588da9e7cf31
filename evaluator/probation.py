"""Probation: after a promotion, watch the new champion against the old one on fresh labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluator.stats import mcnemar


@dataclass(frozen=True, slots=True)
class ProbationVerdict:
    done: bool
    rollback: bool
    reason: str


class ProbationMonitor:
    """Rolls a promotion back when the new champion is significantly worse live.

    Fed per-event correctness of both models on the same fresh labeled events. After
    ``labels_needed`` pairs, a one-sided McNemar test of "the old champion is better" decides.

    Early bail-out: from ``early_after`` pairs on (default a fifth of ``labels_needed``, at
    least 30), roll back at once when the new champion trails by at least ``catastrophic_drop``
    accuracy AND the test is already significant. Looking early more than once inflates the
    rollback rate a little; the large-drop requirement keeps that to clearly broken models,
    where serving them for the rest of probation costs more.

    Args:
        labels_needed: paired events for the final verdict.
        significance: threshold of the one-sided test.
        catastrophic_drop: accuracy gap for the early bail-out (1.0 disables it).
        early_after: pairs before the bail-out may fire.
    """

    def __init__(
        self,
        labels_needed: int,
        significance: float,
        catastrophic_drop: float = 0.2,
        early_after: int | None = None,
    ) -> None:
        if labels_needed < 1 or not 0 < significance < 1:
            raise ValueError("labels_needed must be >= 1 and significance within (0, 1)")
        self._needed = labels_needed
        self._significance = significance
        self._drop = catastrophic_drop
        self._early_after = early_after if early_after is not None else max(30, labels_needed // 5)
        self._new: list[bool] = []
        self._old: list[bool] = []

    def __len__(self) -> int:
        return len(self._new)

    def pairs(self) -> tuple[list[bool], list[bool]]:
        """What was observed so far: per event, whether the new and the old champion were right."""
        return list(self._new), list(self._old)

    def add(self, new_champion_correct: bool, old_champion_correct: bool) -> None:
        """Record one fresh labeled event; pairs after the verdict is done are ignored."""
        if len(self._new) < self._needed:
            self._new.append(bool(new_champion_correct))
            self._old.append(bool(old_champion_correct))

    def verdict(self) -> ProbationVerdict:
        """Not done yet, roll back, or keep; the reason carries the numbers."""
        n = len(self._new)
        new = np.array(self._new, dtype=bool)
        old = np.array(self._old, dtype=bool)
        if n == 0:
            return ProbationVerdict(False, False, f"probation: 0/{self._needed} labels")
        new_acc, old_acc = float(new.mean()), float(old.mean())
        # Swapped arguments: the "challenger" here is the old champion.
        p = mcnemar(champion_correct=new, challenger_correct=old).one_sided_p
        summary = f"live accuracy {new_acc:.3f} vs old {old_acc:.3f} on {n} labels, p={p:.2g}"
        if n < self._needed:
            if (
                n >= self._early_after
                and old_acc - new_acc >= self._drop
                and p < self._significance
            ):
                return ProbationVerdict(True, True, f"rollback early: {summary}")
            return ProbationVerdict(False, False, f"probation: {n}/{self._needed} labels")
        if p < self._significance:
            return ProbationVerdict(True, True, f"rollback: {summary}")
        return ProbationVerdict(True, False, f"keep: {summary}")
