"""Artifact signatures: an HMAC of each version's (flavor, sha256, size) by a key that only
the services hold, checked before any artifact is deserialized (see arena/signing.py).

Versions registered before this revision have an empty signature and are refused by every
loader until an operator who trusts them re-signs them (``Registry.set_signature``, see
docs/SECURITY.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "model_versions",
        sa.Column("signature", sa.Text(), server_default="", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("model_versions", "signature")
