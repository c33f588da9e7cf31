"""A version may carry an ONNX form of its model, served with ONNX Runtime.

``onnx_uri``/``onnx_sha256``/``onnx_size_bytes`` locate it in the model bucket like the
native artifact; ``onnx_signature`` is the deployment key's signature of it (flavor
``onnx``). ``onnx_parity`` records the check made before it was stored (how many images,
the largest probability difference, argmax disagreements), and also a refusal: a graph
that disagrees with the model is not stored, and the reason stays here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ONNX_COMPLETE = (
    "(onnx_uri IS NULL) = (onnx_sha256 IS NULL) AND (onnx_uri IS NULL) = (onnx_size_bytes IS NULL)"
)


def upgrade() -> None:
    op.add_column("model_versions", sa.Column("onnx_uri", sa.Text(), nullable=True))
    op.add_column("model_versions", sa.Column("onnx_sha256", sa.Text(), nullable=True))
    op.add_column("model_versions", sa.Column("onnx_size_bytes", sa.BigInteger(), nullable=True))
    op.add_column(
        "model_versions",
        sa.Column("onnx_signature", sa.Text(), nullable=False, server_default=""),
    )
    op.add_column("model_versions", sa.Column("onnx_parity", JSONB(), nullable=True))
    op.create_check_constraint("ck_model_versions_onnx_complete", "model_versions", ONNX_COMPLETE)


def downgrade() -> None:
    op.drop_constraint("ck_model_versions_onnx_complete", "model_versions", type_="check")
    for column in ("onnx_parity", "onnx_signature", "onnx_size_bytes", "onnx_sha256", "onnx_uri"):
        op.drop_column("model_versions", column)
