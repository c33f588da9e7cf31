"""The demo's drone stream: real MNIST digits as PNG photos, a camera drift midway, and
labels that arrive late (and only for some photos), as they would from human review."""

from __future__ import annotations

import bisect
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from confluent_kafka import Producer

from arena.datasets import apply_drift, load_mnist
from arena.events import (
    ContentType,
    ImageEvent,
    LabelEvent,
    encode_image_event,
    encode_label_event,
    now_ms,
)
from arena.images import encode_png

NO_DRIFT = "none"  # an A/A stream: the same distribution throughout


@dataclass(frozen=True)
class StreamPlan:
    events: int = 20_000
    drift_at: int = 6_000
    drift: str = "invert"
    label_fraction: float = 0.6
    label_delay_events: tuple[int, int] = (50, 600)  # labels arrive this many events later
    # All services share one process and 2 cores in the demo: at 250/s scoring saturates
    # them and a fine-tune takes about 20 s; at 100/s the loop keeps up.
    rate_per_s: float = 100.0
    seed: int = 7


@dataclass
class GroundTruth:
    """What the demo knows and the services do not: every event's true label and phase."""

    event_ids: list[str]
    labels: npt.NDArray[Any]
    drifted: npt.NDArray[Any]
    labels_sent_at: dict[int, int]  # event index -> count of post-drift labels sent by then
    published_at: list[float] = field(default_factory=list)  # time.time() of each event

    def event_at(self, when: float) -> int:
        """The index of the last event published at or before ``when`` (-1: none yet)."""
        return bisect.bisect_right(self.published_at, when) - 1

    def labels_at(self, when: float) -> int:
        """Post-drift labels sent by ``when``."""
        i = self.event_at(when)
        return self.labels_sent_at.get(i, 0) if i >= 0 else 0


def build_stream(plan: StreamPlan) -> tuple[list[ImageEvent], GroundTruth]:
    """Draw the photos (from MNIST's test split, unseen by the initial champion)."""
    data = load_mnist()
    rng = np.random.default_rng(plan.seed)
    pool_x = np.concatenate([data.x_test, data.x_train[50_000:]])
    pool_y = np.concatenate([data.y_test, data.y_train[50_000:]])
    idx = rng.choice(len(pool_x), size=plan.events, replace=plan.events > len(pool_x))
    images = pool_x[idx].copy()
    if plan.drift != NO_DRIFT:
        images[plan.drift_at :] = apply_drift(plan.drift, images[plan.drift_at :])
    events = [
        ImageEvent(
            event_id=f"demo-{plan.seed}-{i:07d}",
            timestamp_ms=0,
            source=f"drone-{i % 3}",
            content_type=ContentType.PNG,
            payload=encode_png(images[i]),
        )
        for i in range(plan.events)
    ]
    drifted = np.arange(plan.events) >= plan.drift_at
    if plan.drift == NO_DRIFT:
        drifted[:] = False
    return events, GroundTruth(
        [e.event_id for e in events], pool_y[idx].astype(np.int64), drifted, {}
    )


def publish(
    plan: StreamPlan,
    events: list[ImageEvent],
    truth: GroundTruth,
    producer: Producer,
    image_topic: str,
    label_topic: str,
    progress: Callable[[int], None],
    stopped: Callable[[], bool] = lambda: False,
) -> None:
    """Publish at ``rate_per_s``; a labeled photo's label follows some events later."""
    rng = np.random.default_rng(plan.seed + 1)
    pending: list[tuple[int, int]] = []  # (due at event index, event index)
    post_drift_labels = 0
    start = time.monotonic()
    for i, event in enumerate(events):
        if stopped():
            return
        delay = start + i / plan.rate_per_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        stamped = ImageEvent(
            event.event_id, now_ms(), event.source, event.content_type, event.payload
        )
        producer.produce(image_topic, encode_image_event(stamped), event.event_id.encode())
        truth.published_at.append(time.time())
        if rng.random() < plan.label_fraction:
            heapq.heappush(pending, (i + int(rng.integers(*plan.label_delay_events)), i))
        while pending and pending[0][0] <= i:
            _, j = heapq.heappop(pending)
            label = LabelEvent(truth.event_ids[j], int(truth.labels[j]), now_ms())
            producer.produce(label_topic, encode_label_event(label), label.event_id.encode())
            post_drift_labels += int(truth.drifted[j])
        truth.labels_sent_at[i] = post_drift_labels
        producer.poll(0)
        progress(i + 1)
    for _, j in sorted(pending):
        label = LabelEvent(truth.event_ids[j], int(truth.labels[j]), now_ms())
        producer.produce(label_topic, encode_label_event(label), label.event_id.encode())
    producer.flush(30)
