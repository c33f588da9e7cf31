"""Bus fixtures: unique topics per test on the real broker, and a complete topic reader."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from arena.bus.producer import flush_or_raise, make_producer
from arena.bus.topics import TopicSpec, delete_topics, ensure_topics
from arena.config import KafkaSettings

MakeTopic = Callable[..., str]


@pytest.fixture(scope="session")
def kafka() -> KafkaSettings:
    return KafkaSettings()


@pytest.fixture
def make_topic(kafka: KafkaSettings) -> Iterator[MakeTopic]:
    """Create a uniquely named topic, and its ``.dlq`` if asked (deleted after the test)."""
    created: list[str] = []

    def make(base: str, partitions: int = 1, *, dlq: bool = False, **config: str) -> str:
        name = f"test.{base}.{uuid.uuid4().hex[:10]}"
        specs = [TopicSpec(name, partitions, config=config)]
        if dlq:
            specs.append(TopicSpec(kafka.dlq_topic(name), partitions))
        ensure_topics(kafka, specs)
        created.extend(s.name for s in specs)
        return name

    yield make
    delete_topics(kafka, created)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def produce_raw(kafka: KafkaSettings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = make_producer(kafka)
    for key, value in records:
        producer.produce(topic, value, key)
    flush_or_raise(producer, 30.0)


def read_topic(
    kafka: KafkaSettings,
    topic: str,
    *,
    isolation: str = "read_committed",
    at_least: int = 0,
    timeout_s: float = 30.0,
) -> list[Message]:
    """Every record of ``topic`` visible at ``isolation``, once that view is complete.

    Complete means each partition was read to its end and that end is the high watermark:
    no transaction is still undecided, so an aborted record that is not returned will never
    be. Waits (to a deadline) until that holds and ``at_least`` records were read.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        messages, complete = _read_once(kafka, topic, isolation, deadline)
        if complete and len(messages) >= at_least:
            return messages
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{topic}: {len(messages)} record(s) (wanted {at_least}), complete={complete}"
            )


def _read_once(
    kafka: KafkaSettings, topic: str, isolation: str, deadline: float
) -> tuple[list[Message], bool]:
    reader = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": unique("reader"),
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = list(reader.list_topics(topic, timeout=10).topics[topic].partitions)
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        ends: dict[int, int] = {}
        messages: list[Message] = []
        while len(ends) < len(partitions) and time.monotonic() < deadline:
            for msg in reader.consume(500, 0.5):
                err = msg.error()
                if err is None:
                    messages.append(msg)
                elif err.code() == KafkaError._PARTITION_EOF:
                    ends[msg.partition() or 0] = msg.offset() or 0
                else:
                    raise AssertionError(f"reading {topic}: {err}")
        complete = len(ends) == len(partitions) and all(
            ends[p] >= reader.get_watermark_offsets(TopicPartition(topic, p), 10, False)[1]
            for p in partitions
        )
        return messages, complete
    finally:
        reader.close()
