"""The trainer service: images + labels → replay buffer → fine-tuned challenger → registry.

Fine-tunes start from the champion's weights, every K new labels or when the APScheduler
interval job fires (both configurable). The challenger's artifact goes to MinIO first, then
a registry row records its parent and the exact offset ranges it trained on. Consumer
offsets are committed only after a challenger is registered, so a restart re-reads what
was not yet part of a registered training set.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from apscheduler.schedulers.background import BackgroundScheduler
from confluent_kafka import TopicPartition

from arena.bus.consumer import BatchConsumer
from arena.bus.dlq import dead_letter_record
from arena.bus.producer import flush_or_raise, make_producer
from arena.bus.stop import StopFlag
from arena.bus.topics import default_topics, ensure_topics
from arena.config import Settings
from arena.flavors import ModelFlavor, new_model
from arena.join import LabeledExample, LabelJoiner
from arena.labeled_stream import open_labeled_stream
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.domain import ModelVersion
from storage.registry import Registry
from trainer.models import ModelCache
from trainer.replay import ReplayBuffer, TrainingSet
from trainer.service import FineTuneTrigger, TrainingIntake

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


class Trainer:
    """The trainer's state and steps; ``run_trainer`` drives it from Kafka."""

    def __init__(self, settings: Settings, registry: Registry, store: ArtifactStore) -> None:
        cfg = settings.trainer
        self.settings = settings
        self.registry = registry
        self.store = store
        self.models = ModelCache(store)
        self.joiner = LabelJoiner(cfg.join_ttl_s, cfg.join_capacity)
        self.buffer = ReplayBuffer(cfg.window_size, cfg.reservoir_size, cfg.seed)
        # The timer is APScheduler's job (see run_trainer); the trigger counts labels.
        self.trigger = FineTuneTrigger(cfg.finetune_every_labels, 0.0)
        self.intake = TrainingIntake(self.buffer, self.trigger, cfg.holdout_percent)
        self.timer_fired = threading.Event()
        self._own_line: ModelFlavor | None = None  # last challenger, when flavors differ

    def add(self, example: LabeledExample | None) -> None:
        if example is not None:
            self.intake.offer(example)

    def take_training_set(self) -> TrainingSet | None:
        if self.timer_fired.is_set() and self.trigger.new_labels > 0:
            self.timer_fired.clear()
            self.trigger.on_labels(self.settings.trainer.finetune_every_labels)  # force it due
        return self.intake.take_if_due()

    def fine_tune(self, ts: TrainingSet) -> ModelVersion | None:
        """Train a challenger on ``ts`` from the champion; upload, then register it."""
        cfg = self.settings.trainer
        champion = self.registry.champion()
        if champion is None:
            log.warning(
                "no champion yet: nothing to fine-tune from; %d examples wait", len(ts.labels)
            )
            return None
        if champion.flavor == cfg.flavor:
            base = self.models.get(champion)
        else:  # a different flavor cannot inherit weights: continue its own line
            base = self._own_line or new_model(cfg.flavor, seed=cfg.seed)
        challenger = base.clone()
        lr = cfg.learning_rate or challenger.default_learning_rate
        challenger.fit(ts.images, ts.labels, epochs=cfg.epochs, learning_rate=lr)
        self._own_line = challenger
        ref = self.store.put(challenger.to_bytes())
        version = self.registry.register_version(
            cfg.flavor,
            ref,
            parent_id=champion.id,
            training_ranges=ts.ranges(),
            hyperparameters={
                "epochs": cfg.epochs,
                "learning_rate": lr,
                "samples": len(ts.labels),
                "window_size": cfg.window_size,
                "reservoir_size": cfg.reservoir_size,
                "holdout_percent": cfg.holdout_percent,
            },
        )
        log.info(
            "registered challenger v%d (%s) from champion v%d on %d examples",
            version.id,
            cfg.flavor,
            champion.id,
            len(ts.labels),
        )
        return version


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
        stream = open_labeled_stream(settings, store, trainer.joiner, resources)
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
        while not stop.is_set():
            messages = consumer.consume(1000, 0.2)
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
            ts = trainer.take_training_set()
            if ts is None:
                continue
            started = time.monotonic()
            version = trainer.fine_tune(ts)
            if version is None:
                continue
            handle.train_seconds += time.monotonic() - started
            handle.trained_samples += len(ts.labels)
            handle.fine_tunes += 1
            handle.registered.append(version)
            flush_or_raise(dlq, 30)
            consumer.commit([TopicPartition(t, p, o + 1) for (t, p), o in seen.items()])
