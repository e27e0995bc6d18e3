"""The overview's figures, from the report service (``tracker.reports.queries``): the
dashboard's URL filters become one :class:`ReportQuery` per report, and the reports' rows are
shaped for tiles, charts and tables. No SQL of its own, so the page, its CSV downloads and
``/api/v1/reports/...`` always agree."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.dashboard.filters import LEVELS, Filters
from tracker.dashboard.formatting import Formatted, SiteFormatter, currency_symbol, format_change
from tracker.errors import ValidationError
from tracker.models import AttributionFit, Site
from tracker.reports import queries
from tracker.reports.query import NONE_LABEL, ReportQuery
from tracker.reports.render import report_csv
from tracker.sites.settings import site_settings

# Days up to which the trend is drawn per day; longer ranges go per week.
DAILY_TREND_DAYS = 92
# The revenue table's columns, in order, with their display kind (the CSV has every column).
TABLE_COLUMNS = (
    ("revenue", "Revenue", "money"),
    ("leads", "Leads", "count"),
    ("customers", "Customers", "count"),
    ("cost", "Cost", "money"),
    ("cpl", "CPL", "money"),
    ("cpa", "CPA", "money"),
    ("roas", "ROAS", "roas"),
    ("roi", "ROI", "roi"),
    ("lead_value", "Lead value", "money"),
    ("visitors", "Visitors", "integer"),
    ("sessions", "Sessions", "integer"),
    ("opportunities", "Opportunities", "count"),
    ("clicks", "Ad clicks", "integer"),
    ("cpc", "CPC", "money"),
    ("calls", "Calls", "integer"),
    ("answered_calls", "Answered calls", "integer"),
    ("visitor_to_lead_rate", "Visitor → lead", "percent"),
    ("lead_to_customer_rate", "Lead → customer", "percent"),
    ("win_rate", "Win rate", "percent"),
    ("median_days_to_lead", "Days to lead (median)", "days"),
    ("median_days_lead_to_won", "Days lead → won (median)", "days"),
)
# What a marketer reads first, and what fits at 1440 px beside the group's name; the column
# chooser (``?cols=``) swaps in any other column of TABLE_COLUMNS.
DEFAULT_COLUMNS = ("revenue", "leads", "customers", "cost", "cpl", "cpa", "roas", "roi",
                   "lead_value")
KPIS = (
    ("visitors", "Visitors", "integer"),
    ("leads", "Leads", "count"),
    ("customers", "Customers", "count"),
    ("revenue", "Revenue", "money"),
    ("lead_value", "Lead value", "money"),
    ("cost", "Cost", "money"),
    ("cpl", "CPL", "money"),
    ("cpa", "CPA", "money"),
    ("roas", "ROAS", "roas"),
    ("roi", "ROI", "roi"),
)
ADDITIVE_KINDS = frozenset({"integer", "count", "money"})
REPORT_NAMES = ("revenue", "trend", "funnel", "models")
# Groups drawn in a chart (the table beside it lists them all).
CHART_GROUPS = 10


def report_query(filters: Filters, site: Site, report: str = "revenue") -> ReportQuery:
    """The reports' query for the dashboard's filters (``to`` is inclusive there), in the
    site's time zone."""
    interval = "day" if filters.days <= DAILY_TREND_DAYS else "week"
    settings = site_settings(site)
    return ReportQuery(
        model=filters.model,
        start=filters.start,
        end=filters.end - dt.timedelta(days=1),
        group_by="channel" if report == "funnel" else filters.level,
        filters=tuple(
            (name, None if value == NONE_LABEL else value) for name, value in filters.drill
        ),
        interval=interval,
        format="csv",
        limit=500,
        timezone=settings.timezone,
        approximate_visitors=settings.unique_visitors == "approximate",
    )


def group_label(value: str | None) -> str:
    return NONE_LABEL if value is None else value


