"""create crm contacts; deals remember the lead they were converted from

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 08:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base
from tracker import citus

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SITE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "crm_contacts",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("reported_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("report_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_crm_contacts_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "site_id", "provider", "external_id", name=op.f("pk_crm_contacts")
        ),
    )
    with op.batch_alter_table("crm_contacts", schema=None) as batch_op:
        batch_op.create_index("ix_crm_contacts_site_email", ["site_id", "email"], unique=False)
        batch_op.create_index("ix_crm_contacts_site_lead", ["site_id", "lead_id"], unique=False)
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("converted_from_id", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_deals_site_contact", ["site_id", "provider", "external_contact_id"], unique=False
        )
        batch_op.create_index(
            "ix_deals_site_converted_from", ["site_id", "provider", "converted_from_id"],
            unique=False,
        )
    # On Citus: crm_contacts is distributed on site_id like every site table (a no-op on
    # plain PostgreSQL and SQLite).
    citus.distribute_schema(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_index("ix_deals_site_converted_from")
        batch_op.drop_index("ix_deals_site_contact")
        batch_op.drop_column("converted_from_id")
    with op.batch_alter_table("crm_contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_contacts_site_lead")
        batch_op.drop_index("ix_crm_contacts_site_email")
    op.drop_table("crm_contacts")
