"""``arena db upgrade | downgrade | current``: the registry schema, without alembic.ini."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.exc import OperationalError

from arena.config import Settings
from arena.errors import StackError
from storage import migrate


def register(app: typer.Typer) -> None:
    db = typer.Typer(
        help="The registry database schema (Alembic migrations).", no_args_is_help=True
    )

    @db.command("upgrade")
    def upgrade_cmd(
        revision: str = typer.Option("head", "--revision", "-r", help="Target revision."),
    ) -> None:
        """Apply migrations up to REVISION (default: the newest)."""
        settings = Settings()
        with _database(settings):
            migrate.upgrade(settings.db, revision)
            typer.echo(f"{_where(settings)}: at {migrate.current(settings.db) or 'base'}")

    @db.command("downgrade")
    def downgrade_cmd(
        revision: str = typer.Option("base", "--revision", "-r", help="Target revision."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    ) -> None:
        """Revert migrations down to REVISION; "base" drops every registry table and its data."""
        settings = Settings()
        if not yes:
            typer.confirm(f"Downgrade {_where(settings)} to {revision}?", abort=True)
        with _database(settings):
            migrate.downgrade(settings.db, revision)
            typer.echo(f"{_where(settings)}: at {migrate.current(settings.db) or 'base'}")

    @db.command("current")
    def current_cmd() -> None:
        """Print the revision the database is at ("base" when never migrated)."""
        settings = Settings()
        with _database(settings):
            typer.echo(migrate.current(settings.db) or "base")

    app.add_typer(db, name="db")


@contextmanager
def _database(settings: Settings) -> Iterator[None]:
    """Quiet Alembic's chatter (unless -v) and turn an unreachable database into one line."""
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        yield
    except OperationalError as exc:
        cause = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        raise StackError(
            f"cannot reach PostgreSQL at {_where(settings)} (ARENA_DB_*): {cause}"
        ) from exc


def _where(settings: Settings) -> str:
    return f"{settings.db.host}:{settings.db.port}/{settings.db.name}"
