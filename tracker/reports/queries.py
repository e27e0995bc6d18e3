"""The reports' SQL: every figure is a set-based aggregate in the database, a fixed number of
statements per report whatever the data size, scoped by site in every ``WHERE``.

Definitions (docs/reports.md has them in full):

* traffic (visitors, sessions) counts sessions *started* in the range, grouped by their own
  channel, source...; costs count spend *days* in the range;
* attributed figures sum the stored credit of conversions *dated* in the range under the
  chosen model: leads (lead created), opportunities and open pipeline (deal opened),
  customers (a lead's first won deal) and revenue (every won deal, by closing day);
* MQLs and SQLs are the attributed leads of the range that have reached that stage by now;
* win rate weighs each deal closed (won or lost) in the range by its opportunity journey;
* the derived figures are the formulas of :mod:`attribution.metrics`, null when undefined.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import String, and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from attribution import metrics
from tracker.costs.adspend.coverage import COVERED_DIMENSIONS, pulled_coverage
from tracker.errors import NotFound
from tracker.leads.stages import FUNNEL
from tracker.localtime import local_day_sql
from tracker.models import (
    AttributionCredit,
    Call,
    CallSettings,
    Cost,
    Deal,
    Lead,
    Site,
    StageChange,
    VisitSession,
)
from tracker.reports.durations import median_mean_days
from tracker.reports.query import ReportQuery
from tracker.reports.rollups import (
    ATTRIBUTED,
    REACHED,
    CreditFigures,
    attributed_from_rollups,
    credits_by_day_from_rollups,
    credits_from_rollups,
    sessions_by_day_from_rollups,
    traffic_from_rollups,
)
from tracker.sites.settings import site_settings
from tracker.validation import uuid_or_not_found

C = AttributionCredit
S = VisitSession
Key = str | None


@dataclass(frozen=True, slots=True)
class Column:
    """A report column; ``kind`` drives rounding and CSV formatting (text, count, money,
    percent, ratio, days, integer, time)."""

    name: str
    kind: str


@dataclass(frozen=True)
class Report:
    name: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    totals: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


# --- expressions -----------------------------------------------------------------------------


def _strip_after(column: Any, marker: str, dialect: str) -> Any:
    if dialect == "postgresql":
        return func.split_part(column, marker, 1)
    position = func.instr(column, marker)
    return case((position > 0, func.substr(column, 1, position - 1)), else_=column)


def landing_page_sql(column: Any, dialect: str) -> Any:
    """SQL twin of :func:`tracker.credits.journeys.landing_page` (an empty URL is no landing
    page there, so NULL here; tests/api/test_landing_page.py runs both on one table)."""
    return _strip_after(_strip_after(func.nullif(column, ""), "#", dialect), "?", dialect)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _session_dimensions(dialect: str) -> dict[str, Any]:
    return {
        "channel": S.channel,
        "source": S.source,
        "medium": S.medium,
        "campaign": S.campaign,
        "keyword": S.term,
        "landing_page": landing_page_sql(S.landing_url, dialect),
    }


def _credit_dimensions() -> dict[str, Any]:
    return {name: getattr(C, name) for name in
            ("channel", "source", "medium", "campaign", "keyword", "landing_page")}


def _cost_dimensions() -> dict[str, Any]:
    # Spend has no landing page: grouped or filtered by it, cost is unknown (null).
    return {name: getattr(Cost, name) for name in
            ("channel", "source", "medium", "campaign", "keyword")}


def _blank_to_null(expression: Any) -> Any:
    return func.nullif(expression, "")


def _matches(expression: Any, value: str | None) -> ColumnElement[bool]:
    if value is None:
        return or_(expression.is_(None), expression == "")
    result: ColumnElement[bool] = expression == value
    return result


def _filtered(statement: Any, dims: Mapping[str, Any], query: ReportQuery) -> Any:
    """``statement`` restricted to the query's dimension filters."""
    for name, value in query.filters:
        statement = statement.where(_matches(dims[name], value))
    return statement


def _group(dims: Mapping[str, Any], name: str | None) -> Any:
    if name is None:
        return literal("").label("g")
    return _blank_to_null(dims[name]).label("g")


def _credits_in_range(site_id: int, query: ReportQuery, every_model: bool = False) -> list[Any]:
    where = [C.site_id == site_id, C.converted_at >= query.start_at, C.converted_at < query.end_at]
    return where if every_model else [*where, C.model == query.model]


# --- building blocks -------------------------------------------------------------------------


