"""The filters every dashboard page shares, read from and written back to the URL query
string so any view is a shareable link: site, date range, attribution model and drill-down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from attribution import model_names
from tracker.errors import ValidationError
from tracker.validation import parse_date, parse_id

DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366
DEFAULT_MODEL = "linear"
# Drill-down order: each level's value filters the next level's rows.
LEVELS = ("channel", "source", "campaign", "keyword")
FILTER_KEYS = ("site", "from", "to", "model", "compare", *LEVELS[:-1])
# What the tiles compare the period with.
COMPARISONS = {"previous": "the previous period", "year": "the same period last year"}


@dataclass(frozen=True, slots=True)
class Filters:
    """``start`` is inclusive and ``end`` exclusive (the day after the ``to`` date)."""

    site_id: int | None
    start: dt.date
    end: dt.date
    model: str
    drill: tuple[tuple[str, str], ...] = field(default=())
    compare: str = "previous"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def level(self) -> str:
        """The dimension the rows of a grouped report are split by."""
        return LEVELS[min(len(self.drill), len(LEVELS) - 1)]

    def previous(self) -> Filters:
        """The period of the same length just before this one."""
        return replace(self, start=self.start - (self.end - self.start), end=self.start)

    def last_year(self) -> Filters:
        """The same days a year earlier (29 February becomes the 28th)."""
        return replace(self, start=_year_before(self.start), end=_year_before(self.end))

    def comparison(self) -> Filters:
        """The period the tiles compare with (``compare``)."""
        return self.last_year() if self.compare == "year" else self.previous()

    def query(self, **changes: str | int | None) -> dict[str, Any]:
        """The query string of these filters with ``changes`` (``None`` removes a key)."""
        values: dict[str, str | int | None] = {
            "site": self.site_id,
            "from": self.start.isoformat(),
            "to": (self.end - dt.timedelta(days=1)).isoformat(),
            "model": self.model,
            "compare": None if self.compare == "previous" else self.compare,
            **dict(self.drill),
        }
        values.update(changes)
        return {key: str(value) for key, value in values.items() if value not in (None, "")}


def _year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def presets(today: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """The date picker's shortcuts as ``(label, first day, last day)``, inclusive."""
    month = today.replace(day=1)
    last_month_end = month - dt.timedelta(days=1)
    quarter = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    return [
        ("Last 7 days", today - dt.timedelta(days=6), today),
        ("Last 30 days", today - dt.timedelta(days=29), today),
        ("Last 90 days", today - dt.timedelta(days=89), today),
        ("This month", month, today),
        ("Last month", last_month_end.replace(day=1), last_month_end),
        ("This quarter", quarter, today),
        ("This year", today.replace(month=1, day=1), today),
    ]


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
        raise ValidationError("the start date is after the end date", field="from")
    if (last - first).days >= MAX_DAYS:
        raise ValidationError(f"choose a range of at most {MAX_DAYS} days", field="from")
    model = args.get("model") or DEFAULT_MODEL
    if model not in model_names():
        raise ValidationError(f"expected one of {', '.join(model_names())}", field="model")
    compare = args.get("compare") or "previous"
    if compare not in COMPARISONS:
        raise ValidationError(f"expected one of {', '.join(COMPARISONS)}", field="compare")
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
        compare,
    )
