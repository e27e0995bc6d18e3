"""Traffic figures (sessions, exact unique visitors) from ``traffic_rollups``.

Used when the site's rollups exist in the query's time zone and one level covers the
query's group and filters (tracker/rollups/levels.py); otherwise :func:`traffic_from_rollups`
returns None and the caller scans the sessions. Both give the same numbers (tested).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from tracker.models import RollupState, TrafficRollup
from tracker.reports.query import ReportQuery
from tracker.rollups.levels import count_unique, level_for

R = TrafficRollup
Key = str | None


def _rows_in_range(query: ReportQuery, site_id: int, level: int, *columns: Any) -> Select[Any]:
    """``columns`` of the rows of ``level`` in the query's range and filters, as one statement
    that answers no row at all when the site has no rollups in the query's time zone (the
    caller falls back to the sessions) and a row of NULLs when they hold nothing in range."""
    on = [
        R.site_id == RollupState.site_id,
        R.level == level,
        R.day >= query.start,
        R.day <= query.end,
        *(getattr(R, name) == (value or "") for name, value in query.filters),
    ]
    return (
        select(RollupState.site_id, *columns)
        .select_from(RollupState)
        .outerjoin(R, and_(*on))
        .where(RollupState.site_id == site_id, RollupState.timezone == query.timezone)
    )


def traffic_from_rollups(
    session: Session, site_id: int, query: ReportQuery, group_by: str | None
) -> tuple[dict[Key, tuple[int, int]], tuple[int, int]] | None:
    """``({group: (sessions, visitors)}, (sessions, visitors))`` like
    :func:`tracker.reports.queries.traffic`, or None when the rollups cannot answer."""
    needed = {name for name, _value in query.filters}
    if group_by is not None:
        needed.add(group_by)
    level = level_for(needed)
    if level is None:
        return None
    group_column = getattr(R, group_by) if group_by is not None else R.level
    statement = _rows_in_range(query, site_id, level, group_column, R.sessions, R.visitors)
    rows = session.execute(statement).all()
    if not rows:
        return None
    sessions: dict[Key, int] = defaultdict(int)
    blobs: dict[Key, list[bytes]] = defaultdict(list)
    every: list[bytes] = []
    for _site, key, count, visitors in rows:
        if visitors is None:
            continue
        group: Key = (key or None) if group_by is not None else None
        sessions[group] += int(count)
        blobs[group].append(visitors)
        every.append(visitors)
    groups = {key: (sessions[key], count_unique(found)) for key, found in blobs.items()}
    total = (sum(sessions.values()), count_unique(every))
    return groups, total


def sessions_by_day_from_rollups(
    session: Session, site_id: int, query: ReportQuery
) -> dict[dt.date, int] | None:
    """``{local day: sessions}`` over the query's range and filters, or None when the rollups
    cannot answer (as for :func:`traffic_from_rollups`)."""
    level = level_for({name for name, _value in query.filters})
    if level is None:
        return None
    statement = _rows_in_range(query, site_id, level, R.day, func.sum(R.sessions)).group_by(
        RollupState.site_id, R.day)
    rows = session.execute(statement).all()
    if not rows:
        return None
    return {day: int(count) for _site, day, count in rows if day is not None}