def traffic(
    session: Session,
    site_id: int,
    query: ReportQuery,
    group_by: str | None,
    *,
    from_sessions: bool = False,
) -> tuple[dict[Key, tuple[int, int]], tuple[int, int]]:
    """``{group: (sessions, unique visitors)}`` for sessions started in the range, and the same
    pair over all groups (unique visitors are not additive): from the traffic rollups when
    they can answer (tracker/reports/rollups.py), else from one scan of the sessions."""
    if not from_sessions:
        found = traffic_from_rollups(session, site_id, query, group_by)
        if found is not None:
            return found
    dims = _session_dimensions(_dialect(session))
    g = _group(dims, group_by)
    # Hash aggregates per (group, visitor), then per group, instead of COUNT(DISTINCT) over
    # every session of the range (PostgreSQL sorts for it); the CTE is scanned once for both.
    per_visitor = _filtered(
        select(g, S.visitor_id, func.count().label("n"))
        .where(S.site_id == site_id, S.started_at >= query.start_at, S.started_at < query.end_at)
        .group_by(g, S.visitor_id),
        dims,
        query,
    ).cte("per_visitor")
    grouped = select(
        literal(0).label("total"), per_visitor.c.g, func.sum(per_visitor.c.n), func.count()
    ).group_by(per_visitor.c.g)
    overall = select(
        literal(1), literal(None, String()), func.sum(per_visitor.c.n),
        func.count(func.distinct(per_visitor.c.visitor_id)),
    )
    groups: dict[Key, tuple[int, int]] = {}
    everything = (0, 0)
    for is_total, key, n, visitors in session.execute(union_all(grouped, overall)):
        if is_total:
            everything = (int(n or 0), int(visitors or 0))
        else:
            groups[key or None] = (int(n), int(visitors))
    return groups, everything


def sessions_by_day(
    session: Session, site_id: int, query: ReportQuery, *, from_sessions: bool = False
) -> dict[dt.date, int]:
    """Sessions started on each local day of the range: from the traffic rollups when they
    can answer, else from the sessions."""
    if not from_sessions:
        found = sessions_by_day_from_rollups(session, site_id, query)
        if found is not None:
            return found
    dialect = _dialect(session)
    day = local_day_sql(S.started_at, dialect, query.timezone, query.start_at, query.end_at)
    statement = _filtered(
        select(day, func.count())
        .where(S.site_id == site_id, S.started_at >= query.start_at, S.started_at < query.end_at)
        .group_by(day), _session_dimensions(dialect), query)
    counts: dict[dt.date, int] = defaultdict(int)
    for found_day, count in session.execute(statement):
        counts[_as_date(found_day)] += int(count)
    return dict(counts)


@dataclass(frozen=True, slots=True)
class Spend:
    """Spend per group in site currency where it is *known*: a group with cost rows in the
    range, or one a connected ad account vouches for (docs/spend.md): 0 there when nothing
    was spent. ``everywhere`` when an account vouches for every group of the query (the
    filters pin the query to its channel, source or medium). Impressions and clicks per
    group where a platform reported them."""

    cost: dict[Key, float]
    impressions: dict[Key, int]
    clicks: dict[Key, int]
    everywhere: bool = False

    def cost_of(self, key: Key) -> float | None:
        """The group's cost; None when unknown (shown as —), never a made-up 0."""
        if key in self.cost:
            return self.cost[key]
        return 0.0 if self.everywhere else None

    def total(self) -> float | None:
        """The known spend of every group; None when nothing of it is known."""
        if not self.cost and not self.everywhere:
            return None
        return sum(self.cost.values())

    def delivery(self, key: Key) -> tuple[int | None, int | None]:
        return self.impressions.get(key), self.clicks.get(key)


def spend_by_group(
    session: Session, site: Site, query: ReportQuery, group_by: str | None
) -> Spend | None:
    """Known spend, impressions and clicks per group (2 statements), or None when cost
    cannot be known at all (grouped or filtered by landing page: spend has none)."""
    dims = _cost_dimensions()
    if group_by == "landing_page" or any(name == "landing_page" for name, _ in query.filters):
        return None
    g = _group(dims, group_by)
    statement = _filtered(
        select(g, func.sum(Cost.amount_site), func.sum(Cost.impressions), func.sum(Cost.clicks))
        .where(Cost.site_id == site.id, Cost.day >= query.start, Cost.day <= query.end)
        .group_by(g),
        dims,
        query,
    )
    spend = Spend({}, {}, {})
    for key, total, impressions, clicks in session.execute(statement):
        spend.cost[key or None] = float(total)
        if impressions is not None:
            spend.impressions[key or None] = int(impressions)
        if clicks is not None:
            spend.clicks[key or None] = int(clicks)
    rules = site_settings(site).channel_rules
    covering = [c for c in pulled_coverage(session, site.id, query.start, query.end, rules)
                if c.matches(query.filters)]
    pinned = any(name in COVERED_DIMENSIONS for name, _ in query.filters)
    everywhere = False
    for account in covering:
        if group_by in COVERED_DIMENSIONS:
            spend.cost.setdefault(account.dimensions[group_by], 0.0)
        elif pinned or group_by is None:
            everywhere = True
    return Spend(spend.cost, spend.impressions, spend.clicks, everywhere)


# A call carries the source of the number the caller dialled (tracker/calls/service.py): it
# groups and filters like a session, but has no landing page.
_CALL_DIMENSIONS: dict[str, Any] = {
    "channel": Call.channel, "source": Call.source, "medium": Call.medium,
    "campaign": Call.campaign, "keyword": Call.term,
}


