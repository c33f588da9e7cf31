"""Read-process-write transactions against the real broker: DLQ, abort, rewind, exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Message, TopicPartition

from arena.bus.consumer import BatchConsumer
from arena.bus.offsets import next_offsets
from arena.bus.producer import make_producer
from arena.bus.records import BatchResult, BatchStats, OutRecord
from arena.bus.stop import StopFlag
from arena.bus.transactional import TransactionalProcessor
from arena.config import KafkaSettings
from arena.errors import BatchAborted, InvalidEvent
from tests.integration.bus.conftest import MakeTopic, produce_raw, read_topic, unique


@pytest.fixture
def consumer(kafka: KafkaSettings) -> Iterator[BatchConsumer]:
    with BatchConsumer(kafka, unique("group")) as batch_consumer:
        yield batch_consumer


def processor_for(
    kafka: KafkaSettings,
    consumer: BatchConsumer,
    on_commit: Callable[[BatchStats], None] | None = None,
) -> TransactionalProcessor:
    txn_id = unique("txn")
    processor = TransactionalProcessor(
        consumer, lambda: make_producer(kafka, transactional_id=txn_id), kafka, on_commit=on_commit
    )
    processor.init()
    return processor


def consume_n(consumer: BatchConsumer, n: int, timeout_s: float = 30.0) -> list[Message]:
    deadline = time.monotonic() + timeout_s
    batch: list[Message] = []
    while len(batch) < n:
        assert time.monotonic() < deadline, f"only {len(batch)} of {n} messages arrived"
        batch += consumer.consume(n - len(batch), 0.5)
    return batch


def upper_case_good_events(out: str) -> Callable[[list[Message]], BatchResult]:
    """A handler that decodes strictly: anything not starting with ``good:`` is poison."""

    def handle(batch: list[Message]) -> BatchResult:
        outputs = []
        for msg in batch:
            value = msg.value() or b""
            if not value.startswith(b"good:"):
                raise InvalidEvent(f"not a good event: {value[:8]!r}")
            outputs.append(OutRecord(out, msg.key(), value.upper()))
        return BatchResult(outputs=outputs)

    return handle


def test_malformed_event_goes_to_dlq_with_reason_and_the_next_good_one_is_processed(
    kafka: KafkaSettings, make_topic: MakeTopic, consumer: BatchConsumer
) -> None:
    source = make_topic("in", dlq=True)
    out = make_topic("out")
    produce_raw(kafka, source, [(b"k1", b"good:1"), (b"k2", b"\x00junk"), (b"k3", b"good:2")])
    committed: list[BatchStats] = []
    deadline = time.monotonic() + 60

    with StopFlag() as stop:

        def record_and_stop_when_all_done(stats: BatchStats) -> None:
            committed.append(stats)
            if sum(s.n_in for s in committed) >= 3:
                stop.set()

        def stop_at_deadline() -> None:
            if time.monotonic() > deadline:
                stop.set()

        processor = processor_for(kafka, consumer, record_and_stop_when_all_done)
        consumer.subscribe([source])
        processor.run(
            stop,
            upper_case_good_events(out),
            batch_size=100,
            batch_timeout_s=0.2,
            on_idle=stop_at_deadline,
        )

    assert sum(s.n_in for s in committed) == 3
    assert sum(s.n_dead for s in committed) == 1
    outputs = read_topic(kafka, out, at_least=2)
    assert sorted(m.value() or b"" for m in outputs) == [b"GOOD:1", b"GOOD:2"]
    [dead] = read_topic(kafka, kafka.dlq_topic(source), at_least=1)
    assert (dead.key(), dead.value()) == (b"k2", b"\x00junk")
    headers = dict(dead.headers() or [])
    assert headers["error"] == b"not a good event: b'\\x00junk'"
    assert headers["origin.topic"] == source.encode()
    assert headers["origin.partition"] == b"0"
    assert headers["origin.offset"] == b"1"
    assert int(headers["origin.timestamp"] or b"0") > 0


def test_poison_returned_by_the_handler_is_dead_lettered_in_the_same_commit(
    kafka: KafkaSettings, make_topic: MakeTopic, consumer: BatchConsumer
) -> None:
    source = make_topic("in", partitions=2, dlq=True)
    out = make_topic("out")
    produce_raw(kafka, source, [(b"a", b"good:a"), (b"b", b"bad"), (b"c", b"good:c")])
    processor = processor_for(kafka, consumer)
    consumer.subscribe([source])
    batch = consume_n(consumer, 3)

    def handler(messages: list[Message]) -> BatchResult:
        result = BatchResult()
        for msg in messages:
            if msg.value() == b"bad":
                result.dead.append((msg, "bad value"))
            else:
                result.outputs.append(OutRecord(out, msg.key(), msg.value()))
        return result

    stats = processor.process_batch(batch, handler)

    assert (stats.n_in, stats.n_out, stats.n_dead) == (3, 2, 1)
    assert len(read_topic(kafka, out, at_least=2)) == 2
    [dead] = read_topic(kafka, kafka.dlq_topic(source), at_least=1)
    assert dict(dead.headers() or [])["error"] == b"bad value"


def test_aborted_batch_is_invisible_then_redelivered_and_committed_exactly_once(
    kafka: KafkaSettings, make_topic: MakeTopic, consumer: BatchConsumer
) -> None:
    source = make_topic("in", partitions=2)
    out = make_topic("out")
    inputs = [(f"k{i}".encode(), f"good:{i}".encode()) for i in range(6)]
    produce_raw(kafka, source, inputs)
    processor = processor_for(kafka, consumer)
    consumer.subscribe([source])
    first = consume_n(consumer, len(inputs))
    good = upper_case_good_events(out)

    def fails_after_producing(messages: list[Message]) -> BatchResult:
        result = good(messages)
        # The output topic has one partition: producing to partition 7 fails mid-batch.
        result.outputs.append(OutRecord(out, b"x", b"never", partition=7))
        return result

    with pytest.raises(BatchAborted):
        processor.process_batch(first, fails_after_producing)

    # The aborted outputs were written to the log, but a read_committed reader never sees them.
    assert len(read_topic(kafka, out, isolation="read_uncommitted", at_least=6)) == 6
    assert read_topic(kafka, out) == []

    again = consume_n(consumer, len(inputs))
    positions = sorted((m.partition(), m.offset()) for m in again)
    assert positions == sorted((m.partition(), m.offset()) for m in first)
    stats = processor.process_batch(again, good)

    assert (stats.n_in, stats.n_out) == (6, 6)
    committed_outputs = read_topic(kafka, out, at_least=6)
    assert sorted(m.value() or b"" for m in committed_outputs) == sorted(
        v.upper() for _, v in inputs
    )
    group_offsets = consumer.committed([TopicPartition(source, p) for p in (0, 1)], 10.0)
    assert {(tp.partition, tp.offset) for tp in group_offsets} == {
        (tp.partition, tp.offset) for tp in next_offsets(again)
    }


def test_pipelined_run_is_exactly_once_through_a_failing_batch(
    kafka: KafkaSettings, make_topic: MakeTopic, consumer: BatchConsumer
) -> None:
    """run() commits batch k while it handles k+1; a handler failure mid-stream is retried
    from the rewound offsets, and every input still yields exactly one output."""
    source, out = make_topic("pipe-in", partitions=3), make_topic("pipe-out")
    n = 3_000
    produce_raw(kafka, source, [(f"k{i}".encode(), f"good:{i}".encode()) for i in range(n)])
    consumer.subscribe([source])
    processor = processor_for(kafka, consumer)
    inner = upper_case_good_events(out)
    calls = {"n": 0, "failed": 0}
    stop = StopFlag()

    def flaky(batch: list[Message]) -> BatchResult:
        calls["n"] += 1
        if calls["n"] == 4 and not calls["failed"]:  # batch 3 is committing meanwhile
            calls["failed"] += 1
            raise RuntimeError("transient failure in the handler")
        return inner(batch)

    def stop_when_done() -> None:
        if len(read_topic(kafka, out, at_least=0, timeout_s=5)) >= n:
            stop.set()

    runner = threading.Thread(
        target=processor.run,
        args=(stop, flaky),
        kwargs={"batch_size": 200, "batch_timeout_s": 0.05, "on_idle": stop_when_done},
        daemon=True,
    )
    runner.start()
    runner.join(120)
    assert not runner.is_alive(), "run() did not finish"

    values = [m.value() for m in read_topic(kafka, out, at_least=n)]
    assert calls["failed"] == 1
    assert len(values) == n
    assert sorted(values) == sorted(f"GOOD:{i}".encode() for i in range(n))
