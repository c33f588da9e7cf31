"""PostgreSQL roles of migration 0005: each one cannot do what it must not (issue 9).

Runs on the secure stack's PostgreSQL (roles are cluster-wide: the shared one is left alone).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors, sql
from pydantic import SecretStr

from arena.config import DatabaseSettings, Settings
from storage import migrate
from storage.roles import create_login

SERVICES = ("scorer", "trainer", "evaluator", "operator")


@pytest.fixture(scope="module")
def roles_db(secure_settings: Settings) -> Iterator[DatabaseSettings]:
    """A fresh database migrated to head, with one version and one promotion in it."""
    admin = secure_settings.db
    db = admin.model_copy(update={"name": f"arena_roles_{uuid.uuid4().hex[:10]}"})
    with _connect(admin, dbname="postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.name)))
    try:
        migrate.upgrade(db)
        with _connect(db) as conn:
            conn.execute(
                "INSERT INTO model_versions (flavor, artifact_uri, sha256, size_bytes) "
                "VALUES ('river', 's3://m/1', 'aa', 1)"
            )
            conn.execute(
                "INSERT INTO promotions (kind, to_version, reason, actor) "
                "VALUES ('promote', 1, 'first', 'test')"
            )
        yield db
    finally:
        with _connect(admin, dbname="postgres") as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db.name)))


@pytest.fixture(scope="module")
def logins(roles_db: DatabaseSettings) -> dict[str, DatabaseSettings]:
    """One LOGIN user per role, each with a fresh password."""
    found = {}
    for role in (*SERVICES, "analyst"):
        password = SecretStr(secrets.token_urlsafe(16))
        create_login(roles_db, f"test_{role}", role, password)
        found[role] = roles_db.model_copy(update={"user": f"test_{role}", "password": password})
    return found


def _connect(
    db: DatabaseSettings, dbname: str | None = None
) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=db.host,
        port=db.port,
        dbname=dbname or db.name,
        user=db.user,
        password=db.password.get_secret_value(),
        autocommit=True,
    )


def _refused(db: DatabaseSettings, statement: str) -> None:
    with _connect(db) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)


def test_the_analyst_reads_the_views_and_writes_nothing(
    logins: dict[str, DatabaseSettings],
) -> None:
    analyst = logins["analyst"]
    with _connect(analyst) as conn:
        assert conn.execute("SELECT kind, to_version FROM champion_timeline").fetchall() == [
            ("promote", 1)
        ]
        conn.execute("SELECT * FROM score_history")
        conn.execute("SELECT * FROM challenger_decisions")
    _refused(analyst, "UPDATE champion_timeline SET reason = 'x'")
    _refused(analyst, "UPDATE model_versions SET status = 'champion'")
    _refused(analyst, "SELECT * FROM model_versions")  # the tables themselves: no


def test_the_scorer_only_reads(logins: dict[str, DatabaseSettings]) -> None:
    scorer = logins["scorer"]
    with _connect(scorer) as conn:
        assert conn.execute("SELECT count(*) FROM model_versions").fetchone() == (1,)
    _refused(
        scorer,
        "INSERT INTO model_versions (flavor, artifact_uri, sha256, size_bytes) "
        "VALUES ('river', 's3://m/evil', 'bb', 1)",
    )
    _refused(scorer, "UPDATE model_versions SET status = 'champion'")
    _refused(scorer, "INSERT INTO pins (version_id, actor, reason) VALUES (1, 'x', 'y')")


def test_the_trainer_registers_but_does_not_promote(logins: dict[str, DatabaseSettings]) -> None:
    trainer = logins["trainer"]
    with _connect(trainer) as conn:
        conn.execute(
            "INSERT INTO model_versions (flavor, artifact_uri, sha256, size_bytes) "
            "VALUES ('river', 's3://m/2', 'cc', 1)"
        )
    _refused(trainer, "UPDATE model_versions SET status = 'champion'")
    _refused(trainer, "INSERT INTO promotions (kind, reason, actor) VALUES ('promote', 'x', 'y')")


@pytest.mark.parametrize("role", SERVICES)
def test_no_service_can_remove_the_audit_trail(
    logins: dict[str, DatabaseSettings], role: str
) -> None:
    db = logins[role]
    _refused(db, "DROP TRIGGER promotions_append_only ON promotions")
    _refused(db, "ALTER TABLE promotions DISABLE TRIGGER promotions_append_only")
    _refused(db, "TRUNCATE promotions CASCADE")
    _refused(db, "DELETE FROM promotions")
    _refused(db, "DROP TABLE decisions")