@dataclass(frozen=True, slots=True)
class Calls:
    """Tracked calls per group, ``(calls, answered)``; a group without any has (0, 0): the
    site tracks calls, so none were made."""

    by_group: dict[Key, tuple[int, int]]

    def of(self, key: Key) -> tuple[int, int]:
        return self.by_group.get(key, (0, 0))

    def total(self) -> tuple[int, int]:
        return (sum(calls for calls, _ in self.by_group.values()),
                sum(answered for _, answered in self.by_group.values()))


def calls_by_group(session: Session, site_id: int, query: ReportQuery, group_by: str | None
                   ) -> Calls | None:
    """Calls and answered calls per group in the range (1 statement; calls are few beside
    sessions, so they have no rollup). None (unknown, shown as —) when the site does not
    track calls, or the report is grouped or filtered by landing page."""
    if (group_by is not None and group_by not in _CALL_DIMENSIONS) or any(
            name not in _CALL_DIMENSIONS for name, _ in query.filters):
        return None
    if session.get(CallSettings, site_id) is None:
        return None
    g = _group(_CALL_DIMENSIONS, group_by)
    answered = func.sum(case((Call.answered, 1), else_=0))
    statement = _filtered(
        select(g, func.count(), answered)
        .where(Call.site_id == site_id, Call.started_at >= query.start_at,
               Call.started_at < query.end_at)
        .group_by(g),
        _CALL_DIMENSIONS, query)
    return Calls({key or None: (int(calls), int(answered or 0))
                  for key, calls, answered in session.execute(statement)})


def _stage_ranks(site_id: int, query: ReportQuery) -> Any:
    """Per lead created in the range, the furthest funnel stage it ever reached (0 = lead)."""
    rank = case(*[(StageChange.to_stage == stage, i) for i, stage in enumerate(FUNNEL)], else_=0)
    created = select(Lead.id).where(
        Lead.site_id == site_id, Lead.created_at >= query.start_at, Lead.created_at < query.end_at
    )
    return (
        select(StageChange.lead_id.label("lead_id"), func.max(rank).label("rank"))
        .where(StageChange.site_id == site_id, StageChange.lead_id.in_(created))
        .group_by(StageChange.lead_id)
        .subquery()
    )


def attributed(
    session: Session,
    site_id: int,
    query: ReportQuery,
    group_by: str | None,
    *,
    by_model: bool = False,
) -> dict[tuple[str, Key], dict[str, float]]:
    """``{(model, group): {leads, mqls, sqls, opportunities, pipeline, customers, revenue}}``
    summed from the stored credits (every configured model when ``by_model``)."""
    dims = _credit_dimensions()
    g = _group(dims, group_by)
    ranks = _stage_ranks(site_id, query)
    lead, opportunity, won = (C.conversion == kind for kind in ("lead", "opportunity", "won"))

    def total(condition: Any, column: Any = C.credit) -> Any:
        return func.sum(case((condition, column), else_=0.0))

    where = _credits_in_range(site_id, query, every_model=by_model)
    statement = _filtered(
        select(
            C.model,
            g,
            total(lead),
            total(and_(lead, ranks.c.rank >= FUNNEL.index("mql"))),
            total(and_(lead, ranks.c.rank >= FUNNEL.index("sql"))),
            total(opportunity),
            total(opportunity, C.value),
            total(and_(won, C.new_customer.is_(True))),
            total(won, C.value),
        )
        .outerjoin(ranks, and_(lead, ranks.c.lead_id == C.lead_id))
        .where(*where)
        .group_by(C.model, g),
        dims,
        query,
    )
    return {
        (model, key or None): dict(zip(ATTRIBUTED, (float(x or 0) for x in sums), strict=True))
        for model, key, *sums in session.execute(statement)
    }


def durations(
    session: Session, site_id: int, query: ReportQuery, group_by: str | None
) -> dict[Key, dict[str, dict[uuid.UUID, float]]]:
    """Per group, ``{conversion: {conversion id: seconds}}`` over the conversions in which the
    group got credit: first touch → lead (``lead``) and lead → won (``won``)."""
    dims = _credit_dimensions()
    g = _group(dims, group_by)
    statement = _filtered(
        select(g, C.conversion, C.conversion_id, func.max(C.seconds_to_convert))
        .where(
            *_credits_in_range(site_id, query),
            C.conversion.in_(("lead", "won")),
            C.credit > 0,
            C.seconds_to_convert.is_not(None),
        )
        .group_by(g, C.conversion, C.conversion_id),
        dims,
        query,
    )
    found: dict[Key, dict[str, dict[uuid.UUID, float]]] = defaultdict(
        lambda: {"lead": {}, "won": {}}
    )
    # Core, not ORM, execution: tens of thousands of plain tuples, no entity loading.
    for key, conversion, conversion_id, seconds in session.connection().execute(statement):
        found[key or None][conversion][conversion_id] = float(seconds)
    return found


