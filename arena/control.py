"""Changing what the fleet serves: promote, roll back, pin, unpin.

Each change happens in this order, so every step can trust the one before it:
1. the registry transaction (audit log and champion marker or pin),
2. the artifact aliased in MinIO (``aliases/champion.json`` / ``aliases/serving.json``),
3. a ModelEvent on the compacted control topic, which the scorers follow.

The registry is the source of truth. A crash between the steps leaves the aliases or the
control topic behind it; ``reconcile`` (run by the evaluator at start and periodically, and
by ``arena reconcile``) makes them agree again. Champion changes take the champion they
act on (``expected_champion``), so a retry after a crash never acts twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import Producer

from arena.bus.compacted import latest_value
from arena.bus.producer import flush_or_raise
from arena.config import KafkaSettings
from arena.errors import ArenaError, InvalidEvent
from arena.events import SERVING_KEY, ModelEvent, decode_model_event, encode_model_event
from arena.faults import crash_point
from arena.signing import ArtifactSigner
from arena.webhooks import ControlNotice, Notifier
from storage.artifacts import ArtifactStore
from storage.domain import ModelVersion, PromotionKind
from storage.publish import VersionPublisher
from storage.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServingChange:
    """What a control action changed: the version now to be served, and the event sent."""

    version: ModelVersion
    event: ModelEvent


class ControlPlane:
    def __init__(
        self,
        registry: Registry,
        store: ArtifactStore,
        producer: Producer,
        kafka: KafkaSettings,
        notifier: Notifier | None = None,
    ) -> None:
        """``notifier``: told of every promotion, rollback, pin and unpin once it is announced
        (the webhooks); it must not block."""
        self.registry = registry
        self.store = store
        self._producer = producer
        self._kafka = kafka
        self._notifier = notifier

    def promote(
        self,
        version_id: int,
        *,
        reason: str,
        actor: str,
        expected_champion: int | None = None,
    ) -> ServingChange:
        """Make ``version_id`` the champion. While a pin holds, scorers keep the pinned one.

        ``expected_champion``: the champion this promotion replaces (see ``rollback``).
        """
        before = self.registry.champion()
        self.registry.set_champion(
            version_id, reason=reason, actor=actor, expected_champion=expected_champion
        )
        crash_point("control.after_registry")
        champion = self.registry.get_version(version_id)
        self.store.alias("champion", champion.artifact)
        previous = before.id if before is not None else None
        return self._announce(PromotionKind.PROMOTE, reason, actor, (version_id, previous))

    def rollback(
        self,
        *,
        reason: str,
        actor: str,
        to_version: int | None = None,
        expected_champion: int | None = None,
    ) -> ServingChange:
        """Reject the champion and go back to the previous one (or ``to_version``).

        ``expected_champion``: the champion to roll back. If it was already rolled back (a
        retry after a crash), nothing is rolled back again: the remaining steps are
        completed. If another version became champion meanwhile, ChampionChanged.
        """
        promotion = self.registry.rollback(
            reason=reason, actor=actor, to_version=to_version, expected_champion=expected_champion
        )
        crash_point("control.after_registry")
        assert promotion.to_version is not None
        self.store.alias("champion", self.registry.get_version(promotion.to_version).artifact)
        notice = (promotion.to_version, promotion.from_version)
        return self._announce(PromotionKind.ROLLBACK, reason, actor, notice)

    def pin(
        self, version_id: int, *, reason: str, actor: str, expires_at: datetime | None = None
    ) -> ServingChange:
        """Serve ``version_id`` everywhere until unpinned (or ``expires_at``); blocks promotions."""
        before = self.registry.serving_version()
        self.registry.pin(version_id, actor=actor, reason=reason, expires_at=expires_at)
        crash_point("control.after_registry")
        previous = before.id if before is not None else None
        return self._announce(PromotionKind.PIN, reason, actor, (version_id, previous))

    def unpin(self, *, reason: str, actor: str) -> ServingChange:
        """Release the pin; the scorers go back to the champion."""
        before = self.registry.serving_version()
        if self.registry.unpin(actor=actor, reason=reason) is None:
            raise ArenaError("no pin to release")
        crash_point("control.after_registry")
        previous = before.id if before is not None else None
        return self._announce(PromotionKind.UNPIN, reason, actor, (None, previous))

    def bootstrap(
        self,
        flavor: str,
        *,
        samples: int,
        epochs: int,
        actor: str,
        signer: ArtifactSigner,
        seed: int = 0,
    ) -> ModelVersion:
        """Train a first champion on ``samples`` labeled MNIST digits, register, promote it.

        For a new deployment, whose registry has nothing to serve yet; the model comes from
        the MNIST copy shipped in a package (``arena.datasets``), nothing is downloaded.
        ``signer`` signs the artifact with the deployment's key, so the services load it.
        """
        from arena.datasets import load_mnist
        from arena.flavors.pretrain import train_initial

        data = load_mnist()
        model = train_initial(
            flavor, data.x_train[:samples], data.y_train[:samples], epochs=epochs, seed=seed
        )
        version = VersionPublisher(self.registry, self.store, signer).publish(
            flavor,
            model,
            parent_id=None,
            training_ranges=(),
            hyperparameters={
                "samples": samples,
                "epochs": epochs,
                "source": "mnist train[:samples]",
            },
        )
        self.promote(
            version.id, reason=f"initial champion ({samples} labeled examples)", actor=actor
        )
        return version

    def announce_serving(self, *, reason: str, actor: str) -> ServingChange:
        """Re-publish what should be served now (e.g. after a pin expired on its own)."""
        return self._announce(PromotionKind.PROMOTE, reason, actor)

    def reconcile(self, *, actor: str) -> ServingChange | None:
        """Make the aliases and the control topic agree with the registry.

        Re-points both aliases, and re-announces what the registry says to serve when the
        control topic's last event names another version or artifact (a crash between the
        steps of a change, or a pin that expired on its own). Returns the announcement, or
        None when the control topic already agreed (or there is nothing to serve yet).
        """
        serving = self.registry.serving_version()
        if serving is None:
            return None
        champion = self.registry.champion()
        if champion is not None and self.store.resolve_alias("champion") != champion.artifact:
            self.store.alias("champion", champion.artifact)
        last = self.last_event()
        if last is not None and (last.version, last.sha256) == (
            serving.id,
            serving.artifact.sha256,
        ):
            if self.store.resolve_alias("serving") != serving.artifact:
                self.store.alias("serving", serving.artifact)
            return None
        said = f"version {last.version}" if last is not None else "nothing"
        reason = (
            f"reconciled: the registry serves version {serving.id}, the control topic said {said}"
        )
        log.warning("%s", reason)
        return self._announce(PromotionKind.PROMOTE, reason, actor)

    def last_event(self) -> ModelEvent | None:
        """The control topic's last ModelEvent (None when empty or when it is malformed)."""
        value = latest_value(self._kafka, self._kafka.model_topic)
        if value is None:
            return None
        try:
            return decode_model_event(value)
        except InvalidEvent as exc:
            log.error("the control topic's last event is malformed: %s", exc.reason)
            return None

    def _announce(
        self,
        action: PromotionKind,
        reason: str,
        actor: str,
        notice: tuple[int | None, int | None] | None = None,
    ) -> ServingChange:
        """Point the serving alias and tell the scorers; then, for an operator-visible change
        (``notice``: the version acted on, None for the served one, and the previous one),
        the notifier."""
        serving = self.registry.serving_version()
        if serving is None:
            raise ArenaError("nothing to serve: the registry has no champion and no pin")
        self.store.alias("serving", serving.artifact)
        crash_point("control.after_alias")
        event = ModelEvent(
            action.announced_as,
            serving.id,
            serving.artifact.uri,
            serving.artifact.sha256,
            serving.flavor,
            reason=reason,
            actor=actor,
        )
        self._producer.produce(self._kafka.model_topic, encode_model_event(event), SERVING_KEY)
        flush_or_raise(self._producer, 30)
        log.info("%s: serving version %d (%s, by %s)", action, serving.id, reason, actor)
        if notice is not None and self._notifier is not None:
            version, previous = notice
            self._notify(
                ControlNotice.now(
                    str(action),
                    version if version is not None else serving.id,
                    previous,
                    serving.id,
                    reason,
                    actor,
                )
            )
        return ServingChange(serving, event)

    def _notify(self, notice: ControlNotice) -> None:
        assert self._notifier is not None
        try:
            self._notifier.notify(notice)
        except Exception:  # a notification never fails the change it reports
            log.exception("notifying %s failed", notice.kind)
