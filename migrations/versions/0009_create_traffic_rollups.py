"""create traffic rollups; distribute the schema on Citus

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 01:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base
from tracker import citus

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SITE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "traffic_rollups",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("path", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("medium", sa.String(length=200), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=False),
        sa.Column("keyword", sa.String(length=200), nullable=False),
        sa.Column("landing_page", sa.String(length=2048), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("visitors", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_traffic_rollups_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "day", "level", "path", name=op.f("pk_traffic_rollups")),
    )
    op.create_table(
        "rollup_state",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("built_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_rollup_state_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_rollup_state")),
    )
    # On Citus: the whole schema, these tables included, becomes reference and distributed
    # tables as tracker/citus.py declares (a no-op on plain PostgreSQL and SQLite).
    citus.distribute_schema(op.get_bind())


def downgrade() -> None:
    op.drop_table("rollup_state")
    op.drop_table("traffic_rollups")
