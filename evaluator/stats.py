"""McNemar's test: are two models' accuracies different on the same events?"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

EXACT_BELOW = 25  # below this many discordant pairs the chi-square approximation is poor


@dataclass(frozen=True, slots=True)
class McNemarResult:
    """McNemar's test on paired outcomes.

    Attributes:
        b: events the champion got right and the challenger wrong.
        c: events the challenger got right and the champion wrong.
        statistic: ``min(b, c)`` for the exact test, the corrected chi-square otherwise.
        p_value: two-sided p-value.
        one_sided_p: p-value of "the challenger is better" (c larger than chance).
    """

    b: int
    c: int
    statistic: float
    p_value: float
    one_sided_p: float

    @property
    def exact(self) -> bool:
        return self.b + self.c < EXACT_BELOW


def mcnemar(champion_correct: ArrayLike, challenger_correct: ArrayLike) -> McNemarResult:
    """Compare two models on the SAME events from their per-event correctness.

    Only discordant events carry information; under "equally good" each is the challenger's
    win with probability 1/2. Exact binomial test when there are fewer than 25 of them,
    chi-square (and its signed normal root for the one-sided p) with continuity correction
    otherwise. To test "challenger worse", swap the arguments.
    """
    a = np.asarray(champion_correct, dtype=bool)
    z = np.asarray(challenger_correct, dtype=bool)
    if a.shape != z.shape or a.ndim != 1:
        raise ValueError(f"need two 1-d arrays of the same length, got {a.shape} and {z.shape}")
    b = int(np.count_nonzero(a & ~z))
    c = int(np.count_nonzero(~a & z))
    n = b + c
    if n == 0:
        return McNemarResult(0, 0, 0.0, 1.0, 1.0)
    if n < EXACT_BELOW:
        two_sided = min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), n, 0.5)))
        one_sided = float(stats.binom.sf(c - 1, n, 0.5))  # P(X >= c)
        return McNemarResult(b, c, float(min(b, c)), two_sided, one_sided)
    chi2 = (abs(b - c) - 1) ** 2 / n
    one_sided = float(stats.norm.sf((c - b - 1) / math.sqrt(n)))
    return McNemarResult(b, c, float(chi2), float(stats.chi2.sf(chi2, 1)), one_sided)
