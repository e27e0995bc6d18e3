"""add traffic_rollups.visitor_gaps, site_gaps and tail_gaps (how long since each visitor's
previous visit, so unique visitors over a range of days are a sum over rows, not a union of
sets)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 08:40:00.000000

Rows built before this revision have neither: reports over a range holding such a row merge
the rows' visitor sets as before, until ``leadtrail rollups rebuild`` (or the worker's next
refresh of those days) fills them in.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("traffic_rollups") as batch:
        batch.add_column(sa.Column("visitor_gaps", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("site_gaps", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("tail_gaps", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("traffic_rollups") as batch:
        batch.drop_column("tail_gaps")
        batch.drop_column("site_gaps")
        batch.drop_column("visitor_gaps")
