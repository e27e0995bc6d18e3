"""Report days are the site's days: a range starts and ends at local midnight and trend
buckets are local dates, whatever the offset was that day (DST included).

Timestamps are stored in UTC. PostgreSQL converts with its own time zone database
(``timezone(zone, ts)``); SQLite has none, so there the local date is ``date(ts, '+N
minutes')`` with N the UTC offset in force, switched at each transition inside the range
(found from Python's ``zoneinfo``, the same IANA data).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, case, cast, func

UTC_NAME = "UTC"


def iso_utc(moment: dt.datetime) -> str:
    """ISO 8601 with ``Z`` for UTC, as every answer and export writes a stored time."""
    return moment.isoformat().replace("+00:00", "Z")


def utc_moment(value: str | dt.datetime) -> dt.datetime:
    """A stored time given as ISO text or a datetime; a naive one is UTC (the database's
    convention)."""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@lru_cache(maxsize=256)
def zone(name: str) -> dt.tzinfo:
    return dt.UTC if name == UTC_NAME else ZoneInfo(name)


def local_midnight(day: dt.date, timezone: str) -> dt.datetime:
    """The UTC instant ``day`` starts in ``timezone``."""
    return dt.datetime.combine(day, dt.time(), zone(timezone)).astimezone(dt.UTC)


def local_today(timezone: str, now: dt.datetime | None = None) -> dt.date:
    moment = now or dt.datetime.now(dt.UTC)
    return moment.astimezone(zone(timezone)).date()


def _offset_minutes(moment: dt.datetime, timezone: str) -> int:
    offset = moment.astimezone(zone(timezone)).utcoffset() or dt.timedelta(0)
    return int(offset.total_seconds() // 60)


def offset_segments(
    timezone: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, int]]:
    """``[(from instant, offset minutes), ...]``: the UTC offsets in force over
    ``[start, end)``, each from its transition on (the first from ``start``)."""
    segments = [(start, _offset_minutes(start, timezone))]
    hour = dt.timedelta(hours=1)
    probe = start
    while probe < end:
        step = min(probe + dt.timedelta(days=1), end)
        offset = _offset_minutes(step, timezone)
        if offset != segments[-1][1]:
            # The change lies in (probe, step]: narrow it to the minute.
            low, high = probe, step
            while high - low > dt.timedelta(minutes=1):
                middle = low + (high - low) / 2
                if _offset_minutes(middle, timezone) == offset:
                    high = middle
                else:
                    low = middle
            changed_at = high.replace(second=0, microsecond=0)
            if _offset_minutes(changed_at, timezone) != offset:
                changed_at += dt.timedelta(minutes=1)
            segments.append((changed_at, offset))
        probe = step if step > probe else probe + hour
    return segments


def local_day_sql(
    column: Any, dialect: str, timezone: str, start: dt.datetime, end: dt.datetime
) -> Any:
    """The local date of ``column`` (a UTC timestamp between ``start`` and ``end``)."""
    if dialect == "postgresql":
        return cast(func.timezone(timezone, column), Date)
    segments = offset_segments(timezone, start, end)

    def shifted(minutes: int) -> Any:
        return func.date(column, f"{minutes:+d} minutes") if minutes else func.date(column)

    if len(segments) == 1:
        return shifted(segments[0][1])
    whens = [
        (column < since, shifted(previous))
        for (since, _), (_, previous) in zip(segments[1:], segments, strict=False)
    ]
    return case(*whens, else_=shifted(segments[-1][1]))
