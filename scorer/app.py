"""The scorer service: image topic → champion model → prediction topic, exactly once.

Wiring only; the logic is in ``batch_handler`` (a batch through the model), ``service``
(predictions), ``champion`` (the swap) and ``reload`` (the control stream). Run it with
``arena scorer``; run as many as there are partitions.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from arena.bus.consumer import BatchConsumer
from arena.bus.producer import close_producer, make_producer
from arena.bus.records import BatchResult, BatchStats
from arena.bus.stop import StopFlag
from arena.bus.topics import default_topics, ensure_topics
from arena.bus.transactional import TransactionalProcessor
from arena.config import Settings
from arena.errors import ArenaError, BusError
from arena.events import STALE_AFTER_HEARTBEATS, ModelEvent, ScorerStatus
from arena.image_batch import BatchDecoder
from arena.image_source import ImageSource
from arena.images import DecodeLimits
from arena.signing import ArtifactSigner
from scorer.batch_handler import BatchScorer
from scorer.champion import ChampionHolder
from scorer.health import Heartbeat, serve_health
from scorer.reload import Loader, ModelReloader, registry_fallback
from scorer.status import StatusHeartbeat, StatusReporter
from scorer.telemetry import ScorerMetrics
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.errors import NotServing
from storage.model_loader import LoadedModel, ModelLoader, Runtime
from storage.registry import Registry
from storage.s3_reads import SignedReads

log = logging.getLogger(__name__)

WARM_UP_BATCH = 64
GIL_SWITCH_INTERVAL_S = 0.001
# Throughput settings measured in bench/: big fetches, a producer that batches for a few ms.
CONSUMER_TUNING = {
    "fetch.min.bytes": 1,
    "fetch.wait.max.ms": 20,
    # Prefetch up to 8 MiB (~9,800 raw events, over a second of scoring). Measured with 2
    # ONNX scorers through 200,000 raw frames: 32 MiB and 4 MiB fetches gave 7,600 img/s at
    # 311 MiB peak RSS; 8 MiB and 1 MiB, 7,500 img/s at 226 MiB.
    "queued.max.messages.kbytes": 8_192,
    "max.partition.fetch.bytes": 1_048_576,
}
PRODUCER_TUNING = {"linger.ms": 2}
STATUS_QUEUE_MAX = 1_000  # statuses waiting for the broker; beyond that one is refused (counted)


def status_producer_tuning(heartbeat_s: float) -> dict[str, Any]:
    """The status producer's limits: a bounded queue; with heartbeats, a status undelivered
    after 3 of them is given up (it would only say "stale"), and the next beat sends the
    latest one. Without heartbeats a change is the only record, so librdkafka's default
    delivery timeout (5 min) keeps retrying it."""
    tuning = {"queue.buffering.max.messages": STATUS_QUEUE_MAX}
    if heartbeat_s > 0:
        tuning["message.timeout.ms"] = max(10_000, int(STALE_AFTER_HEARTBEATS * heartbeat_s * 1000))
    return tuning


def default_scorer_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def serving_loader(
    loader: ModelLoader, registry: Registry, batch_size: int, runtime: Runtime = "auto"
) -> Loader:
    """Load an announced version (checked against the registry, verified), then warm it up.

    Only what the registry serves (the pinned version, else the champion) is loaded: an
    announcement of any other version (a candidate, a rejected one, a record written by
    someone with access to the control topic) is refused with ``NotServing``.
    """

    def load(event: ModelEvent) -> LoadedModel:
        serving = registry.serving_version()
        if serving is None or serving.id != event.version:
            served = f"version {serving.id}" if serving is not None else "nothing"
            raise NotServing(
                f"version {event.version} is not what the registry serves ({served}): "
                "only the champion or the pinned version is loaded"
            )
        loaded = loader.load(event.version, expected_sha256=event.sha256, runtime=runtime)
        # Tracing once covers every batch size (the signature is [None, H, W]); a small
        # warm-up batch keeps the burst on the cores the live model is using short.
        loaded.model.warm_up(min(batch_size, WARM_UP_BATCH))
        # A loaded model is ~10^5 Python objects: left to the cyclic GC, they trigger full
        # collections that stall the scoring loop for ~250 ms (measured with TF loaded).
        # Freeze them out of its reach; retired models are collected when the loop is idle.
        gc.freeze()
        return loaded

    return load


@dataclass
class ScorerHandle:
    """What a running scorer exposes to its caller (the CLI, the demo, the tests)."""

    scorer_id: str
    holder: ChampionHolder = field(default_factory=ChampionHolder)
    metrics: ScorerMetrics = field(default_factory=ScorerMetrics)
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    reloader: ModelReloader | None = None
    health_port: int = 0
    started: threading.Event = field(default_factory=threading.Event)
    retired_models: int = 0  # swapped out, awaiting an idle-time collection
    unhealthy_version: int | None = None  # last version reported as outputting NaN


def run_scorer(settings: Settings, stop: StopFlag, handle: ScorerHandle | None = None) -> None:
    """Score until ``stop`` is set. Blocks; the first model comes from the control topic
    (or, if it is empty, from the registry's serving version)."""
    cfg = settings.scorer
    handle = handle or ScorerHandle(cfg.scorer_id or default_scorer_id())
    # The scoring loop shares the GIL with the model reloader (a Keras load holds it for
    # hundreds of ms in 5 ms slices); shorter slices hand it back to the loop sooner.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    ensure_topics(settings.kafka, default_topics(settings.kafka))
    with ExitStack() as resources:
        registry = Registry(make_engine(settings.db))
        store = ArtifactStore(settings.s3)
        resources.callback(store.close)
        status_producer = make_producer(settings.kafka, **status_producer_tuning(cfg.heartbeat_s))
        resources.callback(close_producer, status_producer, 2.0)
        statuses = StatusReporter(
            status_producer, settings.kafka.scorer_status_topic, handle.metrics.status_failures.inc
        )
        report = statuses.report
        if cfg.heartbeat_s > 0:
            heartbeat = StatusHeartbeat(
                statuses, cfg.heartbeat_s, handle.heartbeat.alive, stop.is_set
            )
            heartbeat.start()
            resources.callback(heartbeat.close)  # before the producer closes

        reloader = ModelReloader(
            settings.kafka,
            handle.holder,
            serving_loader(
                ModelLoader(
                    registry,
                    store,
                    ArtifactSigner(settings.signing.key),
                    cache_size=0,
                    onnx_threads=cfg.onnx_threads,
                ),
                registry,
                cfg.batch_size,
                cfg.runtime,
            ),
            report,
            handle.scorer_id,
            on_failure=handle.metrics.load_failures.inc,
            fallback=registry_fallback(registry),
        )
        handle.reloader = reloader
        reloader.start()
        resources.callback(reloader.join, 2.0)
        resources.callback(reloader.stop)
        server = serve_health(
            cfg.metrics_port,
            handle.metrics.registry,
            handle.heartbeat,
            lambda: handle.holder.current is not None,
            host=cfg.metrics_host,
            reloader=reloader.describe,
        )
        resources.callback(server.shutdown)
        handle.health_port = server.server_address[1]
        log.info(
            "scorer %s: /healthz /readyz /metrics on %s:%d",
            handle.scorer_id,
            cfg.metrics_host,
            handle.health_port,
        )

        consumer = BatchConsumer(settings.kafka, cfg.group_id, handle.scorer_id, **CONSUMER_TUNING)
        resources.callback(consumer.close)
        processor = TransactionalProcessor(
            consumer,
            lambda: make_producer(
                settings.kafka,
                transactional_id=f"arena-scorer-{handle.scorer_id}",
                **PRODUCER_TUNING,
            ),
            settings.kafka,
            on_commit=lambda s: _count(handle, s),
        )
        resources.callback(processor.close)  # if stopped before it runs (run closes it too)
        _fence_predecessor(handle, processor)

        _await_first_model(handle, reloader, stop)
        if stop.is_set():
            return
        first = handle.holder.current
        assert first is not None
        _announce(handle, first, report)
        consumer.subscribe([settings.kafka.image_topic])
        # Claim-check images by lean signed GETs (storage.s3_reads), not the minio client.
        reads = resources.enter_context(SignedReads(settings.s3))
        source = ImageSource.from_settings(reads, settings)
        resources.callback(source.close)
        scorer = BatchScorer(
            handle.holder,
            BatchDecoder(
                first.model.input_shape,
                cfg.batch_size,
                source,
                DecodeLimits.from_settings(settings.images),
            ),
            settings.kafka.prediction_topic,
            top_k=cfg.top_k,
            scorer_id=handle.scorer_id,
            on_swap=lambda model, retired: _swapped(handle, model, retired, report),
            on_latency_ms=lambda ms: handle.metrics.latency.observe(ms / 1000.0),
            on_unhealthy=lambda model, reason: _unhealthy(handle, model, reason, report),
        )

        def handle_batch(messages: list[Message]) -> BatchResult:
            handle.heartbeat.beat()
            return scorer(messages)

        def on_idle() -> None:
            handle.heartbeat.beat()
            if not scorer.swap_if_staged() and handle.retired_models:
                collect_retired_models(handle)

        handle.started.set()
        log.info("scorer %s serving version %d", handle.scorer_id, first.version)
        processor.run(
            stop,
            handle_batch,
            batch_size=cfg.batch_size,
            batch_timeout_s=cfg.batch_timeout_ms / 1000,
            on_idle=on_idle,
            on_retry=lambda _: handle.metrics.batch_failures.inc(),
            health=handle.heartbeat,
        )


def _fence_predecessor(handle: ScorerHandle, processor: TransactionalProcessor) -> None:
    """Register the transactional id before the slow part of starting (the model load).

    A predecessor killed mid-transaction left offsets pending on its partitions, and the
    group's other members cannot read those partitions until that transaction ends: fencing
    it now aborts it within seconds of the restart, not after the model has loaded (tens of
    seconds) or the transaction timeout. If the broker cannot be reached yet, the processor
    registers the id before its first batch instead.
    """
    try:
        processor.init()
    except BusError as exc:
        log.warning(
            "scorer %s: transactional id not registered yet (%s); retrying before the first batch",
            handle.scorer_id,
            exc,
        )


def _await_first_model(handle: ScorerHandle, reloader: ModelReloader, stop: StopFlag) -> None:
    """Wait for the control topic's replay (the reloader asks the registry when the topic
    announces nothing usable), then for a first model."""
    while not stop.is_set() and not reloader.caught_up.wait(0.2):
        handle.heartbeat.beat()
        if reloader.failure is not None:
            raise ArenaError("the model reloader failed") from reloader.failure
    while not stop.is_set() and not handle.holder.wait_ready(0.5):
        handle.heartbeat.beat()
        log.info("scorer %s waiting for a model to be promoted", handle.scorer_id)


def _swapped(
    handle: ScorerHandle,
    serving: LoadedModel,
    retired: bool,
    report: Callable[[ScorerStatus], None],
) -> None:
    if retired:
        handle.retired_models += 1
    _announce(handle, serving, report)


def _unhealthy(
    handle: ScorerHandle,
    serving: LoadedModel,
    reason: str,
    report: Callable[[ScorerStatus], None],
) -> None:
    """The served model output NaN or infinity: count it, and say so once per version."""
    handle.metrics.nonfinite_batches.inc()
    log.error("scorer %s: %s; dead-lettering the batch", handle.scorer_id, reason)
    if handle.unhealthy_version != serving.version:
        handle.unhealthy_version = serving.version
        report(ScorerStatus(handle.scorer_id, serving.version, "unhealthy", reason))


def _announce(
    handle: ScorerHandle, serving: LoadedModel, report: Callable[[ScorerStatus], None]
) -> None:
    handle.metrics.serving_version.set(serving.version)
    handle.metrics.serving_onnx.set(1 if serving.runtime == "onnx" else 0)
    handle.metrics.swaps.inc()
    log.info(
        "scorer %s now serves version %d (%s, %s)",
        handle.scorer_id,
        serving.version,
        serving.flavor,
        "ONNX Runtime" if serving.runtime == "onnx" else "native",
    )
    report(ScorerStatus(handle.scorer_id, serving.version, "serving"))


def collect_retired_models(handle: ScorerHandle) -> None:
    """Free the models swapped out so far: a full collection, only ever while idle."""
    started = time.monotonic()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.info(
        "collected %d retired model(s) in %.0f ms",
        handle.retired_models,
        (time.monotonic() - started) * 1000,
    )
    handle.retired_models = 0


def _count(handle: ScorerHandle, stats: BatchStats) -> None:
    handle.metrics.batches.inc()
    handle.metrics.events.inc(stats.n_out)
    handle.metrics.dead_letters.inc(stats.n_dead)
