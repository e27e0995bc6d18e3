"""create attribution tables

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 15:49:21.202047
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attribution_fits",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("conversion", sa.String(length=12), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("conversion_shares", sa.JSON(), nullable=False),
        sa.Column("value_shares", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("fitted_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_attribution_fits_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "model", "conversion", name=op.f("pk_attribution_fits")),
    )
    op.create_table(
        "attribution_credits",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("conversion", sa.String(length=12), nullable=False),
        sa.Column("conversion_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("converted_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("touch_at", tracker.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("touch_kind", sa.String(length=8), nullable=False),
        sa.Column("touch_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("medium", sa.String(length=200), nullable=True),
        sa.Column("campaign", sa.String(length=200), nullable=True),
        sa.Column("keyword", sa.String(length=200), nullable=True),
        sa.Column("landing_page", sa.String(length=2048), nullable=True),
        sa.Column("credit", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("new_customer", sa.Boolean(), nullable=False),
        sa.Column("seconds_to_convert", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id", "lead_id"],
            ["leads.site_id", "leads.id"],
            name=op.f("fk_attribution_credits_site_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "site_id",
            "model",
            "conversion",
            "conversion_id",
            "position",
            name=op.f("pk_attribution_credits"),
        ),
    )
    with op.batch_alter_table("attribution_credits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attribution_credits_site_lead", ["site_id", "lead_id"], unique=False
        )
        batch_op.create_index(
            "ix_attribution_credits_site_model_conversion_at",
            ["site_id", "model", "conversion", "converted_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("attribution_credits", schema=None) as batch_op:
        batch_op.drop_index("ix_attribution_credits_site_model_conversion_at")
        batch_op.drop_index("ix_attribution_credits_site_lead")

    op.drop_table("attribution_credits")
    op.drop_table("attribution_fits")