@dataclass(frozen=True, slots=True)
class Kpi:
    name: str
    label: str
    kind: str
    value: float | None
    previous: float | None

    @property
    def change(self) -> Formatted:
        """Against the comparison period as the table's cells read it: ROI in percentage
        points, "new" from 0, "—" when unknown."""
        return format_change(self.value, self.previous, self.kind)


def kpis(page: Overview, site: Site) -> list[Kpi]:
    """The tiles: totals of the page's revenue table for the period and the drill-down shown
    (a campaign's tiles are the campaign's), and the same over the comparison period, from
    the reports the page already ran."""
    now = page.revenue.totals or {}
    before = page.previous_totals
    # HyperLogLog counts (docs/reports.md).
    estimated = site_settings(site).unique_visitors == "approximate"
    return [
        Kpi(name, f"{label} (estimated)" if estimated and name == "visitors" else label, kind,
            _number(now.get(name)), _number(before.get(name)))
        for name, label, kind in KPIS
    ]


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class Overview:
    level: str
    next_level: str | None
    revenue: queries.Report
    trend: queries.Report
    funnel: list[dict[str, Any]]
    models: list[str]
    comparison: list[tuple[str, dict[str, float]]]
    charts: dict[str, dict[str, Any]]
    owners: queries.Report
    # The same table over the comparison period, by group, and its totals: each cell shows
    # its change against these.
    previous: dict[str | None, dict[str, Any]]
    previous_totals: dict[str, Any]
    # The comparison report listed every group (under its row limit): a group missing from it
    # had no sessions, leads or revenue then, so its counts and money were 0 (a change reads
    # "new"), while its rates and ratios were unknown.
    previous_complete: bool = True

    def base(self, group: str | None, name: str, kind: str) -> Any:
        """``group``'s ``name`` over the comparison period, what its change is against."""
        row = self.previous.get(group)
        if row is not None:
            return row.get(name)
        return 0 if self.previous_complete and kind in ADDITIVE_KINDS else None


