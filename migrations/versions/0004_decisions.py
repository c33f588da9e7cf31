"""Decisions: the evaluator's verdict on every challenger, with its numbers and reason.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_APPEND_ONLY_FUNCTION = """
CREATE FUNCTION decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'decisions is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

_APPEND_ONLY_TRIGGER = """
CREATE TRIGGER decisions_append_only
BEFORE UPDATE OR DELETE ON decisions
FOR EACH ROW EXECUTE FUNCTION decisions_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("challenger_version", sa.Integer(), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sample_count", sa.Integer(), nullable=False),
        sa.Column("champion_metrics", JSONB(), nullable=False),
        sa.Column("challenger_metrics", JSONB(), nullable=False),
        sa.Column("mcnemar_b", sa.Integer(), nullable=False),
        sa.Column("mcnemar_c", sa.Integer(), nullable=False),
        sa.Column("p_value", sa.Double(), nullable=False),
        sa.Column(
            "decided_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.ForeignKeyConstraint(
            ["challenger_version"],
            ["model_versions.id"],
            name="fk_decisions_challenger_version_model_versions",
        ),
        sa.ForeignKeyConstraint(
            ["champion_version"],
            ["model_versions.id"],
            name="fk_decisions_champion_version_model_versions",
        ),
        sa.CheckConstraint(
            "outcome IN ('promoted', 'rejected', 'blocked_by_pin', 'cancelled')",
            name="ck_decisions_outcome",
        ),
    )
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at"])
    op.execute(_APPEND_ONLY_FUNCTION)
    op.execute(_APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER decisions_append_only ON decisions")
    op.execute("DROP FUNCTION decisions_append_only()")
    op.drop_index("ix_decisions_decided_at", table_name="decisions")
    op.drop_table("decisions")
