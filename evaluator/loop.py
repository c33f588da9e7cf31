"""The evaluator's consuming loop: images and labels in, joined into labeled examples, a
round every ``interval_s`` (or when a schedule asks for one), and the control plane
reconciled every ``reconcile_interval_s``. ``evaluator.app`` builds what it needs."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack

from confluent_kafka import Message
from sqlalchemy.engine import Engine

from arena.bus.consumer import BatchConsumer
from arena.bus.loop import BatchLoop
from arena.bus.stop import StopFlag
from arena.config import Settings
from arena.control import ControlPlane
from arena.join import LabelJoiner
from arena.labeled_stream import open_labeled_stream
from arena.schedules import ScheduleRunner
from arena.telemetry_http import serve_metrics
from evaluator.handle import ACTOR, EvaluatorHandle
from evaluator.rounds import Evaluator
from storage.decisions import Decisions
from storage.drift_log import DriftLog
from storage.probations import Probations
from storage.s3_reads import SignedReads


def evaluate_stream(
    settings: Settings,
    stop: StopFlag,
    handle: EvaluatorHandle,
    resources: ExitStack,
    control: ControlPlane,
    engine: Engine,
) -> None:
    """Run until ``stop`` is set; what this opens is closed by ``resources``."""
    kafka, cfg = settings.kafka, settings.evaluator
    store = control.store
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
    reads = resources.enter_context(SignedReads(settings.s3))  # claim-check images
    stream = open_labeled_stream(settings, reads, joiner, resources, cfg.batch_size)
    server = serve_metrics(cfg.metrics_host, cfg.metrics_port, handle.metrics.registry, "evaluator")
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

    BatchLoop(consumer, batch_size=cfg.batch_size, batch_timeout_s=cfg.batch_timeout_ms / 1000).run(
        stop, handle_batch, on_idle=evaluate_if_due
    )
