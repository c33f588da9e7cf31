"""The trainer service: images + labels → replay buffer → fine-tuned challenger → registry.

Wiring only; the steps are in ``fine_tune`` (the challenger), ``service`` (when, and the
holdout), ``replay`` (the buffer), ``drift_watch`` (the drift detectors) and ``worker``
(fine-tunes run on a thread of their own, so reading and drift detection go on meanwhile;
a detected drift cancels a fine-tune on pre-drift data, a new champion one from the one it
replaced). Fine-tunes run every K new labels
or when the APScheduler interval job fires (both configurable), when a scheduled
``retrain`` job (``arena schedule add``, see ``arena.schedules``) fires, and at the faster
recovery cadence after a drift. ``/metrics`` serves the fine-tunes and the join buffer
(``telemetry``). Consumer offsets are committed only after a challenger is registered, so
a restart re-reads what was not yet part of a registered training set.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from apscheduler.schedulers.background import BackgroundScheduler
from confluent_kafka import Message

from arena.bus.consumer import BatchConsumer
from arena.bus.dlq import dead_letter_record
from arena.bus.loop import BatchLoop
from arena.bus.producer import flush_or_raise, make_producer
from arena.bus.stop import StopFlag
from arena.bus.topics import default_topics, ensure_topics
from arena.config import Settings
from arena.drift import Detection
from arena.join import LabelJoiner
from arena.labeled_stream import open_labeled_stream
from arena.schedules import ScheduleRunner
from arena.telemetry_http import serve_metrics
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.domain import ModelVersion
from storage.drift_log import DriftLog
from storage.model_loader import ModelLoader
from storage.registry import Registry
from storage.s3_reads import SignedReads
from trainer.champion_cache import ChampionCache
from trainer.drift_watch import DriftWatch
from trainer.fine_tune import Trainer
from trainer.service import committable
from trainer.telemetry import TrainerMetrics
from trainer.worker import FineTuneWorker, Outcome

log = logging.getLogger(__name__)


@dataclass
class TrainerHandle:
    """What a running trainer exposes to its caller (CLI, demo, tests)."""

    registered: list[ModelVersion] = field(default_factory=list)
    registered_at: list[float] = field(default_factory=list)  # time.time() of each
    post_drift_samples: list[int] = field(default_factory=list)  # of each registered set
    drift_detections: list[Detection] = field(default_factory=list)
    drift_detected_at: list[float] = field(default_factory=list)  # time.time() of each
    fine_tunes: int = 0
    dead_labels: int = 0
    train_seconds: float = 0.0
    trained_samples: int = 0
    started: threading.Event = field(default_factory=threading.Event)
    joiner: LabelJoiner | None = None
    metrics: TrainerMetrics = field(default_factory=TrainerMetrics)
    metrics_port: int = 0
    schedule_check_s: float = 5.0  # how often the scheduled-job runner checks its lock


def run_trainer(settings: Settings, stop: StopFlag, handle: TrainerHandle | None = None) -> None:
    """Consume images and labels and fine-tune until ``stop`` is set."""
    handle = handle or TrainerHandle()
    cfg, kafka = settings.trainer, settings.kafka
    ensure_topics(kafka, default_topics(kafka))
    with ExitStack() as resources:
        store = ArtifactStore(settings.s3)
        resources.callback(store.close)
        engine = make_engine(settings.db)
        trainer = Trainer(settings, Registry(engine), store)
        handle.joiner = trainer.joiner
        metrics = handle.metrics
        metrics.watch_join(lambda: trainer.joiner.stats)
        metrics.replay_examples.set_function(lambda: len(trainer.buffer))
        server = serve_metrics(cfg.metrics_host, cfg.metrics_port, metrics.registry, "trainer")
        resources.callback(server.shutdown)
        handle.metrics_port = server.server_address[1]

        def scheduled_retrain(name: str) -> None:
            metrics.scheduled_runs.inc()
            trainer.retrain_requested.set()  # the loop fine-tunes at its next batch or idle turn

        schedules = ScheduleRunner(
            engine,
            "trainer",
            {"retrain": scheduled_retrain},
            check_s=handle.schedule_check_s,
            key=settings.signing.key,
        )
        schedules.start()
        resources.callback(schedules.stop)
        consumer = BatchConsumer(kafka, cfg.group_id)
        resources.callback(consumer.close)
        consumer.subscribe([kafka.image_topic, kafka.label_topic])
        dlq = make_producer(kafka)
        reads = resources.enter_context(SignedReads(settings.s3))  # claim-check images
        stream = open_labeled_stream(settings, reads, trainer.joiner, resources, cfg.batch_size)
        champions = ChampionCache(trainer.registry.champion)
        watch = (
            DriftWatch(
                cfg,
                champions,
                # its own loader: the fine-tune thread uses the trainer's
                ModelLoader(trainer.registry, store, trainer.signer),
                DriftLog(engine),
            )
            if cfg.drift_detection
            else None
        )
        scheduler = BackgroundScheduler(daemon=True)
        if cfg.finetune_interval_s > 0:
            scheduler.add_job(
                trainer.timer_fired.set,
                "interval",
                seconds=cfg.finetune_interval_s,
                id="fine-tune",
                max_instances=1,
                coalesce=True,
            )
        scheduler.start()
        resources.callback(scheduler.shutdown, wait=False)
        handle.started.set()
        seen: dict[tuple[str, int], int] = {}

        def handle_batch(messages: list[Message]) -> None:
            for m in messages:
                seen[(str(m.topic()), int(m.partition() or 0))] = int(m.offset() or 0)
            ingested = stream.ingest(messages)
            for example in ingested.examples:
                trainer.add(example)
            # After adding: a drift found in this batch re-cuts the window by its boundary.
            if watch is not None:
                for detection in watch.observe(ingested):
                    handle.drift_detections.append(detection)
                    handle.drift_detected_at.append(time.time())
                    metrics.drift_detections.labels(detection.detector).inc()
                    if trainer.intake.on_drift(detection):
                        log.warning(
                            "drift: recovering (fine-tunes on post-drift examples from %s)",
                            detection.boundary,
                        )
                        if worker.busy and not training_post_drift:
                            worker.cancel(f"{detection.detector} detected a drift")
            metrics.recovering.set(1 if trainer.buffer.recovering else 0)
            for record, reason in ingested.bad_labels:
                handle.dead_labels += 1
                metrics.dead_labels.inc()
                dead = dead_letter_record(record, reason, kafka)
                dlq.produce(dead.topic, dead.value, dead.key, headers=list(dead.headers))
                log.warning("malformed label to %s: %s", dead.topic, reason)
            fine_tune_if_due()
            if worker.busy and trainer.intake.needs_training and not paused:
                pause_intake()

        def restart_on_new_champion() -> None:
            # A challenger fine-tuned from a champion since replaced starts behind the one it
            # would be judged against: fit again from the new champion, on the same examples
            # and the ones read since.
            base = trainer.fine_tuning_from
            if base is None or not worker.busy:
                return
            champion = champions.current()
            if champion is not None and champion.id != base:
                worker.cancel(f"the champion changed (v{base} -> v{champion.id}) during the fit")
                trainer.intake.redo()
                metrics.fine_tunes_restarted.inc()

        paused = False

        def pause_intake() -> None:
            # One more batch could push examples no fine-tune has had out of the window:
            # read nothing until the fine-tune in flight is done and the next one has them.
            nonlocal paused
            consumer.pause()
            paused = True
            metrics.intake_paused.set(1)
            log.info(
                "intake paused: the window has room for %d more untrained examples; reading "
                "again once the fine-tune in flight is done",
                trainer.buffer.room,
            )

        def resume_intake() -> None:
            nonlocal paused
            consumer.resume()
            paused = False
            metrics.intake_paused.set(0)

        worker = FineTuneWorker(lambda ts, stop: trainer.fine_tune(ts, stop), time.monotonic)
        resources.callback(worker.stop, 5.0)  # first: cancels the fit before anything closes
        training_post_drift = False

        def fine_tune_if_due() -> None:
            restart_on_new_champion()
            outcome = worker.collect()
            if outcome is not None:
                finished(outcome)
            try:
                cut_next_set()
            finally:
                if paused and not (worker.busy and trainer.intake.needs_training):
                    resume_intake()

        def cut_next_set() -> None:
            nonlocal training_post_drift
            if worker.busy:
                return
            ts = trainer.take_training_set()
            if ts is None:
                return
            training_post_drift = ts.post_drift > 0
            # Safe to commit once this set's challenger is registered: everything read so
            # far is in the set or still in the buffer, except what waits for its partner.
            worker.submit(ts, committable(seen, trainer.joiner.pending_floor()))

        def finished(outcome: Outcome) -> None:
            if outcome.error is not None:
                raise outcome.error  # the loop retries (outage) with back-off; the set waits
            version, ts = outcome.version, outcome.training_set
            if version is None:
                return  # no champion yet, or cancelled
            handle.train_seconds += outcome.seconds
            handle.trained_samples += len(ts.labels)
            handle.fine_tunes += 1
            metrics.fine_tunes.inc()
            if version.onnx is not None:
                metrics.onnx_registered.inc()
            metrics.fine_tune_seconds.observe(outcome.seconds)
            metrics.examples_trained.inc(len(ts.labels))
            handle.registered.append(version)
            handle.registered_at.append(time.time())
            handle.post_drift_samples.append(ts.post_drift)
            flush_or_raise(dlq, 30)
            consumer.commit(outcome.commit)

        BatchLoop(
            consumer, batch_size=cfg.batch_size, batch_timeout_s=cfg.batch_timeout_ms / 1000
        ).run(stop, handle_batch, on_idle=fine_tune_if_due)
