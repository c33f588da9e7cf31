"""Dead-letter records: a poison message, unchanged, with why and where it came from."""

from __future__ import annotations

from arena.bus.records import Headers, KafkaMessage, OutRecord
from arena.config import KafkaSettings

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


def dead_letter_record(msg: KafkaMessage, reason: str, kafka: KafkaSettings) -> OutRecord:
    """The record that sends ``msg`` to ``<its topic>.dlq``, with its key and value unchanged.

    The caller produces it inside the batch's transaction, so a dead letter is written exactly
    when the batch's offsets are committed: never lost, never duplicated.
    """
    topic = msg.topic()
    if topic is None:
        raise ValueError("cannot dead-letter a message without a topic")
    return OutRecord(
        topic=kafka.dlq_topic(topic),
        key=msg.key(),
        value=msg.value(),
        headers=dead_letter_headers(msg, reason),
    )
