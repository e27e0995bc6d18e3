"""create destinations (ad platforms a site pushes conversions to) and conversion_outbox;
leads keep the ad platforms' browser ids (ad_ids: GA4 client id, Meta fbp/fbc)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 16:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base
from tracker import citus

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SITE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = tracker.models.base.UTCDateTime(timezone=True)


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["site_id"], ["sites.id"], name=op.f(f"fk_{table}_site_id_sites"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "destinations",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("credentials", sa.JSON(), nullable=False),
        sa.Column("ad_account_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_delivery_at", TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _site_fk("destinations"),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_destinations")),
        sa.UniqueConstraint("site_id", "name", name=op.f("uq_destinations_site_id")),
    )
    op.create_table(
        "conversion_outbox",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("destination_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("milestone", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("order_id", sa.String(length=80), nullable=True),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("value", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        _site_fk("conversion_outbox"),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_conversion_outbox")),
        sa.UniqueConstraint("site_id", "destination_id", "idempotency_key",
                            name=op.f("uq_conversion_outbox_site_id")),
    )
    with op.batch_alter_table("conversion_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_conversion_outbox_site_status",
                              ["site_id", "status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_conversion_outbox_site_deal", ["site_id", "deal_id"],
                              unique=False)
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ad_ids", sa.JSON(), nullable=False, server_default="{}"))
    # On Citus: distributed on site_id like every site table (a no-op elsewhere).
    citus.distribute_schema(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("ad_ids")
    with op.batch_alter_table("conversion_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_conversion_outbox_site_deal")
        batch_op.drop_index("ix_conversion_outbox_site_status")
    op.drop_table("conversion_outbox")
    op.drop_table("destinations")
