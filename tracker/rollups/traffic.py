"""Building and refreshing ``traffic_rollups`` from ``sessions`` (the worker's job).

A local day is always rebuilt whole from its sessions: delete its rows, aggregate, insert.
That makes a refresh idempotent (the same day twice gives the same rows) and crash-safe (it
runs in the worker's batch transaction). The collector notes UTC days; a UTC day touches at
most two local days, and both are rebuilt.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from tracker.credits.journeys import landing_page
from tracker.db import bulk_insert
from tracker.localtime import local_midnight, zone
from tracker.models import RollupState, Site, TrafficRollup, VisitSession
from tracker.models.base import utcnow
from tracker.rollups.levels import LEVEL_INDEXES, level_columns, unique_visitors, visitor_hash
from tracker.rollups.sketches import encode_sketch
from tracker.sites.settings import site_settings

S = VisitSession
COLUMNS = (
    "site_id", "day", "level", "path", "channel", "source", "medium", "campaign", "keyword",
    "landing_page", "sessions", "visitors", "visitors_sketch",
)
WRITE_BATCH = 20_000
_SESSION_COLUMNS = (S.visitor_id, S.started_at, S.channel, S.source, S.medium, S.campaign,
                    S.term, S.landing_url)


def _table() -> Table:
    table = TrafficRollup.__table__
    assert isinstance(table, Table)
    return table


class _DayAggregate:
    """One local day's rows while its sessions stream in."""

    def __init__(self) -> None:
        self.sessions: dict[tuple[int, tuple[str, ...]], int] = defaultdict(int)
        self.visitors: dict[tuple[int, tuple[str, ...]], set[int]] = defaultdict(set)
        self.hashes: dict[str, int] = {}

    def add(self, visitor_id: str, dims: tuple[str, ...]) -> None:
        visitor = self.hashes.get(visitor_id)
        if visitor is None:
            visitor = self.hashes[visitor_id] = visitor_hash(visitor_id)
        for level, indexes in enumerate(LEVEL_INDEXES):
            key = (level, tuple(dims[i] for i in indexes))
            self.sessions[key] += 1
            self.visitors[key].add(visitor)

    def table_rows(self, site_id: int, day: dt.date) -> Iterator[tuple[Any, ...]]:
        for (level, values), sessions in self.sessions.items():
            hashes = unique_visitors(self.visitors[level, values])
            yield (site_id, day, level, *level_columns(level, values), sessions,
                   hashes.tobytes(), encode_sketch(hashes))


def _dims(row: Any) -> tuple[str, ...]:
    _visitor, _started, channel, source, medium, campaign, term, landing_url = row
    return (channel or "", source or "", medium or "", campaign or "", term or "",
            landing_page(landing_url) or "")


def _days_from_sessions(
    session: Session, site_id: int, timezone: str, start: dt.datetime, end: dt.datetime
) -> Iterator[tuple[dt.date, _DayAggregate]]:
    """Aggregates of each local day with sessions started in ``[start, end)``, in order."""
    tz = zone(timezone)
    current: tuple[dt.date, _DayAggregate] | None = None
    rows = session.execute(
        select(*_SESSION_COLUMNS)
        .where(S.site_id == site_id, S.started_at >= start, S.started_at < end)
        .order_by(S.started_at)
        .execution_options(yield_per=10_000)
    )
    for row in rows:
        day = row[1].astimezone(tz).date()
        if current is None or current[0] != day:
            if current is not None:
                yield current
            current = (day, _DayAggregate())
        current[1].add(row[0], _dims(row))
    if current is not None:
        yield current


def _write(session: Session, site_id: int, days: Iterable[tuple[dt.date, _DayAggregate]]
           ) -> int:
    """Insert the days' rows in batches. The sessions stream from a server-side cursor on the
    same connection, which cannot be read while a COPY is open, so rows are buffered."""
    written = 0
    buffered: list[tuple[Any, ...]] = []
    for day, aggregate in days:
        buffered.extend(aggregate.table_rows(site_id, day))
        if len(buffered) >= WRITE_BATCH:
            written += bulk_insert(session, _table(), COLUMNS, buffered)
            buffered = []
    return written + bulk_insert(session, _table(), COLUMNS, buffered)


def local_days_of(utc_days: Collection[dt.date], timezone: str) -> set[dt.date]:
    """The local days that hold some instant of ``utc_days``."""
    tz = zone(timezone)
    found = set()
    for day in utc_days:
        start = dt.datetime.combine(day, dt.time(), dt.UTC)
        found.add(start.astimezone(tz).date())
        found.add((start + dt.timedelta(days=1, microseconds=-1)).astimezone(tz).date())
    return found


def refresh_days(session: Session, site: Site, local_days: Collection[dt.date]) -> int:
    """Rebuild the rows of ``local_days`` from their sessions; rows written."""
    timezone = site_settings(site).timezone
    days = sorted(local_days)
    if not days:
        return 0
    session.execute(
        delete(TrafficRollup).where(TrafficRollup.site_id == site.id, TrafficRollup.day.in_(days))
    )
    written = 0
    for day in days:
        start = local_midnight(day, timezone)
        end = local_midnight(day + dt.timedelta(days=1), timezone)
        written += _write(session, site.id, _days_from_sessions(session, site.id, timezone,
                                                                start, end))
    return written


def rebuild_traffic(session: Session, site: Site) -> int:
    """Every row of the site from every session, in the site's current time zone."""
    timezone = site_settings(site).timezone
    session.execute(delete(TrafficRollup).where(TrafficRollup.site_id == site.id))
    everything = (dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 1, 1, tzinfo=dt.UTC))
    written = _write(session, site.id, _days_from_sessions(session, site.id, timezone,
                                                           *everything))
    state = session.get(RollupState, site.id)
    if state is None:
        state = RollupState(site_id=site.id)
        session.add(state)
    state.timezone = timezone
    state.built_at = utcnow()
    session.flush()
    return written


def refresh_traffic(session: Session, site: Site, utc_days: Collection[dt.date]) -> int:
    """What the worker does with noted traffic days. A site without rollups, or whose time
    zone changed since they were built, is rebuilt whole."""
    state = session.get(RollupState, site.id)
    if state is None or state.timezone != site_settings(site).timezone:
        return rebuild_traffic(session, site)
    return refresh_days(session, site, local_days_of(utc_days, state.timezone))


def _lacks_sketches(session: Session, site_id: int) -> bool:
    return session.scalar(
        select(TrafficRollup.day)
        .where(TrafficRollup.site_id == site_id, TrafficRollup.visitors_sketch.is_(None))
        .limit(1)
    ) is not None


def apply_settings(session: Session, site: Site) -> bool:
    """After a settings change: rebuild when the time zone changed, or when the site now
    counts visitors approximately and has rows built before sketches existed (revision 0018).
    True if rebuilt."""
    state = session.get(RollupState, site.id)
    if state is None:
        return False
    settings = site_settings(site)
    if state.timezone == settings.timezone and not (
            settings.unique_visitors == "approximate" and _lacks_sketches(session, site.id)):
        return False
    rebuild_traffic(session, site)
    return True
