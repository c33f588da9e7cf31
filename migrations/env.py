"""Alembic environment: the URL comes from the Config (``storage.migrate``) or ``ARENA_DB_*``."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from arena.config import DatabaseSettings
from storage.orm import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None:  # the alembic CLI; storage.migrate passes no file
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    configured = config.get_main_option("sqlalchemy.url")
    return configured or DatabaseSettings().url


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
