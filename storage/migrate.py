"""Apply the registry migrations programmatically; no alembic.ini needed at runtime."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool

import migrations
from arena.config import DatabaseSettings


def alembic_config(db: DatabaseSettings) -> Config:
    """An Alembic config pointing at the installed ``migrations`` package and ``db``."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    # ConfigParser interpolates '%', which may appear in a password.
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


def upgrade(db: DatabaseSettings, revision: str = "head") -> None:
    """Migrate the database up to ``revision``."""
    command.upgrade(alembic_config(db), revision)


def downgrade(db: DatabaseSettings, revision: str = "base") -> None:
    """Migrate the database down to ``revision`` (``base`` drops every registry table)."""
    command.downgrade(alembic_config(db), revision)


def current(db: DatabaseSettings) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = create_engine(db.url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def recreate(db: DatabaseSettings) -> None:
    """Drop and create the database ``db.name``, then migrate it to head (a fresh registry)."""
    drop(db)
    with _server_connection(db) as conn:
        conn.execute(f'CREATE DATABASE "{db.name}"')
    upgrade(db)


def drop(db: DatabaseSettings) -> None:
    """Drop the database ``db.name`` if it exists, disconnecting its sessions."""
    with _server_connection(db) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


def _server_connection(db: DatabaseSettings) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=db.host,
        port=db.port,
        user=db.user,
        dbname="postgres",
        password=db.password.get_secret_value(),
        autocommit=True,
    )
