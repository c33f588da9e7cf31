"""Fine-tuning a challenger: from the champion's weights, on the replay buffer's training
set; the artifact goes to MinIO first, then a registry row records its parent and the exact
offset ranges it trained on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from arena.config import Settings, TrainerSettings
from arena.flavors import ModelFlavor, new_model
from arena.flavors.base import never
from arena.join import LabeledExample, LabelJoiner
from arena.signing import ArtifactSigner
from storage.artifacts import ArtifactStore
from storage.domain import ModelVersion
from storage.model_loader import ModelLoader
from storage.publish import VersionPublisher
from storage.registry import Registry
from trainer.augment import with_shifted_copies
from trainer.replay import ReplayBuffer, TrainingSet
from trainer.service import FineTuneTrigger, RecoveryCadence, TrainingIntake

log = logging.getLogger(__name__)


def recovery_epochs(cfg: TrainerSettings, samples: int) -> int:
    """Epochs of a fine-tune while recovering from a drift: few post-drift examples need many
    passes to move the weights far enough, and a larger set needs fewer; the number of
    example-passes (``samples`` counts the shifted copies) stays within
    ``drift_pass_budget`` so each fit stays short, and never below the normal ``epochs``."""
    fit_in_budget = cfg.drift_pass_budget // max(samples, 1)
    return max(cfg.epochs, min(cfg.drift_epochs, fit_in_budget))


class Trainer:
    """The trainer's state and steps: joined examples in, a registered challenger out.

    ``run_trainer`` (in ``app``) drives it from Kafka.
    """

    def __init__(self, settings: Settings, registry: Registry, store: ArtifactStore) -> None:
        cfg = settings.trainer
        self.settings = settings
        self.registry = registry
        self.store = store
        self.signer = ArtifactSigner(settings.signing.key)
        self.models = ModelLoader(registry, store, self.signer)
        self.publisher = VersionPublisher(registry, store, self.signer, export_onnx=cfg.export_onnx)
        labels = settings.labels
        self.joiner = LabelJoiner(labels.join_ttl_s, labels.join_capacity)
        self.buffer = ReplayBuffer(
            cfg.window_size,
            cfg.reservoir_size,
            cfg.seed,
            cfg.drift_replay_fraction,
            cfg.drift_max_examples,
        )
        # The timer is APScheduler's job (see run_trainer); the trigger counts labels.
        self.trigger = FineTuneTrigger(cfg.finetune_every_labels, 0.0)
        recovery = RecoveryCadence(
            cfg.drift_min_labels, cfg.drift_every_labels, cfg.drift_cooldown_labels
        )
        self.intake = TrainingIntake(
            self.buffer,
            self.trigger,
            labels.holdout_percent,
            recovery,
            # One batch's examples: while a fine-tune runs, the loop stops reading at this.
            reserve=min(cfg.batch_size, cfg.window_size // 2),
        )
        self.timer_fired = threading.Event()
        self.retrain_requested = threading.Event()  # a scheduled retrain job fired
        self._own_line: ModelFlavor | None = None  # last challenger, when flavors differ
        self._unfinished: TrainingSet | None = None  # taken, but its fine-tune failed
        self._augment_rng = np.random.default_rng(cfg.seed)
        # The champion the fine-tune in progress started from (None: none running, or it
        # continues its own line); set on the fine-tune thread, read by the loop's.
        self.fine_tuning_from: int | None = None

    def add(self, example: LabeledExample | None) -> None:
        if example is not None:
            self.intake.offer(example)

    def take_training_set(self) -> TrainingSet | None:
        """The training set of the next fine-tune, when one is due.

        A set whose fine-tune failed (PostgreSQL or MinIO unreachable) comes back first, so
        an outage delays a challenger but never drops its examples.
        """
        if self._unfinished is not None:
            return self._unfinished
        if self.retrain_requested.is_set():
            self.retrain_requested.clear()
            now = self.intake.take_now()
            if now is None:
                log.warning("scheduled retrain: the replay buffer is empty, nothing to train on")
            return now
        if self.timer_fired.is_set() and self.trigger.new_labels > 0:
            self.timer_fired.clear()
            self.trigger.on_labels(self.settings.trainer.finetune_every_labels)  # force it due
        return self.intake.take_if_due()

    def fine_tune(
        self, ts: TrainingSet, should_stop: Callable[[], bool] = never
    ) -> ModelVersion | None:
        """Train a challenger on ``ts`` from the champion; upload, then register it.

        Returns None when there is no champion yet, or when ``should_stop`` ended the fit
        early (nothing is registered; the examples are still in the buffer).
        """
        cfg = self.settings.trainer
        self._unfinished = ts
        champion = self.registry.champion()
        if champion is None:
            log.warning(
                "no champion yet: nothing to fine-tune from; %d examples wait", len(ts.labels)
            )
            self._unfinished = None
            return None
        if champion.flavor == cfg.flavor:
            base = self.models.model(champion)
            self.fine_tuning_from = champion.id
        else:  # a different flavor cannot inherit weights: continue its own line
            base = self._own_line or new_model(cfg.flavor, seed=cfg.seed)
        try:
            return self._fit_and_publish(ts, champion, base, should_stop)
        finally:
            self.fine_tuning_from = None

    def _fit_and_publish(
        self,
        ts: TrainingSet,
        champion: ModelVersion,
        base: ModelFlavor,
        should_stop: Callable[[], bool],
    ) -> ModelVersion | None:
        cfg = self.settings.trainer
        challenger = base.clone()
        lr = cfg.learning_rate or challenger.default_learning_rate
        if ts.post_drift:
            lr *= cfg.drift_learning_rate_scale  # far from the optimum: larger steps
        images, labels = ts.images, ts.labels
        if ts.post_drift:  # few examples of the new distribution: shifted copies of each
            images, labels = with_shifted_copies(
                images, labels, cfg.drift_augment_copies, self._augment_rng
            )
        epochs = recovery_epochs(cfg, len(labels)) if ts.post_drift else cfg.epochs
        challenger.fit(images, labels, epochs=epochs, learning_rate=lr, should_stop=should_stop)
        if should_stop():
            self._unfinished = None
            log.info("fine-tune on %d examples cancelled; nothing registered", len(ts.labels))
            return None
        self._own_line = challenger
        version = self.publisher.publish(
            cfg.flavor,
            challenger,
            parent_id=champion.id,
            training_ranges=ts.ranges(),
            hyperparameters={
                "epochs": epochs,
                "learning_rate": lr,
                "samples": len(ts.labels),
                "post_drift_samples": ts.post_drift,
                "augment_copies": cfg.drift_augment_copies if ts.post_drift else 1,
                "window_size": cfg.window_size,
                "reservoir_size": cfg.reservoir_size,
                "holdout_percent": self.settings.labels.holdout_percent,
            },
        )
        self._unfinished = None
        log.info(
            "registered challenger v%d (%s) from champion v%d on %d examples (%d post-drift)",
            version.id,
            cfg.flavor,
            champion.id,
            len(ts.labels),
            ts.post_drift,
        )
        return version
