"""``arena demo``: the whole loop on a live stream, end to end, on the real stack."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from arena.bus.producer import make_producer
from arena.bus.topics import default_topics, ensure_topics
from arena.config import Settings
from arena.control import ControlPlane
from arena.demo.audit import audit_promotions, audit_recovery
from arena.demo.collect import Collector
from arena.demo.dashboard import start_dashboard
from arena.demo.fleet import Fleet
from arena.demo.report import summarize, write
from arena.demo.stream import NO_DRIFT, GroundTruth, StreamPlan, build_stream, publish
from arena.deployment import QUICK_LOOP, isolated_deployment
from arena.errors import ArenaError
from arena.signing import ArtifactSigner
from storage import migrate
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.registry import Registry

log = logging.getLogger(__name__)
console = Console()


@dataclass(frozen=True)
class DemoConfig:
    plan: StreamPlan = field(default_factory=StreamPlan)
    scorers: int = 2
    initial_samples: int = 3_000
    initial_epochs: int = 3
    window: int = 500
    out_dir: Path = Path("out/demo")
    database: str = "arena_demo"
    drain_timeout_s: float = 120.0
    # After the stream: wait up to this long for a fine-tune on post-drift examples, when a
    # drift was detected and none is registered yet (a short stream on a slow machine).
    await_fine_tune_s: float = 0.0
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)  # over QUICK_LOOP


def demo_settings(
    base: Settings, run_id: str, database: str, tuning: dict[str, dict[str, Any]] | None = None
) -> Settings:
    """Topics of their own per run and a database of its own, so runs never mix; the
    learning loop at ``QUICK_LOOP``'s pace, with ``tuning``'s settings over it."""
    merged = {k: dict(v) for k, v in QUICK_LOOP.items()}
    for section, values in (tuning or {}).items():
        merged.setdefault(section, {}).update(values)
    return isolated_deployment(base, f"arena.demo-{run_id}", database, merged)


def run_demo(base: Settings, config: DemoConfig) -> dict[str, Any]:
    started = time.monotonic()
    settings = demo_settings(base, uuid.uuid4().hex[:8], config.database, config.tuning)
    migrate.recreate(settings.db)
    ensure_topics(settings.kafka, default_topics(settings.kafka))
    console.print(
        f"[bold]1.[/] training the initial champion on {config.initial_samples} labeled digits"
    )
    with ArtifactStore(settings.s3) as store:
        producer = make_producer(settings.kafka)
        control = ControlPlane(Registry(make_engine(settings.db)), store, producer, settings.kafka)
        champion = control.bootstrap(
            "keras",
            samples=config.initial_samples,
            epochs=config.initial_epochs,
            actor="demo",
            signer=ArtifactSigner(settings.signing.key),
        )
    events, truth = build_stream(config.plan)
    collector = Collector(settings.kafka)
    collector.start()
    fleet = Fleet(settings)
    fleet.start(config.scorers)
    dashboard = start_dashboard(settings)
    try:
        console.print(f"[bold]2.[/] starting {config.scorers} scorers, a trainer and an evaluator")
        _wait(
            lambda: len(collector.serving_versions()) >= config.scorers,
            180,
            "every scorer to serve the initial champion",
            fleet,
        )
        console.print(
            f"[bold]3.[/] streaming {config.plan.events} drone photos; the camera "
            f"drifts ({config.plan.drift}) at photo {config.plan.drift_at}"
        )
        _stream(config, settings, events, truth, collector, fleet)
        _wait(
            lambda: collector.predicted() >= len(events),
            config.drain_timeout_s,
            "every event to be predicted",
            fleet,
        )
        _await_post_drift_fine_tune(fleet, config.await_fine_tune_s)
        _converge(fleet, collector, config.scorers)
    finally:
        if dashboard is not None:
            dashboard.stop()
        fleet.stop()
        time.sleep(1.0)  # let the collector read the last committed records
        collector.stop()
        collector.join(10)
    summary = summarize(
        config.plan,
        truth,
        collector.observed,
        fleet.evaluator.promotions,
        fleet.evaluator.rollbacks,
        config.window,
        time.monotonic() - started,
        detected_at=fleet.trainer.drift_detected_at,
        post_drift_fine_tunes_at=[
            t
            for t, post in zip(
                fleet.trainer.registered_at, fleet.trainer.post_drift_samples, strict=True
            )
            if post > 0
        ],
    )
    summary["initial_champion"] = champion.id
    summary["scorers_serving"] = collector.serving_versions()
    summary["trainer_fine_tunes"] = fleet.trainer.fine_tunes
    summary["evaluator_decisions"] = fleet.evaluator.decisions[-12:]
    summary["challenger_decisions"] = sum(
        1 for d in fleet.evaluator.decisions if not d.startswith(("probation", "pin"))
    )
    summary["drift_detectors"] = sorted({d.detector for d in fleet.trainer.drift_detections})
    drift_started = (
        datetime.fromtimestamp(truth.published_at[config.plan.drift_at], UTC)
        if config.plan.drift != NO_DRIFT and config.plan.drift_at < len(truth.published_at)
        else None
    )
    audits = audit_promotions(
        settings, None if config.plan.drift == NO_DRIFT else config.plan.drift, drift_started
    )
    summary["promotion_audit"] = [dataclasses.asdict(a) | {"false": a.false} for a in audits]
    summary["false_promotions"] = sum(a.false for a in audits)
    summary |= _recovery_audit(settings, config.plan, truth, collector)
    summary_path, plot_path = write(summary, config.out_dir)
    _print_summary(summary, summary_path, plot_path)
    return summary


def _recovery_audit(
    settings: Settings, plan: StreamPlan, truth: GroundTruth, collector: Collector
) -> dict[str, Any]:
    """The champion that served the last photo before the drift, on clean audit digits,
    against the champion at the end, on drifted ones (``arena.demo.audit``)."""
    if plan.drift == NO_DRIFT or not 0 < plan.drift_at < len(truth.event_ids):
        return {}
    served = collector.observed.first.get(truth.event_ids[plan.drift_at - 1])
    if served is None:  # counted as lost already
        return {}
    audit = audit_recovery(settings, plan.drift, int(served[0]))
    return {
        "audited_pre_drift_accuracy": audit.pre_drift_accuracy,
        "audited_recovered_accuracy": audit.recovered_accuracy,
        "audited_recovered_gap": audit.gap,
        "audited_final_clean_accuracy": audit.final_clean_accuracy,
        "recovery_audit": dataclasses.asdict(audit),
    }


def _stream(
    config: DemoConfig,
    settings: Settings,
    events: list[Any],
    truth: Any,
    collector: Collector,
    fleet: Fleet,
) -> None:
    producer = make_producer(settings.kafka)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        sent = progress.add_task("published", total=len(events))
        scored = progress.add_task("predicted", total=len(events))

        def on_progress(i: int) -> None:
            if i % 200 == 0 or i == len(events):
                progress.update(sent, completed=i)
                progress.update(scored, completed=collector.predicted())

        publish(
            config.plan,
            events,
            truth,
            producer,
            settings.kafka.image_topic,
            settings.kafka.label_topic,
            on_progress,
            stopped=lambda: bool(fleet.errors),
        )
        deadline = time.monotonic() + config.drain_timeout_s
        while collector.predicted() < len(events) and time.monotonic() < deadline:
            progress.update(scored, completed=collector.predicted())
            time.sleep(0.2)
        progress.update(scored, completed=collector.predicted())


def _converge(fleet: Fleet, collector: Collector, scorers: int, timeout_s: float = 60.0) -> None:
    """Stop promoting, then let every scorer swap to the last promoted version (a promotion
    just before the stream ended may still be loading), so the run ends on one version."""
    fleet.stop_evaluator()
    promoted = fleet.evaluator.promotions
    if not promoted:
        return
    last = promoted[-1]
    try:
        _wait(
            lambda: (
                collector.serving_versions() == {f"scorer-{i + 1}": last for i in range(scorers)}
            ),
            timeout_s,
            f"every scorer to serve v{last}",
            fleet,
        )
    except ArenaError as exc:
        log.warning("the fleet did not converge: %s", exc)


def _await_post_drift_fine_tune(fleet: Fleet, timeout_s: float) -> None:
    trainer = fleet.trainer
    if timeout_s <= 0 or not trainer.drift_detected_at:
        return
    try:
        _wait(
            lambda: any(post > 0 for post in trainer.post_drift_samples),
            timeout_s,
            "a fine-tune on post-drift examples",
            fleet,
        )
    except ArenaError as exc:
        log.warning("%s (%d fine-tunes in all)", exc, trainer.fine_tunes)


def _wait(condition: Any, timeout_s: float, what: str, fleet: Fleet) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if fleet.errors:
            raise ArenaError(f"a service crashed while waiting for {what}: {fleet.errors[0]!r}")
        if time.monotonic() > deadline:
            raise ArenaError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


def _print_summary(summary: dict[str, Any], summary_path: Path, plot_path: Path) -> None:
    table = Table("figure", "value", title="Arena drift demo")
    for key in (
        "events",
        "promotions",
        "rollbacks",
        "pre_drift_accuracy",
        "post_drift_min_accuracy",
        "recovered_accuracy",
        "lost_predictions",
        "duplicate_predictions",
        "labels_until_recovery",
        "latency_ms_p50",
        "latency_ms_p99",
        "wall_time_s",
    ):
        table.add_row(key, str(summary[key]))
    console.print(table)
    console.print(f"scorers serving: {summary['scorers_serving']}")
    console.print(f"wrote {summary_path} and {plot_path}")
