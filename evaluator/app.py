"""The evaluator service: labeled events → champion vs challenger → score history → promote,
block (pin) or reject; then probation, and an automatic rollback of a bad promotion.

Wiring only; the steps live in ``rounds``, the rules in ``policy``, ``probation`` and
``service``.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack

from confluent_kafka import Message

from arena.bus.consumer import BatchConsumer
from arena.bus.loop import BatchLoop
from arena.bus.producer import make_producer
from arena.bus.stop import StopFlag
from arena.bus.topics import default_topics, ensure_topics
from arena.config import Settings
from arena.control import ControlPlane
from arena.join import LabelJoiner
from arena.labeled_stream import open_labeled_stream
from arena.outages import outage_cause
from arena.schedules import ScheduleRunner
from arena.telemetry_http import serve_metrics
from arena.webhooks import make_notifier
from evaluator.rounds import ACTOR, Evaluator, EvaluatorHandle
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.decisions import Decisions
from storage.drift_log import DriftLog
from storage.probations import Probations
from storage.registry import Registry

log = logging.getLogger(__name__)


def run_evaluator(
    settings: Settings, stop: StopFlag, handle: EvaluatorHandle | None = None
) -> None:
    """Consume labeled events and evaluate every ``interval_s`` until ``stop`` is set."""
    handle = handle or EvaluatorHandle()
    kafka, cfg = settings.kafka, settings.evaluator
    ensure_topics(kafka, default_topics(kafka))
    with ExitStack() as resources:
        store = ArtifactStore(settings.s3)
        resources.callback(store.close)
        producer = make_producer(kafka)
        resources.callback(producer.flush, 10)
        engine = make_engine(settings.db)
        notifier = make_notifier(settings.webhook)
        if notifier is not None:
            resources.callback(notifier.close, 2.0)  # within the 10 s a SIGTERM allows
        control = ControlPlane(Registry(engine), store, producer, kafka, notifier)
        _reconcile_at_start(control)
        evaluator = Evaluator(
            settings,
            control,
            store,
            handle,
            Probations(engine),
            Decisions(engine),
            DriftLog(engine),
        )
        joiner = LabelJoiner(settings.labels.join_ttl_s, settings.labels.join_capacity)
        # At-most-once is right here: the window only needs recent events, not every one.
        consumer = BatchConsumer(
            kafka, cfg.group_id, **{"enable.auto.commit": True, "enable.auto.offset.store": True}
        )
        resources.callback(consumer.close)
        consumer.subscribe([kafka.image_topic, kafka.label_topic])
        stream = open_labeled_stream(settings, store, joiner, resources, cfg.batch_size)
        server = serve_metrics(
            cfg.metrics_host, cfg.metrics_port, handle.metrics.registry, "evaluator"
        )
        resources.callback(server.shutdown)
        handle.metrics_port = server.server_address[1]
        round_requested = threading.Event()

        def scheduled_round(name: str) -> None:
            handle.metrics.scheduled_runs.inc()
            round_requested.set()  # the loop runs the round at its next batch or idle turn

        schedules = ScheduleRunner(
            engine,
            "evaluator",
            {"evaluate": scheduled_round},
            check_s=handle.schedule_check_s,
            key=settings.signing.key,
        )
        schedules.start()
        resources.callback(schedules.stop)
        handle.started.set()
        last = last_reconcile = time.monotonic()

        def evaluate_if_due() -> None:
            nonlocal last, last_reconcile
            if round_requested.is_set() or time.monotonic() - last >= cfg.interval_s:
                round_requested.clear()
                evaluator.evaluate()
                last = time.monotonic()
            if time.monotonic() - last_reconcile >= cfg.reconcile_interval_s:
                control.reconcile(actor=ACTOR)
                last_reconcile = time.monotonic()

        def handle_batch(messages: list[Message]) -> None:
            # Malformed labels are the trainer's to dead-letter (see LabeledStream).
            ingested = stream.ingest(messages)
            evaluator.observe_unlabeled(ingested.images)
            for example in ingested.examples:
                evaluator.add(example)
            evaluate_if_due()

        BatchLoop(
            consumer, batch_size=cfg.batch_size, batch_timeout_s=cfg.batch_timeout_ms / 1000
        ).run(stop, handle_batch, on_idle=evaluate_if_due)


def _reconcile_at_start(control: ControlPlane) -> None:
    """Complete a change a crash left half done, before anything else; during an outage the
    periodic reconciliation in the loop (retried with back-off) does it instead."""
    try:
        control.reconcile(actor=ACTOR)
    except Exception as exc:
        cause = outage_cause(exc)
        if cause is None:
            raise
        log.warning("reconciliation at start failed (%s); the loop retries it", cause)
