"""The dashboard's Paths page: the page's filters become one paths query (``level`` names
the touches, ``conversion`` picks the conversion type) and the path length and time lag
views become chart specs. The figures are the reports API's (``/api/v1/reports/paths``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tracker.dashboard.filters import Filters
from tracker.dashboard.formatting import SiteFormatter
from tracker.dashboard.overview import chart_series, report_query
from tracker.errors import ValidationError
from tracker.models import Site
from tracker.reports.paths import PATH_CONVERSIONS, PATH_LEVELS, PathsQuery
from tracker.reports.queries import Report

TOP_PATHS = 25


def _choice(args: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = args.get(name) or choices[0]
    if value not in choices:
        raise ValidationError(f"expected one of {', '.join(choices)}", field=name)
    return value


def paths_query(site: Site, filters: Filters, args: Mapping[str, str]) -> PathsQuery:
    """The paths query of the page: its range, model and drill-down, plus ``level``
    (channel, source, campaign) and ``conversion`` (lead, opportunity, won)."""
    report = dataclasses.replace(report_query(filters, site), group_by=_choice(
        args, "level", PATH_LEVELS), limit=TOP_PATHS, format="json")
    return PathsQuery(report, "top", _choice(args, "conversion", PATH_CONVERSIONS))


def charts(views: Mapping[str, Report], fmt: SiteFormatter) -> dict[str, dict[str, Any]]:
    """Bar charts of conversions by path length and by time lag."""
    length, lag = views["length"].rows, views["lag"].rows
    return {
        "length": {"type": "bar", "labels": [r["touches"] for r in length],
                   "datasets": [chart_series("Conversions", [r["conversions"] for r in length],
                                             "integer", fmt)]},
        "lag": {"type": "bar", "labels": [r["days"] for r in lag],
                "datasets": [chart_series("Conversions", [r["conversions"] for r in lag],
                                          "integer", fmt)]},
    }
