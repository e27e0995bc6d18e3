"""add calls.status, calls.error, calls.attempts and calls.applied_at (the calls table becomes
the durable call inbox: a webhook's call is stored before it is acknowledged, then applied;
a failed apply stays, with its error, for a replay)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 22:00:00.000000

Calls stored before this revision were applied in the transaction that stored them, so they
are ``applied``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base

TIME = tracker.models.base.UTCDateTime(timezone=True)

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("status", sa.String(10), nullable=False,
                                   server_default="applied"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("error", sa.String(500), nullable=True))
        batch.add_column(sa.Column("applied_at", TIME, nullable=True))
    op.execute("UPDATE calls SET applied_at = received_at")


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("applied_at")
        batch.drop_column("error")
        batch.drop_column("attempts")
        batch.drop_column("status")
