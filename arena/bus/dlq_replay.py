"""Reading dead letters back, and replaying chosen ones onto their origin topic exactly once.

The replay ledger of ``<topic>.dlq`` is the compacted, one-partition topic
``<topic>.dlq.replayed``: one record per replayed dead letter, keyed by its place in the
DLQ (``<partition>:<offset>``), whose value says where the copy went and who sent it. A
replay reads the ledger, skips every dead letter it names, and writes each copy and its
ledger record in ONE Kafka transaction: both exist or neither. All replays of one DLQ use
the same transactional id, so a second replayer running at once fences the first (whose
open transaction is aborted) instead of writing the same copies twice.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from arena.bus.broker_log import as_bus_error, log_broker_error
from arena.bus.compacted import latest_by_key
from arena.bus.dlq import DEAD_LETTER_HEADERS
from arena.bus.producer import close_producer, make_producer
from arena.bus.records import Headers, KafkaMessage
from arena.bus.topics import TopicSpec, admin_client, ensure_topics
from arena.config import KafkaSettings
from arena.errors import BusError

REPLAY_HEADER = "replay.of"  # on each copy: "<dlq topic>:<partition>:<offset>" it came from


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a DLQ topic, with its failure and origin read from its headers."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    error: str
    origin_topic: str
    origin_partition: int | None
    origin_offset: int | None

    @property
    def ledger_key(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return ""


@dataclass(frozen=True, slots=True)
class Replayed:
    """A dead letter's copy on its origin topic (or the ledger's word that one exists)."""

    letter: str  # its ledger key, <partition>:<offset> in the DLQ
    topic: str
    partition: int
    offset: int | None  # None: not known (the transaction's own copies before delivery)


def dlq_of(kafka: KafkaSettings, topic: str) -> str:
    """``arena.images`` or ``arena.images.dlq`` both name the DLQ ``arena.images.dlq``."""
    return topic if topic.endswith(".dlq") else kafka.dlq_topic(topic)


def ledger_topic(dlq_topic: str) -> str:
    return f"{dlq_topic}.replayed"


def read_dead_letters(
    kafka: KafkaSettings, dlq_topic: str, *, timeout_s: float = 15.0
) -> list[DeadLetter]:
    """Every committed record of ``dlq_topic``, by partition then offset.

    Raises:
        BusError: the topic does not exist, or its end was not reached in ``timeout_s``.
    """
    admin = admin_client(kafka)
    try:
        described = admin.list_topics(dlq_topic, timeout=timeout_s).topics.get(dlq_topic)
    except KafkaException as exc:
        raise as_bus_error(exc, f"describing {dlq_topic}") from exc
    if described is None or described.error is not None:
        raise BusError(f"topic {dlq_topic} does not exist")
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"arena-dlq-reader-{uuid.uuid4().hex[:12]}",  # never commits
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "error_cb": log_broker_error,
        }
    )
    pending = set(described.partitions)
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + timeout_s
    try:
        consumer.assign([TopicPartition(dlq_topic, p, OFFSET_BEGINNING) for p in pending])
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                err = msg.error()
                if err is None:
                    letters.append(_dead_letter(msg))
                elif err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                elif err.fatal():
                    raise BusError(f"reading {dlq_topic}: {err.str()}")
    except KafkaException as exc:
        raise as_bus_error(exc, f"reading {dlq_topic}") from exc
    finally:
        consumer.close()
    if pending:
        raise BusError(
            f"reading {dlq_topic}: its end not reached in {timeout_s:.0f} s", retriable=True
        )
    return sorted(letters, key=lambda d: (d.partition, d.offset))


def _dead_letter(msg: KafkaMessage) -> DeadLetter:
    raw = msg.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    headers: Headers = [(k, v if isinstance(v, bytes) else (v or "").encode()) for k, v in pairs]
    named = {k: v.decode(errors="replace") for k, v in headers if k in DEAD_LETTER_HEADERS}

    def number(name: str) -> int | None:
        value = named.get(name, "")
        return int(value) if value.lstrip("-").isdigit() else None

    return DeadLetter(
        topic=msg.topic() or "",
        partition=msg.partition() or 0,
        offset=msg.offset() or 0,
        timestamp_ms=msg.timestamp()[1],
        key=msg.key(),
        value=msg.value(),
        headers=headers,
        error=named.get("error", ""),
        origin_topic=named.get("origin.topic", ""),
        origin_partition=number("origin.partition"),
        origin_offset=number("origin.offset"),
    )


def replayed_letters(
    kafka: KafkaSettings, dlq_topic: str, *, timeout_s: float = 15.0
) -> dict[str, Replayed]:
    """What the ledger of ``dlq_topic`` says was replayed, by ledger key; empty when none."""
    ledger = ledger_topic(dlq_topic)
    ensure_topics(kafka, [TopicSpec(ledger, 1, compacted=True)])
    found: dict[str, Replayed] = {}
    for key, value in latest_by_key(kafka, ledger, timeout_s=timeout_s).items():
        entry = json.loads(value)
        found[key.decode()] = Replayed(
            key.decode(), entry["topic"], entry["partition"], entry.get("offset")
        )
    return found


def replay(
    kafka: KafkaSettings, dlq_topic: str, letters: list[DeadLetter], *, actor: str
) -> tuple[list[Replayed], list[Replayed]]:
    """Copy ``letters`` back onto their origin topic and partition, skipping those the ledger
    names; return (replayed now, replayed before).

    Each copy has the dead letter's key and value and its original headers (without the
    dead-letter ones), plus ``replay.of``. A letter without an origin is refused before
    anything is written.

    Raises:
        BusError: Kafka refused or did not answer; nothing of this replay was committed.
        ValueError: a letter has no ``origin.topic`` / ``origin.partition`` header.
    """
    for letter in letters:
        if not letter.origin_topic or letter.origin_partition is None:
            raise ValueError(f"dead letter {letter.ledger_key} names no origin: cannot replay it")
    producer = make_producer(kafka, transactional_id=f"arena-dlq-replay-{dlq_topic}")
    try:
        # First fence any other replayer of this DLQ, then read the ledger it may have written.
        producer.init_transactions(kafka.call_timeout_s)
        done = replayed_letters(kafka, dlq_topic)
        before = [done[d.ledger_key] for d in letters if d.ledger_key in done]
        todo = [d for d in letters if d.ledger_key not in done]
        if not todo:
            return [], before
        producer.begin_transaction()
        delivered: dict[str, int] = {}
        for letter in todo:
            assert letter.origin_partition is not None  # checked above
            headers = [(k, v) for k, v in letter.headers if k not in DEAD_LETTER_HEADERS]
            source = f"{dlq_topic}:{letter.ledger_key}"
            producer.produce(
                letter.origin_topic,
                value=letter.value,
                key=letter.key,
                partition=letter.origin_partition,
                headers=[*headers, (REPLAY_HEADER, source.encode())],
                on_delivery=_record_offset(delivered, letter.ledger_key),
            )
            entry = {
                "topic": letter.origin_topic,
                "partition": letter.origin_partition,
                "actor": actor,
                "timestamp_ms": int(time.time() * 1000),
                "error": letter.error,
            }
            producer.produce(
                ledger_topic(dlq_topic),
                value=json.dumps(entry, separators=(",", ":")).encode(),
                key=letter.ledger_key.encode(),
                partition=0,
            )
        producer.commit_transaction(max(kafka.call_timeout_s, 30.0))
        now = [
            Replayed(
                d.ledger_key, d.origin_topic, d.origin_partition or 0, delivered.get(d.ledger_key)
            )
            for d in todo
        ]
        return now, before
    except KafkaException as exc:
        raise as_bus_error(exc, f"replaying from {dlq_topic}") from exc
    finally:
        close_producer(producer, kafka.call_timeout_s)


def _record_offset(into: dict[str, int], name: str) -> Callable[[KafkaError | None, Message], None]:
    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        offset = msg.offset()
        if err is None and offset is not None:
            into[name] = offset

    return on_delivery
