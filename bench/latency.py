"""Latency phases under a fixed offered rate: steady event-to-prediction latency, and the
same load across a promotion (lost, duplicates, p99 around the swap, time to serve)."""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from arena.bus.producer import make_producer
from arena.config import Settings
from arena.control import ControlPlane
from arena.datasets import load_mnist
from arena.flavors import ModelFlavor
from arena.flavors.keras_cnn import KerasCnn
from arena.images import to_unit_float
from arena.signing import ArtifactSigner
from bench.kit import (
    ScorerProcess,
    counting,
    drop_topics,
    percentile,
    phase_settings,
    raw_event,
    wait_for,
    wait_serving,
)
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.domain import ModelVersion
from storage.publish import VersionPublisher
from storage.registry import Registry

TICK_S = 0.005
LOAD_PRODUCER: dict[str, Any] = {"linger.ms": 1}  # stamp, then send almost at once


@dataclass(eq=False)  # a Thread must stay hashable
class OfferedLoad(threading.Thread):
    """Produces ``rate`` raw events a second for ``duration_s``, stamping each with now."""

    settings: Settings
    rate: float
    duration_s: float
    ids: list[str] = field(default_factory=list)
    started_ms: int = 0

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, name="bench-load", daemon=True)

    def run(self) -> None:
        producer = make_producer(self.settings.kafka, **LOAD_PRODUCER)
        images = load_mnist().x_test
        topic, run = self.settings.kafka.image_topic, uuid.uuid4().hex[:6]
        started = time.monotonic()
        self.started_ms = int(time.time() * 1000)
        sent = 0
        while (elapsed := time.monotonic() - started) < self.duration_s:
            due = int(elapsed * self.rate)
            while sent < due:
                eid = f"{run}-{sent:08d}"
                producer.produce(
                    topic, raw_event(sent, images[sent % len(images)], run), eid.encode()
                )
                self.ids.append(eid)
                sent += 1
            producer.poll(0)
            time.sleep(TICK_S)
        producer.flush(30)


@dataclass
class RunningScorer:
    process: ScorerProcess
    serving_version: int


@contextmanager
def scorer_process(settings: Settings, phase: str) -> Iterator[RunningScorer]:
    """One ``arena scorer`` subprocess, as deployed: the load generator and the collector in
    this process must not share a GIL with the scorer they measure."""
    scorer_id = f"bench-{phase}-{uuid.uuid4().hex[:6]}"
    log_path = Path(tempfile.mkdtemp(prefix="arena-bench-")) / f"{scorer_id}.log"
    proc = ScorerProcess(settings, scorer_id, log_path)
    try:
        version = wait_serving(settings, scorer_id, 120, proc)
        yield RunningScorer(proc, version)
    finally:
        proc.stop()


def alive_and(scorer: RunningScorer, condition: bool) -> bool:
    if not scorer.process.alive():
        raise RuntimeError("the scorer process exited during the phase")
    return condition


def _latencies(rows: list[tuple[int, int, int, str]], lo_ms: float, hi_ms: float) -> list[float]:
    return [float(arr - ts) for arr, ts, _, _ in rows if lo_ms <= ts < hi_ms]


def steady_latency(
    base: Settings, rate: float, duration_s: float, scorer: dict[str, Any]
) -> dict[str, Any]:
    """p50/p99 of arrival (read_committed) minus the event's timestamp, first second skipped."""
    settings = phase_settings(base, "latency", **scorer)
    try:
        with (
            counting(settings, decode=True) as counter,
            scorer_process(settings, "latency") as proc,
        ):
            load = OfferedLoad(settings, rate, duration_s)
            load.start()
            load.join()
            wait_for(
                lambda: alive_and(proc, counter.distinct() >= len(load.ids)), 60, "every prediction"
            )
            rows = list(counter.seen.rows)
        lat = _latencies(rows, load.started_ms + 1000, float("inf"))
        return {
            "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99),
            "p999_ms": percentile(lat, 99.9),
            "max_ms": max(lat, default=float("nan")),
            "events": len(load.ids),
            "offered_rate": rate,
            "duration_s": duration_s,
            "scorer": dict(scorer),
        }
    finally:
        drop_topics(settings)


def challenger(
    champion: KerasCnn, champion_id: int, settings: Settings, *, export_onnx: bool = True
) -> ModelVersion:
    """A second version: the champion fine-tuned 1 epoch on 500 images, registered."""
    data = load_mnist()
    model = champion.clone()
    model.fit(
        to_unit_float(data.x_train[3000:3500]),
        data.y_train[3000:3500],
        epochs=1,
        learning_rate=1e-3,
    )
    registry = Registry(make_engine(settings.db))
    signer = ArtifactSigner(settings.signing.key)
    with ArtifactStore(settings.s3) as store:
        return VersionPublisher(registry, store, signer, export_onnx=export_onnx).publish(
            "keras",
            cast(ModelFlavor, model),
            parent_id=champion_id,
            training_ranges=(),
            hyperparameters={"source": "bench: champion + 1 epoch on 500 images"},
        )


def swap(
    base: Settings,
    rate: float,
    duration_s: float,
    scorer: dict[str, Any],
    new_version: ModelVersion,
) -> dict[str, Any]:
    """The steady load across ``ControlPlane.promote`` at half time."""
    settings = phase_settings(base, "swap", **scorer)
    store = ArtifactStore(settings.s3)
    control = ControlPlane(
        Registry(make_engine(settings.db)), store, make_producer(settings.kafka), settings.kafka
    )
    try:
        with (
            counting(settings, decode=True) as counter,
            scorer_process(settings, "swap") as proc,
        ):
            old_version = proc.serving_version
            load = OfferedLoad(settings, rate, duration_s)
            load.start()
            time.sleep(duration_s / 2)
            change = control.promote(new_version.id, reason="bench swap", actor="bench")
            published_ms = change.event.timestamp_ms
            load.join()
            wait_for(
                lambda: alive_and(proc, counter.distinct() >= len(load.ids)), 60, "every prediction"
            )
            time.sleep(1.0)  # a duplicate would arrive after the last first prediction
            rows = list(counter.seen.rows)
            count, keys = counter.seen.count, counter.seen.keys
        produced = {i.encode() for i in load.ids}
        new_rows = [arr for arr, _, v, _ in rows if v == new_version.id]
        steady = _latencies(rows, load.started_ms + 2000, published_ms - 5000)
        if not steady:  # short (smoke) runs: everything before the promotion
            steady = _latencies(rows, load.started_ms, published_ms)
        around = _latencies(rows, published_ms - 5000, published_ms + 5000)
        steady_p99, around_p99 = percentile(steady, 99), percentile(around, 99)
        return {
            "swap_lost": len(produced - keys),
            "swap_duplicates": count - len(keys),
            "swap_p99_ratio": around_p99 / steady_p99,
            "swap_steady_p99_ms": steady_p99,
            "swap_around_p99_ms": around_p99,
            "swap_around_max_ms": max(around, default=float("nan")),
            "promotion_to_serving_s": (min(new_rows) - published_ms) / 1000 if new_rows else None,
            "from_version": old_version,
            "to_version": new_version.id,
            "events": len(load.ids),
            "offered_rate": rate,
            "duration_s": duration_s,
            "scorer": dict(scorer),
        }
    finally:
        store.close()
        drop_topics(settings)
