"""Probations count only events that arrived after the promotion, each one once.

``next_offsets`` holds, per image-topic partition (``"<topic>:<partition>"``), the first
offset the probation has not yet counted: the topic's end offsets when the probation opened,
advanced as paired outcomes are recorded. A restarted evaluator, which re-reads from its
group's committed offsets, neither counts events from before the promotion (labels that
agree with the old champion's world) nor counts an event twice.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "probations",
        sa.Column("next_offsets", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
    )


def downgrade() -> None:
    op.drop_column("probations", "next_offsets")
