"""create ad_accounts; costs get origin, impressions and clicks

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 11:40:00.000000

Ad accounts are connected per site and pulled daily into ``costs``. A pulled row carries its
account as ``origin`` (imports keep '') and is part of the unique key, so an account's pull
replaces its own days and never an imported row of the same grouping. Impressions and clicks
are NULL where the source did not report them (every existing row).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base
from tracker import citus

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ["day", "channel", "source", "medium", "campaign", "keyword"]


def upgrade() -> None:
    op.create_table(
        "ad_accounts",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("credentials", sa.JSON(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("start_day", sa.Date(), nullable=False),
        sa.Column("synced_through", sa.Date(), nullable=True),
        sa.Column("next_pull_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pull_started_at", tracker.models.base.UTCDateTime(timezone=True),
                  nullable=True),
        sa.Column("last_success_at", tracker.models.base.UTCDateTime(timezone=True),
                  nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_rows", sa.Integer(), nullable=False),
        sa.Column("created_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_ad_accounts_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_ad_accounts")),
        sa.UniqueConstraint(
            "site_id", "platform", "account_id", name=op.f("uq_ad_accounts_site_id")
        ),
    )
    with op.batch_alter_table("ad_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_ad_accounts_next_pull_at", ["next_pull_at"], unique=False)
    with op.batch_alter_table("costs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=80), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column(
            "impressions", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
        batch_op.add_column(sa.Column(
            "clicks", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
        batch_op.drop_constraint("uq_costs_site_id", type_="unique")
        batch_op.create_unique_constraint("uq_costs_site_id", ["site_id", "origin", *_KEY])
    citus.distribute_schema(op.get_bind())


def downgrade() -> None:
    # Pulled spend has no place in the old key (it would collide with imports): it goes.
    op.execute("DELETE FROM costs WHERE origin <> ''")
    with op.batch_alter_table("costs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_costs_site_id", type_="unique")
        batch_op.create_unique_constraint("uq_costs_site_id", ["site_id", *_KEY])
        batch_op.drop_column("clicks")
        batch_op.drop_column("impressions")
        batch_op.drop_column("origin")
    with op.batch_alter_table("ad_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_ad_accounts_next_pull_at")
    op.drop_table("ad_accounts")
