"""Probations: a new champion watched against the one it replaced, persisted so that a
restarted evaluator resumes it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probations",
        sa.Column("new_version", sa.Integer(), nullable=False),
        sa.Column("old_version", sa.Integer(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("new_correct", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("old_correct", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("outcome", sa.Text(), server_default="open", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("new_version", name="pk_probations"),
        sa.ForeignKeyConstraint(
            ["new_version"], ["model_versions.id"], name="fk_probations_new_version_model_versions"
        ),
        sa.ForeignKeyConstraint(
            ["old_version"], ["model_versions.id"], name="fk_probations_old_version_model_versions"
        ),
        sa.CheckConstraint(
            "outcome IN ('open', 'kept', 'rolled_back', 'cancelled')", name="ck_probations_outcome"
        ),
    )
    op.create_index(
        "uq_probations_one_open",
        "probations",
        [sa.text("(outcome = 'open')")],
        unique=True,
        postgresql_where=sa.text("outcome = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("uq_probations_one_open", table_name="probations")
    op.drop_table("probations")
