from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

from evaluator.stats import mcnemar


def pairs(both: int, b: int, c: int, neither: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Champion and challenger correctness with the given contingency table."""
    champion = [True] * both + [True] * b + [False] * c + [False] * neither
    challenger = [True] * both + [False] * b + [True] * c + [False] * neither
    return np.array(champion), np.array(challenger)


def test_exact_b10_c2_known_values() -> None:
    r = mcnemar(*pairs(50, 10, 2, 5))
    assert (r.b, r.c) == (10, 2)
    assert r.exact
    # Two-sided: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * 79 / 4096 (statsmodels: 0.03857).
    assert r.p_value == pytest.approx(158 / 4096)
    assert r.statistic == 2
    # The challenger won only 2 of 12: no evidence it is better.
    assert r.one_sided_p == pytest.approx(1 - 13 / 4096)


def test_exact_challenger_better() -> None:
    r = mcnemar(*pairs(50, 2, 10, 5))
    assert r.one_sided_p == pytest.approx(79 / 4096)  # P(X >= 10)
    assert r.p_value == pytest.approx(158 / 4096)


def test_chi_square_with_continuity_correction() -> None:
    r = mcnemar(*pairs(100, 10, 30, 20))
    assert not r.exact
    assert r.statistic == pytest.approx((20 - 1) ** 2 / 40)  # 9.025
    assert r.p_value == pytest.approx(0.0026635, rel=1e-3)
    assert r.one_sided_p == pytest.approx(stats.norm.sf(19 / np.sqrt(40)))
    assert r.one_sided_p == pytest.approx(r.p_value / 2)


def test_one_sided_p_points_the_right_way_at_the_threshold() -> None:
    worse = mcnemar(*pairs(0, 30, 10, 0))
    assert worse.one_sided_p > 0.99
    assert mcnemar(*pairs(0, 12, 12, 0)).one_sided_p > 0.5  # a tie is not evidence


def test_no_discordant_pairs_is_no_evidence() -> None:
    r = mcnemar(*pairs(10, 0, 0, 3))
    assert (r.b, r.c, r.p_value, r.one_sided_p) == (0, 0, 1.0, 1.0)


def test_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError):
        mcnemar(np.array([True, False]), np.array([True]))
