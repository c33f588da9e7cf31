"""The scheduled jobs' tables (APScheduler's SQLAlchemy job store), created here so no
service needs to create tables, with each role's rights on them.

Until now the job store created ``arena_schedules_<service>`` on first use, which needs
CREATE on the schema: a least-privilege login has none. The columns are the store's own
(``apscheduler.jobstores.sqlalchemy``); ``IF NOT EXISTS`` keeps a table an earlier release
created. The trainer and the evaluator run (and so update and delete) their own jobs;
``arena schedule add|remove`` runs as the operator. Jobs are signed (``arena.signed_jobs``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SERVICES = ("trainer", "evaluator")


def upgrade() -> None:
    for service in SERVICES:
        table = f"arena_schedules_{service}"
        op.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            "id VARCHAR(191) NOT NULL PRIMARY KEY, "
            "next_run_time FLOAT(25), "
            "job_state BYTEA NOT NULL)"
        )
        op.execute(
            f"CREATE INDEX IF NOT EXISTS ix_{table}_next_run_time ON {table} (next_run_time)"
        )
        for role in (f"arena_{service}", "arena_operator"):
            op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}")


def downgrade() -> None:
    for service in SERVICES:
        op.execute(f"DROP TABLE IF EXISTS arena_schedules_{service}")
