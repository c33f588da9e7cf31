"""Dead-letter records: a poison message, unchanged, with why and where it came from."""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaException, Producer

from arena.bus.records import Headers, KafkaMessage, OutRecord
from arena.config import KafkaSettings

logger = logging.getLogger(__name__)

MAX_REASON_BYTES = 4096  # a reason is a diagnosis, not a dump; keep headers small

DEAD_LETTER_HEADERS = (
    "error",
    "origin.topic",
    "origin.partition",
    "origin.offset",
    "origin.timestamp",
)


def dead_letter_headers(msg: KafkaMessage, reason: str) -> Headers:
    """Headers naming the failure and the origin, followed by the message's own headers."""
    headers: Headers = [
        ("error", reason.encode()[:MAX_REASON_BYTES]),
        ("origin.topic", str(msg.topic()).encode()),
        ("origin.partition", str(msg.partition()).encode()),
        ("origin.offset", str(msg.offset()).encode()),
        ("origin.timestamp", str(msg.timestamp()[1]).encode()),
    ]
    original = msg.headers() or []
    pairs = original.items() if isinstance(original, dict) else original
    for name, value in pairs:
        if name in DEAD_LETTER_HEADERS:
            continue  # ours describe this failure; an older one would mislead
        if value is None:
            headers.append((name, b""))
        else:
            headers.append((name, value.encode() if isinstance(value, str) else value))
    return headers


def dead_letter_record(
    msg: KafkaMessage, reason: str, kafka: KafkaSettings, dlq_partitions: int | None = None
) -> OutRecord:
    """The record that sends ``msg`` to ``<its topic>.dlq``, with its key and value unchanged.

    With ``dlq_partitions`` (the DLQ's partition count), it goes to the DLQ partition of its
    origin partition's number (modulo that count): one partition's dead letters stay in their
    order, and a transaction adds as few DLQ partitions as it read partitions. Without, the
    partitioner hashes the key.

    The caller produces it inside the batch's transaction, so a dead letter is written exactly
    when the batch's offsets are committed: never lost, never duplicated.
    """
    topic = msg.topic()
    if topic is None:
        raise ValueError("cannot dead-letter a message without a topic")
    origin = msg.partition()
    partition = None
    if dlq_partitions and origin is not None and origin >= 0:
        partition = origin % dlq_partitions
    return OutRecord(
        topic=kafka.dlq_topic(topic),
        key=msg.key(),
        value=msg.value(),
        headers=dead_letter_headers(msg, reason),
        partition=partition,
    )


class PartitionCounts:
    """Partition counts of the topics a producer writes dead letters to, looked up once.

    A lookup that fails (broker away, topic missing) answers None, so the dead letters are
    partitioned by key meanwhile, and is not tried again for ``retry_after_s``: a batch is
    never held up by one lookup after another during an outage.
    """

    def __init__(self, timeout_s: float, retry_after_s: float = 30.0) -> None:
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._counts: dict[str, int] = {}
        self._failed_at: dict[str, float] = {}

    def of(self, producer: Producer, topic: str) -> int | None:
        """The partition count of ``topic``, or None when it cannot be known now."""
        count = self._counts.get(topic)
        if count is not None:
            return count
        failed_at = self._failed_at.get(topic)
        if failed_at is not None and time.monotonic() - failed_at < self._retry_after_s:
            return None
        try:
            metadata = producer.list_topics(topic, timeout=self._timeout_s)
            found = metadata.topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                why = "no such topic" if found is None else str(found.error or "no partitions")
                raise LookupError(why)
        except (KafkaException, LookupError) as exc:
            self._failed_at[topic] = time.monotonic()
            logger.warning(
                "partitions of %s unknown (%s): its dead letters are partitioned by key for now",
                topic,
                exc,
            )
            return None
        self._counts[topic] = len(found.partitions)
        return self._counts[topic]
