"""Building and refreshing ``traffic_rollups`` from ``sessions`` (the worker's job).

A local day is always rebuilt whole from its sessions: delete its rows, aggregate, insert.
That makes a refresh idempotent (the same day twice gives the same rows) and crash-safe (it
runs in the worker's batch transaction). The collector notes UTC days; a UTC day touches at
most two local days, and both are rebuilt.

A row's gaps (days since each visitor's previous visit on its path, and on the site: see
tracker/rollups/levels.py) come from the earlier sessions of the day's visitors. A day whose
visitors changed on some path moves the gaps of each such visitor's next visit to that path
(to the site, to that value of the level's last dimension), so :func:`refresh_days` rebuilds
those later days too (docs/reports.md).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, select, tuple_
from sqlalchemy.orm import Session

from tracker.credits.journeys import landing_page
from tracker.db import bulk_insert
from tracker.localtime import local_midnight, zone
from tracker.models import RollupState, Site, TrafficRollup, VisitSession
from tracker.models.base import utcnow
from tracker.rollups.levels import (
    LEVEL_INDEXES,
    LEVELS,
    NEVER,
    TAIL_LEVELS,
    decode_visitors,
    encode_gaps,
    level_columns,
    unique_visitors,
    visitor_hash,
)
from tracker.rollups.sketches import encode_sketch
from tracker.sites.settings import site_settings

S = VisitSession
COLUMNS = (
    "site_id", "day", "level", "path", "channel", "source", "medium", "campaign", "keyword",
    "landing_page", "sessions", "visitors", "visitors_sketch", "visitor_gaps", "site_gaps",
    "tail_gaps",
)
WRITE_BATCH = 20_000
# Visitors whose earlier sessions one statement reads (bounded statement size).
VISITOR_CHUNK = 2_000
_SESSION_COLUMNS = (S.visitor_id, S.started_at, S.channel, S.source, S.medium, S.campaign,
                    S.term, S.landing_url)
PathKey = tuple[int, tuple[str, ...]]  # (level, the level's dimension values)


def _table() -> Table:
    table = TrafficRollup.__table__
    assert isinstance(table, Table)
    return table


@dataclass
class _Previous:
    """The latest local day before some day on which each visitor had a session, on each
    path, with each value of a tail level's last dimension, and on the site at all."""

    paths: dict[tuple[str, PathKey], dt.date] = field(default_factory=dict)
    tails: dict[tuple[str, int, str], dt.date] = field(default_factory=dict)
    site: dict[str, dt.date] = field(default_factory=dict)

    def add(self, visitor_id: str, day: dt.date, dims: tuple[str, ...]) -> None:
        _keep_latest(self.site, visitor_id, day)
        for level, indexes in enumerate(LEVEL_INDEXES):
            values = tuple(dims[i] for i in indexes)
            _keep_latest(self.paths, (visitor_id, (level, values)), day)
            if level in TAIL_LEVELS:
                _keep_latest(self.tails, (visitor_id, level, values[-1]), day)


def _keep_latest(days: dict[Any, dt.date], key: Any, day: dt.date) -> None:
    if days.get(key, dt.date.min) < day:
        days[key] = day


def _gap(day: dt.date, previous: dt.date | None) -> int:
    return NEVER if previous is None else (day - previous).days


