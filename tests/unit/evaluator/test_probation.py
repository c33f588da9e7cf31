from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from evaluator.probation import ProbationMonitor


def feed(monitor: ProbationMonitor, new: NDArray[np.bool_], old: NDArray[np.bool_]) -> None:
    for a, b in zip(new, old, strict=True):
        monitor.add(bool(a), bool(b))


def test_not_done_before_enough_labels() -> None:
    m = ProbationMonitor(labels_needed=300, significance=0.05)
    assert m.verdict().reason == "probation: 0/300 labels"
    feed(m, np.ones(100, bool), np.ones(100, bool))
    v = m.verdict()
    assert (v.done, v.rollback, v.reason) == (False, False, "probation: 100/300 labels")


def test_keep_when_equally_good() -> None:
    correct = np.arange(300) % 10 != 0
    m = ProbationMonitor(labels_needed=300, significance=0.05)
    feed(m, correct, correct)
    v = m.verdict()
    assert v.done and not v.rollback
    assert v.reason == "keep: live accuracy 0.900 vs old 0.900 on 300 labels, p=1"


def test_false_rollbacks_of_equally_good_models_are_rare() -> None:
    # Any single run may land in the 5% tail; over many runs the rate must stay near it
    # (1000 runs: the bound is significance plus two standard errors).
    rng = np.random.default_rng(7)
    rollbacks = 0
    for _ in range(1000):
        m = ProbationMonitor(labels_needed=300, significance=0.05)
        feed(m, rng.random(300) < 0.9, rng.random(300) < 0.9)
        rollbacks += m.verdict().rollback
    assert rollbacks / 1000 <= 0.05 + 2 * (0.05 * 0.95 / 1000) ** 0.5


def test_keep_when_the_new_champion_is_better() -> None:
    m = ProbationMonitor(labels_needed=300, significance=0.05)
    new = np.ones(300, bool)
    old = np.arange(300) % 5 != 0
    feed(m, new, old)
    assert not m.verdict().rollback and m.verdict().done


def test_rollback_when_significantly_worse() -> None:
    m = ProbationMonitor(labels_needed=300, significance=0.05, catastrophic_drop=1.0)
    old = np.ones(300, bool)
    new = np.arange(300) % 10 != 0  # 0.90 vs 1.00: 30 discordant, all for the old champion
    feed(m, new, old)
    v = m.verdict()
    assert v.done and v.rollback
    assert v.reason.startswith("rollback: live accuracy 0.900 vs old 1.000 on 300 labels, p=")


def test_slightly_worse_but_not_significant_is_kept() -> None:
    m = ProbationMonitor(labels_needed=300, significance=0.05)
    new = np.ones(300, bool)
    old = np.ones(300, bool)
    new[:8] = False
    old[8:12] = False  # b=8 (old better), c=4
    feed(m, new, old)
    v = m.verdict()
    assert v.done and not v.rollback


def test_early_bail_out_on_a_catastrophic_drop() -> None:
    m = ProbationMonitor(labels_needed=300, significance=0.05)  # early after 60 pairs
    feed(m, np.arange(59) % 2 == 0, np.ones(59, bool))
    assert not m.verdict().done  # too early even though 50% vs 100%
    m.add(False, True)
    v = m.verdict()
    assert v.done and v.rollback
    assert v.reason.startswith("rollback early: live accuracy 0.500 vs old 1.000 on 60 labels")


def test_pairs_after_the_verdict_are_ignored() -> None:
    m = ProbationMonitor(labels_needed=10, significance=0.05)
    feed(m, np.ones(10, bool), np.ones(10, bool))
    feed(m, np.zeros(50, bool), np.ones(50, bool))
    assert len(m) == 10
    assert not m.verdict().rollback


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        ProbationMonitor(labels_needed=0, significance=0.05)
    with pytest.raises(ValueError):
        ProbationMonitor(labels_needed=10, significance=1.0)