def closed_deals(
    session: Session, site_id: int, query: ReportQuery, group_by: str | None
) -> dict[Key, tuple[float, float]]:
    """``{group: (won, lost)}``: deals closed in the range, each weighted by the credit its
    opportunity journey gives the group (deal owner: plain counts)."""
    closed = [
        Deal.site_id == site_id,
        Deal.deleted.is_(False),
        Deal.status.in_(("won", "lost")),
        Deal.closed_at >= query.start_at,
        Deal.closed_at < query.end_at,
    ]
    won = Deal.status == "won"
    if group_by == "owner":
        statement: Any = (
            select(Deal.owner, func.sum(case((won, 1.0), else_=0.0)),
                   func.sum(case((won, 0.0), else_=1.0)))
            .where(*closed)
            .group_by(Deal.owner)
        )
        if query.filters:
            statement = statement.where(Deal.lead_id.in_(_leads_matching(site_id, query)))
    else:
        dims = _credit_dimensions()
        g = _group(dims, group_by)
        statement = _filtered(
            select(g, func.sum(case((won, C.credit), else_=0.0)),
                   func.sum(case((won, 0.0), else_=C.credit)))
            .join(Deal, and_(Deal.site_id == C.site_id, Deal.id == C.conversion_id))
            .where(C.site_id == site_id, C.model == query.model, C.conversion == "opportunity",
                   *closed)
            .group_by(g),
            dims,
            query,
        )
    return {key or None: (float(w or 0), float(lo or 0)) for key, w, lo in
            session.execute(statement)}


def _leads_matching(site_id: int, query: ReportQuery) -> Select[Any]:
    """Ids of leads with a touch matching the query's filters (any conversion, the model)."""
    statement: Select[Any] = _filtered(
        select(C.lead_id).where(C.site_id == site_id, C.model == query.model),
        _credit_dimensions(),
        query,
    )
    return statement


# --- figures ---------------------------------------------------------------------------------


def spend_figures(
    revenue: float, leads: float, customers: float, cost: float | None
) -> dict[str, Any]:
    """Lead value, CPL, CPA and ROAS; the cost-based ones are null when cost is unknown."""
    lead_value = metrics.lead_value(revenue, leads)
    if cost is None:
        return {"lead_value": lead_value, "cpl": None, "cpa": None, "roas": None}
    return {
        "lead_value": lead_value,
        "cpl": metrics.cost_per_lead(cost, leads),
        "cpa": metrics.cost_per_acquisition(cost, customers),
        "roas": metrics.return_on_ad_spend(revenue, cost),
    }


def derive(base: Mapping[str, Any], gross_margin: float) -> dict[str, Any]:
    """The DESIGN section 7 figures from the base counts of one group (None when undefined)."""
    leads, customers = base["leads"], base["customers"]
    revenue, cost = base["revenue"], base["cost"]
    visitors, sessions = base["visitors"], base["sessions"]
    known_cost = cost is not None
    return {
        **spend_figures(revenue, leads, customers, cost),
        "visitor_to_lead_rate": metrics.visitor_to_lead_rate(leads, visitors),
        "session_to_lead_rate": metrics.session_to_lead_rate(leads, sessions),
        "lead_to_customer_rate": metrics.lead_to_customer_rate(customers, leads),
        "visitor_to_customer_rate": metrics.visitor_to_customer_rate(customers, visitors),
        "session_to_customer_rate": metrics.session_to_customer_rate(customers, sessions),
        "arpc": metrics.average_revenue_per_customer(revenue, customers),
        "roi": metrics.return_on_investment(revenue, gross_margin, cost) if known_cost else None,
        "win_rate": metrics.win_rate(base["won"], base["lost"]),
    }


def delivery_figures(cost: float | None, leads: float, impressions: int | None,
                     clicks: int | None) -> dict[str, Any]:
    """The ad platforms' delivery and what follows from it: CTR, CPC, click → lead rate
    (null where a figure behind them is unknown)."""
    return {
        "impressions": impressions,
        "clicks": clicks,
        "ctr": None if clicks is None or impressions is None
        else metrics.click_through_rate(clicks, impressions),
        "cpc": None if cost is None or clicks is None else metrics.cost_per_click(cost, clicks),
        "click_to_lead_rate": None if clicks is None
        else metrics.click_to_lead_rate(leads, clicks),
    }


def _summed_delivery(spend: Spend | None) -> tuple[int | None, int | None]:
    if spend is None:
        return None, None
    return (sum(spend.impressions.values()) if spend.impressions else None,
            sum(spend.clicks.values()) if spend.clicks else None)


def _base_columns() -> tuple[Column, ...]:
    return (
        Column("visitors", "integer"),
        Column("sessions", "integer"),
        Column("leads", "count"),
        Column("mqls", "count"),
        Column("sqls", "count"),
        Column("opportunities", "count"),
        Column("customers", "count"),
        Column("revenue", "money"),
        Column("pipeline", "money"),
        Column("cost", "money"),
        Column("won", "count"),
        Column("lost", "count"),
    )


