"""The trainer service: images + labels → replay buffer → fine-tuned challenger → registry.

Wiring only; the steps are in ``fine_tune`` (the challenger), ``service`` (when, and the
holdout) and ``replay`` (the buffer). Fine-tunes run every K new labels or when the
APScheduler interval job fires (both configurable). Consumer offsets are committed only
after a challenger is registered, so a restart re-reads what was not yet part of a
registered training set.
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
from arena.join import LabelJoiner
from arena.labeled_stream import open_labeled_stream
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.domain import ModelVersion
from storage.registry import Registry
from trainer.fine_tune import Trainer
from trainer.service import committable

log = logging.getLogger(__name__)


@dataclass
class TrainerHandle:
    """What a running trainer exposes to its caller (CLI, demo, tests)."""

    registered: list[ModelVersion] = field(default_factory=list)
    fine_tunes: int = 0
    dead_labels: int = 0
    train_seconds: float = 0.0
    trained_samples: int = 0
    started: threading.Event = field(default_factory=threading.Event)
    joiner: LabelJoiner | None = None


def run_trainer(settings: Settings, stop: StopFlag, handle: TrainerHandle | None = None) -> None:
    """Consume images and labels and fine-tune until ``stop`` is set."""
    handle = handle or TrainerHandle()
    cfg, kafka = settings.trainer, settings.kafka
    ensure_topics(kafka, default_topics(kafka))
    with ExitStack() as resources:
        store = ArtifactStore(settings.s3)
        resources.callback(store.close)
        trainer = Trainer(settings, Registry(make_engine(settings.db)), store)
        handle.joiner = trainer.joiner
        consumer = BatchConsumer(kafka, cfg.group_id)
        resources.callback(consumer.close)
        consumer.subscribe([kafka.image_topic, kafka.label_topic])
        dlq = make_producer(kafka)
        stream = open_labeled_stream(settings, store, trainer.joiner, resources, cfg.batch_size)
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
            for record, reason in ingested.bad_labels:
                handle.dead_labels += 1
                dead = dead_letter_record(record, reason, kafka)
                dlq.produce(dead.topic, dead.value, dead.key, headers=list(dead.headers))
                log.warning("malformed label to %s: %s", dead.topic, reason)
            fine_tune_if_due()

        def fine_tune_if_due() -> None:
            ts = trainer.take_training_set()
            if ts is None:
                return
            started = time.monotonic()
            version = trainer.fine_tune(ts)
            if version is None:
                return
            handle.train_seconds += time.monotonic() - started
            handle.trained_samples += len(ts.labels)
            handle.fine_tunes += 1
            handle.registered.append(version)
            flush_or_raise(dlq, 30)
            consumer.commit(committable(seen, trainer.joiner.pending_floor()))

        BatchLoop(
            consumer, batch_size=cfg.batch_size, batch_timeout_s=cfg.batch_timeout_ms / 1000
        ).run(stop, handle_batch, on_idle=fine_tune_if_due)
