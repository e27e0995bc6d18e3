"""create cost tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 13:57:10.947576
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "costs",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("medium", sa.String(length=200), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=False),
        sa.Column("keyword", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_site", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("imported_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("import_name", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_costs_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_costs")),
        sa.UniqueConstraint(
            "site_id",
            "day",
            "channel",
            "source",
            "medium",
            "campaign",
            "keyword",
            name=op.f("uq_costs_site_id"),
        ),
    )
    with op.batch_alter_table("costs", schema=None) as batch_op:
        batch_op.create_index("ix_costs_site_day", ["site_id", "day"], unique=False)

    op.create_table(
        "exchange_rates",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=18, scale=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_exchange_rates_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "site_id", "currency", "valid_from", name=op.f("pk_exchange_rates")
        ),
    )


def downgrade() -> None:
    op.drop_table("exchange_rates")
    with op.batch_alter_table("costs", schema=None) as batch_op:
        batch_op.drop_index("ix_costs_site_day")

    op.drop_table("costs")
