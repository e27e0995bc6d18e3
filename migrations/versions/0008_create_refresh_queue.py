"""create refresh queue

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refresh_queue",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("available_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column(
            "claimed_until", tracker.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_refresh_queue_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "kind", "key", name=op.f("pk_refresh_queue")),
    )
    with op.batch_alter_table("refresh_queue", schema=None) as batch_op:
        batch_op.create_index(
            "ix_refresh_queue_site_due", ["site_id", "available_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("refresh_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_refresh_queue_site_due")
    op.drop_table("refresh_queue")
