from __future__ import annotations

import numpy as np

from arena.drift import Detection
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


def test_a_window_running_out_of_room_forces_a_set_before_an_untrained_example_falls_out() -> None:
    # The trigger alone would wait for 1,000 labels; the window holds 100.
    trigger = FineTuneTrigger(every_labels=1000, interval_s=0, clock=FakeClock())
    buffer = ReplayBuffer(100, 0, seed=0)
    intake = TrainingIntake(buffer, trigger, holdout_percent=0, reserve=30)
    for i in range(69):
        intake.offer(example(i))
    assert not intake.needs_training and intake.take_if_due() is None
    intake.offer(example(69))  # room 30: one more batch of 30 could push one out
    assert intake.needs_training
    ts = intake.take_if_due()
    assert ts is not None and [p.offset for p in ts.positions] == list(range(70))
    assert buffer.room == 100 and not intake.needs_training
    # Everything ever offered is in a training set, however late the trigger would fire.
    trained = {p.offset for p in ts.positions}
    for i in range(70, 500):
        intake.offer(example(i))
        if (cut := intake.take_if_due()) is not None:
            trained |= {p.offset for p in cut.positions}
    assert trained >= set(range(500 - 70))


class TestRecoveryCadence:
    @staticmethod
    def intake(buf: ReplayBuffer) -> TrainingIntake:
        from trainer.service import RecoveryCadence

        trigger = FineTuneTrigger(every_labels=1_000, interval_s=0, clock=FakeClock())
        return TrainingIntake(buf, trigger, 0, RecoveryCadence(20, 10, cooldown_labels=50))

    @staticmethod
    def drift(offset: int) -> Detection:
        return Detection(
            "adwin:input_mean", "input_mean", 0.1, 0.9, False, {("t", 0): offset}, 5,
            EventPosition("t", 0, offset),
        )  # fmt: skip

    @staticmethod
    def ex(i: int) -> LabeledExample:
        return LabeledExample(f"e{i}", EventPosition("t", 0, i), np.zeros((2, 2)), i % 10)

    def test_fine_tunes_at_once_on_post_drift_examples_then_at_the_faster_cadence(self) -> None:
        buf = ReplayBuffer(window_size=500, reservoir_size=100, seed=0)
        intake = self.intake(buf)
        for i in range(100):
            intake.offer(self.ex(i))
        assert intake.on_drift(self.drift(100))
        for i in range(100, 119):
            intake.offer(self.ex(i))
            assert intake.take_if_due() is None  # fewer than 20 post-drift examples
        intake.offer(self.ex(119))
        first = intake.take_if_due()
        assert first is not None and first.post_drift == 20
        for i in range(120, 129):
            intake.offer(self.ex(i))
            assert intake.take_if_due() is None
        intake.offer(self.ex(129))
        second = intake.take_if_due()
        assert second is not None and second.post_drift == 30

    def test_another_detectors_alarm_of_the_same_drift_changes_nothing(self) -> None:
        buf = ReplayBuffer(window_size=500, reservoir_size=100, seed=0)
        intake = self.intake(buf)
        assert intake.on_drift(self.drift(0))
        for i in range(30):
            intake.offer(self.ex(i))
        assert not intake.on_drift(self.drift(25))  # within the cooldown of 50 labels
        assert buf.post_drift == 30
        for i in range(30, 60):
            intake.offer(self.ex(i))
        assert intake.on_drift(self.drift(55)) and buf.post_drift == 5
        assert intake.drifts == 2


def test_a_redone_set_is_due_at_once_with_the_examples_of_the_cancelled_one() -> None:
    trigger = FineTuneTrigger(every_labels=50, interval_s=0, clock=FakeClock())
    intake = TrainingIntake(ReplayBuffer(1000, 0, seed=0), trigger, holdout_percent=0)
    for i in range(50):
        intake.offer(example(i))
    cancelled = intake.take_if_due()
    assert cancelled is not None
    for i in range(50, 55):
        intake.offer(example(i))
    assert intake.take_if_due() is None  # 5 new labels: not due by the trigger

    intake.redo()  # the fine-tune of ``cancelled`` was cancelled: its champion was replaced

    again = intake.take_if_due()
    assert again is not None
    assert {p.offset for p in again.positions} == set(range(55))
    assert intake.take_if_due() is None  # once: the cadence is back


def test_a_redo_while_recovering_waits_only_for_the_first_post_drift_examples() -> None:
    buf = ReplayBuffer(window_size=500, reservoir_size=100, seed=0)
    intake = TestRecoveryCadence.intake(buf)
    assert intake.on_drift(TestRecoveryCadence.drift(0))
    for i in range(20):
        intake.offer(TestRecoveryCadence.ex(i))
    assert intake.take_if_due() is not None  # the first fine-tune after the drift
    intake.offer(TestRecoveryCadence.ex(20))
    assert intake.take_if_due() is None  # 1 label of the 10 the cadence waits for

    intake.redo()

    again = intake.take_if_due()
    assert again is not None and again.post_drift == 21
