"""The ledger: a read_committed consumer that counts every event id the fleet put out.

It reads the prediction topic, both dead-letter topics and the scorer-status topic (its
changes; heartbeats only repeat them), and records when each record arrived
(``time.monotonic()`` of this process, the same clock the scenarios stamp their faults
with), so recovery is measured per input partition.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from arena.config import KafkaSettings
from arena.events import decode_prediction, decode_scorer_status, is_heartbeat


@dataclass(frozen=True, slots=True)
class DeadLetter:
    arrived: float
    error: str
    origin_topic: str
    origin_offset: str


@dataclass(frozen=True, slots=True)
class StatusSeen:
    arrived: float
    scorer_id: str
    version: int
    state: str


@dataclass
class Seen:
    counts: Counter[str] = field(default_factory=Counter)
    # (made, event id, scorer id) per prediction, in the order read
    arrivals: list[tuple[float, str, str]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)  # event id -> first model version
    dead: dict[str, list[DeadLetter]] = field(default_factory=dict)  # image DLQ, by key
    dead_labels: dict[str, list[DeadLetter]] = field(default_factory=dict)  # label DLQ
    statuses: list[StatusSeen] = field(default_factory=list)


class Ledger(threading.Thread):
    def __init__(self, kafka: KafkaSettings) -> None:
        super().__init__(name="chaos-ledger", daemon=True)
        self.rereads = 0
        self.kafka = kafka
        self.seen = Seen()
        self.lock = threading.Lock()
        self._halt = threading.Event()
        self._epoch_to_monotonic = time.monotonic() - time.time()
        self._consumer = Consumer(
            {
                "bootstrap.servers": kafka.bootstrap,
                "group.id": f"chaos-ledger-{uuid.uuid4().hex[:8]}",
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
        self._image_dlq = kafka.dlq_topic(kafka.image_topic)
        self._label_dlq = kafka.dlq_topic(kafka.label_topic)
        # Assigned, not subscribed: a group member whose session times out during a broker
        # outage rejoins from the committed offsets (none: the earliest) and would read every
        # record again; an assignment keeps its positions. Re-reads are dropped all the same.
        topics = [kafka.prediction_topic, self._image_dlq, self._label_dlq]
        topics.append(kafka.scorer_status_topic)
        metadata = self._consumer.list_topics(timeout=30)
        self._consumer.assign(
            [
                TopicPartition(topic, p, OFFSET_BEGINNING)
                for topic in topics
                for p in metadata.topics[topic].partitions
            ]
        )
        self._read: set[tuple[str, int, int]] = set()

    def stop(self) -> None:
        self._halt.set()
        self.join(30)

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                batch = self._consumer.consume(2000, 0.1)
                now = time.monotonic()
                with self.lock:
                    for msg in batch:
                        if msg.error() is not None:
                            continue
                        where = (
                            str(msg.topic()),
                            int(msg.partition() or 0),
                            int(msg.offset() or 0),
                        )
                        if where in self._read:
                            self.rereads += 1
                            continue
                        self._read.add(where)
                        self._record(msg, now)
        finally:
            self._consumer.close()

    def _record(self, msg: Message, now: float) -> None:
        topic = msg.topic()
        seen = self.seen
        if topic == self.kafka.prediction_topic:
            p = decode_prediction(msg.value())
            seen.counts[p.event_id] += 1
            made = (p.event_timestamp_ms + p.latency_ms) / 1000 + self._epoch_to_monotonic
            seen.arrivals.append((made, p.event_id, p.scorer_id))
            seen.versions.setdefault(p.event_id, p.model_version)
        elif topic == self.kafka.scorer_status_topic:
            if is_heartbeat(msg.headers()):
                return  # repeats the scorer's latest change: the scenarios time the changes
            s = decode_scorer_status(msg.value())
            seen.statuses.append(StatusSeen(now, s.scorer_id, s.version, s.state))
        else:
            headers = _headers(msg)
            letter = DeadLetter(
                now,
                headers.get("error", ""),
                headers.get("origin.topic", ""),
                headers.get("origin.offset", ""),
            )
            target = seen.dead if topic == self._image_dlq else seen.dead_labels
            target.setdefault((msg.key() or b"").decode(errors="replace"), []).append(letter)

    # -- questions the scenarios ask ------------------------------------------------------

    def predicted(self, keys: Iterable[str]) -> int:
        with self.lock:
            return sum(1 for k in keys if self.seen.counts[k] > 0)

    def lost(self, good: Iterable[str]) -> list[str]:
        with self.lock:
            return [k for k in good if self.seen.counts[k] == 0]

    def duplicated(self) -> list[str]:
        with self.lock:
            return [k for k, n in self.seen.counts.items() if n > 1]

    def serving(self) -> dict[str, tuple[int, str]]:
        """Each scorer's latest acknowledgement: scorer id -> (version, state)."""
        with self.lock:
            return {s.scorer_id: (s.version, s.state) for s in self.seen.statuses}

    def served_since(self, t0: float) -> dict[str, int]:
        """Scorers that acknowledged "serving" after ``t0``: scorer id -> latest version."""
        with self.lock:
            return {
                s.scorer_id: s.version
                for s in self.seen.statuses
                if s.arrived > t0 and s.state == "serving"
            }

    def resume_after(
        self, t0: float, partition_of: dict[str, int], partitions: int
    ) -> dict[int, float | None]:
        """Per input partition: seconds from ``t0`` to its first prediction after ``t0``."""
        first: dict[int, float | None] = dict.fromkeys(range(partitions))
        with self.lock:
            for arrived, key, _ in self.seen.arrivals:
                if arrived <= t0:
                    continue
                p = partition_of.get(key)
                if p is not None and (first[p] is None or arrived - t0 < (first[p] or 0.0)):
                    first[p] = arrived - t0
        return first

    def owners_after(
        self, t0: float, partition_of: dict[str, int], window_s: float = 5.0
    ) -> dict[int, list[str]]:
        """Per input partition, which scorers predicted it in the ``window_s`` after ``t0``."""
        owners: dict[int, set[str]] = {}
        with self.lock:
            for made, key, scorer in self.seen.arrivals:
                p = partition_of.get(key)
                if p is not None and t0 < made <= t0 + window_s:
                    owners.setdefault(p, set()).add(scorer)
        return {p: sorted(s) for p, s in sorted(owners.items())}

    def max_gap(
        self, t0: float, t1: float, partition_of: dict[str, int], partitions: int
    ) -> dict[int, float]:
        """Per input partition: the longest stretch in [t0, t1] without a prediction."""
        last = dict.fromkeys(range(partitions), t0)
        gap = dict.fromkeys(range(partitions), 0.0)
        with self.lock:
            arrivals = sorted(self.seen.arrivals)
        for arrived, key, _ in arrivals:
            p = partition_of.get(key)
            if p is None or not t0 <= arrived <= t1:
                continue
            gap[p] = max(gap[p], arrived - last[p])
            last[p] = arrived
        for p in gap:
            gap[p] = max(gap[p], t1 - last[p])
        return gap

    def last_arrival(self, keys: Iterable[str]) -> float:
        """When the last prediction or dead letter of ``keys`` arrived."""
        wanted = set(keys)
        with self.lock:
            times = [t for t, k, _ in self.seen.arrivals if k in wanted]
            times += [d[0].arrived for k, d in self.seen.dead.items() if k in wanted]
        return max(times, default=0.0)


def _headers(msg: Message) -> dict[str, str]:
    raw: Any = msg.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {
        str(k): v.decode(errors="replace") if isinstance(v, bytes) else str(v or "")
        for k, v in pairs
    }


def wait_for(condition: Callable[[], bool], timeout_s: float, *, poll_s: float = 0.1) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passed; whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return condition()
