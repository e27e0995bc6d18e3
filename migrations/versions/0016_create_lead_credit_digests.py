"""create lead_credit_digests (a digest of each lead's stored credit rows, so the worker
skips leads whose recomputed credit did not move without reading their rows back)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 16:00:00.000000

Starts empty: a lead without a digest has its rows read and compared once, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tracker import citus

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SITE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lead_credit_digests",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id", "lead_id"],
            ["leads.site_id", "leads.id"],
            name=op.f("fk_lead_credit_digests_site_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "lead_id", name=op.f("pk_lead_credit_digests")),
    )
    # On Citus: distributed on site_id like every site table (a no-op elsewhere).
    citus.distribute_new(op.get_bind(), "lead_credit_digests")


def downgrade() -> None:
    op.drop_table("lead_credit_digests")
