"""create crm sync tables

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 15:02:11.418530
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_checkpoints",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("since", tracker.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.Column("updated_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_crm_checkpoints_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "provider", name=op.f("pk_crm_checkpoints")),
    )
    op.create_table(
        "crm_outbox",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", tracker.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_crm_outbox_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_crm_outbox")),
    )
    with op.batch_alter_table("crm_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_crm_outbox_site_status", ["site_id", "status", "next_attempt_at"], unique=False
        )

    with op.batch_alter_table("crm_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=10), server_default="webhook", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("crm_events", schema=None) as batch_op:
        batch_op.drop_column("source")

    with op.batch_alter_table("crm_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_outbox_site_status")

    op.drop_table("crm_outbox")
    op.drop_table("crm_checkpoints")
