"""create segment users (the visitors each Segment userId was seen with) and the call
tracking tables (settings, pools, numbers, assignments, calls)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 11:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base
from tracker import citus

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SITE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = tracker.models.base.UTCDateTime(timezone=True)


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["site_id"], ["sites.id"], name=op.f(f"fk_{table}_site_id_sites"), ondelete="CASCADE"
    )


def _create_call_tables() -> None:
    op.create_table(
        "call_settings",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("default_number", sa.String(length=16), nullable=True),
        sa.Column("default_display", sa.String(length=40), nullable=True),
        sa.Column("min_duration_s", sa.Integer(), nullable=False),
        sa.Column("twilio_auth_tokens", sa.JSON(), nullable=False),
        sa.Column("callrail_signing_keys", sa.JSON(), nullable=False),
        sa.Column("generic_secrets", sa.JSON(), nullable=False),
        _site_fk("call_settings"),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_call_settings")),
    )
    op.create_table(
        "call_pools",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("campaign", sa.String(length=255), nullable=True),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("hold_minutes", sa.Float(), nullable=False),
        _site_fk("call_pools"),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_call_pools")),
    )
    op.create_table(
        "call_numbers",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("pool_id", sa.String(length=40), nullable=False),
        sa.Column("display", sa.String(length=40), nullable=False),
        sa.Column("held_key", sa.String(length=300), nullable=True),
        sa.Column("held_until", TIME, nullable=True),
        _site_fk("call_numbers"),
        sa.PrimaryKeyConstraint("site_id", "number", name=op.f("pk_call_numbers")),
    )
    with op.batch_alter_table("call_numbers", schema=None) as batch_op:
        batch_op.create_index("ix_call_numbers_site_pool", ["site_id", "pool_id"], unique=False)
    op.create_table(
        "call_assignments",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pool_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_at", TIME, nullable=False),
        sa.Column("held_until", TIME, nullable=False),
        _site_fk("call_assignments"),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_call_assignments")),
    )
    with op.batch_alter_table("call_assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_call_assignments_site_number", ["site_id", "number", "assigned_at"], unique=False
        )
    op.create_table(
        "calls",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("called", sa.String(length=16), nullable=False),
        sa.Column("caller", sa.String(length=16), nullable=True),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("assignment_id", sa.Uuid(), nullable=True),
        sa.Column("visitor_id", sa.String(length=64), nullable=True),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("medium", sa.String(length=255), nullable=True),
        sa.Column("campaign", sa.String(length=255), nullable=True),
        sa.Column("term", sa.String(length=255), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        _site_fk("calls"),
        sa.PrimaryKeyConstraint("site_id", "provider", "call_id", name=op.f("pk_calls")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_site_started", ["site_id", "started_at"], unique=False)


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
    _create_call_tables()
    # On Citus: distributed on site_id like every site table (a no-op elsewhere).
    citus.distribute_schema(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_site_started")
    op.drop_table("calls")
    with op.batch_alter_table("call_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_call_assignments_site_number")
    op.drop_table("call_assignments")
    with op.batch_alter_table("call_numbers", schema=None) as batch_op:
        batch_op.drop_index("ix_call_numbers_site_pool")
    op.drop_table("call_numbers")
    op.drop_table("call_pools")
    op.drop_table("call_settings")
    with op.batch_alter_table("segment_users", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_users_site_visitor")
    op.drop_table("segment_users")
