"""create tracking tables

Revision ID: 0001
Revises:
Create Date: 2026-11-22 13:40:00.483720
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("write_key", sa.String(length=64), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("write_key", name=op.f("uq_sites_write_key")),
    )
    op.create_table(
        "api_keys",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", tracker.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", tracker.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_api_keys_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_api_keys")),
    )
    op.create_table(
        "bot_hits",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("family", sa.String(length=80), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_bot_hits_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "day", "family", name=op.f("pk_bot_hits")),
    )
    op.create_table(
        "visitors",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_visitors_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_visitors")),
    )
    op.create_table(
        "sessions",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("landing_url", sa.String(length=2048), nullable=True),
        sa.Column("referrer", sa.String(length=2048), nullable=True),
        sa.Column("referrer_host", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("medium", sa.String(length=200), nullable=True),
        sa.Column("campaign", sa.String(length=200), nullable=True),
        sa.Column("term", sa.String(length=200), nullable=True),
        sa.Column("content", sa.String(length=200), nullable=True),
        sa.Column("click_id_kind", sa.String(length=16), nullable=True),
        sa.Column("click_id", sa.String(length=512), nullable=True),
        sa.Column("click_seen_at", tracker.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("channel_rules_version", sa.String(length=40), nullable=False),
        sa.Column("device_type", sa.String(length=16), nullable=True),
        sa.Column("browser", sa.String(length=200), nullable=True),
        sa.Column("os", sa.String(length=200), nullable=True),
        sa.Column("ip_prefix", sa.String(length=64), nullable=True),
        sa.Column("screen_width", sa.SmallInteger(), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id", "visitor_id"],
            ["visitors.site_id", "visitors.id"],
            name=op.f("fk_sessions_site_id_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sessions_site_channel_started", ["site_id", "channel", "started_at"], unique=False
        )
        batch_op.create_index("ix_sessions_site_started", ["site_id", "started_at"], unique=False)
        batch_op.create_index(
            "ix_sessions_site_visitor_started",
            ["site_id", "visitor_id", "started_at"],
            unique=False,
        )

    op.create_table(
        "events",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("path", sa.String(length=2048), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("referrer", sa.String(length=2048), nullable=True),
        sa.Column("occurred_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", tracker.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("props", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id", "session_id"],
            ["sessions.site_id", "sessions.id"],
            name=op.f("fk_events_site_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_site_session", ["site_id", "session_id"], unique=False)
        batch_op.create_index(
            "ix_events_site_visitor_occurred",
            ["site_id", "visitor_id", "occurred_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_site_visitor_occurred")
        batch_op.drop_index("ix_events_site_session")

    op.drop_table("events")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_site_visitor_started")
        batch_op.drop_index("ix_sessions_site_started")
        batch_op.drop_index("ix_sessions_site_channel_started")

    op.drop_table("sessions")
    op.drop_table("visitors")
    op.drop_table("bot_hits")
    op.drop_table("api_keys")
    op.drop_table("sites")
