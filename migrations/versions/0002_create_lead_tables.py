"""create lead tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 13:53:06.294609
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=True),
        sa.Column("created_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column(
            "stage_changed_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("first_session_id", sa.Uuid(), nullable=True),
        sa.Column("creation_session_id", sa.Uuid(), nullable=True),
        sa.Column("source_of_creation", sa.String(length=20), nullable=False),
        sa.Column("crm_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_leads_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_leads")),
        sa.UniqueConstraint("site_id", "email", name=op.f("uq_leads_site_id")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_site_created", ["site_id", "created_at"], unique=False)
        batch_op.create_index("ix_leads_site_stage", ["site_id", "stage"], unique=False)

    op.create_table(
        "lead_score_changes",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("rule", sa.String(length=80), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("score_after", sa.Integer(), nullable=False),
        sa.Column("scored_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id", "lead_id"],
            ["leads.site_id", "leads.id"],
            name=op.f("fk_lead_score_changes_site_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_lead_score_changes")),
    )
    with op.batch_alter_table("lead_score_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lead_score_changes_site_lead", ["site_id", "lead_id", "scored_at"], unique=False
        )

    op.create_table(
        "lead_stage_changes",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("from_stage", sa.String(length=20), nullable=True),
        sa.Column("to_stage", sa.String(length=20), nullable=False),
        sa.Column("changed_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id", "lead_id"],
            ["leads.site_id", "leads.id"],
            name=op.f("fk_lead_stage_changes_site_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_lead_stage_changes")),
    )
    with op.batch_alter_table("lead_stage_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lead_stage_changes_site_lead", ["site_id", "lead_id", "changed_at"], unique=False
        )
        batch_op.create_index(
            "ix_lead_stage_changes_site_to_changed",
            ["site_id", "to_stage", "changed_at"],
            unique=False,
        )

    op.create_table(
        "lead_visitors",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("valid_from", tracker.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_to", tracker.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("linked_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id", "lead_id"],
            ["leads.site_id", "leads.id"],
            name=op.f("fk_lead_visitors_site_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id", "visitor_id"],
            ["visitors.site_id", "visitors.id"],
            name=op.f("fk_lead_visitors_site_id_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_lead_visitors")),
    )
    with op.batch_alter_table("lead_visitors", schema=None) as batch_op:
        batch_op.create_index("ix_lead_visitors_site_lead", ["site_id", "lead_id"], unique=False)
        batch_op.create_index(
            "ix_lead_visitors_site_visitor", ["site_id", "visitor_id"], unique=False
        )

    op.create_table(
        "offline_touches",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("medium", sa.String(length=200), nullable=True),
        sa.Column("campaign", sa.String(length=200), nullable=True),
        sa.Column("term", sa.String(length=200), nullable=True),
        sa.Column("content", sa.String(length=200), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("created_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id", "lead_id"],
            ["leads.site_id", "leads.id"],
            name=op.f("fk_offline_touches_site_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_offline_touches")),
    )
    with op.batch_alter_table("offline_touches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_offline_touches_site_lead", ["site_id", "lead_id", "occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("offline_touches", schema=None) as batch_op:
        batch_op.drop_index("ix_offline_touches_site_lead")

    op.drop_table("offline_touches")
    with op.batch_alter_table("lead_visitors", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_visitors_site_visitor")
        batch_op.drop_index("ix_lead_visitors_site_lead")

    op.drop_table("lead_visitors")
    with op.batch_alter_table("lead_stage_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_stage_changes_site_to_changed")
        batch_op.drop_index("ix_lead_stage_changes_site_lead")

    op.drop_table("lead_stage_changes")
    with op.batch_alter_table("lead_score_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_score_changes_site_lead")

    op.drop_table("lead_score_changes")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_site_stage")
        batch_op.drop_index("ix_leads_site_created")

    op.drop_table("leads")
