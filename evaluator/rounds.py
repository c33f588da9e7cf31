"""Evaluation rounds: score history, then a challenger judged against the champion on events
it never trained on (promote, block by pin, or reject), then probation of a new champion
with an automatic rollback when it turns out worse.

A challenger's trial runs over several rounds: each round adds the fresh labeled events
that arrived since, and the sequential test (``evaluator.sequential``) may stop it at any
round without raising the false-promotion rate. Each trial starts with the holdout events
the evaluator keeps (``HoldoutPool``) and the window's events neither model trained on.
Several challengers may be on trial at once; ``evaluator.schedule`` says which, and which
trials end undecided. Meanwhile the champion and the newest challenger on trial score live
unlabeled events in the shadow (``evaluator.shadow``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from arena.config import Settings
from arena.control import ControlPlane
from arena.flavors import N_CLASSES
from arena.join import LabeledExample
from arena.signing import ArtifactSigner
from evaluator.classification import classification_metrics
from evaluator.handle import ACTOR, EvaluatorHandle
from evaluator.policy import Decision, PromotionPolicy
from evaluator.probation_watch import Probation, ProbationWatch
from evaluator.schedule import BEHIND, Look, plan_round
from evaluator.service import EvaluationWindow, HoldoutPool, decide_action
from evaluator.shadow import ShadowSample, shadow_metrics
from evaluator.trial import Trial
from storage.artifacts import ArtifactStore
from storage.decisions import Decisions
from storage.domain import (
    ChallengerDecision,
    DecisionOutcome,
    DriftRecord,
    Evaluation,
    ModelVersion,
    ProbationOutcome,
    VersionStatus,
)
from storage.drift_log import DriftLog
from storage.errors import ChampionChanged
from storage.model_loader import ModelLoader
from storage.probations import Probations

log = logging.getLogger(__name__)

DRIFT_SLACK = timedelta(seconds=5)  # a pre-drift fine-tune may finish just after the alarm


class Evaluator:
    """State and steps of the evaluator: one ``evaluate`` call is one round.

    ``run_evaluator`` (in ``app``) feeds it labeled examples from Kafka.
    """

    def __init__(
        self,
        settings: Settings,
        control: ControlPlane,
        store: ArtifactStore,
        handle: EvaluatorHandle,
        probations: Probations,
        decisions: Decisions,
        drift_log: DriftLog | None = None,
    ) -> None:
        cfg = settings.evaluator
        self.cfg = cfg
        self.holdout = settings.labels.holdout_percent
        self.control = control
        self.registry = control.registry
        self.models = ModelLoader(control.registry, store, ArtifactSigner(settings.signing.key))
        self.window = EvaluationWindow(cfg.window_size)
        self.pool = HoldoutPool(cfg.holdout_pool, self.holdout)
        self.policy = PromotionPolicy(
            cfg.min_samples,
            cfg.min_margin,
            cfg.significance,
            cfg.max_recall_drop,
            max_samples=cfg.max_samples,
        )
        self.trials: dict[int, Trial] = {}  # by challenger id
        self.shadow = ShadowSample(cfg.shadow_sample)
        self.drift_log = drift_log
        self.drift: DriftRecord | None = None  # the latest drift the trainer detected
        self.watch = ProbationWatch(
            cfg,
            settings.kafka,
            probations,
            self.registry.get_version,
            handle.metrics,
            handle.decisions,
        )
        self.decisions = decisions
        self.handle = handle
        self._window_start = datetime.now(UTC)
        self._pinned: int | None = None  # the version pinned at the previous round

    @property
    def probation(self) -> Probation | None:
        """The open probation of the champion, if any."""
        return self.watch.current

    def add(self, example: LabeledExample | None) -> None:
        if example is None:
            return
        self.window.add(example)
        self.pool.add(example)
        self.watch.add(example)

    def observe_unlabeled(self, images: NDArray[np.float32]) -> None:
        """Live images (labeled or not) for the next round's shadow scoring."""
        if len(images):
            self.shadow.offer(images)

    def evaluate(self) -> None:
        """One evaluation round: score history, probation, then the newest challenger."""
        metrics = self.handle.metrics
        self._announce_expired_pin()
        champion = self.registry.champion()
        if champion is None:
            metrics.rounds.inc()
            return
        metrics.champion_version.set(champion.id)
        now = datetime.now(UTC)
        self._follow_drift()
        self._record_champion(champion, now)
        self.watch.check(champion, self._predicted_classes, self._roll_back)
        looks = self._schedule(champion)
        if looks:
            self._score_shadow(champion, looks[0].challenger, now)
        if self.probation is None or self.cfg.judge_during_probation:
            for look in looks:  # newest first: it learned from the most examples
                if self._judge(champion, look, now):
                    break  # a promotion: the others are judged against the new champion
        self.handle.metrics.trials.set(len(self.trials))
        self._window_start = now
        metrics.probation_open.set(0 if self.probation is None else 1)
        metrics.probation_labels.set(self.watch.labels)
        metrics.rounds.inc()  # last: a scrape that sees the round sees what it set

    def _follow_drift(self) -> None:
        """After a detected drift, judge challengers on post-drift events only.

        Evidence gathered on a mix of the old and the new distribution says little about
        the new one (a challenger fit to the new one loses on old events), so a new drift
        also restarts the trial in progress. The restart is triggered by the detector, not
        by the trial's own numbers, so the test's guarantee holds for the new trial.
        """
        if self.drift_log is None:
            return
        latest = self.drift_log.recent(limit=1)
        if not latest or (self.drift is not None and latest[0].id == self.drift.id):
            return
        self.drift = latest[0]
        if self.trials:
            log.info(
                "drift detected (%s): the trials of %s restart on post-drift events",
                self.drift.detector,
                ", ".join(f"v{v}" for v in self.trials),
            )
            self.trials.clear()

    def _after_drift(self, example: LabeledExample) -> bool:
        if self.drift is None:
            return True
        pos = example.position
        first = self.drift.boundary.get(f"{pos.topic}:{pos.partition}")
        return first is None or pos.offset >= first  # a partition it did not see: current

    def _announce_expired_pin(self) -> None:
        """A pin that lapses on its own (``--until``) sends no event; tell the scorers here."""
        pin = self.registry.active_pin()
        if pin is None and self._pinned is not None:
            reason = f"pin of version {self._pinned} expired"
            change = self.control.announce_serving(reason=reason, actor=ACTOR)
            self.handle.decisions.append(f"{reason}: serving version {change.version.id}")
        self._pinned = pin.version_id if pin is not None else None

    def _schedule(self, champion: ModelVersion) -> list[Look]:
        """This round's looks (``evaluator.schedule``); candidates left without a trial are
        rejected as superseded, trials of versions no longer candidates are dropped."""
        candidates = [
            v
            for v in sorted(
                self.registry.list_versions(VersionStatus.CANDIDATE), key=lambda v: v.id
            )
            if not self._stale_after_drift(v)
        ]
        ids = {v.id for v in candidates}
        for gone in [v for v in self.trials if v not in ids]:  # decided by someone else
            del self.trials[gone]
        schedule = plan_round(candidates, self.trials, champion, self.cfg)
        for old in schedule.superseded:
            assert schedule.newest is not None
            self.registry.reject(old.id, f"superseded by version {schedule.newest.id}")
        return schedule.looks

    def _stale_after_drift(self, version: ModelVersion) -> bool:
        """Reject a challenger the trainer fit on pre-drift examples only, before the drift
        was detected: judging it on post-drift events would only delay the ones that
        learned the new distribution."""
        drift = self.drift
        if drift is None or drift.detected_at is None:
            return False
        if version.hyperparameters.get("post_drift_samples") != 0:
            return False  # trained on post-drift examples, or not by the trainer
        if version.created_at > drift.detected_at + DRIFT_SLACK:
            return False
        reason = f"trained on pre-drift examples only, before the drift ({drift.detector})"
        self.registry.reject(version.id, reason)
        self.handle.decisions.append(f"v{version.id}: rejected: {reason}")
        log.info("v%d rejected: %s", version.id, reason)
        return True

    def _score_shadow(
        self, champion: ModelVersion, challenger: ModelVersion, now: datetime
    ) -> None:
        images = self.shadow.take()
        if len(images) == 0:
            return
        metrics = shadow_metrics(
            self.models.model(champion).predict_proba(images),
            self.models.model(challenger).predict_proba(images),
        )
        self._write(challenger.id, metrics, len(images), now, "shadow")
        self.handle.metrics.shadow_agreement.set(metrics["shadow_agreement"])

    def _record_champion(self, champion: ModelVersion, now: datetime) -> None:
        selection = self.window.eligible_for(champion, self.holdout)
        if len(selection) < self.cfg.min_samples // 2:
            return
        proba = self.models.model(champion).predict_proba(selection.images())
        metrics = classification_metrics(selection.labels(), proba, N_CLASSES)
        self._write(champion.id, metrics, len(selection), now, "champion")
        self.handle.metrics.champion_accuracy.set(metrics["accuracy"])
        self.handle.metrics.champion_samples.set(len(selection))

    def _judge(self, champion: ModelVersion, look: Look, now: datetime) -> bool:
        """One look at the trial of ``look.challenger``; True when it was promoted.

        When ``look.ending`` says so this is the trial's last look: a promotion is still
        possible, otherwise it ends undecided (``evaluator.schedule`` says why). Ending a
        trial without a promotion never raises the false-promotion rate."""
        challenger = look.challenger
        trial = self.trials.get(challenger.id)
        if trial is None or trial.champion_id != champion.id:
            trial = self.trials[challenger.id] = Trial(champion.id, challenger.id, N_CLASSES)
        selection = self.window.eligible_for(challenger, self.holdout, also_trained=[champion])
        eligible = self.pool.with_recent(selection.examples)
        fresh = [e for e in trial.unseen(eligible) if self._after_drift(e)]
        if fresh:
            images = np.stack([e.image for e in fresh], dtype=np.float32)
            trial.add(
                fresh,
                self.models.model(champion).predict_proba(images),
                self.models.model(challenger).predict_proba(images),
            )
        decision = self.policy.judge(
            trial.labels(),
            trial.champion_proba(),
            trial.challenger_proba(),
            N_CLASSES,
            trial.test,
            final=look.ending is not None,
        )
        self.handle.metrics.trial_events.set(len(trial))
        log.debug("trial of v%d: %d events, p=%.3g", challenger.id, len(trial), trial.test.p_better)
        if decision is None:
            return False  # keep collecting: the next round adds the events that arrive meanwhile
        del self.trials[challenger.id]
        if look.ending is not None and not decision.promote:
            why = (
                f"fine-tuned from v{challenger.parent_id}, a newer candidate from the "
                f"champion v{champion.id} waits"
                if look.ending == BEHIND
                else "superseded"
            )
            decision = dataclasses.replace(decision, reason=f"{why}, undecided: {decision.reason}")
        n = len(trial)
        self._write(challenger.id, decision.challenger_metrics, n, now, "challenger")
        action = decide_action(decision, self.registry.active_pin(), now)
        self.handle.decisions.append(f"v{challenger.id}: {action.reason}")

        def record(outcome: DecisionOutcome, reason: str) -> None:
            self.handle.metrics.decisions.labels(outcome.value).inc()
            self._record_decision(champion, challenger, decision, outcome, reason, n)

        if action.blocked_by_pin:
            if challenger.id not in self.handle.blocked:  # once, not at every blocked round
                log.warning("v%d: %s", challenger.id, action.reason)
                self.handle.blocked.append(challenger.id)
                self._write(challenger.id, {"would_promote": 1.0}, n, now, "blocked_by_pin")
                record(DecisionOutcome.BLOCKED_BY_PIN, action.reason)
        elif action.promote:
            # The champion on probation, if any, is beaten already.
            self.watch.end(ProbationOutcome.CANCELLED, f"superseded: v{challenger.id} beat it")
            # Probation first: if the promotion's later steps fail (an outage), the restarted
            # round still watches the new champion; if it never happened, it is cancelled.
            self.start_probation(old=champion, new=challenger)
            try:
                self.control.promote(
                    challenger.id,
                    reason=action.reason,
                    actor=ACTOR,
                    expected_champion=champion.id,
                )
            except ChampionChanged as exc:
                self.watch.end(ProbationOutcome.CANCELLED, str(exc))
                log.warning("v%d not promoted: %s", challenger.id, exc)
                record(DecisionOutcome.CANCELLED, f"{action.reason}; not promoted: {exc}")
                return True  # the champion changed all the same
            self.handle.promotions.append(challenger.id)
            log.info("v%d promoted over v%d: %s", challenger.id, champion.id, action.reason)
            record(DecisionOutcome.PROMOTED, action.reason)
            return True
        else:
            self.registry.reject(challenger.id, f"lost its evaluation: {decision.reason}")
            log.info("v%d rejected: %s", challenger.id, decision.reason)
            record(DecisionOutcome.REJECTED, decision.reason)
        return False

    def _record_decision(
        self,
        champion: ModelVersion,
        challenger: ModelVersion,
        decision: Decision,
        outcome: DecisionOutcome,
        reason: str,
        n: int,
    ) -> None:
        """Persist the verdict with its evidence (``GET /api/v1/decisions`` reads it)."""
        self.decisions.record(
            ChallengerDecision(
                challenger_version=challenger.id,
                champion_version=champion.id,
                outcome=outcome,
                reason=reason,
                sample_count=n,
                champion_metrics=_finite(decision.champion_metrics),
                challenger_metrics=_finite(decision.challenger_metrics),
                mcnemar_b=decision.mcnemar.b,
                mcnemar_c=decision.mcnemar.c,
                p_value=decision.p_value,
            )
        )

    def start_probation(self, *, old: ModelVersion, new: ModelVersion) -> None:
        """Watch ``new`` against ``old`` on the next fresh labels; roll back if it is worse."""
        self.watch.start(old=old, new=new)

    def _predicted_classes(
        self, version: ModelVersion, images: NDArray[np.float32]
    ) -> NDArray[np.int64]:
        proba = self.models.model(version).predict_proba(images)
        return np.asarray(proba.argmax(axis=1), dtype=np.int64)

    def _roll_back(self, new: ModelVersion, old: ModelVersion, reason: str) -> None:
        self.control.rollback(
            reason=reason, actor=ACTOR, to_version=old.id, expected_champion=new.id
        )
        self.handle.rollbacks.append(new.id)

    def _write(
        self, version_id: int, metrics: dict[str, float], n: int, now: datetime, role: str
    ) -> None:
        self.registry.record_evaluations(
            [
                Evaluation(
                    version_id=version_id,
                    metric=name,
                    value=float(value),
                    sample_count=n,
                    window_start=self._window_start,
                    window_end=now,
                    computed_at=now,
                    role=role,
                )
                for name, value in metrics.items()
                if name != "sample_count"
            ]
        )


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics JSON can hold (no NaN), without the sample count kept beside them."""
    return {k: float(v) for k, v in metrics.items() if k != "sample_count" and math.isfinite(v)}
