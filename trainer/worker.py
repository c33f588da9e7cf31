"""Fine-tunes on a thread of their own, so the trainer keeps reading the stream (and its
drift detectors keep watching) while a challenger trains.

One fine-tune at a time. The loop thread submits a training set with the offsets that
become safe to commit once its challenger is registered, and collects the outcome at its
next turn; the Kafka consumer is only ever touched by the loop thread. ``cancel`` ends the
fit in progress after its current mini-batch (a drift made its training set stale, or the
service is stopping); a cancelled fine-tune registers nothing, and its examples are still
in the replay buffer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import TopicPartition

from storage.domain import ModelVersion
from trainer.replay import TrainingSet

log = logging.getLogger(__name__)

FineTune = Callable[[TrainingSet, Callable[[], bool]], ModelVersion | None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished fine-tune: its challenger (None: nothing registered), or its error."""

    training_set: TrainingSet
    commit: list[TopicPartition]
    version: ModelVersion | None
    error: BaseException | None
    seconds: float
    cancelled: bool


class FineTuneWorker:
    def __init__(self, fine_tune: FineTune, clock: Callable[[], float]) -> None:
        self._fine_tune = fine_tune
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._done: Outcome | None = None
        self.cancel_reason = ""

    @property
    def busy(self) -> bool:
        """A fine-tune is running, or its outcome waits to be collected."""
        with self._lock:
            return self._thread is not None

    def submit(self, ts: TrainingSet, commit: list[TopicPartition]) -> None:
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("a fine-tune is already running")
            self._cancel.clear()
            self._thread = threading.Thread(
                target=self._run, args=(ts, commit), name="fine-tune", daemon=True
            )
            self._thread.start()

    def _run(self, ts: TrainingSet, commit: list[TopicPartition]) -> None:
        started = self._clock()
        version: ModelVersion | None = None
        error: BaseException | None = None
        try:
            version = self._fine_tune(ts, self._cancel.is_set)
        except BaseException as exc:  # handed to the loop thread, which re-raises it
            error = exc
        outcome = Outcome(
            ts, commit, version, error, self._clock() - started, self._cancel.is_set()
        )
        with self._lock:
            self._done = outcome

    def collect(self) -> Outcome | None:
        """The finished fine-tune's outcome, once; None while it runs or when idle."""
        with self._lock:
            done, self._done = self._done, None
            if done is not None:
                thread, self._thread = self._thread, None
            else:
                return None
        if thread is not None:
            thread.join()
        return done

    def cancel(self, reason: str) -> None:
        """End the fit in progress after its current mini-batch."""
        if self.busy and not self._cancel.is_set():
            log.warning("cancelling the fine-tune in progress: %s", reason)
            self.cancel_reason = reason
            self._cancel.set()

    def stop(self, timeout_s: float) -> None:
        """Cancel and wait (bounded) for the thread; for shutdown."""
        self.cancel("the trainer is stopping")
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                log.error("the fine-tune thread did not stop within %.1f s", timeout_s)
