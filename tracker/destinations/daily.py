"""A destination's deliveries per day: its conversions grouped by the site-local day they
were queued, counted by where each stands now (pending, sent, failed and retrying, dead).
What the Destinations page's table and chart and ``GET …/destinations/<ref>/days`` show.

A row is counted on the day it was queued, not on the day of its last attempt: the outbox
keeps no time per attempt, and a day's conversions moving from pending to sent as the sender
catches up is what an operator checks ("did yesterday's conversions all go out?").
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.destinations.outbox import DEAD, FAILED, PENDING, SENT
from tracker.errors import ValidationError
from tracker.localtime import local_day_sql, local_midnight, local_today
from tracker.models import ConversionOutbox

DEFAULT_DAYS = 14
MAX_DAYS = 90


@dataclass(frozen=True, slots=True)
class DayCounts:
    """One site-local day of one destination: its conversions by their status now."""

    day: dt.date
    pending: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0

    def to_json(self) -> dict[str, object]:
        return {"day": self.day.isoformat(), PENDING: self.pending, SENT: self.sent,
                FAILED: self.failed, DEAD: self.dead}


def parse_days(raw: str | None) -> int:
    """The ``days`` query parameter: 1 to :data:`MAX_DAYS`, default :data:`DEFAULT_DAYS`."""
    if raw is None or raw == "":
        return DEFAULT_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise ValidationError(f"expected a whole number from 1 to {MAX_DAYS}", field="days")
    return int(raw)


def daily_counts(
    session: Session, site_id: int, destination_ids: Sequence[uuid.UUID], timezone: str,
    days: int, now: dt.datetime,
) -> dict[uuid.UUID, list[DayCounts]]:
    """Per destination, its last ``days`` site-local days up to today, oldest first; every
    day is listed, with zeros where nothing was queued. One grouped query for all of them."""
    last = local_today(timezone, now)
    first = last - dt.timedelta(days=days - 1)
    start, end = local_midnight(first, timezone), local_midnight(
        last + dt.timedelta(days=1), timezone)
    day = local_day_sql(ConversionOutbox.created_at, session.get_bind().dialect.name,
                        timezone, start, end)
    counted: dict[tuple[uuid.UUID, str], dict[str, int]] = {}
    if destination_ids:
        grouped = session.execute(
            select(ConversionOutbox.destination_id, day, ConversionOutbox.status, func.count())
            .where(ConversionOutbox.site_id == site_id,
                   ConversionOutbox.destination_id.in_(destination_ids),
                   ConversionOutbox.created_at >= start, ConversionOutbox.created_at < end)
            .group_by(ConversionOutbox.destination_id, day, ConversionOutbox.status))
        for destination_id, local_day, status, count in grouped:
            # SQLite's date() answers text, PostgreSQL a date.
            key = (destination_id, str(local_day))
            counted.setdefault(key, {})[str(status)] = int(count)
    axis = [first + dt.timedelta(days=n) for n in range(days)]
    return {
        destination_id: [DayCounts(d, **counted.get((destination_id, d.isoformat()), {}))
                         for d in axis]
        for destination_id in destination_ids
    }