REVENUE_COLUMNS = (
    Column("group", "text"),
    *_base_columns(),
    Column("lead_value", "money"),
    Column("visitor_to_lead_rate", "percent"),
    Column("session_to_lead_rate", "percent"),
    Column("lead_to_customer_rate", "percent"),
    Column("visitor_to_customer_rate", "percent"),
    Column("session_to_customer_rate", "percent"),
    Column("cpl", "money"),
    Column("cpa", "money"),
    Column("arpc", "money"),
    Column("roas", "ratio"),
    Column("roi", "ratio"),
    Column("win_rate", "percent"),
    Column("impressions", "integer"),
    Column("clicks", "integer"),
    Column("ctr", "percent"),
    Column("cpc", "money"),
    Column("click_to_lead_rate", "percent"),
    Column("calls", "integer"),
    Column("answered_calls", "integer"),
    Column("median_days_to_lead", "days"),
    Column("mean_days_to_lead", "days"),
    Column("median_days_lead_to_won", "days"),
    Column("mean_days_lead_to_won", "days"),
)


def _margin(site: Site) -> float:
    return site_settings(site).gross_margin_pct / 100.0


def credit_figures(
    session: Session,
    site_id: int,
    query: ReportQuery,
    group_by: str | None,
    *,
    from_credits: bool = False,
) -> CreditFigures:
    """Attributed sums, win-rate weights and times to convert under the query's model: from
    the credit rollups when they can answer, else from the stored credits (3 statements)."""
    if not from_credits:
        found = credits_from_rollups(session, site_id, query, group_by)
        if found is not None:
            return found
    sums = {key: value for (_m, key), value in
            attributed(session, site_id, query, group_by).items()}
    times = durations(session, site_id, query, group_by)
    every: dict[str, dict[uuid.UUID, float]] = {"lead": {}, "won": {}}
    for spans in times.values():
        for kind, found_spans in spans.items():
            every[kind].update(found_spans)

    def seconds(spans: Mapping[uuid.UUID, float]) -> npt.NDArray[np.float64]:
        return np.fromiter(spans.values(), dtype=np.float64, count=len(spans))

    return CreditFigures(
        sums=sums,
        closed=closed_deals(session, site_id, query, group_by),
        times={key: {kind: seconds(spans) for kind, spans in kinds.items()}
               for key, kinds in times.items()},
        all_times={kind: seconds(spans) for kind, spans in every.items()},
    )


def revenue_report(
    session: Session, site: Site, query: ReportQuery, *, from_raw: bool = False
) -> Report:
    """Every figure per group under one model: 3 statements from the rollups, 6 from the
    sessions and stored credits (``from_raw``, or when the rollups cannot answer), plus the
    spend and, for a site tracking calls, the calls."""
    group_by = query.group_by
    visits, visits_total = traffic(session, site.id, query, group_by, from_sessions=from_raw)
    credited = credit_figures(session, site.id, query, group_by, from_credits=from_raw)
    sums, times, deals = credited.sums, credited.times, credited.closed
    spend = spend_by_group(session, site, query, group_by)
    calls = calls_by_group(session, site.id, query, group_by)
    keys = (set(visits) | set(sums) | set(spend.cost if spend else {}) | set(times) | set(deals)
            | set(calls.by_group if calls else {}))
    margin = _margin(site)
    no_time = np.empty(0)

    def row(key: Key, counts: Mapping[str, float], sessions_visitors: tuple[int, int],
            cost: float | None, delivery: tuple[int | None, int | None],
            spans: Mapping[str, npt.NDArray[np.float64]],
            won_lost: tuple[float, float],
            called: tuple[int | None, int | None]) -> dict[str, Any]:
        base: dict[str, Any] = {
            "group": key,
            "visitors": sessions_visitors[1],
            "sessions": sessions_visitors[0],
            **{name: counts.get(name, 0.0) for name in ATTRIBUTED},
            "cost": cost,
            "won": won_lost[0],
            "lost": won_lost[1],
        }
        base.update(derive(base, margin))
        base.update(delivery_figures(cost, base["leads"], *delivery))
        base.update(calls=called[0], answered_calls=called[1])
        lead_median, lead_mean = median_mean_days(spans.get("lead", no_time))
        won_median, won_mean = median_mean_days(spans.get("won", no_time))
        base.update(median_days_to_lead=lead_median, mean_days_to_lead=lead_mean,
                    median_days_lead_to_won=won_median, mean_days_lead_to_won=won_mean)
        return base

    rows = [
        row(key, sums.get(key, {}), visits.get(key, (0, 0)),
            None if spend is None else spend.cost_of(key),
            (None, None) if spend is None else spend.delivery(key),
            times.get(key, {}), deals.get(key, (0.0, 0.0)),
            (None, None) if calls is None else calls.of(key))
        for key in keys
    ]
    rows.sort(key=lambda r: (-r["revenue"], -r["leads"], -r["sessions"], r["group"] or ""))
    totals = row(
        None,
        {name: sum(r[name] for r in rows) for name in ATTRIBUTED},
        visits_total,
        None if spend is None else spend.total(),
        _summed_delivery(spend),
        credited.all_times,
        (sum(r["won"] for r in rows), sum(r["lost"] for r in rows)),
        (None, None) if calls is None else calls.total(),
    )
    del totals["group"]
    counted = "approximate" if query.approximate_visitors else "exact"
    return Report("revenue", REVENUE_COLUMNS, rows, totals,
                  {"query": query.describe(), "unique_visitors": counted})


