"""Pre-aggregated traffic for reports, kept by the worker (tracker/rollups/).

One row per site, local day (the site's time zone), level and dimension values at that level:
the sessions started that day and the set of visitors who started them, as sorted 64-bit
hashes of their ids, so unique visitors over any range of days are counted exactly (a union
of sets, up to hash collisions: about 3 in a million at ten million visitors). Levels are the
dashboard's drill-down (channel → source → campaign → keyword) plus medium and landing page.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, timestamp


class TrafficRollup(Base):
    __tablename__ = "traffic_rollups"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date(), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger(), primary_key=True)
    # A hash of the level's dimension values (text keys of up to 6 URLs' length do not fit
    # an index entry); the values themselves are the columns below, '' where missing.
    path: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    channel: Mapped[str] = mapped_column(String(40), nullable=False)
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    medium: Mapped[str] = mapped_column(String(200), nullable=False)
    campaign: Mapped[str] = mapped_column(String(200), nullable=False)
    keyword: Mapped[str] = mapped_column(String(200), nullable=False)
    landing_page: Mapped[str] = mapped_column(String(2048), nullable=False)
    sessions: Mapped[int] = mapped_column(Integer(), nullable=False)
    visitors: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)


class RollupState(Base):
    """Which sites have rollups, built in which time zone (a changed zone rebuilds them)."""

    __tablename__ = "rollup_state"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    built_at: Mapped[timestamp]
