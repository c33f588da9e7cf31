"""Login users for the least-privilege roles of migration 0005.

The migration creates NOLOGIN group roles (``arena_scorer``, ``arena_trainer``,
``arena_evaluator``, ``arena_operator``, ``arena_analyst``); this makes a LOGIN user that is a
member of one, with a password chosen at run time, so no password lives in a migration.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from pydantic import SecretStr

from arena.config import DatabaseSettings

SERVICE_ROLES = ("scorer", "trainer", "evaluator", "operator", "analyst")


def create_login(admin: DatabaseSettings, user: str, role: str, password: SecretStr) -> None:
    """Create (or re-password) the LOGIN user ``user`` as a member of ``arena_<role>``.

    ``admin`` must be allowed to create roles (the stack's ``arena`` user is).
    """
    if role not in SERVICE_ROLES:
        raise ValueError(f"role must be one of {', '.join(SERVICE_ROLES)}, not {role!r}")
    group = sql.Identifier(f"arena_{role}")
    name = sql.Identifier(user)
    secret = sql.Literal(password.get_secret_value())
    with psycopg.connect(
        host=admin.host,
        port=admin.port,
        dbname=admin.name,
        user=admin.user,
        password=admin.password.get_secret_value(),
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                name, secret
            )
        )
        conn.execute(sql.SQL("GRANT {} TO {}").format(group, name))
