"""Dead letters keep their origin partition's number in the DLQ, when its size is known."""

from __future__ import annotations

from confluent_kafka import Message

from arena.bus.dlq import PartitionCounts, dead_letter_record
from arena.bus.records import BatchResult
from arena.bus.transactional import TransactionalProcessor
from arena.config import KafkaSettings
from tests.unit.bus.fake_kafka import FakeConsumer, FakeProducer, messages, raises, timed_out
from tests.unit.bus.fakes import FakeMessage

KAFKA = KafkaSettings(call_timeout_ms=300)


def test_a_dead_letter_goes_to_its_origin_partition_modulo_the_dlq_size() -> None:
    msg = FakeMessage("arena.images", 5, 7)
    assert dead_letter_record(msg, "bad", KAFKA, dlq_partitions=4).partition == 1
    assert dead_letter_record(msg, "bad", KAFKA, dlq_partitions=8).partition == 5
    assert dead_letter_record(msg, "bad", KAFKA).partition is None  # unknown: by key


def test_partition_counts_are_looked_up_once_per_topic() -> None:
    producer = FakeProducer(FakeConsumer([]), partitions={"in.dlq": 3})
    counts = PartitionCounts(timeout_s=0.5)
    assert [counts.of(producer, "in.dlq") for _ in range(3)] == [3, 3, 3]  # type: ignore[arg-type]
    assert producer.timeouts("list_topics") == [0.5]


def test_a_failed_lookup_partitions_by_key_and_waits_before_asking_again() -> None:
    producer = FakeProducer(FakeConsumer([]), fail={"list_topics": [raises(timed_out())]})
    producer.partitions = {"in.dlq": 2}
    counts = PartitionCounts(timeout_s=0.5, retry_after_s=60)
    assert counts.of(producer, "in.dlq") is None  # type: ignore[arg-type]
    assert counts.of(producer, "in.dlq") is None  # type: ignore[arg-type]
    assert len(producer.timeouts("list_topics")) == 1  # not asked again within the minute

    missing = PartitionCounts(timeout_s=0.5)
    assert missing.of(producer, "no.such.dlq") is None  # type: ignore[arg-type]


def test_the_processor_writes_each_dead_letter_to_its_origin_partition() -> None:
    consumer = FakeConsumer(messages(4))
    made: list[FakeProducer] = []

    def make() -> FakeProducer:
        made.append(FakeProducer(consumer, partitions={"in.dlq": 4}))
        return made[-1]

    def all_poison(batch: list[Message]) -> BatchResult:
        return BatchResult(dead=[(m, "poison") for m in batch])

    proc = TransactionalProcessor(consumer, make, KAFKA)  # type: ignore[arg-type]
    proc.init()
    for _ in range(2):
        stats = proc.process_batch(consumer.consume(2, 0.1), all_poison)
        assert stats.n_dead == 2
    [producer] = made
    assert producer.produced == [("in.dlq", 0)] * 4  # the fake consumer reads partition 0
    assert producer.visible == [b"v0", b"v1", b"v2", b"v3"]  # committed, in order
    assert len(producer.timeouts("list_topics")) == 1
