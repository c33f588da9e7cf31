"""``arena stack up | down | status``."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from arena.config import Settings
from arena.stack import runner

console = Console()


def register(app: typer.Typer) -> None:
    stack = typer.Typer(
        help="The local servers: Kafka (KRaft), PostgreSQL, MinIO.", no_args_is_help=True
    )

    @stack.command("up")
    def up_cmd() -> None:
        """Install what is missing (cached), start every server, wait until each answers."""
        t0 = time.monotonic()
        reports = runner.up(Settings())
        table = Table("server", "install s", "ready s", "where")
        for r in reports:
            table.add_row(r.name, f"{r.installed_s:.1f}", f"{r.ready_s:.1f}", r.description)
        console.print(table)
        console.print(f"stack ready in {time.monotonic() - t0:.1f} s")

    @stack.command("down")
    def down_cmd() -> None:
        """Stop every server (data is kept for the next `up`)."""
        for name, was_running in runner.down(Settings()):
            console.print(f"{name}: {'stopped' if was_running else 'was not running'}")

    @stack.command("status")
    def status_cmd() -> None:
        """Show which servers answer, and where."""
        table = Table("server", "state", "where")
        all_up = True
        for name, answering, where in runner.status(Settings()):
            all_up &= answering
            table.add_row(name, "[green]up[/]" if answering else "[red]down[/]", where)
        console.print(table)
        if not all_up:
            raise typer.Exit(1)

    app.add_typer(stack, name="stack")
