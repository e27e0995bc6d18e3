"""create segment users: the visitors each Segment userId was seen with

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-04 11:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base
from tracker import citus

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SITE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "segment_users",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column(
            "first_seen_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_segment_users_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "user_id", "visitor_id", name=op.f("pk_segment_users")),
    )
    with op.batch_alter_table("segment_users", schema=None) as batch_op:
        batch_op.create_index(
            "ix_segment_users_site_visitor", ["site_id", "visitor_id"], unique=False
        )
    # On Citus: distributed on site_id like every site table (a no-op elsewhere).
    citus.distribute_schema(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("segment_users", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_users_site_visitor")
    op.drop_table("segment_users")
