"""Offsets of a batch: where each partition resumes after it, and where it started."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import TopicPartition

from arena.bus.records import KafkaMessage


def _position(msg: KafkaMessage) -> tuple[str, int, int]:
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError(f"message without a position: {topic}/{partition}@{offset}")
    return topic, partition, offset


def next_offsets(messages: Iterable[KafkaMessage]) -> list[TopicPartition]:
    """The offset to commit for every partition in ``messages``: its highest offset + 1.

    Poison messages count like any other: committing past them is what keeps them from being
    read again once they are in the DLQ.
    """
    highest: dict[tuple[str, int], int] = {}
    for msg in messages:
        topic, partition, offset = _position(msg)
        key = (topic, partition)
        highest[key] = max(offset, highest.get(key, offset))
    return [TopicPartition(t, p, o + 1) for (t, p), o in sorted(highest.items())]


def first_offsets(messages: Iterable[KafkaMessage]) -> list[TopicPartition]:
    """The lowest offset of every partition in ``messages``: where to rewind after an abort."""
    lowest: dict[tuple[str, int], int] = {}
    for msg in messages:
        topic, partition, offset = _position(msg)
        key = (topic, partition)
        lowest[key] = min(offset, lowest.get(key, offset))
    return [TopicPartition(t, p, o) for (t, p), o in sorted(lowest.items())]
