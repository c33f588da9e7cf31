"""Reading a compacted topic's state ends at the end of the partition, also when records keep
arriving faster than a fetch waits (so the end-of-partition event never comes) and when the
last offset is a transaction marker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition

from arena.bus import compacted
from arena.config import KafkaSettings
from tests.unit.bus.fakes import FakeMessage

TOPIC = "arena.scorer-status"


class EndOfPartition:
    def error(self) -> KafkaError:
        return KafkaError(KafkaError._PARTITION_EOF)


class Record(FakeMessage):
    def error(self) -> None:
        return None


class FakeConsumer:
    """The partition's high watermark was ``end`` when asked; ``batches`` are what consume
    hands out, one per call, then nothing."""

    def __init__(self, end: int, batches: list[list[Any]]) -> None:
        self._end = end
        self._batches: Iterator[list[Any]] = iter(batches)
        self.consumed = 0

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float, cached: bool
    ) -> tuple[int, int]:
        assert timeout > 0 and not cached
        return 0, self._end

    def assign(self, partitions: list[TopicPartition]) -> None:
        pass

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        self.consumed += 1
        return next(self._batches, [])

    def close(self) -> None:
        pass


def record(offset: int, key: bytes) -> Record:
    return Record(TOPIC, 0, offset, key, b"v%d" % offset)


def read(monkeypatch: pytest.MonkeyPatch, consumer: FakeConsumer) -> dict[bytes, bytes]:
    monkeypatch.setattr(compacted, "Consumer", lambda config: consumer)
    return compacted.latest_by_key(KafkaSettings(), TOPIC, timeout_s=2)


def test_a_topic_written_to_without_pause_is_read_up_to_where_it_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Heartbeats every few ms: no end-of-partition event ever comes.
    stream = [[record(0, b"a"), record(1, b"b")], [record(2, b"a")], [record(3, b"b")]]
    stream += [[record(o, b"c")] for o in range(4, 10_000)]
    consumer = FakeConsumer(end=3, batches=stream)
    assert read(monkeypatch, consumer) == {b"a": b"v2", b"b": b"v1"}
    assert consumer.consumed == 2


def test_a_last_offset_that_is_a_transaction_marker_ends_at_the_end_of_the_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Offsets 0-1 are records, 2 a commit marker: no record at offset 2 ever comes.
    consumer = FakeConsumer(end=3, batches=[[record(0, b"a"), record(1, b"b")], [EndOfPartition()]])
    assert read(monkeypatch, consumer) == {b"a": b"v0", b"b": b"v1"}


def test_an_empty_topic_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    assert read(monkeypatch, FakeConsumer(end=0, batches=[[EndOfPartition()]])) == {}
