"""credits carry what their rollups need; credit rollups count closed-deal rows; rollup read indexes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 11:30:00.000000

The worker maintains ``credit_rollups`` by subtracting a lead's old credit rows and adding its
new ones. For that a rollup row must be a pure sum over credit rows, so each credit row keeps
what the rollups used to join in: the furthest funnel stage of the lead (lead conversions)
and the status and closing of the deal (opportunity conversions). ``closed_touches`` counts
the closed-deal rows behind a rollup row's win-rate credit, so a row holding only those is
removed exactly when its last one goes.

Existing credits are filled in from ``lead_stage_changes`` and ``deals``. The credit rollups get
no ``closed_touches`` here: ``rollup_state.credits_timezone`` is cleared, so the worker (or
``leadtrail rollups rebuild``) rebuilds them, and reports read the stored credits until then.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# tracker.stages.FUNNEL as of this revision (a migration must not follow later edits).
FUNNEL = ("lead", "mql", "sql", "opportunity", "customer")
CLOSED_INDEX = "ix_attribution_credits_site_deal_closed_at"
# A report reads one level (and model) over a range of days; the keys' (site, day) prefix
# made it read every level of those days.
READ_INDEXES = (
    ("ix_traffic_rollups_site_level_day", "traffic_rollups", ["site_id", "level", "day"]),
    ("ix_credit_rollups_site_model_level_day", "credit_rollups",
     ["site_id", "model", "level", "day"]),
)


def upgrade() -> None:
    with op.batch_alter_table("attribution_credits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_rank", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("deal_status", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column(
            "deal_closed_at", tracker.models.base.UTCDateTime(timezone=True), nullable=True))
    op.create_index(
        CLOSED_INDEX, "attribution_credits", ["site_id", "deal_closed_at"],
        postgresql_where=sa.text("deal_closed_at IS NOT NULL"),
        sqlite_where=sa.text("deal_closed_at IS NOT NULL"),
    )
    with op.batch_alter_table("credit_rollups", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("closed_touches", sa.Integer(), nullable=False, server_default="0"))
    for name, table, columns in READ_INDEXES:
        op.create_index(name, table, columns)
    rank = " ".join(f"WHEN '{stage}' THEN {i}" for i, stage in enumerate(FUNNEL))
    op.execute(
        "UPDATE attribution_credits SET stage_rank = COALESCE(("
        f"SELECT MAX(CASE s.to_stage {rank} ELSE 0 END) FROM lead_stage_changes s "
        "WHERE s.site_id = attribution_credits.site_id "
        "AND s.lead_id = attribution_credits.lead_id), 0) "
        "WHERE conversion = 'lead'"
    )
    op.execute(
        "UPDATE attribution_credits SET "
        "deal_status = (SELECT d.status FROM deals d WHERE d.site_id = attribution_credits.site_id "
        "AND d.id = attribution_credits.conversion_id), "
        "deal_closed_at = (SELECT d.closed_at FROM deals d "
        "WHERE d.site_id = attribution_credits.site_id "
        "AND d.id = attribution_credits.conversion_id) "
        "WHERE conversion = 'opportunity'"
    )
    op.execute("UPDATE rollup_state SET credits_timezone = NULL")


def downgrade() -> None:
    for name, table, _columns in READ_INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("credit_rollups", schema=None) as batch_op:
        batch_op.drop_column("closed_touches")
    op.drop_index(CLOSED_INDEX, table_name="attribution_credits")
    with op.batch_alter_table("attribution_credits", schema=None) as batch_op:
        batch_op.drop_column("deal_closed_at")
        batch_op.drop_column("deal_status")
        batch_op.drop_column("stage_rank")
    op.execute("UPDATE rollup_state SET credits_timezone = NULL")
