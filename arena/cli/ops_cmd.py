"""Operators: ``arena pin | unpin | rollback | reconcile | bootstrap``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from arena.config import Settings
from arena.control import ControlPlane

if TYPE_CHECKING:
    pass

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
