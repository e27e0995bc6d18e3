"""add traffic_rollups.visitors_sketch (a HyperLogLog sketch of the row's visitors, for sites
counting unique visitors approximately)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 19:40:00.000000

Rows built before this revision have no sketch: a site switched to approximate counting gets
its traffic rollups rebuilt by the worker, and until then its reports count exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("traffic_rollups") as batch:
        batch.add_column(sa.Column("visitors_sketch", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("traffic_rollups") as batch:
        batch.drop_column("visitors_sketch")
