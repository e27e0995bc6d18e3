"""add credit_rollup_times: time pairs a worker batch appends to a credit rollup row, as a
chunk of their own instead of a rewrite of the row's (growing) pairs

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 20:40:00.000000

Existing rows keep their pairs; chunks start with the next batch. A downgrade folds every
chunk back into its row first, so no pair is lost either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

from tracker import citus

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SITE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEY = ("site_id", "day", "model", "level", "path")
# (conversion hash, seconds) pairs, as tracker/rollups/levels.py stores them.
TIMES = np.dtype([("conversion", "<i8"), ("seconds", "<f8")])


def upgrade() -> None:
    op.create_table(
        "credit_rollup_times",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("path", sa.BigInteger(), nullable=False),
        sa.Column("chunk", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("lead_times", sa.LargeBinary(), nullable=False),
        sa.Column("won_times", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            list(KEY), [f"credit_rollups.{name}" for name in KEY],
            name=op.f("fk_credit_rollup_times_site_id_credit_rollups"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(*KEY, "chunk", name=op.f("pk_credit_rollup_times")),
    )
    citus.distribute_schema(op.get_bind())


def _folded(base: bytes, chunks: list[bytes]) -> bytes:
    """A row's pairs with its chunks' (a conversion once, at its largest seconds), sorted."""
    pairs = np.frombuffer(b"".join([base, *chunks]), dtype=TIMES)
    if not len(pairs):
        return b""
    order = np.lexsort((-pairs["seconds"], pairs["conversion"]))
    pairs = pairs[order]
    first = np.ones(len(pairs), dtype=bool)
    first[1:] = pairs["conversion"][1:] != pairs["conversion"][:-1]
    return pairs[first].tobytes()


def downgrade() -> None:
    connection = op.get_bind()
    chunks = sa.table("credit_rollup_times", *(sa.column(name) for name in (
        *KEY, "lead_times", "won_times")))
    rows = sa.table("credit_rollups", *(sa.column(name) for name in (
        *KEY, "lead_times", "won_times")))
    found: dict[tuple[object, ...], tuple[list[bytes], list[bytes]]] = {}
    for row in connection.execute(sa.select(chunks)):
        lead, won = found.setdefault(tuple(row[:5]), ([], []))
        lead.append(row.lead_times)
        won.append(row.won_times)
    for key, (lead, won) in found.items():
        where = sa.and_(*(rows.c[name] == value for name, value in zip(KEY, key, strict=True)))
        base = connection.execute(
            sa.select(rows.c.lead_times, rows.c.won_times).where(where)).one()
        connection.execute(sa.update(rows).where(where).values(
            lead_times=_folded(bytes(base.lead_times), lead),
            won_times=_folded(bytes(base.won_times), won)))
    op.drop_table("credit_rollup_times")
