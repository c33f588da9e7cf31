"""Read back what the fleet did: every committed prediction, every scorer acknowledgement."""

from __future__ import annotations

import threading
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from confluent_kafka import Consumer

from arena.config import KafkaSettings
from arena.events import decode_prediction, decode_scorer_status


@dataclass
class Observed:
    first: dict[str, tuple[int, int]] = field(default_factory=dict)  # event id -> (version, label)
    counts: Counter[str] = field(default_factory=Counter)
    serving: dict[str, int] = field(default_factory=dict)  # scorer id -> version
    first_prediction_of: dict[int, int] = field(default_factory=dict)  # version -> arrival seq
    latencies_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Collector(threading.Thread):
    """A read_committed consumer of predictions and scorer statuses."""

    def __init__(self, kafka: KafkaSettings) -> None:
        super().__init__(name="demo-collector", daemon=True)
        self.observed = Observed()
        self._halt = threading.Event()
        self._consumer = Consumer(
            {
                **kafka.client_config(),
                "group.id": f"arena-demo-collector-{uuid.uuid4().hex[:8]}",
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self._predictions = kafka.prediction_topic
        self._consumer.subscribe([kafka.prediction_topic, kafka.scorer_status_topic])

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        seq = 0
        obs = self.observed
        try:
            while not self._halt.is_set():
                for msg in self._consumer.consume(1000, 0.2):
                    if msg.error():
                        continue
                    with obs.lock:
                        if msg.topic() == self._predictions:
                            p = decode_prediction(msg.value())
                            obs.counts[p.event_id] += 1
                            obs.first.setdefault(p.event_id, (p.model_version, p.label))
                            obs.first_prediction_of.setdefault(p.model_version, seq)
                            obs.latencies_ms.append(p.latency_ms)
                            seq += 1
                        else:
                            s = decode_scorer_status(msg.value())
                            if s.state == "serving":
                                obs.serving[s.scorer_id] = s.version
        finally:
            self._consumer.close()

    def predicted(self) -> int:
        with self.observed.lock:
            return len(self.observed.first)

    def serving_versions(self) -> dict[str, int]:
        with self.observed.lock:
            return dict(self.observed.serving)


def duplicates(counts: Counter[str]) -> int:
    return sum(c - 1 for c in counts.values() if c > 1)


def by_version(first: dict[str, tuple[int, int]]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for version, _ in first.values():
        out[version] += 1
    return dict(out)
