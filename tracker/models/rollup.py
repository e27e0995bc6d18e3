"""Pre-aggregated traffic for reports, kept by the worker (tracker/rollups/).

One row per site, local day (the site's time zone), level and dimension values at that level:
the sessions started that day and the set of visitors who started them, as sorted 64-bit
hashes of their ids, so unique visitors over any range of days are counted exactly (a union
of sets, up to hash collisions: about 3 in a million at ten million visitors), and how long
since each of them last came, so that a path's unique visitors over a range are a sum over its
rows instead. Levels are the dashboard's drill-down (channel → source → campaign → keyword)
plus medium and landing page.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, timestamp


class _LevelValues:
    """A rollup row's dimension values at its level, '' where missing or not in the level."""

    channel: Mapped[str] = mapped_column(String(40), nullable=False)
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    medium: Mapped[str] = mapped_column(String(200), nullable=False)
    campaign: Mapped[str] = mapped_column(String(200), nullable=False)
    keyword: Mapped[str] = mapped_column(String(200), nullable=False)
    landing_page: Mapped[str] = mapped_column(String(2048), nullable=False)


class TrafficRollup(_LevelValues, Base):
    __tablename__ = "traffic_rollups"
    # A report reads one level over a range of days: without this the key's (site, day)
    # prefix reads every level of those days to keep one.
    __table_args__ = (Index("ix_traffic_rollups_site_level_day", "site_id", "level", "day"),)

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date(), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger(), primary_key=True)
    # A hash of the level's dimension values (text keys of up to 6 URLs' length do not fit
    # an index entry); the values themselves are the _LevelValues columns.
    path: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    sessions: Mapped[int] = mapped_column(Integer(), nullable=False)
    visitors: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)
    # The same visitors as a HyperLogLog sketch (tracker/rollups/sketches.py), read instead of
    # ``visitors`` by sites counting approximately; None on rows built before revision 0018.
    visitors_sketch: Mapped[bytes | None] = mapped_column(LargeBinary(), nullable=True)
    # For each visitor of the row, the days since their previous visit on the same path
    # (tracker/rollups/levels.py, "gaps"): unique visitors of a path over [a, b] are the
    # row visitors whose previous visit was before a, a sum over the range's rows.
    visitor_gaps: Mapped[bytes | None] = mapped_column(LargeBinary(), nullable=True)
    # Level 0 (channel) rows only: the same over the whole site, each visitor of a day
    # counted on one of its channel rows, so a site's unique visitors are a sum too.
    site_gaps: Mapped[bytes | None] = mapped_column(LargeBinary(), nullable=True)
    # Rows of levels of several dimensions only: the same by the value of the level's last
    # dimension alone (a campaign under any channel and source), each visitor of a day
    # counted on one row of that value, for reports grouped by it. All three are None on
    # rows built before revision 0020.
    tail_gaps: Mapped[bytes | None] = mapped_column(LargeBinary(), nullable=True)


class RollupState(Base):
    """Which sites have rollups, built in which time zone (a changed zone rebuilds them)."""

    __tablename__ = "rollup_state"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    built_at: Mapped[timestamp]
    # The zone the credit rollups were built in; null until they are built.
    credits_timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CreditRollup(_LevelValues, Base):
    """Attributed figures per site, local day, model, level and dimension values (the traffic
    levels): credit sums of the conversions dated that day (leads by creation, split by the
    furthest funnel stage reached; opportunities and pipeline by opening, customers and revenue
    by closing), the credit of deals closed won
    or lost that day (win rate), and the conversions behind the time-to-convert figures, as
    sorted (conversion hash, seconds) pairs so a range of days and rows merges without
    counting a conversion twice."""

    __tablename__ = "credit_rollups"
    # A report reads one model's level over a range of days (see traffic_rollups).
    __table_args__ = (
        Index("ix_credit_rollups_site_model_level_day", "site_id", "model", "level", "day"),
    )

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date(), primary_key=True)
    model: Mapped[str] = mapped_column(String(40), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger(), primary_key=True)
    path: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    leads: Mapped[float] = mapped_column(Float(), nullable=False)
    mqls: Mapped[float] = mapped_column(Float(), nullable=False)
    sqls: Mapped[float] = mapped_column(Float(), nullable=False)
    # Lead credit of the leads that have reached the opportunity and customer stages by now.
    opportunity_leads: Mapped[float] = mapped_column(Float(), nullable=False)
    customer_leads: Mapped[float] = mapped_column(Float(), nullable=False)
    opportunities: Mapped[float] = mapped_column(Float(), nullable=False)
    pipeline: Mapped[float] = mapped_column(Float(), nullable=False)
    customers: Mapped[float] = mapped_column(Float(), nullable=False)
    revenue: Mapped[float] = mapped_column(Float(), nullable=False)
    won: Mapped[float] = mapped_column(Float(), nullable=False)
    lost: Mapped[float] = mapped_column(Float(), nullable=False)
    # Credit rows of the conversions dated that day, of lead conversions among them: a group
    # with a touch but no credit (first touch's later touches) is still listed.
    touches: Mapped[int] = mapped_column(Integer(), nullable=False)
    lead_touches: Mapped[int] = mapped_column(Integer(), nullable=False)
    # Closed-deal credit rows behind ``won`` and ``lost``: a row is kept while any count is set.
    closed_touches: Mapped[int] = mapped_column(Integer(), nullable=False, server_default="0")
    lead_times: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)
    won_times: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)


class CreditRollupTimes(Base):
    """Time pairs appended to a credit rollup row after it was built: each worker batch that
    adds conversions to a row writes them here as a chunk of their own instead of rewriting
    the row's ``lead_times`` and ``won_times`` with them. A busy day's rows hold thousands of
    pairs (today's "direct" row, 6,000 leads into the day, 96 kB per model and level), which
    every batch rewrote whole: the cost of a new lead grew with the leads already in its day.
    A row's pairs are its own plus its chunks'; the worker folds a row's chunks into it once
    it has :data:`tracker.rollups.credits.CHUNKS_PER_ROW` of them, and whatever rewrites or
    deletes the row takes them along (ON DELETE CASCADE)."""

    __tablename__ = "credit_rollup_times"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "day", "model", "level", "path"],
            ["credit_rollups.site_id", "credit_rollups.day", "credit_rollups.model",
             "credit_rollups.level", "credit_rollups.path"],
            ondelete="CASCADE",
        ),
    )

    site_id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date(), primary_key=True)
    model: Mapped[str] = mapped_column(String(40), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger(), primary_key=True)
    path: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    # Which batch appended it (unique per row; the order means nothing).
    chunk: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    lead_times: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)
    won_times: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)
