"""Least-privilege roles per service, and read-only views for analysts.

The roles are NOLOGIN group roles; no password is in this migration. A deployment creates
one LOGIN user per service and makes it a member (``storage.roles.create_login``, or
``CREATE ROLE scorer1 LOGIN PASSWORD '...' IN ROLE arena_scorer``). None of them owns a
table, so none can ALTER or DROP a table or its triggers (``promotions_append_only``), nor
TRUNCATE; only the migrating user (the owner) can.

PostgreSQL roles are cluster-wide: they are created if missing (another database of the
same cluster may have created them) and dropped on downgrade only when no other database
still grants them anything.

``decisions`` is already a table (0004), so its analyst view is ``challenger_decisions``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ROLES = ("arena_scorer", "arena_trainer", "arena_evaluator", "arena_operator", "arena_analyst")
TABLES = ("model_versions", "evaluations", "promotions", "pins", "probations", "decisions")
VIEWS = ("score_history", "champion_timeline", "challenger_decisions")

# What each service may write, beyond SELECT on every registry table. Nobody gets DELETE
# or TRUNCATE; UPDATE only where the service's own repository updates rows.
WRITES = {
    "arena_scorer": {},
    "arena_trainer": {"model_versions": "INSERT"},
    "arena_evaluator": {
        "model_versions": "UPDATE",  # status: champion, rejected, retired
        "evaluations": "INSERT",
        "promotions": "INSERT",
        "pins": "UPDATE",  # a promotion releases the pin
        "probations": "INSERT, UPDATE",
        "decisions": "INSERT",
    },
    "arena_operator": {  # arena bootstrap / pin / unpin / rollback / reject, re-signing
        "model_versions": "INSERT, UPDATE",
        "promotions": "INSERT",
        "pins": "INSERT, UPDATE",
        "probations": "INSERT, UPDATE",
    },
}

_VIEWS_SQL = {
    "score_history": """
        SELECT e.version_id, v.flavor, e.metric, e.value, e.sample_count, e.window_start,
               e.window_end, e.computed_at, e.role
        FROM evaluations e JOIN model_versions v ON v.id = e.version_id
    """,
    "champion_timeline": """
        SELECT id, kind, from_version, to_version, reason, actor, created_at FROM promotions
    """,
    "challenger_decisions": """
        SELECT id, challenger_version, champion_version, outcome, reason, sample_count,
               champion_metrics, challenger_metrics, mcnemar_b, mcnemar_c, p_value, decided_at
        FROM decisions
    """,
}

_CREATE_ROLE = """
DO $$ BEGIN
    CREATE ROLE {role} NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;  -- made by another database of this cluster
END $$
"""

_DROP_ROLE = """
DO $$ BEGIN
    DROP ROLE {role};
EXCEPTION WHEN dependent_objects_still_exist THEN NULL;  -- still granted in another database
END $$
"""


def upgrade() -> None:
    for role in ROLES:
        op.execute(_CREATE_ROLE.format(role=role))
        op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    for name, query in _VIEWS_SQL.items():
        op.execute(f"CREATE VIEW {name} AS {query}")
    services = [r for r in ROLES if r != "arena_analyst"]
    for role in services:
        op.execute(f"GRANT SELECT ON {', '.join(TABLES)} TO {role}")
        for table, privileges in WRITES[role].items():
            op.execute(f"GRANT {privileges} ON {table} TO {role}")
        if WRITES[role]:
            op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
    for role in ("arena_analyst", "arena_operator"):
        op.execute(f"GRANT SELECT ON {', '.join(VIEWS)} TO {role}")


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW {name}")
    for role in ROLES:
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
        op.execute(_DROP_ROLE.format(role=role))
