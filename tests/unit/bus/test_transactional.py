"""The transactional processor's recovery, against fakes: every blocking call bounded,
abort and rewind, producer rebuild and rewind to the committed offsets, exactly once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message

from arena.bus.loop import LoopHealth
from arena.bus.records import BatchResult, OutRecord
from arena.bus.stop import StopFlag
from arena.bus.transactional import REWIND_FAILURES_BEFORE_REBUILD, TransactionalProcessor
from arena.config import KafkaSettings
from arena.errors import BatchAborted, BusError
from tests.unit.bus.fake_kafka import (
    FakeConsumer,
    FakeProducer,
    hang,
    kafka_error,
    messages,
    raises,
    stuck,
    timed_out,
)

KAFKA = KafkaSettings(call_timeout_ms=300)


def answers(timeout: float | None) -> None:
    """A call that succeeds."""


def echo(batch: list[Message]) -> BatchResult:
    return BatchResult(outputs=[OutRecord("out", m.key(), m.value()) for m in batch])


class Factory:
    """Hands out producers in order; the first ones can be given failures."""

    def __init__(self, consumer: FakeConsumer, *failures: dict[str, Any]) -> None:
        self.consumer = consumer
        self.failures = list(failures)
        self.made: list[FakeProducer] = []

    def __call__(self) -> Any:
        fail = self.failures.pop(0) if self.failures else {}
        producer = FakeProducer(self.consumer, fail=fail)
        self.made.append(producer)
        return producer

    def visible(self) -> list[bytes | None]:
        return [v for p in self.made for v in p.visible]


def processor(consumer: FakeConsumer, factory: Factory) -> TransactionalProcessor:
    return TransactionalProcessor(consumer, factory, KAFKA)  # type: ignore[arg-type]


def test_send_offsets_that_hang_time_out_then_the_batch_is_aborted_and_rewound() -> None:
    consumer = FakeConsumer(messages(3))
    factory = Factory(consumer, {"send_offsets_to_transaction": [hang]})
    proc = processor(consumer, factory)
    proc.init()
    batch = consumer.consume(10, 0.1)

    started = time.monotonic()
    with pytest.raises(BatchAborted):
        proc.process_batch(batch, echo)

    assert time.monotonic() - started < 3 * KAFKA.call_timeout_s
    [producer] = factory.made
    timeouts = producer.timeouts("send_offsets_to_transaction")
    assert timeouts and all(t is not None and 0 < t <= KAFKA.call_timeout_s for t in timeouts)
    assert producer.timeouts("abort_transaction")
    assert consumer.position == 0  # rewound to the start of the batch
    assert proc.process_batch(consumer.consume(10, 0.1), echo).n_out == 3
    assert factory.visible() == [b"v0", b"v1", b"v2"]


def test_send_offsets_stuck_past_its_timeout_replace_the_producer_within_the_bound() -> None:
    consumer = FakeConsumer(messages(4))
    factory = Factory(consumer, {"send_offsets_to_transaction": [answers, stuck]})
    proc = processor(consumer, factory)
    proc.init()
    assert proc.process_batch(consumer.consume(2, 0.1), echo).n_out == 2  # v0, v1 committed

    started = time.monotonic()
    with pytest.raises(BusError) as failure:
        proc.process_batch(consumer.consume(2, 0.1), echo)

    assert failure.value.retriable
    assert time.monotonic() - started < KAFKA.call_timeout_s + 3.0, "never waits on a stuck call"
    assert factory.made[0].closed, "the stuck producer is dropped"
    proc.init()
    assert proc.process_batch(consumer.consume(10, 0.1), echo).n_out == 2
    assert consumer.seeks[-1] == 2  # resumed from the committed offset
    assert factory.visible() == [b"v0", b"v1", b"v2", b"v3"]


def test_an_abort_that_times_out_rebuilds_the_producer_and_rewinds_to_committed() -> None:
    consumer = FakeConsumer(messages(4))
    factory = Factory(
        consumer, {"send_offsets_to_transaction": [answers, hang], "abort_transaction": [hang]}
    )
    proc = processor(consumer, factory)
    proc.init()
    assert proc.process_batch(consumer.consume(2, 0.1), echo).n_out == 2  # v0, v1 committed

    with pytest.raises(BusError) as failure:
        proc.process_batch(consumer.consume(2, 0.1), echo)

    assert failure.value.retriable
    first = factory.made[0]
    assert first.closed and ("purge", 0) in first.calls
    proc.init()
    assert proc.process_batch(consumer.consume(10, 0.1), echo).n_out == 2
    second = factory.made[1]
    assert second.timeouts("init_transactions")  # same id, re-initialized: fences the old one
    assert consumer.seeks[-1] == 2  # the committed offset, asked of the group
    assert factory.visible() == [b"v0", b"v1", b"v2", b"v3"]


def test_a_consumer_that_cannot_read_committed_offsets_is_rebuilt_and_nothing_repeats() -> None:
    # After a broker hung by SIGSTOP, the new producer is fenced in and ready, but the old
    # consumer times out on every read of the committed offsets: it is rebuilt.
    consumer = FakeConsumer(messages(4))
    fenced = kafka_error(KafkaError._FENCED, fatal=True)
    factory = Factory(consumer)
    proc = processor(consumer, factory)
    proc.init()
    assert proc.process_batch(consumer.consume(2, 0.1), echo).n_out == 2  # v0, v1 committed
    factory.made[0].fail["send_offsets_to_transaction"] = [raises(fenced)]
    with pytest.raises(BusError):
        proc.process_batch(consumer.consume(2, 0.1), echo)  # v2, v3 never committed
    consumer.committed_failures = 10

    failures = 0
    for _ in range(REWIND_FAILURES_BEFORE_REBUILD):
        try:
            proc.init()
        except BusError as exc:
            assert exc.retriable
            failures += 1

    assert failures == REWIND_FAILURES_BEFORE_REBUILD - 1 and consumer.rebuilt == 1
    assert proc.process_batch(consumer.consume(10, 0.1), echo).n_out == 2
    assert factory.visible() == [b"v0", b"v1", b"v2", b"v3"]  # each once


def test_a_commit_that_landed_but_timed_out_is_not_processed_twice() -> None:
    consumer = FakeConsumer(messages(4))
    factory = Factory(consumer, {"abort_transaction": [raises(kafka_error(KafkaError._STATE))]})
    proc = processor(consumer, factory)
    proc.init()
    factory.made[0].commit_lands_then_fails = True
    factory.made[0].fail["commit_transaction"] = [hang]  # the retry of the commit times out too

    with pytest.raises(BusError):
        proc.process_batch(consumer.consume(2, 0.1), echo)
    proc.init()
    proc.process_batch(consumer.consume(10, 0.1), echo)

    assert factory.visible() == [b"v0", b"v1", b"v2", b"v3"]  # v0 and v1 once


def test_a_fenced_producer_is_replaced_and_the_work_resumes_from_committed() -> None:
    consumer = FakeConsumer(messages(2))
    fenced = kafka_error(KafkaError._FENCED, fatal=True)
    factory = Factory(consumer, {"send_offsets_to_transaction": [raises(fenced)]})
    proc = processor(consumer, factory)
    proc.init()

    with pytest.raises(BusError) as failure:
        proc.process_batch(consumer.consume(10, 0.1), echo)

    assert failure.value.retriable and proc.rebuilds == 1
    proc.init()
    assert proc.process_batch(consumer.consume(10, 0.1), echo).n_out == 2
    assert factory.visible() == [b"v0", b"v1"]


def test_init_that_times_out_is_retriable_and_resumed_on_the_same_producer() -> None:
    consumer = FakeConsumer(messages(1))
    factory = Factory(consumer, {"init_transactions": [raises(timed_out())] * 3})
    proc = processor(consumer, factory)

    with pytest.raises(BusError) as failure:
        proc.init()

    assert failure.value.retriable
    proc.init()
    assert len(factory.made) == 1


def test_a_fatal_consumer_is_rebuilt_by_the_loop_and_work_goes_on() -> None:
    consumer = FakeConsumer(messages(3))
    consumer.fatal_next = True
    factory = Factory(consumer)
    proc = processor(consumer, factory)
    health = LoopHealth()
    states: list[str] = []

    with StopFlag(exit_deadline_s=None) as stop:

        def on_retry(exc: BusError) -> None:
            states.append(health.state)

        def stop_when_done() -> None:
            if len(factory.visible()) == 3:
                stop.set()

        proc.run(
            stop,
            echo,
            batch_size=10,
            batch_timeout_s=0.01,
            on_idle=stop_when_done,
            on_retry=on_retry,
            health=health,
        )

    assert consumer.rebuilt == 1
    assert states and states[0].startswith("degraded: consumer g: fatal error")
    assert health.state == "ok"
    assert factory.visible() == [b"v0", b"v1", b"v2"]


def test_stop_during_a_broker_outage_ends_run_within_the_bound() -> None:
    consumer = FakeConsumer(messages(50))
    factory = Factory(consumer, {"commit_transaction": [hang] * 100})
    for _ in range(5):
        factory.failures.append({"init_transactions": [hang] * 100})
    proc = processor(consumer, factory)
    health = LoopHealth()
    stop = StopFlag(exit_deadline_s=None)
    runner = threading.Thread(
        target=proc.run,
        args=(stop, echo),
        kwargs={"batch_size": 5, "batch_timeout_s": 0.01, "health": health},
    )
    runner.start()
    deadline = time.monotonic() + 5
    while not health.state.startswith("degraded") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert health.state.startswith("degraded")

    stop.set()
    stopped = time.monotonic()
    runner.join(10)

    assert not runner.is_alive()
    assert time.monotonic() - stopped < 4 * KAFKA.call_timeout_s + 1.0
    assert factory.visible() == []
