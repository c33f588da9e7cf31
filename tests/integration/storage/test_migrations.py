"""Migrations on an empty database: round trips, and the ORM matches what they create."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool

from arena.config import DatabaseSettings
from storage import migrate
from storage.orm import Base

TABLES = {
    "model_versions",
    "evaluations",
    "promotions",
    "pins",
    "probations",
    "decisions",
    "drift_detections",
    "arena_schedules_trainer",
    "arena_schedules_evaluator",
}
# The job store's tables are APScheduler's, not the ORM's (arena.schedules).
NOT_ORM = {"arena_schedules_trainer", "arena_schedules_evaluator"}


def _tables(db: DatabaseSettings) -> set[str]:
    engine = create_engine(db.url, poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trips(empty_db: DatabaseSettings) -> None:
    assert migrate.current(empty_db) is None

    migrate.upgrade(empty_db)
    assert migrate.current(empty_db) == "0009"
    assert _tables(empty_db) == TABLES

    migrate.downgrade(empty_db)
    assert migrate.current(empty_db) is None
    assert _tables(empty_db) == set()

    migrate.upgrade(empty_db)
    assert migrate.current(empty_db) == "0009"
    assert _tables(empty_db) == TABLES


def test_orm_matches_the_migrated_schema(empty_db: DatabaseSettings) -> None:
    migrate.upgrade(empty_db)
    engine = create_engine(empty_db.url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diff if _table_of(d) not in NOT_ORM] == []


def _table_of(diff: tuple[object, ...]) -> str:
    """The table a schema difference is about (a table or an index of it)."""
    item = diff[1]
    table = getattr(item, "table", item)
    return str(getattr(table, "name", ""))
