"""The scorer's status: changes at once, heartbeats that repeat the latest one, failures that
never reach the scoring loop and are retried at the next beat, a heartbeat thread that
stops at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError

from arena.events import ScorerStatus, decode_scorer_status, is_heartbeat
from scorer.app import status_producer_tuning
from scorer.status import StatusHeartbeat, StatusReporter

TOPIC = "arena.scorer-status"


@dataclass
class Sent:
    status: ScorerStatus
    heartbeat: bool
    key: bytes
    on_delivery: Callable[[KafkaError | None, Any], None]


@dataclass
class FakeProducer:
    """Records what is produced; ``refuse`` makes the next produce calls raise it."""

    sent: list[Sent] = field(default_factory=list)
    refuse: BaseException | None = None
    polls: int = 0

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes,
        *,
        on_delivery: Callable[[KafkaError | None, Any], None] | None = None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        assert topic == TOPIC and on_delivery is not None
        if self.refuse is not None:
            raise self.refuse
        self.sent.append(Sent(decode_scorer_status(value), is_heartbeat(headers), key, on_delivery))

    def poll(self, timeout: float) -> int:
        assert timeout == 0  # never blocks its caller
        self.polls += 1
        return 0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


def reporter() -> tuple[StatusReporter, FakeProducer, list[int], Clock]:
    producer, failures, clock = FakeProducer(), [], Clock()
    return (
        StatusReporter(producer, TOPIC, lambda: failures.append(1), clock),
        producer,
        failures,
        clock,
    )


def kinds(producer: FakeProducer) -> list[tuple[int, str, bool]]:
    return [(s.status.version, s.status.state, s.heartbeat) for s in producer.sent]


def test_a_change_is_sent_at_once_and_each_beat_repeats_the_latest_status_stamped_now() -> None:
    statuses, producer, _, clock = reporter()
    assert statuses.beat() is False  # nothing to repeat before the first status
    statuses.report(ScorerStatus("s1", 3, "serving", timestamp_ms=500))
    clock.now = 11_000
    assert statuses.beat() is True
    statuses.report(ScorerStatus("s1", 4, "load_failed", "bad signature", timestamp_ms=12_000))
    clock.now = 21_000
    statuses.beat()

    assert kinds(producer) == [
        (3, "serving", False),
        (3, "serving", True),
        (4, "load_failed", False),
        (4, "load_failed", True),
    ]
    assert [s.status.timestamp_ms for s in producer.sent] == [500, 11_000, 12_000, 21_000]
    assert producer.sent[3].status.error == "bad signature"  # the same fields, repeated
    assert {s.key for s in producer.sent} == {b"s1"}


def test_a_refused_produce_never_reaches_the_caller_and_the_next_beat_sends_the_change() -> None:
    statuses, producer, failures, _ = reporter()
    producer.refuse = BufferError("Local: Queue full")
    statuses.report(ScorerStatus("s1", 3, "serving"))  # does not raise
    assert statuses.beat() is False
    assert failures == [1, 1]

    producer.refuse = None
    assert statuses.beat() is True
    statuses.beat()
    # The change goes out as a change (readers following swaps see it), then heartbeats.
    assert kinds(producer) == [(3, "serving", False), (3, "serving", True)]


def test_an_undelivered_change_is_sent_again_as_a_change_at_the_next_beat() -> None:
    statuses, producer, failures, _ = reporter()
    statuses.report(ScorerStatus("s1", 3, "serving"))
    producer.sent[0].on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT), None)
    assert failures == [1]
    statuses.beat()
    producer.sent[1].on_delivery(None, None)  # delivered
    statuses.beat()
    assert kinds(producer) == [(3, "serving", False), (3, "serving", False), (3, "serving", True)]


def test_an_undelivered_heartbeat_or_outdated_change_is_only_counted() -> None:
    statuses, producer, failures, _ = reporter()
    statuses.report(ScorerStatus("s1", 3, "serving"))
    statuses.beat()
    producer.sent[1].on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT), None)  # a heartbeat
    statuses.report(ScorerStatus("s1", 4, "serving"))
    producer.sent[0].on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT), None)  # v3: outdated
    statuses.beat()
    assert failures == [1, 1]
    assert kinds(producer)[-1] == (4, "serving", True)


def test_a_beat_never_repeats_a_status_older_than_the_latest_change() -> None:
    statuses, producer, _, _ = reporter()
    statuses.report(ScorerStatus("s1", 1, "serving"))
    beating = threading.Event()

    def beat_fast() -> None:
        while not beating.is_set():
            statuses.beat()

    thread = threading.Thread(target=beat_fast)
    thread.start()
    try:
        for version in range(2, 200):
            statuses.report(ScorerStatus("s1", version, "serving"))
            time.sleep(0)
    finally:
        beating.set()
        thread.join()
    versions = [s.status.version for s in producer.sent]
    assert versions == sorted(versions)  # what was published never went back a version
    assert versions[-1] == 199


class Beats:
    def __init__(self) -> None:
        self.count = 0
        self.event = threading.Event()

    def beat(self) -> bool:
        self.count += 1
        self.event.set()
        return True


def test_the_heartbeat_beats_while_the_loop_is_alive_and_not_while_it_is_stuck() -> None:
    beats, alive = Beats(), [True]
    heartbeat = StatusHeartbeat(beats, 0.01, lambda: alive[0], lambda: False)  # type: ignore[arg-type]
    heartbeat.start()
    try:
        assert beats.event.wait(2.0)
        alive[0] = False
        time.sleep(0.05)  # a beat under way when the loop got stuck may still land
        stuck_at = beats.count
        time.sleep(0.1)
        assert beats.count == stuck_at
        alive[0] = True
        deadline = time.monotonic() + 2.0
        while beats.count == stuck_at and time.monotonic() < deadline:
            time.sleep(0.01)
        assert beats.count > stuck_at
    finally:
        heartbeat.close()


def test_the_heartbeat_stops_beating_at_the_stop_signal_and_closes_at_once() -> None:
    beats, stop = Beats(), threading.Event()
    heartbeat = StatusHeartbeat(beats, 0.01, lambda: True, stop.is_set)  # type: ignore[arg-type]
    heartbeat.start()
    assert beats.event.wait(2.0)
    stop.set()
    time.sleep(0.05)
    assert not heartbeat.is_alive()  # ended at its next wake-up, without another beat
    stopped_at = beats.count
    time.sleep(0.05)
    assert beats.count == stopped_at

    slow = StatusHeartbeat(beats, 3600, lambda: True, lambda: False)  # type: ignore[arg-type]
    slow.start()
    started = time.monotonic()
    slow.close()
    assert not slow.is_alive() and time.monotonic() - started < 0.5


def test_the_status_producer_is_bounded_and_gives_up_a_status_after_three_heartbeats() -> None:
    assert status_producer_tuning(10.0) == {
        "queue.buffering.max.messages": 1_000,
        "message.timeout.ms": 30_000,
    }
    assert status_producer_tuning(1.0)["message.timeout.ms"] == 10_000  # never below 10 s
    assert "message.timeout.ms" not in status_producer_tuning(0)  # only changes: keep retrying
