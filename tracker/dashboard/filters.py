"""The filters every dashboard page shares, read from and written back to the URL query
string so any view is a shareable link: site, date range, attribution model and drill-down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from attribution import model_names
from tracker.errors import ValidationError
from tracker.validation import parse_date, parse_id

DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366
DEFAULT_MODEL = "linear"
# Drill-down order: each level's value filters the next level's rows.
LEVELS = ("channel", "source", "campaign", "keyword")
FILTER_KEYS = ("site", "from", "to", "model", *LEVELS[:-1])


@dataclass(frozen=True, slots=True)
class Filters:
    """``start`` is inclusive and ``end`` exclusive (the day after the ``to`` date)."""

    site_id: int | None
    start: dt.date
    end: dt.date
    model: str
    drill: tuple[tuple[str, str], ...] = field(default=())

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def level(self) -> str:
        """The dimension the rows of a grouped report are split by."""
        return LEVELS[min(len(self.drill), len(LEVELS) - 1)]

    def previous(self) -> Filters:
        """The period of the same length just before this one."""
        return Filters(
            self.site_id, self.start - (self.end - self.start), self.start, self.model, self.drill
        )

    def query(self, **changes: str | int | None) -> dict[str, Any]:
        """The query string of these filters with ``changes`` (``None`` removes a key)."""
        values: dict[str, str | int | None] = {
            "site": self.site_id,
            "from": self.start.isoformat(),
            "to": (self.end - dt.timedelta(days=1)).isoformat(),
            "model": self.model,
            **dict(self.drill),
        }
        values.update(changes)
        return {key: str(value) for key, value in values.items() if value not in (None, "")}


def _date(raw: str | None, name: str) -> dt.date | None:
    return parse_date(raw, name) if raw else None


def parse_filters(args: Mapping[str, str], today: dt.date) -> Filters:
    """Filters from a query string; missing values take defaults (the last 30 days, the
    linear model). Raises :class:`ValidationError` naming the bad parameter."""
    raw_site = args.get("site")
    site_id = parse_id(raw_site, "site") if raw_site else None
    last = _date(args.get("to"), "to") or today
    first = _date(args.get("from"), "from") or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationError("from", "the start date is after the end date")
    if (last - first).days >= MAX_DAYS:
        raise ValidationError("from", f"choose a range of at most {MAX_DAYS} days")
    model = args.get("model") or DEFAULT_MODEL
    if model not in model_names():
        raise ValidationError("model", f"expected one of {', '.join(model_names())}")
    drill = []
    for level in LEVELS[:-1]:
        value = args.get(level)
        if value is None:
            break
        drill.append((level, value))
    return Filters(
        site_id,
        first,
        last + dt.timedelta(days=1),
        model,
        tuple(drill),
    )
