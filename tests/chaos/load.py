"""A paced producer of image events (and their labels), recording what the broker acked.

Only acknowledged records count as sent: the ledger then proves every one of them came out
of the scorers exactly once. The producer retries through broker outages (idempotent, a
long message timeout); it is the load, not the system under test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from confluent_kafka import KafkaError, Message

from arena.bus.producer import make_producer
from arena.config import KafkaSettings
from arena.datasets import load_mnist
from arena.events import (
    ContentType,
    ImageEvent,
    LabelEvent,
    encode_image_event,
    encode_label_event,
    now_ms,
)

GOOD = "good"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One image record to send: its key (the id the ledger tracks), value and kind."""

    key: str
    value: bytes | None
    kind: str = GOOD  # GOOD, or the poison kind
    label: tuple[str, int] | None = None  # also send this LabelEvent (event id, label)


Plan = Callable[[int], Outgoing]


class MnistImages:
    """Raw 28x28 MNIST test digits as inline image events, ids ``<run>-<i>``.

    With ``label_every=k`` every k-th image gets its true label, ``label_lag`` images later
    (labels arrive late: the trainer's join then holds images waiting for them).
    """

    def __init__(self, run: str, label_every: int = 0, label_lag: int = 0) -> None:
        data = load_mnist()
        self.images: npt.NDArray[np.uint8] = data.x_test
        self.labels: npt.NDArray[np.int64] = data.y_test
        self.run = run
        self.label_every = label_every
        self.label_lag = label_lag
        # The labels sent, per test digit: the truth, unless a scenario swaps it (to make a
        # promoted model look worse live than the one it replaced).
        self.label_values: npt.NDArray[np.int64] = self.labels

    def key(self, i: int) -> str:
        return f"{self.run}-{i:08d}"

    def __call__(self, i: int) -> Outgoing:
        image = self.images[i % len(self.images)]
        key = self.key(i)
        frame = encode_image_event(
            ImageEvent(
                key, now_ms(), "chaos", ContentType.RAW_GRAY8, image.tobytes(), height=28, width=28
            )
        )
        label = None
        labeled = i - self.label_lag
        if self.label_every and labeled >= 0 and labeled % self.label_every == 0:
            label = (self.key(labeled), int(self.label_values[labeled % len(self.labels)]))
        return Outgoing(key, frame, GOOD, label)


@dataclass
class Sent:
    """What the broker acknowledged: key -> (partition, kind), and what it refused."""

    partition_of: dict[str, int] = field(default_factory=dict)
    offset_of: dict[str, int] = field(default_factory=dict)
    kind_of: dict[str, str] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def good(self) -> list[str]:
        with self.lock:
            return [k for k, kind in self.kind_of.items() if kind == GOOD]

    def poison(self) -> dict[str, str]:
        with self.lock:
            return {k: kind for k, kind in self.kind_of.items() if kind != GOOD}


class PacedLoad(threading.Thread):
    """Sends ``plan(0), plan(1), ...`` at ``rate`` per second (0: as fast as possible).

    It stops after ``total`` records, or, without a total, once ``finish()`` was called and
    at least ``min_events`` were sent; then it waits for every acknowledgement.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        plan: Plan,
        *,
        rate: float,
        total: int | None = None,
        min_events: int = 0,
        first_index: int = 0,
    ) -> None:
        super().__init__(name="chaos-load", daemon=True)
        self.kafka = kafka
        self.plan = plan
        self.rate = rate
        self.total = total
        self.min_events = min_events
        self.first_index = first_index
        self.sent = Sent()
        self.produced = 0
        self.started_at = 0.0
        self.finished_at = 0.0
        self.error: BaseException | None = None
        self._finish = threading.Event()
        tuning: dict[str, Any] = {
            "linger.ms": 5,
            "message.timeout.ms": 600_000,
            "on_delivery": self._acked,
        }
        self._producer = make_producer(kafka, **tuning)

    def finish(self) -> None:
        self._finish.set()

    def _done(self) -> bool:
        if self.total is not None:
            return self.produced >= self.total
        return self._finish.is_set() and self.produced >= self.min_events

    def _acked(self, err: KafkaError | None, msg: Message) -> None:
        key = (msg.key() or b"").decode(errors="replace")
        with self.sent.lock:
            if err is not None:
                self.sent.failed += 1
            elif msg.topic() == self.kafka.image_topic:
                self.sent.partition_of[key] = int(msg.partition() or 0)
                self.sent.offset_of[key] = int(msg.offset() or 0)
                self.sent.kind_of[key] = self._kinds.pop(key)
            else:
                self.sent.labels[key] = self._label_values.pop(key)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.error = exc
            raise

    def _run(self) -> None:
        self._kinds: dict[str, str] = {}
        self._label_values: dict[str, int] = {}
        self.started_at = time.monotonic()
        while not self._done():
            due = self._due()
            while self.produced < due and not (self.total and self.produced >= self.total):
                self._send(self.plan(self.first_index + self.produced))
                self.produced += 1
            self._producer.poll(0.005 if self.rate else 0)
        while self._producer.flush(1.0):
            pass
        self.finished_at = time.monotonic()

    def _due(self) -> int:
        if not self.rate:
            return self.produced + 1000
        return int((time.monotonic() - self.started_at) * self.rate)

    def _send(self, out: Outgoing) -> None:
        with self.sent.lock:
            self._kinds[out.key] = out.kind
            if out.label is not None:
                self._label_values[out.label[0]] = out.label[1]
        self._produce(self.kafka.image_topic, out.key, out.value)
        if out.label is not None:
            event_id, label = out.label
            value = encode_label_event(LabelEvent(event_id, label, now_ms()))
            self._produce(self.kafka.label_topic, event_id, value)

    def _produce(self, topic: str, key: str, value: bytes | None) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key.encode())
                return
            except BufferError:
                self._producer.poll(0.05)
