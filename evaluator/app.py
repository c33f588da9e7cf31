"""The evaluator service: labeled events → champion vs challenger → score history → promote,
block (pin) or reject; then probation, and an automatic rollback of a bad promotion.

Wiring only; the steps live in ``rounds``, the rules in ``policy``, ``probation`` and
``service``, the consuming loop in ``loop``.

Start-up reconciles the control plane before anything else, and before the evaluation code
(scipy, the models' runtimes: seconds of imports on a busy core) is even imported: a crash
between the steps of a promotion, a pin or a rollback leaves the fleet serving what the
registry no longer says, and the restarted evaluator's first job is to end that.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack

from arena.bus.producer import make_producer
from arena.bus.stop import StopFlag
from arena.bus.topics import default_topics, ensure_topics
from arena.config import Settings
from arena.control import ControlPlane
from arena.outages import outage_cause
from arena.webhooks import make_notifier
from evaluator.handle import ACTOR, EvaluatorHandle
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.registry import Registry

log = logging.getLogger(__name__)


def run_evaluator(
    settings: Settings, stop: StopFlag, handle: EvaluatorHandle | None = None
) -> None:
    """Consume labeled events and evaluate every ``interval_s`` until ``stop`` is set."""
    handle = handle or EvaluatorHandle()
    kafka = settings.kafka
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
        if stop.is_set():
            return
        from evaluator.loop import evaluate_stream  # the heavy part, once reconciled

        evaluate_stream(settings, stop, handle, resources, control, engine)


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
