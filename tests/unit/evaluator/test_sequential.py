"""The mSPRT: valid however often it is looked at, and quick when the difference is large."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.special import betainc, betaln

from evaluator.sequential import SequentialTest, log_likelihood_ratio
from evaluator.stats import mcnemar


def _log_lr(wins: NDArray[np.int64], losses: NDArray[np.int64]) -> NDArray[np.float64]:
    """The same ratio, vectorized, to simulate thousands of trials fast."""
    n = wins + losses
    tail = betainc(losses + 1, wins + 1, 0.5)
    with np.errstate(divide="ignore"):
        out: NDArray[np.float64] = (
            (n + 1) * math.log(2) + betaln(wins + 1, losses + 1) + np.log(tail)
        )
        return out


def test_no_evidence_is_a_ratio_of_one() -> None:
    assert log_likelihood_ratio(0, 0) == 0.0
    assert SequentialTest().p_better == 1.0


def test_the_vectorized_copy_matches() -> None:
    for c, b in [(0, 0), (3, 1), (20, 2), (40, 60)]:
        assert math.isclose(
            log_likelihood_ratio(c, b), float(_log_lr(np.array(c), np.array(b))), abs_tol=1e-9
        )


def test_wins_lower_the_p_value_and_losses_raise_it() -> None:
    assert log_likelihood_ratio(20, 2) > log_likelihood_ratio(15, 2) > log_likelihood_ratio(15, 8)


def test_looking_after_every_event_keeps_the_false_promotion_rate_below_alpha() -> None:
    # 4,000 trials of two equally good models, 1,000 discordant events each, a look after
    # every one: an always-valid p below 0.05 at ANY look must happen in at most ~5 %.
    rng = np.random.default_rng(0)
    alpha, trials, steps = 0.05, 4_000, 1_000
    wins = np.cumsum(rng.random((trials, steps)) < 0.5, axis=1)
    losses = np.arange(1, steps + 1) - wins
    ever = (_log_lr(wins, losses) >= math.log(1 / alpha)).any(axis=1)
    assert ever.mean() <= alpha + 0.01  # sampling slack: 0.01 is 3 standard errors

    # The naive alternative, McNemar's one-sided p at a look every 20 events, is not valid.
    def naive_promotes(t: int) -> bool:
        for k in range(20, steps + 1, 20):
            challenger_right = np.arange(k) < wins[t, k - 1]  # k discordant events
            if mcnemar(~challenger_right, challenger_right).one_sided_p < alpha:
                return True
        return False

    assert sum(naive_promotes(t) for t in range(300)) / 300 > 2 * alpha


def test_a_clearly_better_challenger_is_found_within_a_few_dozen_events() -> None:
    rng = np.random.default_rng(1)
    stopped = []
    for _ in range(200):
        test = SequentialTest()
        for i in range(1, 500):
            challenger_right = bool(rng.random() < 0.8)
            test.add(champion_correct=not challenger_right, challenger_correct=challenger_right)
            if test.p_better < 0.01:
                stopped.append(i)
                break
    assert len(stopped) == 200
    assert float(np.median(stopped)) < 40


def test_concordant_events_change_nothing_and_worse_is_the_mirror() -> None:
    test = SequentialTest()
    for _ in range(50):
        test.add(True, True)
        test.add(False, False)
    assert (test.b, test.c, test.p_better, test.p_worse) == (0, 0, 1.0, 1.0)
    for _ in range(30):
        test.add(champion_correct=True, challenger_correct=False)
    assert test.p_worse < 1e-4 and test.p_better == 1.0
