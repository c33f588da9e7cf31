"""Drift detections: every alarm of a drift detector, where the change began, and its numbers.

Append-only like ``decisions``. The trainer writes them (it detects, and reacts); the
evaluator, operator and analyst read them (the analyst through the ``drift_history`` view).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_APPEND_ONLY_FUNCTION = """
CREATE FUNCTION drift_detections_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'drift_detections is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

_APPEND_ONLY_TRIGGER = """
CREATE TRIGGER drift_detections_append_only
BEFORE UPDATE OR DELETE ON drift_detections
FOR EACH ROW EXECUTE FUNCTION drift_detections_append_only()
"""

_VIEW = """
CREATE VIEW drift_history AS
SELECT id, detector, statistic, value_before, value_after, labeled, event_topic,
       event_partition, event_offset, boundary, champion_version, detected_at
FROM drift_detections
"""


def upgrade() -> None:
    op.create_table(
        "drift_detections",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("detector", sa.Text(), nullable=False),
        sa.Column("statistic", sa.Text(), nullable=False),
        sa.Column("value_before", sa.Double(), nullable=False),
        sa.Column("value_after", sa.Double(), nullable=False),
        sa.Column("labeled", sa.Boolean(), nullable=False),
        sa.Column("event_topic", sa.Text(), nullable=False),
        sa.Column("event_partition", sa.Integer(), nullable=False),
        sa.Column("event_offset", sa.BigInteger(), nullable=False),
        sa.Column("boundary", JSONB(), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column(
            "detected_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_drift_detections"),
        sa.ForeignKeyConstraint(
            ["champion_version"],
            ["model_versions.id"],
            name="fk_drift_detections_champion_version_model_versions",
        ),
    )
    op.create_index("ix_drift_detections_detected_at", "drift_detections", ["detected_at"])
    op.execute(_APPEND_ONLY_FUNCTION)
    op.execute(_APPEND_ONLY_TRIGGER)
    op.execute(_VIEW)
    for role in ("arena_scorer", "arena_evaluator", "arena_operator", "arena_trainer"):
        op.execute(f"GRANT SELECT ON drift_detections TO {role}")
    op.execute("GRANT INSERT ON drift_detections TO arena_trainer")
    op.execute(
        "DO $$ BEGIN EXECUTE format('GRANT USAGE ON SEQUENCE %s TO arena_trainer', "
        "pg_get_serial_sequence('drift_detections', 'id')); END $$"
    )
    for role in ("arena_analyst", "arena_operator"):
        op.execute(f"GRANT SELECT ON drift_history TO {role}")


def downgrade() -> None:
    op.execute("DROP VIEW drift_history")
    op.execute("DROP TRIGGER drift_detections_append_only ON drift_detections")
    op.execute("DROP FUNCTION drift_detections_append_only()")
    op.drop_index("ix_drift_detections_detected_at", table_name="drift_detections")
    op.drop_table("drift_detections")
