"""One parser for every report's query string: model, date range, grouping, filters, format.

Bounded and strict (Plausible ``request.ex``): every parameter has a named rule, an unknown
parameter or a bad value is a :class:`ValidationError` naming it, and dates are whole days in
the site's time zone (``to`` is inclusive, so ``from=2026-01-01&to=2026-01-31`` is January,
from local midnight to local midnight).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from attribution.registry import model_names
from tracker.errors import ValidationError
from tracker.localtime import UTC_NAME, local_midnight, local_today
from tracker.sites.settings import SiteSettings
from tracker.validation import MAX_PAGE, RuleRefused, parse_date, parse_whole

DIMENSIONS = ("channel", "source", "medium", "campaign", "keyword", "landing_page")
WIN_RATE_GROUPS = ("owner", *DIMENSIONS)
INTERVALS = ("day", "week", "month")
FORMATS = ("json", "csv")
NONE_LABEL = "(none)"  # a filter value that matches a missing source, campaign...
DEFAULT_DAYS = 30
MAX_RANGE_DAYS = 3 * 366
MAX_FILTER_LENGTH = 2048
MAX_OFFSET = 10_000_000
# Every model a site may store; one the site does not store is a 422.
MODEL_NAMES = frozenset(model_names())

COMMON_PARAMS = frozenset({"model", "from", "to", "format", *DIMENSIONS})


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """What a report is asked for. ``filters`` are ``(dimension, value)`` pairs; a value of
    None matches rows where the dimension is missing."""

    model: str
    start: dt.date
    end: dt.date
    group_by: str = "channel"
    filters: tuple[tuple[str, str | None], ...] = ()
    interval: str = "day"
    format: str = "json"
    limit: int = 100
    offset: int = 0
    timezone: str = UTC_NAME  # the site's: days start at its midnight
    # The site's unique_visitors setting is "approximate": rollups union visitor sketches.
    approximate_visitors: bool = False

    @property
    def start_at(self) -> dt.datetime:
        return local_midnight(self.start, self.timezone)

    @property
    def end_at(self) -> dt.datetime:
        """The first instant after the range (exclusive bound)."""
        return local_midnight(self.end + dt.timedelta(days=1), self.timezone)

    def describe(self) -> dict[str, object]:
        """The query as echoed in a JSON report."""
        return {
            "model": self.model,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "group_by": self.group_by,
            "filters": {name: value for name, value in self.filters},
        }


def _date(args: Mapping[str, str], name: str, default: dt.date) -> dt.date:
    raw = args.get(name)
    return default if raw is None else parse_date(raw, name)


def _choice(args: Mapping[str, str], name: str, choices: Collection[str], default: str) -> str:
    value = args.get(name, default)
    if value not in choices:
        raise ValidationError(f"expected one of {', '.join(choices)}", field=name)
    return value


def _whole(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    return parse_whole(raw, name, low, high)


def parse_report_query(
    args: Mapping[str, str],
    settings: SiteSettings,
    *,
    extra: Collection[str] = (),
    group_choices: Collection[str] = DIMENSIONS,
    today: dt.date | None = None,
) -> ReportQuery:
    """Parse ``args`` for a report that takes :data:`COMMON_PARAMS` plus ``extra``
    (``group_by``, ``interval``, ``limit``, ``offset``)."""
    allowed = COMMON_PARAMS | set(extra)
    for key in args:
        if key not in allowed:
            raise ValidationError(
                f"unknown parameter; expected {', '.join(sorted(allowed))}", field=key
            )
    today = today or local_today(settings.timezone)
    end = _date(args, "to", today)
    start = _date(args, "from", end - dt.timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise RuleRefused("must not be after 'to'", field="from")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise RuleRefused(f"a range of at most {MAX_RANGE_DAYS} days", field="from")
    models = settings.attribution_models
    filters = []
    for name in DIMENSIONS:
        if name in args:
            value = args[name]
            if not value or len(value) > MAX_FILTER_LENGTH:
                raise ValidationError(f"expected 1 to {MAX_FILTER_LENGTH} characters", field=name)
            filters.append((name, None if value == NONE_LABEL else value))
    if args.get("model") in MODEL_NAMES and args["model"] not in models:
        raise RuleRefused(f"this site stores {', '.join(models)}", field="model")
    return ReportQuery(
        model=_choice(args, "model", models, "linear" if "linear" in models else models[0]),
        start=start,
        end=end,
        group_by=_choice(args, "group_by", tuple(group_choices), "channel"),
        filters=tuple(filters),
        interval=_choice(args, "interval", INTERVALS, "day"),
        format=_choice(args, "format", FORMATS, "json"),
        limit=_whole(args, "limit", 100, 1, MAX_PAGE),
        offset=_whole(args, "offset", 0, 0, MAX_OFFSET),
        timezone=settings.timezone,
        approximate_visitors=settings.unique_visitors == "approximate",
    )


def parse_format_only(args: Mapping[str, str]) -> str:
    """For reports that take nothing but ``format`` (one lead's journey)."""
    for key in args:
        if key != "format":
            raise ValidationError("unknown parameter; expected format", field=key)
    return _choice(args, "format", FORMATS, "json")
