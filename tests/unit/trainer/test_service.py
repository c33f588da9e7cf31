from __future__ import annotations

import numpy as np
import pytest

from arena.join import EventPosition, LabeledExample
from trainer.replay import ReplayBuffer
from trainer.service import FineTuneTrigger, TrainingIntake, is_holdout


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestFineTuneTrigger:
    def test_due_after_k_labels(self) -> None:
        trigger = FineTuneTrigger(every_labels=3, interval_s=0, clock=FakeClock())
        trigger.on_labels(2)
        assert not trigger.due()
        trigger.on_labels(1)
        assert trigger.due()
        trigger.reset()
        assert not trigger.due() and trigger.new_labels == 0

    def test_due_after_interval_with_a_new_label(self) -> None:
        clock = FakeClock()
        trigger = FineTuneTrigger(every_labels=100, interval_s=10, clock=clock)
        clock.now = 9.9
        trigger.on_labels(1)
        assert not trigger.due()
        clock.now = 10.0
        assert trigger.due()

    def test_interval_without_labels_is_not_due(self) -> None:
        clock = FakeClock()
        trigger = FineTuneTrigger(every_labels=100, interval_s=10, clock=clock)
        clock.now = 1000
        assert not trigger.due()

    def test_reset_restarts_the_timer(self) -> None:
        clock = FakeClock()
        trigger = FineTuneTrigger(every_labels=100, interval_s=10, clock=clock)
        clock.now = 15
        trigger.reset()
        trigger.on_labels(1)
        clock.now = 24
        assert not trigger.due()
        clock.now = 25
        assert trigger.due()

    def test_zero_interval_disables_the_timer(self) -> None:
        clock = FakeClock()
        trigger = FineTuneTrigger(every_labels=100, interval_s=0, clock=clock)
        trigger.on_labels(1)
        clock.now = 1e9
        assert not trigger.due()


class TestHoldout:
    def test_deterministic_with_known_values(self) -> None:
        ids = [f"event-{i}" for i in range(50)]
        first = [is_holdout(i, 20) for i in ids]
        assert first == [is_holdout(i, 20) for i in ids]
        # Pinned values: a change of hash would silently reshuffle train and holdout.
        assert [is_holdout(f"event-{i}", 50) for i in range(8)] == EXPECTED_50

    def test_share_is_close_to_percent(self) -> None:
        ids = [f"{i:032x}" for i in range(20_000)]
        for percent in (0, 10, 20, 90, 100):
            share = sum(is_holdout(i, percent) for i in ids) / len(ids)
            assert abs(share - percent / 100) < 0.01, (percent, share)

    def test_larger_percent_only_adds_events(self) -> None:
        ids = [str(i) for i in range(2000)]
        assert all(is_holdout(i, 30) for i in ids if is_holdout(i, 10))

    def test_invalid_percent(self) -> None:
        with pytest.raises(ValueError):
            is_holdout("x", 101)


EXPECTED_50 = [True, False, True, False, True, False, False, True]


def example(i: int) -> LabeledExample:
    return LabeledExample(f"id-{i}", EventPosition("t", 0, i), np.zeros((2, 2)), i % 3)


def test_intake_keeps_the_holdout_out_and_cuts_training_sets() -> None:
    trigger = FineTuneTrigger(every_labels=50, interval_s=0, clock=FakeClock())
    intake = TrainingIntake(ReplayBuffer(1000, 0, seed=0), trigger, holdout_percent=20)
    offered = [intake.offer(example(i)) for i in range(100)]
    ts = intake.take_if_due()
    assert ts is not None
    trained_ids = {f"id-{p.offset}" for p in ts.positions}
    assert not any(is_holdout(i, 20) for i in trained_ids)
    assert len(trained_ids) == sum(offered) == 100 - intake.held_out
    assert 5 < intake.held_out < 35
    # The ranges skip the held-out offsets, so the evaluator may use them.
    for i in range(100):
        covered = any(r.contains("t", 0, i) for r in ts.ranges())
        assert covered == (not is_holdout(f"id-{i}", 20))
    assert intake.take_if_due() is None  # trigger reset


def test_intake_not_due_returns_none() -> None:
    trigger = FineTuneTrigger(every_labels=50, interval_s=0, clock=FakeClock())
    intake = TrainingIntake(ReplayBuffer(10, 0, seed=0), trigger, holdout_percent=0)
    intake.offer(example(1))
    assert intake.take_if_due() is None
    assert trigger.new_labels == 1
