"""The fine-tune thread: its outcome reaches the loop thread once, a cancel ends the fit,
and an error is handed over (to be retried by the loop), never swallowed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from confluent_kafka import TopicPartition

from storage.domain import ModelVersion
from trainer.replay import TrainingSet
from trainer.worker import FineTuneWorker, Outcome

TS = TrainingSet(np.zeros((1, 2, 2), np.float32), np.zeros(1, np.int64), ())
COMMIT = [TopicPartition("t", 0, 5)]


def wait_for(worker: FineTuneWorker) -> Outcome:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        outcome = worker.collect()
        if outcome is not None:
            return outcome
        time.sleep(0.01)
    raise AssertionError("no outcome within 5 s")


def test_the_outcome_is_collected_once_with_its_offsets() -> None:
    version = object()
    worker = FineTuneWorker(lambda ts, stop: version, time.monotonic)  # type: ignore[arg-type,return-value]
    worker.submit(TS, COMMIT)
    assert worker.busy
    with pytest.raises(RuntimeError):
        worker.submit(TS, COMMIT)
    outcome = wait_for(worker)
    assert outcome.version is version and outcome.commit == COMMIT and not outcome.cancelled
    assert worker.collect() is None and not worker.busy


def test_cancel_ends_a_long_fit_promptly() -> None:
    started = threading.Event()

    def fit(ts: TrainingSet, should_stop: Callable[[], bool]) -> ModelVersion | None:
        started.set()
        while not should_stop():
            time.sleep(0.01)
        return None

    worker = FineTuneWorker(fit, time.monotonic)
    worker.submit(TS, COMMIT)
    assert started.wait(2)
    worker.cancel("drift")
    outcome = wait_for(worker)
    assert outcome.cancelled and outcome.version is None and worker.cancel_reason == "drift"


def test_an_error_is_handed_to_the_loop_thread() -> None:
    def fit(ts: TrainingSet, should_stop: Callable[[], bool]) -> ModelVersion | None:
        raise ConnectionError("minio down")

    worker = FineTuneWorker(fit, time.monotonic)
    worker.submit(TS, COMMIT)
    outcome = wait_for(worker)
    assert isinstance(outcome.error, ConnectionError) and outcome.training_set is TS


def test_stop_cancels_and_joins() -> None:
    def fit(ts: TrainingSet, should_stop: Callable[[], bool]) -> ModelVersion | None:
        while not should_stop():
            time.sleep(0.01)
        return None

    worker = FineTuneWorker(fit, time.monotonic)
    worker.submit(TS, COMMIT)
    t0 = time.monotonic()
    worker.stop(2.0)
    assert time.monotonic() - t0 < 1.0
