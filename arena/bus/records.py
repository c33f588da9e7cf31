"""What a batch handler sees and returns: Kafka messages in, records to produce out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

Headers = list[tuple[str, bytes]]
# What confluent-kafka may hand back as a message's headers.
MessageHeaders = dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]]


class KafkaMessage(Protocol):
    """What Arena reads of a ``confluent_kafka.Message`` (a Protocol, so tests can fake it)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def timestamp(self) -> tuple[int, int]: ...
    def headers(self) -> MessageHeaders | None: ...


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to produce; ``partition=None`` lets the partitioner hash the key."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)
    partition: int | None = None


@dataclass(slots=True)
class BatchResult:
    """What a handler made of a batch: records to produce, and poison messages with the reason."""

    outputs: list[OutRecord] = field(default_factory=list)
    dead: list[tuple[KafkaMessage, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BatchStats:
    """A committed batch: messages in, records out, messages dead-lettered, seconds taken."""

    n_in: int
    n_out: int
    n_dead: int
    duration_s: float
