"""The model registry: versions, score history, the append-only promotions log, pins.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_NOW = sa.text("now()")

_APPEND_ONLY_FUNCTION = """
CREATE FUNCTION promotions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'promotions is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

# TRUNCATE stays possible on purpose: it needs table ownership and is how test databases reset.
_APPEND_ONLY_TRIGGER = """
CREATE TRIGGER promotions_append_only
BEFORE UPDATE OR DELETE ON promotions
FOR EACH ROW EXECUTE FUNCTION promotions_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("flavor", sa.Text(), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column(
            "training_ranges", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column(
            "hyperparameters", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("status", sa.Text(), server_default="candidate", nullable=False),
        sa.Column("status_reason", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["model_versions.id"], name="fk_model_versions_parent_id_model_versions"
        ),
        sa.CheckConstraint(
            "status IN ('candidate', 'champion', 'retired', 'rejected')",
            name="ck_model_versions_status",
        ),
    )
    op.create_index(
        "uq_model_versions_one_champion",
        "model_versions",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'champion'"),
    )

    op.create_table(
        "evaluations",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("sample_count", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("role", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name="fk_evaluations_version_id_model_versions"
        ),
    )
    op.create_index(
        "ix_evaluations_version_id_metric_computed_at",
        "evaluations",
        ["version_id", "metric", "computed_at"],
    )

    op.create_table(
        "promotions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_promotions"),
        sa.ForeignKeyConstraint(
            ["from_version"],
            ["model_versions.id"],
            name="fk_promotions_from_version_model_versions",
        ),
        sa.ForeignKeyConstraint(
            ["to_version"], ["model_versions.id"], name="fk_promotions_to_version_model_versions"
        ),
        sa.CheckConstraint(
            "kind IN ('promote', 'rollback', 'pin', 'unpin')", name="ck_promotions_kind"
        ),
    )
    op.execute(_APPEND_ONLY_FUNCTION)
    op.execute(_APPEND_ONLY_TRIGGER)

    op.create_table(
        "pins",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pins"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name="fk_pins_version_id_model_versions"
        ),
    )
    op.create_index(
        "uq_pins_one_unreleased",
        "pins",
        [sa.text("(released_at IS NULL)")],
        unique=True,
        postgresql_where=sa.text("released_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_pins_one_unreleased", table_name="pins")
    op.drop_table("pins")
    op.execute("DROP TRIGGER promotions_append_only ON promotions")
    op.execute("DROP FUNCTION promotions_append_only()")
    op.drop_table("promotions")
    op.drop_index("ix_evaluations_version_id_metric_computed_at", table_name="evaluations")
    op.drop_table("evaluations")
    op.drop_index("uq_model_versions_one_champion", table_name="model_versions")
    op.drop_table("model_versions")
