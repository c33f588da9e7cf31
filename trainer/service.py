"""The trainer's pure logic: when to fine-tune, what is held out, what goes to the buffer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import TopicPartition

from arena.drift import Detection
from arena.holdout import is_holdout
from arena.join import LabeledExample
from trainer.replay import ReplayBuffer, TrainingSet


class FineTuneTrigger:
    """Decides when a fine-tune is due.

    Due after ``every_labels`` new labels since the last fine-tune, or once ``interval_s``
    has passed with at least one new label (an idle stream never retrains the same data).
    ``interval_s == 0`` disables the timer.
    """

    def __init__(
        self, every_labels: int, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if every_labels < 1 or interval_s < 0:
            raise ValueError("every_labels must be >= 1 and interval_s >= 0")
        self._every = every_labels
        self._interval = interval_s
        self._clock = clock
        self._new_labels = 0
        self._since = clock()

    @property
    def new_labels(self) -> int:
        """Labels counted since the last reset."""
        return self._new_labels

    def on_labels(self, n: int) -> None:
        """Count ``n`` new labeled examples."""
        self._new_labels += n

    def due(self) -> bool:
        """Whether the trainer should fine-tune now."""
        if self._new_labels >= self._every:
            return True
        timer_elapsed = self._interval > 0 and self._clock() - self._since >= self._interval
        return timer_elapsed and self._new_labels > 0

    def reset(self) -> None:
        """Call after a fine-tune starts: counts and timer begin again."""
        self._new_labels = 0
        self._since = self._clock()


@dataclass(frozen=True, slots=True)
class RecoveryCadence:
    """How often the trainer fine-tunes while it recovers from a drift (``drift_*`` settings)."""

    min_labels: int = 50
    every_labels: int = 100
    cooldown_labels: int = 500


class TrainingIntake:
    """Routes joined examples into the buffer, keeping the holdout out, and cuts training sets.

    Args:
        buffer: the replay buffer to fill.
        trigger: counts the examples that entered the buffer.
        holdout_percent: share of event ids reserved for the evaluator (see ``is_holdout``).
        reserve: room kept in the window for one more batch (``needs_training``).
    """

    def __init__(
        self,
        buffer: ReplayBuffer,
        trigger: FineTuneTrigger,
        holdout_percent: int,
        recovery: RecoveryCadence | None = None,
        reserve: int = 0,
    ):
        self._buffer = buffer
        self._reserve = reserve
        self._trigger = trigger
        self._holdout_percent = holdout_percent
        self._recovery = recovery or RecoveryCadence()
        self._drift_labels = 0  # labels offered since the current drift began
        self._drift_fine_tunes = 0  # fine-tunes cut since then
        self._redo = False  # the last set cut was not trained on: cut the next one at once
        self.held_out = 0
        self.drifts = 0  # drift episodes begun

    def on_drift(self, detection: Detection) -> bool:
        """React to a detector's alarm; return whether it began a new drift episode.

        An alarm within ``cooldown_labels`` of the current episode's start is the same
        drift seen by another detector (the unlabeled ones fire first, the error detector
        once labels arrive): it changes nothing.
        """
        if self._buffer.recovering and self._drift_labels < self._recovery.cooldown_labels:
            return False
        self._buffer.begin_drift(detection)
        self._drift_labels = 0
        self._drift_fine_tunes = 0
        self.drifts += 1
        return True

    def offer(self, example: LabeledExample) -> bool:
        """Add the example to the buffer unless it is in the holdout; return whether it was."""
        if is_holdout(example.event_id, self._holdout_percent):
            self.held_out += 1
            return False
        self._buffer.add(example)
        self._trigger.on_labels(1)
        self._drift_labels += 1
        return True

    @property
    def needs_training(self) -> bool:
        """Whether the window's room for examples no training set has had is down to the
        reserve: the next set must be cut before more are read, or some fall out of it."""
        return self._buffer.room <= self._reserve

    def take_now(self) -> TrainingSet | None:
        """The whole buffer as a training set now, whatever the trigger says (a scheduled
        retrain); None when the buffer is empty."""
        if len(self._buffer) == 0:
            return None
        training_set = self._buffer.training_set()
        self._buffer.mark_trained()
        self._trigger.reset()
        return training_set

    def redo(self) -> None:
        """The fine-tune of the set cut last was cancelled (its base champion was replaced):
        the next set is due at once, whatever the cadence says. Its examples are still in the
        buffer, so the next set has them."""
        self._redo = True

    def take_if_due(self) -> TrainingSet | None:
        """The training set for a fine-tune when one is due; resets the trigger and period.

        While recovering from a drift, "due" is the recovery cadence: the first fine-tune as
        soon as ``min_labels`` post-drift examples are in, then one every ``every_labels``.
        Otherwise it is also due, whatever the trigger says, when ``needs_training``. After
        ``redo`` it is due at once (while recovering: once ``min_labels`` are in).
        """
        if self._buffer.recovering:
            post = self._buffer.post_drift
            first = self._drift_fine_tunes == 0
            if post < self._recovery.min_labels or (
                not first
                and not self._redo
                and self._trigger.new_labels < self._recovery.every_labels
            ):
                return None
            self._drift_fine_tunes += 1
        elif not self._redo and not self._trigger.due() and not self.needs_training:
            return None
        self._redo = False
        training_set = self._buffer.training_set()
        self._buffer.mark_trained()
        self._trigger.reset()
        return training_set


def committable(
    seen: dict[tuple[str, int], int], pending_floor: dict[tuple[str, int], int]
) -> list[TopicPartition]:
    """Offsets safe to commit: past what was read, but never past a record still waiting
    for its join partner (it must be read again after a crash, or its example is lost)."""
    return [
        TopicPartition(t, p, min(last + 1, pending_floor.get((t, p), last + 1)))
        for (t, p), last in seen.items()
    ]
