from __future__ import annotations

import numpy as np

from arena.holdout import is_holdout
from arena.join import EventPosition, LabeledExample
from trainer.replay import ReplayBuffer
from trainer.service import FineTuneTrigger, TrainingIntake


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
