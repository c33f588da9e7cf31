"""``arena schedule add | list | remove``: scheduled jobs in the registry database.

The CLI only writes the job store; the trainer (``retrain``) or the evaluator (``evaluate``)
that is running picks a job up within a few seconds and runs it (see ``arena.schedules``).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from arena.config import Settings
from arena.schedules import JOB_OWNERS, ScheduleBook

console = Console()


def _book() -> ScheduleBook:
    from storage.db import make_engine

    settings = Settings()
    return ScheduleBook(make_engine(settings.db, pool_size=1), key=settings.signing.key)


def register(app: typer.Typer) -> None:
    schedule = typer.Typer(help="Scheduled jobs: retrain, evaluate.", no_args_is_help=True)

    @schedule.command("add")
    def add_cmd(
        name: str,
        cron: str = typer.Option(..., "--cron", help='Crontab line, e.g. "0 3 * * *".'),
        job: str = typer.Option(..., "--job", help=f"One of: {', '.join(JOB_OWNERS)}."),
        timezone: str = typer.Option("UTC", "--timezone", help="Time zone of the cron line."),
    ) -> None:
        """Add job NAME: run JOB on the CRON schedule (in the trainer or the evaluator)."""
        added = _book().add_cron(name, job, cron, timezone)
        console.print(
            f"scheduled {added.name}: {added.kind} ({JOB_OWNERS[added.kind]}), "
            f"next run {added.next_run.isoformat() if added.next_run else 'never'}"
        )

    @schedule.command("list")
    def list_cmd() -> None:
        """List every scheduled job with its next run."""
        table = Table("name", "job", "runs in", "trigger", "next run")
        for s in _book().list():
            next_run = s.next_run.isoformat() if s.next_run else "paused"
            table.add_row(s.name, s.kind, JOB_OWNERS[s.kind], s.trigger, next_run)
        console.print(table)

    @schedule.command("remove")
    def remove_cmd(name: str) -> None:
        """Remove job NAME."""
        removed = _book().remove(name)
        console.print(f"removed {removed.name} ({removed.kind})")

    app.add_typer(schedule, name="schedule")
