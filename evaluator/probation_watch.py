"""The probation of a new champion, from promotion to verdict: which events count, what was
observed (persisted, so a restarted evaluator resumes it), and the rollback.

Only events that arrived after the promotion count, each once: the probation starts at the
image topic's end offsets and moves past every event it counts, in PostgreSQL with the
outcomes. A restarted evaluator re-reads from its group's committed offsets; without this
it would count again what it had counted, and judge the new champion on events from before
its promotion, whose labels may agree with a world that has since changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from arena.bus.lag import end_offsets
from arena.config import EvaluatorSettings, KafkaSettings
from arena.errors import BusError
from arena.join import LabeledExample
from evaluator.probation import ProbationMonitor
from evaluator.telemetry import EvaluatorMetrics
from storage.domain import ModelVersion, ProbationOutcome
from storage.probations import Probations

log = logging.getLogger(__name__)

Rollback = Callable[[ModelVersion, ModelVersion, str], None]  # (new, old, reason)
# (version, images) -> the predicted class of each image
Predictor = Callable[[ModelVersion, NDArray[np.float32]], NDArray[np.int64]]


@dataclass
class Probation:
    old: ModelVersion
    new: ModelVersion
    monitor: ProbationMonitor
    next_offsets: dict[str, int]  # per "<topic>:<partition>": the first offset not counted
    fresh: list[LabeledExample] = field(default_factory=list)

    def counts(self, example: LabeledExample) -> bool:
        """Not counted yet, arrived after the promotion, and not trained on by the new one."""
        pos = example.position
        if pos.offset < self.next_offsets.get(f"{pos.topic}:{pos.partition}", 0):
            return False
        return not self.new.trained_on(pos.topic, pos.partition, pos.offset)

    def advance(self, examples: list[LabeledExample]) -> None:
        for e in examples:
            key = f"{e.position.topic}:{e.position.partition}"
            self.next_offsets[key] = max(self.next_offsets.get(key, 0), e.position.offset + 1)


class ProbationWatch:
    """At most one probation at a time; every way one ends goes through ``end``."""

    def __init__(
        self,
        cfg: EvaluatorSettings,
        kafka: KafkaSettings,
        probations: Probations,
        version_of: Callable[[int], ModelVersion],
        metrics: EvaluatorMetrics,
        decisions: list[str],
    ) -> None:
        self._cfg = cfg
        self._kafka = kafka
        self._store = probations
        self._metrics = metrics
        self._decisions = decisions
        self.current: Probation | None = self._resumed(version_of)

    def _monitor(self) -> ProbationMonitor:
        return ProbationMonitor(self._cfg.probation_labels, self._cfg.significance)

    def _resumed(self, version_of: Callable[[int], ModelVersion]) -> Probation | None:
        """The probation a previous run of the evaluator left open, with what it observed."""
        saved = self._store.current()
        if saved is None:
            return None
        monitor = self._monitor()
        for new_ok, old_ok in zip(saved.new_correct, saved.old_correct, strict=True):
            monitor.add(new_ok, old_ok)
        log.info(
            "resuming the probation of v%d against v%d (%d labels so far)",
            saved.new_version,
            saved.old_version,
            len(monitor),
        )
        return Probation(
            version_of(saved.old_version),
            version_of(saved.new_version),
            monitor,
            dict(saved.next_offsets),
        )

    def add(self, example: LabeledExample) -> None:
        if self.current is not None:
            self.current.fresh.append(example)

    def start(self, *, old: ModelVersion, new: ModelVersion) -> None:
        """Watch ``new`` against ``old`` on the events from now on; cancels any open one."""
        start = self._image_topic_end()
        self._store.open(new_version=new.id, old_version=old.id, next_offsets=start)
        self.current = Probation(old, new, self._monitor(), dict(start))

    def _image_topic_end(self) -> dict[str, int]:
        topic = self._kafka.image_topic
        try:
            ends = end_offsets(self._kafka, topic, timeout_s=self._kafka.call_timeout_s)
        except BusError as exc:
            log.warning(
                "probation: the end of %s is unknown (%s); it counts every event read from now "
                "on, including any read again after a restart",
                topic,
                exc,
            )
            return {}
        return {f"{topic}:{p}": offset for p, offset in ends.items()}

    def end(self, outcome: ProbationOutcome, reason: str) -> None:
        """Close the open probation with its outcome: in memory, in PostgreSQL, in metrics."""
        p = self.current
        if p is None:
            return
        self.current = None
        self._decisions.append(f"probation v{p.new.id}: {outcome.value}: {reason}")
        self._store.close(p.new.id, outcome, reason)
        self._metrics.probation_verdicts.labels(outcome.value).inc()
        log.info("probation of v%d against v%d: %s: %s", p.new.id, p.old.id, outcome.value, reason)

    def check(self, champion: ModelVersion, predict: Predictor, rollback: Rollback) -> None:
        """Count the fresh events, then keep the new champion, roll it back, or go on."""
        p = self.current
        if p is None:
            return
        if champion.id != p.new.id:  # an operator changed the champion meanwhile
            self.end(ProbationOutcome.CANCELLED, f"the champion became version {champion.id}")
            return
        fresh = [e for e in p.fresh if p.counts(e)]
        p.fresh.clear()
        if fresh:
            images = np.stack([e.image for e in fresh], dtype=np.float32)
            labels = np.fromiter((e.label for e in fresh), np.int64, len(fresh))
            new_ok = predict(p.new, images) == labels
            old_ok = predict(p.old, images) == labels
            for n_ok, o_ok in zip(new_ok.tolist(), old_ok.tolist(), strict=True):
                p.monitor.add(n_ok, o_ok)
            p.advance(fresh)
            self._store.record(p.new.id, *p.monitor.pairs(), p.next_offsets)
        verdict = p.monitor.verdict()
        if not verdict.done:
            return
        if verdict.rollback:
            log.warning("rolling back v%d: %s", p.new.id, verdict.reason)
            rollback(p.new, p.old, verdict.reason)
        self.end(
            ProbationOutcome.ROLLED_BACK if verdict.rollback else ProbationOutcome.KEPT,
            verdict.reason,
        )

    @property
    def labels(self) -> int:
        return 0 if self.current is None else len(self.current.monitor)
