"""``arena watch DIR``: publish each new image file of a folder (e.g. a drone's) as an event."""

from __future__ import annotations

from pathlib import Path

import typer

from arena.bus.stop import StopFlag
from arena.config import Settings

LEDGER_NAME = ".arena-published.jsonl"


def register(app: typer.Typer) -> None:
    @app.command("watch")
    def watch_cmd(
        directory: Path = typer.Argument(
            ..., exists=True, file_okay=False, dir_okay=True, resolve_path=True
        ),
        source: str | None = typer.Option(
            None, "--source", help="Source name in events and object keys (default: DIR's name)."
        ),
        interval: float = typer.Option(1.0, "--interval", min=0.01, help="Seconds between scans."),
        settle: float = typer.Option(
            1.0, "--settle", min=0.0, help="Seconds a file must stay unmodified before upload."
        ),
        ledger: Path | None = typer.Option(
            None, "--ledger", help=f"Published-files ledger (default: DIR/{LEDGER_NAME})."
        ),
        once: bool = typer.Option(False, "--once", help="Scan once, publish, then exit."),
    ) -> None:
        """Upload each new image file in DIR to MinIO and publish it as an ImageEvent.

        The ledger keeps published files from being published again after a restart.

        A file whose size or mtime changes later counts as a new photo.
        """
        from arena.ingest.watch import WatchConfig, kafka_watcher

        config = WatchConfig(root=directory, source=source or directory.name, settle_s=settle)
        ledger_path = ledger or directory / LEDGER_NAME
        with kafka_watcher(Settings(), config, ledger_path) as watcher:
            if once:
                report = watcher.scan_once()
                typer.echo(
                    f"published {len(report.published)}, skipped {len(report.skipped)}, "
                    f"{report.unsettled} not settled yet"
                )
                return
            with StopFlag().install() as stop:
                watcher.run(stop, interval)