class _DayAggregate:
    """One local day's rows while its sessions stream in."""

    def __init__(self) -> None:
        self.sessions: dict[PathKey, int] = defaultdict(int)
        self.members: dict[PathKey, set[str]] = defaultdict(set)
        # The row on which each visitor's site gap (a channel row) and tail gaps (a row of
        # each tail level with the visitor's value of its last dimension) are counted: one
        # each, the smallest values, so a union of rows counts each visitor-day once.
        self.home: dict[str, str] = {}
        self.tail_home: dict[tuple[str, int, str], tuple[str, ...]] = {}

    def add(self, visitor_id: str, dims: tuple[str, ...]) -> None:
        for level, indexes in enumerate(LEVEL_INDEXES):
            values = tuple(dims[i] for i in indexes)
            key = (level, values)
            self.sessions[key] += 1
            self.members[key].add(visitor_id)
            if level in TAIL_LEVELS:
                tail = (visitor_id, level, values[-1])
                found_values = self.tail_home.get(tail)
                if found_values is None or values < found_values:
                    self.tail_home[tail] = values
        found = self.home.get(visitor_id)
        if found is None or dims[0] < found:
            self.home[visitor_id] = dims[0]

    def table_rows(self, site_id: int, day: dt.date, previous: _Previous
                   ) -> Iterator[tuple[Any, ...]]:
        hashes = {visitor: visitor_hash(visitor) for visitor in self.home}
        homes: dict[PathKey, list[str]] = defaultdict(list)
        for visitor, channel in self.home.items():
            homes[0, (channel,)].append(visitor)
        tail_homes: dict[PathKey, list[str]] = defaultdict(list)
        for (visitor, level, _tail), values in self.tail_home.items():
            tail_homes[level, values].append(visitor)
        for key, sessions in self.sessions.items():
            level, values = key
            members = self.members[key]
            found = unique_visitors(hashes[visitor] for visitor in members)
            gaps = encode_gaps(_gap(day, previous.paths.get((visitor, key)))
                               for visitor in members)
            site_gaps = encode_gaps(_gap(day, previous.site.get(visitor))
                                    for visitor in homes.get(key, ())) if level == 0 else None
            tail_gaps = encode_gaps(
                _gap(day, previous.tails.get((visitor, level, values[-1])))
                for visitor in tail_homes.get(key, ())) if level in TAIL_LEVELS else None
            yield (site_id, day, level, *level_columns(level, values), sessions,
                   found.tobytes(), encode_sketch(found), gaps, site_gaps, tail_gaps)


def _dims(row: Any) -> tuple[str, ...]:
    _visitor, _started, channel, source, medium, campaign, term, landing_url = row
    return (channel or "", source or "", medium or "", campaign or "", term or "",
            landing_page(landing_url) or "")


def _previous_visits(session: Session, site_id: int, timezone: str,
                     visitors: Collection[str], before: dt.datetime) -> _Previous:
    """Where and when ``visitors`` last had a session started before ``before``."""
    tz = zone(timezone)
    previous = _Previous()
    ordered = sorted(visitors)
    for i in range(0, len(ordered), VISITOR_CHUNK):
        for row in session.execute(
            select(*_SESSION_COLUMNS)
            .where(S.site_id == site_id, S.visitor_id.in_(ordered[i:i + VISITOR_CHUNK]),
                   S.started_at < before)
        ):
            previous.add(row[0], row[1].astimezone(tz).date(), _dims(row))
    return previous


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


def _write(session: Session, site_id: int, timezone: str,
           days: Iterable[tuple[dt.date, _DayAggregate]]) -> list[tuple[Any, ...]]:
    """Insert the days' rows in batches; the rows as ``_ROW_SCOPE_COLUMNS``. The
    sessions stream from a server-side cursor on the same connection, which cannot be read
    while a COPY is open, so rows are buffered (reading the days' earlier visits in between
    is fine)."""
    written: list[tuple[Any, ...]] = []
    buffered: list[tuple[Any, ...]] = []
    scope_columns = [COLUMNS.index(column.key) for column in _ROW_SCOPE_COLUMNS]
    for day, aggregate in days:
        previous = _previous_visits(session, site_id, timezone, aggregate.home,
                                    local_midnight(day, timezone))
        rows = list(aggregate.table_rows(site_id, day, previous))
        buffered.extend(rows)
        written.extend(tuple(row[i] for i in scope_columns) for row in rows)
        if len(buffered) >= WRITE_BATCH:
            bulk_insert(session, _table(), COLUMNS, buffered)
            buffered = []
    bulk_insert(session, _table(), COLUMNS, buffered)
    return written


def local_days_of(utc_days: Collection[dt.date], timezone: str) -> set[dt.date]:
    """The local days that hold some instant of ``utc_days``."""
    tz = zone(timezone)
    found = set()
    for day in utc_days:
        start = dt.datetime.combine(day, dt.time(), dt.UTC)
        found.add(start.astimezone(tz).date())
        found.add((start + dt.timedelta(days=1, microseconds=-1)).astimezone(tz).date())
    return found


# Where a gap is measured: a path ("path", level, path hash), the site ("site",), or the
# value of a tail level's last dimension ("tail", level, value).
Scope = tuple[Any, ...]
_ROW_SCOPE_COLUMNS = (TrafficRollup.level, TrafficRollup.path, TrafficRollup.source,
                      TrafficRollup.campaign, TrafficRollup.keyword, TrafficRollup.visitors)


