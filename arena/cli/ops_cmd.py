"""Operators and analysts: ``arena pin | unpin | rollback | reconcile | models | history |
bootstrap``."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from arena.config import Settings
from arena.control import ControlPlane

if TYPE_CHECKING:
    from storage.domain import ModelVersion
    from storage.registry import Registry

console = Console()


@contextmanager
def control_plane() -> Iterator[ControlPlane]:
    from arena.bus.producer import make_producer
    from arena.bus.topics import default_topics, ensure_topics
    from arena.webhooks import make_notifier
    from storage.artifacts import ArtifactStore
    from storage.db import make_engine
    from storage.registry import Registry

    settings = Settings()
    ensure_topics(settings.kafka, default_topics(settings.kafka))
    notifier = make_notifier(settings.webhook)
    try:
        with ArtifactStore(settings.s3) as store:
            producer = make_producer(settings.kafka)
            registry = Registry(make_engine(settings.db))
            yield ControlPlane(registry, store, producer, settings.kafka, notifier)
    finally:
        if notifier is not None:
            notifier.close()  # a command exits right away: deliver its notice first


def _models_json(registry: Registry, serving: ModelVersion | None) -> list[dict[str, Any]]:
    return [
        {
            "version": v.id,
            "flavor": v.flavor,
            "status": v.status.value,
            "serving": serving is not None and serving.id == v.id,
            "parent": v.parent_id,
            "training_ranges": [dataclasses.asdict(r) for r in v.training_ranges],
            "hyperparameters": v.hyperparameters,
            "latest_metrics": registry.latest_metrics(v.id),
            "created_at": v.created_at.isoformat(),
        }
        for v in registry.list_versions()
    ]


def register(app: typer.Typer) -> None:
    register_bootstrap(app)

    @app.command("pin")
    def pin_cmd(
        version: int,
        reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log)."),
        until: datetime | None = typer.Option(None, "--until", help="Expiry, ISO 8601."),
        actor: str = typer.Option("operator", "--actor"),
    ) -> None:
        """Serve VERSION everywhere and block promotions until unpinned (or --until)."""
        with control_plane() as control:
            change = control.pin(version, reason=reason, actor=actor, expires_at=until)
        console.print(f"pinned: scorers now serve version {change.version.id}")

    @app.command("unpin")
    def unpin_cmd(
        reason: str = typer.Option("released", "--reason"),
        actor: str = typer.Option("operator", "--actor"),
    ) -> None:
        """Release the pin; scorers go back to the champion."""
        with control_plane() as control:
            change = control.unpin(reason=reason, actor=actor)
        console.print(f"unpinned: scorers now serve version {change.version.id}")

    @app.command("rollback")
    def rollback_cmd(
        reason: str = typer.Option(..., "--reason"),
        to: int | None = typer.Option(None, "--to", help="Version (default: previous champion)."),
        actor: str = typer.Option("operator", "--actor"),
        expect: int | None = typer.Option(
            None,
            "--expect-champion",
            help="Roll back only this champion; a retry after it was rolled back does nothing "
            "twice (use it in scripts that retry).",
        ),
    ) -> None:
        """Reject the champion and go back to the previous one."""
        with control_plane() as control:
            change = control.rollback(
                reason=reason, actor=actor, to_version=to, expected_champion=expect
            )
        console.print(f"rolled back: scorers now serve version {change.version.id}")

    @app.command("reconcile")
    def reconcile_cmd(actor: str = typer.Option("operator", "--actor")) -> None:
        """Make the MinIO aliases and the control topic agree with the registry."""
        with control_plane() as control:
            change = control.reconcile(actor=actor)
        if change is None:
            console.print("in agreement: nothing to announce")
        else:
            console.print(f"re-announced: scorers now serve version {change.version.id}")

    @app.command("models")
    def models_cmd(
        fmt: str = typer.Option("table", "--format", help="table or json"),
    ) -> None:
        """List the versions with their lineage and latest metrics."""
        with control_plane() as control:
            registry = control.registry
            serving = registry.serving_version()
            if fmt == "json":
                typer.echo(json.dumps(_models_json(registry, serving), indent=2))
                return
            if fmt != "table":
                raise typer.BadParameter("--format must be table or json")
            table = Table(
                "version",
                "flavor",
                "status",
                "parent",
                "trained on",
                "accuracy",
                "samples",
                "created",
            )
            for v in registry.list_versions():
                metrics = registry.latest_metrics(v.id)
                ranges = ", ".join(
                    f"{r.topic}[{r.partition}]@{r.first}-{r.last}" for r in v.training_ranges[:3]
                )
                if len(v.training_ranges) > 3:
                    ranges += f" (+{len(v.training_ranges) - 3})"
                mark = " (serving)" if serving and serving.id == v.id else ""
                acc = metrics.get("accuracy")
                table.add_row(
                    str(v.id),
                    v.flavor,
                    f"{v.status}{mark}",
                    str(v.parent_id or "-"),
                    ranges or "-",
                    f"{acc:.4f}" if acc is not None else "-",
                    str(int(v.hyperparameters.get("samples", 0)) or "-"),
                    v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                )
            console.print(table)

    @app.command("history")
    def history_cmd(
        version: int | None = typer.Option(None, "--version"),
        metric: str | None = typer.Option("accuracy", "--metric", help="'' for all metrics."),
        limit: int = typer.Option(50, "--limit"),
        fmt: str = typer.Option("table", "--format", help="table, csv or json"),
    ) -> None:
        """The score history (metric per version per window), newest first."""
        with control_plane() as control:
            rows = control.registry.history(version_id=version, metric=metric or None, limit=limit)
        records = [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(e).items()}
            for e in rows
        ]
        if fmt == "json":
            typer.echo(json.dumps(records, indent=2))
        elif fmt == "csv":
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(records[0]) if records else ["version_id"])
            writer.writeheader()
            writer.writerows(records)
            typer.echo(out.getvalue().rstrip())
        elif fmt == "table":
            table = Table("computed at", "version", "role", "metric", "value", "samples")
            for e in rows:
                table.add_row(
                    e.computed_at.strftime("%H:%M:%S"),
                    str(e.version_id),
                    e.role,
                    e.metric,
                    f"{e.value:.4f}",
                    str(e.sample_count),
                )
            console.print(table)
        else:
            raise typer.BadParameter("--format must be table, csv or json")


def register_bootstrap(app: typer.Typer) -> None:
    @app.command("bootstrap")
    def bootstrap_cmd(
        flavor: str = typer.Option("keras", help="keras, river or sklearn."),
        samples: int = typer.Option(3_000, help="Labeled MNIST digits to train on."),
        epochs: int = typer.Option(3),
        actor: str = typer.Option("operator", "--actor", help="Who (kept in the audit log)."),
    ) -> None:
        """Train a first champion on a small labeled subset, register and promote it."""
        from arena.signing import ArtifactSigner

        with control_plane() as control:
            version = control.bootstrap(
                flavor,
                samples=samples,
                epochs=epochs,
                actor=actor,
                signer=ArtifactSigner(Settings().signing.key),
            )
        console.print(f"version {version.id} ({flavor}) is the champion and being served")
