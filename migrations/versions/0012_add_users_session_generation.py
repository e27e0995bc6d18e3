"""add users.session_generation

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 08:40:00.000000

A dashboard session cookie carries the generation of its user at sign-in; signing out or
changing the password increments it, so every earlier cookie stops working on the server
side (a signed cookie cannot be recalled otherwise). Existing users start at 0; cookies
issued before this revision carry no generation and are refused, so everyone signs in once
more after the upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