def _scopes(level: int, path: int, source: str, campaign: str, keyword: str
            ) -> list[Scope]:
    """The scopes whose visitors a row of ``level`` holds some of."""
    found: list[Scope] = [("path", level, path)]
    if level == 0:
        found.append(("site",))
    if level in TAIL_LEVELS:
        tail = {"source": source, "campaign": campaign, "keyword": keyword}[LEVELS[level][-1]]
        found.append(("tail", level, tail))
    return found


def _members(rows: Iterable[Sequence[Any]]) -> dict[Scope, set[int]]:
    """Visitor hashes by scope of rows given as ``_ROW_SCOPE_COLUMNS``."""
    found: dict[Scope, set[int]] = defaultdict(set)
    for level, path, source, campaign, keyword, blob in rows:
        visitors = decode_visitors(blob).tolist()
        for scope in _scopes(level, path, source, campaign, keyword):
            found[scope].update(visitors)
    return found


def _next_visit_days(session: Session, site_id: int, day: dt.date,
                     changed: dict[Scope, set[int]]) -> set[dt.date]:
    """The first later day on which each visitor a scope gained or lost on ``day`` came back
    to it: the days whose gaps the change moved."""
    R = TrafficRollup
    # Each read covers whole scopes of one kind, in day order, and only those are looked for
    # in its rows: a row read for another kind may not be a scope's first later one.
    paths = sorted((scope[1], scope[2]) for scope in changed if scope[0] == "path")
    reads: list[tuple[str, ColumnElement[bool]]] = [
        ("path", tuple_(R.level, R.path).in_(paths[i:i + 500]))
        for i in range(0, len(paths), 500)]
    if ("site",) in changed:
        reads.append(("site", R.level == 0))
    for level in TAIL_LEVELS:
        tails = sorted(scope[2] for scope in changed if scope[:2] == ("tail", level))
        column = getattr(R, LEVELS[level][-1])
        reads += [("tail", and_(R.level == level, column.in_(tails[i:i + 500])))
                  for i in range(0, len(tails), 500)]
    found_days: set[dt.date] = set()
    for kind, condition in reads:
        for later, level, path, source, campaign, keyword, blob in session.execute(
            select(R.day, *_ROW_SCOPE_COLUMNS)
            .where(R.site_id == site_id, R.day > day, condition).order_by(R.day)
        ):
            present: set[int] | None = None
            for scope in _scopes(level, path, source, campaign, keyword):
                looking = changed.get(scope) if scope[0] == kind else None
                if not looking:
                    continue
                if present is None:
                    present = set(decode_visitors(blob).tolist())
                if looking & present:
                    found_days.add(later)
                    looking -= present
    return found_days


def refresh_days(session: Session, site: Site, local_days: Collection[dt.date]) -> int:
    """Rebuild the rows of ``local_days`` from their sessions, and of the later days whose
    gaps moved (a day's visitors changed: the next visit of each changed visitor to each
    changed path now follows another one); rows written."""
    timezone = site_settings(site).timezone
    R = TrafficRollup
    pending = set(local_days)
    written = 0
    while pending:
        day = min(pending)
        pending.discard(day)
        old = _members(session.execute(
            select(*_ROW_SCOPE_COLUMNS).where(R.site_id == site.id, R.day == day)))
        session.execute(delete(R).where(R.site_id == site.id, R.day == day))
        start = local_midnight(day, timezone)
        end = local_midnight(day + dt.timedelta(days=1), timezone)
        rows = _write(session, site.id, timezone,
                      _days_from_sessions(session, site.id, timezone, start, end))
        written += len(rows)
        new = _members(rows)
        changed = {scope: old.get(scope, set()) ^ new.get(scope, set())
                   for scope in old.keys() | new.keys()}
        changed = {scope: found for scope, found in changed.items() if found}
        if changed:
            pending |= _next_visit_days(session, site.id, day, changed)
    return written


def rebuild_traffic(session: Session, site: Site) -> int:
    """Every row of the site from every session, in the site's current time zone."""
    timezone = site_settings(site).timezone
    session.execute(delete(TrafficRollup).where(TrafficRollup.site_id == site.id))
    everything = (dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 1, 1, tzinfo=dt.UTC))
    written = len(_write(session, site.id, timezone,
                         _days_from_sessions(session, site.id, timezone, *everything)))
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
