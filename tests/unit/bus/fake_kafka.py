"""In-process stand-ins for a transactional producer and a batch consumer (unit tests only).

Each blocking call takes the timeout it is given; called without one it "hangs" (raises after
a short guard, so a test of unbounded code fails instead of hanging the suite).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from arena.bus.consumer import ConsumerFatal
from arena.errors import BusError
from tests.unit.bus.fakes import FakeMessage

HANG_GUARD_S = 2.0


def kafka_error(
    code: int, *, retriable: bool = False, fatal: bool = False, abortable: bool = False
) -> KafkaException:
    return KafkaException(
        KafkaError(code, "fake", fatal=fatal, retriable=retriable, txn_requires_abort=abortable)
    )


def timed_out() -> KafkaException:
    return kafka_error(KafkaError._TIMED_OUT, retriable=True)


Behaviour = Callable[[float | None], None]


def hang(timeout: float | None) -> None:
    """A broker that never answers: wait out the timeout, then time out."""
    if timeout is None or timeout < 0:
        time.sleep(HANG_GUARD_S)
        raise AssertionError("a blocking call was made without a timeout")
    time.sleep(timeout)
    raise timed_out()


def stuck(timeout: float | None) -> None:
    """A client call that ignores its timeout (librdkafka after a broker kill -9, seen)."""
    time.sleep(3 * HANG_GUARD_S)
    raise timed_out()


@dataclass
class FakeProducer:
    """Records calls; ``fail`` maps a method name to behaviours consumed one per call."""

    group: FakeConsumer
    fail: dict[str, list[Behaviour]] = field(default_factory=dict)
    commit_lands_then_fails: bool = False  # the broker commits, the answer never arrives
    calls: list[tuple[str, float | None]] = field(default_factory=list)
    open_txn: list[bytes | None] = field(default_factory=list)
    pending_offset: int | None = None
    visible: list[bytes | None] = field(default_factory=list)  # committed outputs, in order
    closed: bool = False
    partitions: dict[str, int] = field(default_factory=dict)  # what list_topics answers
    produced: list[tuple[str, int]] = field(default_factory=list)  # (topic, partition asked)

    def _call(self, name: str, timeout: float | None) -> None:
        self.calls.append((name, timeout))
        behaviours = self.fail.get(name)
        if behaviours:
            behaviours.pop(0)(timeout)

    def init_transactions(self, timeout: float | None = None) -> None:
        self._call("init_transactions", timeout)

    def begin_transaction(self) -> None:
        self._call("begin_transaction", 0)

    def produce(
        self, topic: str, value: bytes | None, key: bytes | None, partition: int = -1, **_: Any
    ) -> None:
        self.open_txn.append(value)
        self.produced.append((topic, partition))

    def list_topics(self, topic: str | None = None, timeout: float | None = None) -> Any:
        self._call("list_topics", timeout)
        found = {
            name: SimpleNamespace(error=None, partitions=dict.fromkeys(range(n)))
            for name, n in self.partitions.items()
            if topic in (None, name)
        }
        return SimpleNamespace(topics=found)

    def send_offsets_to_transaction(
        self, offsets: list[TopicPartition], group: object, timeout: float | None = None
    ) -> None:
        self._call("send_offsets_to_transaction", timeout)
        self.pending_offset = offsets[0].offset

    def commit_transaction(self, timeout: float | None = None) -> None:
        if self.commit_lands_then_fails:
            self.commit_lands_then_fails = False
            self._land()
            self.calls.append(("commit_transaction", timeout))
            raise timed_out()
        self._call("commit_transaction", timeout)
        self._land()

    def _land(self) -> None:
        self.visible += self.open_txn
        if self.pending_offset is not None:
            self.group.committed_offset = self.pending_offset
        self.open_txn, self.pending_offset = [], None

    def abort_transaction(self, timeout: float | None = None) -> None:
        self._call("abort_transaction", timeout)
        self.open_txn, self.pending_offset = [], None

    def flush(self, timeout: float | None = None) -> int:
        if timeout is None:
            raise AssertionError("flush without a timeout")
        return 0

    def poll(self, timeout: float = 0) -> int:
        return 0

    def purge(self, **_: Any) -> None:
        self.calls.append(("purge", 0))
        self.open_txn, self.pending_offset = [], None

    def close(self) -> bool:
        self.closed = True
        return True

    def timeouts(self, name: str) -> list[float | None]:
        return [t for n, t in self.calls if n == name]


def raises(exc: KafkaException) -> Behaviour:
    def behave(timeout: float | None) -> None:
        raise exc

    return behave


@dataclass
class FakeConsumer:
    """A one-partition consumer over ``messages``; seek and committed move its position."""

    messages: list[FakeMessage]
    topic: str = "in"
    position: int = 0
    committed_offset: int = -1001  # OFFSET_INVALID: nothing committed yet
    seeks: list[int] = field(default_factory=list)
    rebuilt: int = 0
    fatal_next: bool = False
    committed_failures: int = 0  # the next reads of the committed offsets that time out

    def consume(self, n: int, timeout_s: float) -> list[FakeMessage]:
        if self.fatal_next:
            self.fatal_next = False
            raise ConsumerFatal("consumer g: fatal error fenced")
        batch = [m for m in self.messages if m.offset_ >= self.position][:n]
        if batch:
            self.position = batch[-1].offset_ + 1
        return batch

    def consumer_group_metadata(self) -> object:
        return object()

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append(tp.offset)
        self.position = max(tp.offset, 0)  # OFFSET_BEGINNING (-2) is the start

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(self.topic, 0)]

    def committed(
        self, partitions: list[TopicPartition], timeout_s: float | None = None
    ) -> list[TopicPartition]:
        assert timeout_s is not None
        if self.committed_failures > 0:
            self.committed_failures -= 1
            raise BusError("committed offsets of group g: Local: Timed out", retriable=True)
        return [TopicPartition(self.topic, 0, self.committed_offset)]

    def rebuild(self) -> None:
        self.rebuilt += 1
        self.committed_failures = 0  # a new consumer, with new connections
        self.position = max(self.committed_offset, 0)


def messages(n: int, topic: str = "in") -> list[FakeMessage]:
    return [FakeMessage(topic, 0, i, value_=f"v{i}".encode()) for i in range(n)]