def next_level(filters: Filters) -> str | None:
    index = LEVELS.index(filters.level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


def run_report(session: Session, site: Site, filters: Filters, name: str) -> queries.Report:
    """One of :data:`REPORT_NAMES` for the filters."""
    return queries.REPORTS[name](session, site, report_query(filters, site, name))


def pivot_models(report: queries.Report) -> tuple[list[str], list[tuple[str, dict[str, float]]]]:
    """The model comparison as rows of ``(group, {model: revenue})``, by the best revenue."""
    models: list[str] = list(report.meta.get("models", []))
    table: dict[str, dict[str, float]] = {}
    for row in report.rows:
        table.setdefault(group_label(row["group"]), {})[row["model"]] = round(row["revenue"], 2)
    ordered = sorted(table.items(), key=lambda item: (-max(item[1].values(), default=0), item[0]))
    return models, ordered


def choose_columns(raw: Sequence[str]) -> tuple[tuple[str, str, str], ...]:
    """The revenue table's columns picked in the URL (``cols``, repeated or comma-separated),
    in the table's order; the defaults when none is picked. Raises :class:`ValidationError`
    naming ``cols`` for an unknown column."""
    picked = {name.strip() for value in raw for name in value.split(",") if name.strip()}
    known = {name for name, _, _ in TABLE_COLUMNS}
    unknown = sorted(picked - known)
    if unknown:
        expected = ", ".join(name for name, _, _ in TABLE_COLUMNS)
        raise ValidationError(
            f"unknown column {unknown[0]!r}; expected any of {expected}", field="cols"
        )
    chosen = picked or set(DEFAULT_COLUMNS)
    return tuple(column for column in TABLE_COLUMNS if column[0] in chosen)


def chart_series(name: str, data: Sequence[Any], kind: str, fmt: SiteFormatter,
            axis: str = "y") -> dict[str, Any]:
    """One chart series: the numbers Chart.js draws and, for its tooltips, the same
    numbers as the tables print them."""
    return {"label": name, "data": [round(float(x or 0), 2) for x in data], "yAxisID": axis,
            "text": fmt.texts(list(data), kind)}


TREND_SERIES = (("sessions", "Sessions", "integer", "y"), ("leads", "Leads", "count", "y"),
                ("revenue", "Revenue", "money", "y1"))
# How Chart.js dashes a line: the comparison period's series.
DASHED = [6, 4]


def _bucket(day: dt.date, interval: str) -> dt.date:
    return day - dt.timedelta(days=day.weekday()) if interval == "week" else day


def trend_axis(start: dt.date, end: dt.date, interval: str) -> list[dt.date]:
    """Every day (or Monday-started week) of ``[start, end)``: the trend report lists only
    periods with data, the chart draws them all."""
    step = dt.timedelta(days=7 if interval == "week" else 1)
    day, axis = _bucket(start, interval), []
    while day < end:
        axis.append(day)
        day += step
    return axis


def trend_datasets(periods: Sequence[dict[str, Any]], earlier: Sequence[dict[str, Any]],
                   axis: Sequence[dt.date], offset: dt.timedelta, interval: str,
                   compared_with: str, fmt: SiteFormatter) -> list[dict[str, Any]]:
    """The trend's series over ``axis`` and, dashed, the comparison period's, aligned by
    day offset: each point of the period is drawn over the comparison period's day (or week)
    ``offset`` earlier, whose own date the tooltip names. A period without data is 0."""
    now = {row["period"]: row for row in periods}
    before = {row["period"]: row for row in earlier}
    matched = [_bucket(day - offset, interval).isoformat() for day in axis]
    datasets = [chart_series(label, [now.get(day.isoformat(), {}).get(name, 0) for day in axis],
                             kind, fmt, axis_id)
                for name, label, kind, axis_id in TREND_SERIES]
    for name, label, kind, axis_id in TREND_SERIES:
        series = chart_series(f"{label}, {compared_with}",
                              [before.get(day, {}).get(name, 0) for day in matched], kind, fmt,
                              axis_id)
        series["text"] = [f"{text} ({day})"
                          for text, day in zip(series["text"], matched, strict=True)]
        series["borderDash"] = DASHED
        datasets.append(series)
    return datasets


def charts(
    revenue: queries.Report,
    trend: queries.Report,
    funnel: Sequence[dict[str, Any]],
    models: Sequence[str],
    comparison: Sequence[tuple[str, dict[str, float]]],
    fmt: SiteFormatter,
    trend_axis_days: Sequence[dt.date] = (),
    earlier_trend: queries.Report | None = None,
    offset: dt.timedelta = dt.timedelta(0),
    compared_with: str = "previous period",
) -> dict[str, dict[str, Any]]:
    """The specs the page's script hands to Chart.js (each next to a table of the same
    figures): the top groups by revenue, the trend (with the comparison period dashed), the
    funnel, the top groups per model."""
    top = revenue.rows[:CHART_GROUPS]
    periods = trend.rows
    money = {"prefix": currency_symbol(fmt.currency)}
    return {
        "groups": {"type": "bar", "labels": [group_label(r["group"]) for r in top],
                   "axes": {"y": money},
                   "datasets": [chart_series("Revenue", [r["revenue"] for r in top], "money",
                                             fmt)]},
        "trend": {"type": "line", "labels": [day.isoformat() for day in trend_axis_days],
                  "axes": {"y1": money},
                  "datasets": trend_datasets(
                      periods, earlier_trend.rows if earlier_trend else [], trend_axis_days,
                      offset, trend.meta["query"]["interval"], compared_with, fmt)},
        "funnel": {"type": "bar", "horizontal": True,
                   "labels": [r["stage"] for r in funnel],
                   "datasets": [chart_series("Leads", [r["leads"] for r in funnel], "count", fmt)]},
        "models": {"type": "bar",
                   "labels": [group for group, _ in comparison[:CHART_GROUPS]],
                   "axes": {"y": money},
                   "datasets": [chart_series(model.replace("_", " "),
                                        [values.get(model, 0) for _, values
                                         in comparison[:CHART_GROUPS]], "money", fmt)
                                for model in models]},
    }


def overview(session: Session, site: Site, filters: Filters, fmt: SiteFormatter,
             compared_with: str = "previous period") -> Overview:
    """Everything the overview page shows, the tiles included (:func:`kpis` reads the
    revenue reports' totals): 5 reports, and the revenue and trend reports again over the
    comparison period (the same rollups, as many rows)."""
    revenue = run_report(session, site, filters, "revenue")
    trend = run_report(session, site, filters, "trend")
    earlier_revenue = run_report(session, site, filters.comparison(), "revenue")
    earlier_trend = run_report(session, site, filters.comparison(), "trend")
    funnel = [row for row in run_report(session, site, filters, "funnel").rows
              if row["group"] == "(all)"]
    models, comparison = pivot_models(run_report(session, site, filters, "models"))
    owners = queries.win_rate_report(
        session, site, dataclasses.replace(report_query(filters, site), group_by="owner"))
    return Overview(
        level=filters.level,
        next_level=next_level(filters),
        revenue=revenue,
        trend=trend,
        funnel=funnel,
        models=models,
        comparison=comparison,
        charts=charts(revenue, trend, funnel, models, comparison, fmt,
                      trend_axis(filters.start, filters.end, trend.meta["query"]["interval"]),
                      earlier_trend, filters.start - filters.comparison().start, compared_with),
        owners=owners,
        previous={row["group"]: row for row in earlier_revenue.rows},
        previous_totals=earlier_revenue.totals or {},
        previous_complete=len(earlier_revenue.rows) < report_query(filters, site).limit,
    )


# The data-driven models whose stored fit the page shows, and what a share of each means.
FITTED_MEANING = {
    "markov": "removal-effect share: the fraction of all conversions lost when the channel is "
              "removed from the chain, normalised so the channels sum to 100%",
    "shapley": "Shapley share: the channel's average marginal contribution to the conversion "
               "rate over every set of channels it can join, normalised to 100%",
}
CONVERSION_NAMES = {"lead": "leads", "opportunity": "opportunities", "won": "won deals"}


@dataclass(frozen=True, slots=True)
class FittedShares:
    """One data-driven model's stored fit for one conversion type: per channel the share of
    conversions and of value the fitted model gives it (the model's own answer, over every
    journey it was fitted on, not the period's credited revenue)."""

    model: str
    conversion: str
    conversions: int | None
    fitted_at: dt.datetime
    # channel, conversion share %, value share % (None when the conversions carry no value:
    # leads, or deals without amounts, where every value share is 0).
    rows: list[tuple[str, float, float | None]]


def fitted_shares(session: Session, site: Site, models: Sequence[str]) -> list[FittedShares]:
    """The stored fits of the site's Markov and Shapley models (a handful of rows, written by
    the worker; nothing is fitted per request), channels by conversion share."""
    shown = [name for name in models if name in FITTED_MEANING]
    if not shown:
        return []
    fits = session.scalars(
        select(AttributionFit).where(AttributionFit.site_id == site.id,
                                     AttributionFit.model.in_(shown)))
    found = []
    for fit in fits:
        if not fit.channels:
            continue
        valued = any(fit.value_shares)
        rows = sorted(
            ((channel, share * 100, value * 100 if valued else None) for channel, share, value
             in zip(fit.channels, fit.conversion_shares, fit.value_shares, strict=True)),
            key=lambda row: (-row[1], row[0]))
        conversions = (fit.details or {}).get("conversions")
        found.append(FittedShares(fit.model, fit.conversion,
                                  int(conversions) if conversions is not None else None,
                                  fit.fitted_at, rows))
    order = {name: i for i, name in enumerate(CONVERSION_NAMES)}
    return sorted(found, key=lambda f: (shown.index(f.model), order.get(f.conversion, 9)))


def report_as_csv(session: Session, site: Site, filters: Filters, name: str) -> str:
    """A report exactly as ``/api/v1/reports/<name>?format=csv`` renders it."""
    return report_csv(run_report(session, site, filters, name))
