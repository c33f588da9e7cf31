"""The state of a one-partition compacted topic: its last record, or its last record per key."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from arena.bus.broker_log import as_bus_error, log_broker_error
from arena.config import KafkaSettings
from arena.errors import BusError


def latest_value(kafka: KafkaSettings, topic: str, *, timeout_s: float = 15.0) -> bytes | None:
    """The value of the last committed record of ``topic`` (partition 0); None when empty.

    Raises:
        BusError: retriable, when the end was not reached within ``timeout_s``.
    """
    records = _read_to_end(kafka, topic, timeout_s)
    return records[-1][1] if records else None


def latest_by_key(
    kafka: KafkaSettings, topic: str, *, timeout_s: float = 15.0
) -> dict[bytes, bytes]:
    """The state a compacted topic (partition 0) holds: the last value of every key.

    Records without a key or value (tombstones) are skipped.
    """
    latest: dict[bytes, bytes] = {}
    for key, value in _read_to_end(kafka, topic, timeout_s):
        if key is not None and value is not None:
            latest[key] = value
    return latest


def _read_to_end(
    kafka: KafkaSettings, topic: str, timeout_s: float
) -> list[tuple[bytes | None, bytes | None]]:
    """Every committed (key, value) of partition 0, oldest first (tombstones included).

    Reads to the end of the partition, which the consumer signals with an end-of-partition
    event: unlike comparing offsets with the high watermark, that also ends when the last
    offset is a transaction marker, which no message ever occupies. A topic written to more
    often than a fetch waits (scorers' heartbeats) may never show that event, so the read
    also ends at the first record at or past the last offset there was when it began: every
    record before it has been read.
    """
    consumer = Consumer(
        {
            **kafka.client_config(),
            "group.id": f"arena-latest-{uuid.uuid4().hex[:12]}",  # never commits
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "error_cb": log_broker_error,
        }
    )
    deadline = time.monotonic() + timeout_s
    records: list[tuple[bytes | None, bytes | None]] = []
    try:
        start = TopicPartition(topic, 0, OFFSET_BEGINNING)
        remaining = max(0.1, deadline - time.monotonic())
        _, end = consumer.get_watermark_offsets(start, timeout=remaining, cached=False)
        consumer.assign([start])
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                err = msg.error()
                if err is None:
                    records.append((msg.key(), msg.value()))
                    if (msg.offset() or 0) >= end - 1:
                        return records
                elif err.code() == KafkaError._PARTITION_EOF:
                    return records
                elif err.fatal():
                    raise BusError(f"reading {topic}: {err.str()}")
        raise BusError(f"reading {topic}: its end not reached in {timeout_s:.0f} s", retriable=True)
    except KafkaException as exc:
        raise as_bus_error(exc, f"reading {topic}") from exc
    finally:
        consumer.close()
