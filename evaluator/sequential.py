"""An always-valid sequential test of "the challenger is better": a mixture SPRT (mSPRT) on
the discordant pairs of a paired comparison.

Only events where exactly one model is right carry information. Under H0 ("the challenger
is no better") each discordant event is the challenger's win with probability p <= 1/2.
Against the alternatives p in (1/2, 1], weighted uniformly, the likelihood ratio after
c wins and b losses is

    L = integral over (1/2, 1] of 2 * (2p)^c * (2(1 - p))^b dp
      = 2^(c + b + 1) * B(c + 1, b + 1) * I_{1/2}(b + 1, c + 1)

(``B`` the beta function, ``I`` the regularized incomplete beta). Under p = 1/2 it is a
non-negative martingale with mean 1, and under p < 1/2 a supermartingale, so by Ville's
inequality P(L ever reaches 1/alpha) <= alpha, however often it is looked at and whenever
the looking stops. The always-valid p-value is ``min(1, 1 / max L so far)``; promoting only
when it is below ``alpha`` bounds the false-promotion probability of each challenger by
``alpha``, with a new look at every evaluation round. Swapping wins and losses gives the
same test of "the challenger is worse", which lets the evaluator reject early.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.special import betainc, betaln

LOG2 = math.log(2.0)


def log_likelihood_ratio(wins: int, losses: int) -> float:
    """log L for ``wins`` discordant events won by the challenger and ``losses`` lost."""
    if wins < 0 or losses < 0:
        raise ValueError("wins and losses must be >= 0")
    tail = float(betainc(losses + 1, wins + 1, 0.5))  # = 1 - I_{1/2}(wins + 1, losses + 1)
    if tail <= 0.0:
        return -math.inf
    n = wins + losses
    return (n + 1) * LOG2 + float(betaln(wins + 1, losses + 1)) + math.log(tail)


@dataclass(slots=True)
class SequentialTest:
    """The running mSPRT of one challenger against one champion, in both directions.

    ``b``: events only the champion got right; ``c``: only the challenger.
    """

    b: int = 0
    c: int = 0
    _best_better: float = 0.0  # max log L so far, "challenger better" (log 1 at the start)
    _best_worse: float = 0.0

    def add(self, champion_correct: bool, challenger_correct: bool) -> None:
        """One more paired event (concordant pairs change nothing)."""
        if champion_correct == challenger_correct:
            return
        if challenger_correct:
            self.c += 1
        else:
            self.b += 1
        self._best_better = max(self._best_better, log_likelihood_ratio(self.c, self.b))
        self._best_worse = max(self._best_worse, log_likelihood_ratio(self.b, self.c))

    @property
    def p_better(self) -> float:
        """Always-valid p-value of H0 "the challenger is no better"."""
        return min(1.0, math.exp(-self._best_better))

    @property
    def p_worse(self) -> float:
        """Always-valid p-value of H0 "the challenger is no worse"."""
        return min(1.0, math.exp(-self._best_worse))
