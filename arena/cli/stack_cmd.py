"""``arena stack up | down | status``."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from arena.config import Settings, with_overrides
from arena.stack import runner
from arena.stack.kafka import KafkaCluster

console = Console()


def register(app: typer.Typer) -> None:
    stack = typer.Typer(
        help="The local servers: Kafka (KRaft), PostgreSQL, MinIO.", no_args_is_help=True
    )

    @stack.command("up")
    def up_cmd(
        brokers: int = typer.Option(
            None,
            "--brokers",
            min=1,
            max=9,
            help="Kafka nodes (KRaft, each broker and controller); default "
            "ARENA_STACK_KAFKA_BROKERS (1). With 3: 3 replicas, 2 in sync.",
        ),
    ) -> None:
        """Install what is missing (cached), start every server, wait until each answers."""
        t0 = time.monotonic()
        settings = Settings()
        if brokers is not None:
            settings = with_overrides(settings, stack={"kafka_brokers": brokers})
        reports = runner.up(settings)
        table = Table("server", "install s", "ready s", "where")
        for r in reports:
            table.add_row(r.name, f"{r.installed_s:.1f}", f"{r.ready_s:.1f}", r.description)
        console.print(table)
        console.print(f"stack ready in {time.monotonic() - t0:.1f} s")
        kafka = runner.kafka_server(settings)
        if isinstance(kafka, KafkaCluster):
            console.print(
                f"clients: ARENA_KAFKA_BOOTSTRAP={kafka.bootstrap} ARENA_KAFKA_REPLICATION_FACTOR="
                f"{min(3, len(kafka.nodes))}"
            )

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