def _funnel_counts(session: Session, site_id: int, query: ReportQuery, from_raw: bool
                   ) -> dict[Key, list[float]]:
    """Per group, the lead credit of leads created in the range that reached each stage."""
    if not from_raw:
        found = attributed_from_rollups(session, site_id, query, query.group_by, names=REACHED,
                                        leads_only=True)
        if found is not None:
            return {key: [sums[name] for name in REACHED] for (_m, key), sums in found.items()}
    dims = _credit_dimensions()
    g = _group(dims, query.group_by)
    ranks = _stage_ranks(site_id, query)
    reached = [
        func.sum(case((func.coalesce(ranks.c.rank, 0) >= i, C.credit), else_=0.0))
        for i in range(len(FUNNEL))
    ]
    statement = _filtered(
        select(g, *reached)
        .outerjoin(ranks, ranks.c.lead_id == C.lead_id)
        .where(*_credits_in_range(site_id, query), C.conversion == "lead")
        .group_by(g),
        dims,
        query,
    )
    return {key or None: [float(x or 0) for x in counts] for key, *counts in
            session.execute(statement)}


def funnel_report(
    session: Session, site: Site, query: ReportQuery, *, from_raw: bool = False
) -> Report:
    """Leads created in the range (attributed to the group) and how many reached each stage,
    with stage-to-stage rates (1 statement)."""
    by_group = _funnel_counts(session, site.id, query, from_raw)
    overall = [sum(counts[i] for counts in by_group.values()) for i in range(len(FUNNEL))]
    ordered = sorted(by_group.items(), key=lambda kv: (-kv[1][0], kv[0] or ""))
    rows = []
    for key, counts in [*ordered, ("(all)", overall)]:
        for index, stage in enumerate(FUNNEL):
            rows.append({
                "group": key,
                "stage": stage,
                "leads": counts[index],
                "rate_from_previous": metrics.stage_rate(counts[index], counts[index - 1])
                if index else None,
                "rate_from_lead": metrics.stage_rate(counts[index], counts[0]),
            })
    meta = {"query": query.describe(), "stages": FUNNEL}
    return Report("funnel", FUNNEL_COLUMNS, rows, None, meta)


# The conversion figures the model comparison and the trend share.
CONVERSION_COLUMNS = (
    Column("leads", "count"),
    Column("opportunities", "count"),
    Column("customers", "count"),
    Column("revenue", "money"),
    Column("pipeline", "money"),
    Column("cost", "money"),
    Column("lead_value", "money"),
    Column("cpl", "money"),
)
MODEL_COLUMNS = (
    Column("group", "text"),
    Column("model", "text"),
    *CONVERSION_COLUMNS,
    Column("cpa", "money"),
    Column("roas", "ratio"),
)
FUNNEL_COLUMNS = (
    Column("group", "text"),
    Column("stage", "text"),
    Column("leads", "count"),
    Column("rate_from_previous", "percent"),
    Column("rate_from_lead", "percent"),
)
WIN_RATE_COLUMNS = (
    Column("group", "text"),
    Column("won", "count"),
    Column("lost", "count"),
    Column("win_rate", "percent"),
)


def model_comparison(
    session: Session, site: Site, query: ReportQuery, *, from_raw: bool = False
) -> Report:
    """Every configured model side by side for each group (3 statements)."""
    models = site_settings(site).attribution_models
    rolled = None if from_raw else attributed_from_rollups(
        session, site.id, query, query.group_by, every_model=True)
    sums = rolled if rolled is not None else attributed(
        session, site.id, query, query.group_by, by_model=True)
    spend = spend_by_group(session, site, query, query.group_by)
    keys = sorted({key for _model, key in sums} | set(spend.cost if spend else {}),
                  key=lambda k: k or "")
    rows = []
    for key in keys:
        cost = None if spend is None else spend.cost_of(key)
        for model in models:
            counts = sums.get((model, key), dict.fromkeys(ATTRIBUTED, 0.0))
            leads, customers, revenue = counts["leads"], counts["customers"], counts["revenue"]
            rows.append({
                "group": key,
                "model": model,
                "leads": leads,
                "opportunities": counts["opportunities"],
                "customers": customers,
                "revenue": revenue,
                "pipeline": counts["pipeline"],
                "cost": cost,
                **spend_figures(revenue, leads, customers, cost),
            })
    meta = {"query": query.describe(), "models": list(models)}
    return Report("models", MODEL_COLUMNS, rows, None, meta)


