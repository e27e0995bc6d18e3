"""The conversion paths report (``/api/v1/reports/paths``): the journeys of the conversions
in the range, read from the stored credits of the chosen model (every touch in a
conversion's lookback window has a row there, credited or not), summarised by
:mod:`attribution.paths`. No model is fitted in a request.

``view`` picks one table (each is a report of its own, so JSON and CSV render as every
other report): ``top`` paths, path ``length``, time ``lag``, ``assists`` per group, or the
credit of each group's early, mid and late touches (``positions``).
``group_by`` names the touches on a path: channel, source or campaign. ``conversion``:
lead (default), opportunity or won (a won deal's revenue is its value).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attribution.paths import (
    PathJourney,
    assists,
    path_lengths,
    time_lags,
    top_paths,
    touch_positions,
)
from tracker.errors import ValidationError
from tracker.models import AttributionCredit, Site
from tracker.reports.queries import Column, Report
from tracker.reports.query import DIMENSIONS, NONE_LABEL, ReportQuery, parse_report_query
from tracker.sites.settings import SiteSettings

PATH_VIEWS = ("top", "length", "lag", "assists", "positions")
PATH_LEVELS = ("channel", "source", "campaign")
PATH_CONVERSIONS = ("lead", "opportunity", "won")

PATH_COLUMNS = (
    Column("path", "text"), Column("length", "integer"), Column("conversions", "integer"),
    Column("share", "percent"), Column("value", "money"), Column("value_per_conversion", "money"),
)
LENGTH_COLUMNS = (Column("touches", "text"), Column("conversions", "integer"),
                  Column("share", "percent"), Column("value", "money"))
LAG_COLUMNS = (Column("days", "text"), Column("conversions", "integer"),
               Column("share", "percent"), Column("value", "money"))
ASSIST_COLUMNS = (
    Column("group", "text"), Column("last_touch", "integer"), Column("assisted", "integer"),
    Column("first_touch", "integer"), Column("assist_ratio", "ratio"),
    Column("credited", "count"), Column("credited_value", "money"),
)
POSITION_COLUMNS = (
    Column("group", "text"), Column("early", "count"), Column("mid", "count"),
    Column("late", "count"), Column("early_value", "money"), Column("mid_value", "money"),
    Column("late_value", "money"),
)
VIEW_COLUMNS = {"top": PATH_COLUMNS, "length": LENGTH_COLUMNS, "lag": LAG_COLUMNS,
                "assists": ASSIST_COLUMNS, "positions": POSITION_COLUMNS}


@dataclass(frozen=True, slots=True)
class PathsQuery:
    report: ReportQuery
    view: str
    conversion: str


def _pick(args: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = args.get(name, default)
    if value not in choices:
        raise ValidationError(f"expected one of {', '.join(choices)}", field=name)
    return value


def parse_paths_query(args: Mapping[str, str], settings: SiteSettings) -> PathsQuery:
    """The common report parameters plus ``view``, ``conversion``, ``group_by`` (channel,
    source, campaign) and ``limit`` (top paths); :class:`ValidationError` names a bad one."""
    rest = {key: value for key, value in args.items() if key not in ("view", "conversion")}
    report = parse_report_query(rest, settings, extra=("group_by", "limit"),
                                group_choices=PATH_LEVELS)
    return PathsQuery(report, _pick(args, "view", PATH_VIEWS, "top"),
                      _pick(args, "conversion", PATH_CONVERSIONS, "lead"))


def _matches(row: Any, filters: tuple[tuple[str, str | None], ...]) -> bool:
    return all(getattr(row, name) == value for name, value in filters)


def load_path_journeys(session: Session, site_id: int, query: PathsQuery) -> list[PathJourney]:
    """The conversions converted in the range, each as its ordered touches named at the
    query's level. With dimension filters, only conversions with a touch matching them."""
    C = AttributionCredit
    report = query.report
    level = getattr(C, report.group_by)
    rows = session.execute(
        select(C.conversion_id, C.position, C.touch_kind, C.touch_at, C.converted_at,
               level.label("label"),
               C.credit, C.value, *(getattr(C, name) for name in DIMENSIONS))
        .where(C.site_id == site_id, C.model == report.model,
               C.conversion == query.conversion,
               C.converted_at >= report.start_at, C.converted_at < report.end_at)
        .order_by(C.conversion_id, C.position)
    ).all()
    grouped: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.conversion_id, []).append(row)
    journeys = []
    for touches in grouped.values():
        if report.filters and not any(_matches(t, report.filters) for t in touches):
            continue
        real = [t for t in touches if t.touch_kind != "none"]
        labels = tuple(NONE_LABEL if t.label is None else str(t.label) for t in real)
        credit: dict[str, float] = {}
        for label, touch in zip(labels, real, strict=True):
            credit[label] = credit.get(label, 0.0) + float(touch.credit)
        first_at = min((t.touch_at for t in real if t.touch_at is not None), default=None)
        lag = (touches[0].converted_at - first_at).total_seconds() if first_at else None
        journeys.append(PathJourney(labels, lag, sum(float(t.value) for t in touches), credit,
                                    tuple(float(t.credit) for t in real)))
    return journeys


def _view(view: str, journeys: list[PathJourney], query: PathsQuery) -> Report:
    if view == "top":
        rows = top_paths(journeys, query.report.limit)
    elif view == "length":
        rows = path_lengths(journeys)
    elif view == "lag":
        rows = time_lags(journeys)
    elif view == "assists":
        rows = assists(journeys)
    else:
        rows = touch_positions(journeys)
    meta = {"query": {**query.report.describe(), "view": view, "conversion": query.conversion},
            "conversions": len(journeys)}
    return Report(f"paths_{view}", VIEW_COLUMNS[view], rows, None, meta)


def paths_report(session: Session, site: Site, query: PathsQuery) -> Report:
    """One view of the conversion paths of ``site`` for ``query``."""
    return _view(query.view, load_path_journeys(session, site.id, query), query)


def every_paths_view(session: Session, site: Site, query: PathsQuery) -> dict[str, Report]:
    """Every view from one read of the journeys (the dashboard's Paths page)."""
    journeys = load_path_journeys(session, site.id, query)
    return {view: _view(view, journeys, query) for view in PATH_VIEWS}
