"""An in-process stand-in for confluent_kafka.Message (unit tests only)."""

from __future__ import annotations

from dataclasses import dataclass, field

from arena.bus.records import MessageHeaders


@dataclass
class FakeMessage:
    topic_: str
    partition_: int
    offset_: int
    key_: bytes | None = b"k"
    value_: bytes | None = b"v"
    timestamp_ms: int = 1_700_000_000_000
    headers_: MessageHeaders | None = field(default=None)

    def topic(self) -> str | None:
        return self.topic_

    def partition(self) -> int | None:
        return self.partition_

    def offset(self) -> int | None:
        return self.offset_

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_

    def timestamp(self) -> tuple[int, int]:
        return (1, self.timestamp_ms)

    def headers(self) -> MessageHeaders | None:
        return self.headers_