def win_rate_report(session: Session, site: Site, query: ReportQuery) -> Report:
    """Won / (won + lost) for deals closed in the range, by owner or attributed group."""
    found = closed_deals(session, site.id, query, query.group_by)
    rows: list[dict[str, Any]] = [
        {"group": key, "won": won, "lost": lost, "win_rate": metrics.win_rate(won, lost)}
        for key, (won, lost) in sorted(found.items(), key=lambda kv: (-kv[1][0], kv[0] or ""))
    ]
    all_won = sum(won for won, _lost in found.values())
    all_lost = sum(lost for _won, lost in found.values())
    totals = {"won": all_won, "lost": all_lost, "win_rate": metrics.win_rate(all_won, all_lost)}
    return Report("win_rates", WIN_RATE_COLUMNS, rows, totals, {"query": query.describe()})


def _period(day: dt.date, interval: str) -> dt.date:
    if interval == "week":
        return day - dt.timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _period_end(start: dt.date, interval: str) -> dt.date:
    if interval == "week":
        return start + dt.timedelta(days=6)
    if interval == "month":
        return (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return start


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


TREND_COLUMNS = (
    Column("period", "text"),
    Column("sessions", "integer"),
    *CONVERSION_COLUMNS,
    Column("roas", "ratio"),
)


def _credits_by_day(session: Session, site_id: int, query: ReportQuery, from_raw: bool
                    ) -> dict[dt.date, dict[str, float]]:
    """Per local day of the range: leads, opportunities, customers, revenue and pipeline."""
    if not from_raw:
        found = credits_by_day_from_rollups(session, site_id, query, TREND_CREDITS)
        if found is not None:
            return found
    credit_day = local_day_sql(C.converted_at, _dialect(session), query.timezone,
                               query.start_at, query.end_at)
    lead, opportunity, won = (C.conversion == kind for kind in ("lead", "opportunity", "won"))
    statement = _filtered(
        select(
            credit_day,
            func.sum(case((lead, C.credit), else_=0.0)),
            func.sum(case((opportunity, C.credit), else_=0.0)),
            func.sum(case((and_(won, C.new_customer.is_(True)), C.credit), else_=0.0)),
            func.sum(case((won, C.value), else_=0.0)),
            func.sum(case((opportunity, C.value), else_=0.0)),
        ).where(*_credits_in_range(site_id, query)).group_by(credit_day),
        _credit_dimensions(), query)
    found_days: dict[dt.date, dict[str, float]] = {}
    for day, *sums in session.execute(statement):
        entry = found_days.setdefault(_as_date(day), dict.fromkeys(TREND_CREDITS, 0.0))
        for name, number in zip(TREND_CREDITS, sums, strict=True):
            entry[name] += float(number or 0)
    return found_days


TREND_CREDITS = ("leads", "opportunities", "customers", "revenue", "pipeline")


def trend_report(
    session: Session, site: Site, query: ReportQuery, *, from_raw: bool = False
) -> Report:
    """Per day, ISO week (from Monday) or month of the site's calendar: traffic, attributed
    conversions and spend, filtered like any report (4 statements)."""
    periods: dict[dt.date, dict[str, Any]] = {}

    def bucket(day: Any) -> dict[str, Any]:
        start = _period(_as_date(day), query.interval)
        return periods.setdefault(start, dict.fromkeys(
            ("sessions", "leads", "opportunities", "customers", "revenue", "pipeline", "cost"),
            0.0))

    for day, count in sessions_by_day(session, site.id, query, from_sessions=from_raw).items():
        bucket(day)["sessions"] += count
    for day, sums in _credits_by_day(session, site.id, query, from_raw).items():
        entry = bucket(day)
        for name, number in sums.items():
            entry[name] += number
    spend: Any = None
    spent: set[dt.date] = set()  # periods with cost rows
    covering: list[Any] = []
    if not any(name == "landing_page" for name, _ in query.filters):
        spend = _filtered(
            select(Cost.day, func.sum(Cost.amount_site))
            .where(Cost.site_id == site.id, Cost.day >= query.start, Cost.day <= query.end)
            .group_by(Cost.day), _cost_dimensions(), query)
        for day, amount in session.execute(spend):
            bucket(day)["cost"] += float(amount)
            spent.add(_period(_as_date(day), query.interval))
        covering = [c for c in pulled_coverage(session, site.id, query.start, query.end,
                                               site_settings(site).channel_rules)
                    if c.matches(query.filters)]
    rows = []
    for start in sorted(periods):
        entry = periods[start]
        # Known where the period has cost rows or an ad account pulled some of its days.
        last = _period_end(start, query.interval)
        known = spend is not None and (
            start in spent or any(c.overlaps(start, last) for c in covering))
        cost = entry["cost"] if known else None
        rows.append({
            "period": start.isoformat(),
            **entry,
            "sessions": int(entry["sessions"]),
            "cost": cost,
            **spend_figures(entry["revenue"], entry["leads"], entry["customers"], cost),
        })
    meta = {"query": {**query.describe(), "interval": query.interval}}
    return Report("trend", TREND_COLUMNS, rows, None, meta)


LEAD_COLUMNS = (
    Column("lead_id", "text"),
    Column("email", "text"),
    Column("created_at", "time"),
    Column("stage", "text"),
    Column("first_channel", "text"),
    Column("last_channel", "text"),
    Column("credit", "count"),
    Column("revenue", "money"),
    Column("won_deals", "integer"),
)


def lead_list(session: Session, site: Site, query: ReportQuery) -> Report:
    """Leads created in the range (newest first, paged), with the channels of the first and
    the last touch before their creation, the credit the filters' group gets for them under
    the model, and their won revenue (3 statements)."""
    statement = select(Lead.id, Lead.email, Lead.created_at, Lead.stage).where(
        Lead.site_id == site.id, Lead.created_at >= query.start_at, Lead.created_at < query.end_at
    )
    if query.filters:
        statement = statement.where(Lead.id.in_(_leads_matching(site.id, query)))
    leads = session.execute(
        statement.order_by(Lead.created_at.desc(), Lead.id).limit(query.limit).offset(query.offset)
    ).all()
    ids = [lead.id for lead in leads]
    firsts: dict[uuid.UUID, Key] = {}
    lasts: dict[uuid.UUID, Key] = {}
    credit: dict[uuid.UUID, float] = defaultdict(float)
    revenue: dict[uuid.UUID, float] = defaultdict(float)
    won: dict[uuid.UUID, int] = defaultdict(int)
    filters = dict(query.filters)
    if ids:
        rows = session.execute(
            select(C.lead_id, C.conversion, C.position, C.channel, C.value, C.credit,
                   *[getattr(C, name) for name in filters])
            .where(C.site_id == site.id, C.model == query.model, C.lead_id.in_(ids))
            .order_by(C.lead_id, C.conversion, C.conversion_id, C.position)
        )
        for lead_id, conversion, position, channel, value, share, *dims in rows:
            if conversion == "won":
                revenue[lead_id] += value
                won[lead_id] += position == 0
            if conversion != "lead":
                continue
            if position == 0:
                firsts[lead_id] = channel
            lasts[lead_id] = channel  # rows come in position order: the last one wins
            if all(dim == wanted for dim, wanted in zip(dims, filters.values(), strict=True)):
                credit[lead_id] += share
    rows_out = [
        {
            "lead_id": str(lead.id),
            "email": lead.email,
            "created_at": lead.created_at,
            "stage": lead.stage,
            "first_channel": firsts.get(lead.id),
            "last_channel": lasts.get(lead.id),
            "credit": credit[lead.id],
            "revenue": revenue[lead.id],
            "won_deals": won[lead.id],
        }
        for lead in leads
    ]
    meta = {"query": query.describe(), "limit": query.limit, "offset": query.offset}
    return Report("leads", LEAD_COLUMNS, rows_out, None, meta)


JOURNEY_COLUMNS = (
    Column("conversion", "text"),
    Column("conversion_id", "text"),
    Column("converted_at", "time"),
    Column("position", "integer"),
    Column("touch_at", "time"),
    Column("touch_kind", "text"),
    Column("touch_id", "text"),
    Column("channel", "text"),
    Column("source", "text"),
    Column("medium", "text"),
    Column("campaign", "text"),
    Column("keyword", "text"),
    Column("landing_page", "text"),
    Column("model", "text"),
    Column("credit", "ratio"),
    Column("value", "money"),
)


def lead_journey(session: Session, site: Site, lead_id: str) -> Report:
    """One lead's conversions, each with its touches and the credit and value every stored
    model gives each touch (one row per touch and model; 2 statements)."""
    key = uuid_or_not_found(lead_id, "lead", "lead_id")
    lead = session.execute(
        select(Lead.id, Lead.email, Lead.created_at, Lead.stage)
        .where(Lead.site_id == site.id, Lead.id == key)
    ).first()
    if lead is None:
        raise NotFound("no such lead", field="lead_id")
    order = case({kind: i for i, kind in enumerate(("lead", "opportunity", "won"))},
                 value=C.conversion)
    rows = [
        {column.name: getattr(credit, column.name) for column in JOURNEY_COLUMNS}
        for credit in session.scalars(
            select(C).where(C.site_id == site.id, C.lead_id == key)
            .order_by(C.converted_at, order, C.conversion_id, C.position, C.model)
        )
    ]
    for row in rows:
        row["conversion_id"] = str(row["conversion_id"])
    meta = {"lead": {"id": str(lead.id), "email": lead.email, "created_at": lead.created_at,
                     "stage": lead.stage},
            "models": list(site_settings(site).attribution_models)}
    return Report("journey", JOURNEY_COLUMNS, rows, None, meta)


REPORTS: dict[str, Callable[[Session, Site, ReportQuery], Report]] = {
    "revenue": revenue_report,
    "funnel": funnel_report,
    "models": model_comparison,
    "win_rates": win_rate_report,
    "trend": trend_report,
    "leads": lead_list,
}
