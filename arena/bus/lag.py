"""How far a consumer group is behind: committed offset against the end, per partition."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from arena.bus.broker_log import as_bus_error
from arena.bus.topics import admin_client
from arena.config import KafkaSettings
from arena.errors import BusError


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """``committed`` is None while the group has committed nothing on this partition."""

    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int | None:
        return None if self.committed is None else max(0, self.end - self.committed)


def consumer_lag(
    kafka: KafkaSettings, group: str, topic: str, *, timeout_s: float = 10.0
) -> list[PartitionLag]:
    """The lag of ``group`` on every partition of ``topic``, read with the admin API.

    Nothing joins the group, so reading it never triggers a rebalance of its members.

    Raises:
        BusError: the topic does not exist, or the broker did not answer in ``timeout_s``.
    """
    admin = admin_client(kafka)
    try:
        ends = _end_offsets(admin, topic, timeout_s)
        partitions = [TopicPartition(topic, p) for p in ends]
        request = [ConsumerGroupTopicPartitions(group, partitions)]
        committed_of = admin.list_consumer_group_offsets(request, request_timeout=timeout_s)
        committed = {
            tp.partition: tp.offset for tp in committed_of[group].result(timeout_s).topic_partitions
        }
        return [
            PartitionLag(
                topic,
                p,
                committed[p] if committed.get(p, -1) >= 0 else None,
                end,
            )
            for p, end in ends.items()
        ]
    except KafkaException as exc:
        raise as_bus_error(exc, f"reading the lag of {group} on {topic}") from exc


def end_offsets(kafka: KafkaSettings, topic: str, *, timeout_s: float = 10.0) -> dict[int, int]:
    """The next offset to be written on each partition of ``topic``, by partition.

    Raises:
        BusError: the topic does not exist, or the broker did not answer in ``timeout_s``.
    """
    try:
        return _end_offsets(admin_client(kafka), topic, timeout_s)
    except KafkaException as exc:
        raise as_bus_error(exc, f"reading the end offsets of {topic}") from exc


def _end_offsets(admin: AdminClient, topic: str, timeout_s: float) -> dict[int, int]:
    metadata = admin.list_topics(topic, timeout=timeout_s)
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        raise BusError(f"topic {topic} does not exist")
    partitions = [TopicPartition(topic, p) for p in sorted(described.partitions)]
    ends = admin.list_offsets(
        {tp: OffsetSpec.latest() for tp in partitions},  # type: ignore[no-untyped-call]
        request_timeout=timeout_s,
    )
    return {tp.partition: ends[tp].result(timeout_s).offset for tp in partitions}
