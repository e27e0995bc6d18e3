"""create credit rollups

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 08:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tracker import citus

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SITE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MEASURES = ("leads", "mqls", "sqls", "opportunity_leads", "customer_leads", "opportunities",
            "pipeline", "customers", "revenue", "won", "lost")


def upgrade() -> None:
    op.create_table(
        "credit_rollups",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("path", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("medium", sa.String(length=200), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=False),
        sa.Column("keyword", sa.String(length=200), nullable=False),
        sa.Column("landing_page", sa.String(length=2048), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=False) for name in MEASURES),
        sa.Column("touches", sa.Integer(), nullable=False),
        sa.Column("lead_touches", sa.Integer(), nullable=False),
        sa.Column("lead_times", sa.LargeBinary(), nullable=False),
        sa.Column("won_times", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_credit_rollups_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "site_id", "day", "model", "level", "path", name=op.f("pk_credit_rollups")
        ),
    )
    with op.batch_alter_table("rollup_state") as batch:
        batch.add_column(sa.Column("credits_timezone", sa.String(length=64), nullable=True))
    citus.distribute_schema(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("rollup_state") as batch:
        batch.drop_column("credits_timezone")
    op.drop_table("credit_rollups")
