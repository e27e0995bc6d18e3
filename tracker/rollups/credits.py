"""Building and refreshing ``credit_rollups`` from ``attribution_credits`` (the worker's job).

As for traffic, a local day is always rebuilt whole: delete its rows, aggregate the stored
credits dated that day and the deals closed that day, insert. The worker learns which days
changed from the credits it replaces (their days before and after) and from the CRM's deal
updates (a deal's old closing day), so a refresh is idempotent and runs in the batch's
transaction.

What a row holds follows the reports' definitions (tracker/reports/queries.py): leads, MQLs
and SQLs by the lead's creation day (a stage reached later re-queues the lead, so "reached by
now" stays true), opportunities and pipeline by the deal's opening, customers and revenue by
its closing, won and lost credit by the closing of deals closed either way, and the
conversions behind the time-to-convert figures.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from sqlalchemy import Table, and_, case, delete, func, select
from sqlalchemy.orm import Session

from tracker.db import bulk_insert
from tracker.localtime import local_midnight, zone
from tracker.models import (
    AttributionCredit,
    CreditRollup,
    Deal,
    Lead,
    RollupState,
    Site,
    StageChange,
)
from tracker.rollups import traffic as traffic_rollups
from tracker.rollups.levels import LEVEL_INDEXES, encode_times, level_columns
from tracker.sites import site_settings
from tracker.stages import FUNNEL

C = AttributionCredit
MEASURES = ("leads", "mqls", "sqls", "opportunity_leads", "customer_leads", "opportunities",
            "pipeline", "customers", "revenue", "won", "lost")
COLUMNS = (
    "site_id", "day", "model", "level", "path", "channel", "source", "medium", "campaign",
    "keyword", "landing_page", *MEASURES, "touches", "lead_touches", "lead_times", "won_times",
)
_LEADS, _OPPS, _PIPELINE, _CUSTOMERS, _REVENUE, _WON, _LOST = (
    MEASURES.index(name) for name in ("leads", "opportunities", "pipeline", "customers",
                                      "revenue", "won", "lost"))
_DIMS = (C.channel, C.source, C.medium, C.campaign, C.keyword, C.landing_page)
# Days aggregated per read while rebuilding a whole site: bounded memory, few statements.
CHUNK_DAYS = 14


def _table() -> Table:
    table = CreditRollup.__table__
    assert isinstance(table, Table)
    return table


def conversion_hash(conversion_id: uuid.UUID) -> int:
    """A conversion's key in the time sets: its id's first 64 bits (ids are random)."""
    return int.from_bytes(conversion_id.bytes[:8], "little", signed=True)


class _Row:
    __slots__ = ("lead_times", "lead_touches", "sums", "touches", "won_times")

    def __init__(self) -> None:
        self.sums = [0.0] * len(MEASURES)
        self.touches = 0
        self.lead_touches = 0
        self.lead_times: dict[int, float] = {}
        self.won_times: dict[int, float] = {}


class _Aggregate:
    """Rows keyed by (local day, model, level, dimension values) while credits stream in."""

    def __init__(self, timezone: str) -> None:
        self.tz = zone(timezone)
        self.rows: dict[tuple[dt.date, str, int, tuple[str, ...]], _Row] = defaultdict(_Row)
        # A day's credits repeat few (model, dimensions) pairs: their rows, looked up once.
        self.targets: dict[tuple[dt.date, str, tuple[Any, ...]], list[_Row]] = {}

    def _targets(self, at: dt.datetime, model: str, dims: tuple[Any, ...]) -> list[_Row]:
        day = at.astimezone(self.tz).date()
        key = (day, model, dims)
        found = self.targets.get(key)
        if found is None:
            values = tuple(d or "" for d in dims)
            found = self.targets[key] = [
                self.rows[day, model, level, tuple(values[i] for i in indexes)]
                for level, indexes in enumerate(LEVEL_INDEXES)
            ]
        return found

    def add_credit(self, row: Any, rank: int) -> None:
        (model, conversion, conversion_id, converted_at, credit, value, new_customer, seconds,
         *dims) = row
        credit, value = float(credit), float(value)
        times = None
        if seconds is not None and credit > 0 and conversion in ("lead", "won"):
            times = (conversion_hash(conversion_id), float(seconds))
        for target in self._targets(converted_at, model, tuple(dims)):
            sums = target.sums
            target.touches += 1
            if conversion == "lead":
                target.lead_touches += 1
                # leads, mqls, sqls, opportunity_leads, customer_leads: one funnel stage each.
                for stage in range(min(rank, len(FUNNEL) - 1) + 1):
                    sums[_LEADS + stage] += credit
                if times is not None:
                    found = target.lead_times.get(times[0])
                    target.lead_times[times[0]] = times[1] if found is None else max(found,
                                                                                   times[1])
            elif conversion == "opportunity":
                sums[_OPPS] += credit
                sums[_PIPELINE] += value
            else:
                if new_customer:
                    sums[_CUSTOMERS] += credit
                sums[_REVENUE] += value
                if times is not None:
                    found = target.won_times.get(times[0])
                    target.won_times[times[0]] = times[1] if found is None else max(found,
                                                                                  times[1])

    def add_closed(self, row: Any) -> None:
        model, credit, status, closed_at, *dims = row
        for target in self._targets(closed_at, model, tuple(dims)):
            target.sums[_WON if status == "won" else _LOST] += float(credit)

    def table_rows(self, site_id: int) -> Iterator[tuple[Any, ...]]:
        for (day, model, level, values), row in self.rows.items():
            yield (site_id, day, model, level, *level_columns(level, values), *row.sums,
                   row.touches, row.lead_touches, encode_times(row.lead_times),
                   encode_times(row.won_times))


def _stage_ranks(session: Session, site_id: int, start: dt.datetime, end: dt.datetime
                 ) -> dict[uuid.UUID, int]:
    """The furthest funnel stage (0 = lead) of each lead created in ``[start, end)``."""
    rank = case(*[(StageChange.to_stage == stage, i) for i, stage in enumerate(FUNNEL)], else_=0)
    created = select(Lead.id).where(
        Lead.site_id == site_id, Lead.created_at >= start, Lead.created_at < end
    )
    return {
        lead_id: int(found)
        for lead_id, found in session.execute(
            select(StageChange.lead_id, func.max(rank))
            .where(StageChange.site_id == site_id, StageChange.lead_id.in_(created))
            .group_by(StageChange.lead_id)
        )
    }


def _aggregate(session: Session, site_id: int, timezone: str, start: dt.datetime,
               end: dt.datetime, models: Collection[str] | None = None) -> _Aggregate:
    """Every row of the local days in ``[start, end)`` (local midnights), of every model or
    of ``models``."""
    aggregate = _Aggregate(timezone)
    of_models = [] if models is None else [C.model.in_(sorted(models))]
    ranks = _stage_ranks(session, site_id, start, end)
    connection = session.connection()
    for row in connection.execute(
        select(C.model, C.conversion, C.conversion_id, C.converted_at, C.credit, C.value,
               C.new_customer, C.seconds_to_convert, C.lead_id, *_DIMS)
        .where(C.site_id == site_id, C.converted_at >= start, C.converted_at < end, *of_models)
    ):
        *head, lead_id = row[:9]
        aggregate.add_credit((*head, *row[9:]), ranks.get(lead_id, 0))
    closed = and_(
        Deal.site_id == site_id,
        Deal.deleted.is_(False),
        Deal.status.in_(("won", "lost")),
        Deal.closed_at >= start,
        Deal.closed_at < end,
    )
    for closed_row in connection.execute(
        select(C.model, C.credit, Deal.status, Deal.closed_at, *_DIMS)
        .join(Deal, and_(Deal.site_id == C.site_id, Deal.id == C.conversion_id))
        .where(C.site_id == site_id, C.conversion == "opportunity", closed, *of_models)
    ):
        aggregate.add_closed(closed_row)
    return aggregate


def _write(session: Session, site_id: int, aggregate: _Aggregate) -> int:
    return bulk_insert(session, _table(), COLUMNS, aggregate.table_rows(site_id))


def _day_runs(days: Iterable[dt.date], longest: int) -> Iterator[tuple[dt.date, dt.date]]:
    """Consecutive days as ``(first, last)`` runs of at most ``longest`` days."""
    run: list[dt.date] = []
    for day in sorted(set(days)):
        if run and (day != run[-1] + dt.timedelta(days=1) or len(run) >= longest):
            yield run[0], run[-1]
            run = []
        run.append(day)
    if run:
        yield run[0], run[-1]


def refresh_credit_days(session: Session, site_id: int, timezone: str,
                        local_days: Collection[dt.date]) -> int:
    """Rebuild the rows of ``local_days`` from the stored credits; rows written."""
    if not local_days:
        return 0
    session.execute(delete(CreditRollup).where(
        CreditRollup.site_id == site_id, CreditRollup.day.in_(sorted(local_days))))
    written = 0
    for first, last in _day_runs(local_days, CHUNK_DAYS):
        start = local_midnight(first, timezone)
        end = local_midnight(last + dt.timedelta(days=1), timezone)
        written += _write(session, site_id, _aggregate(session, site_id, timezone, start, end))
    return written


def _state(session: Session, site: Site) -> RollupState:
    """The site's rollup state; traffic rollups are built first when it has none."""
    state = session.get(RollupState, site.id)
    if state is None:
        traffic_rollups.rebuild_traffic(session, site)
        state = session.get(RollupState, site.id)
        assert state is not None
    return state


def rebuild_credits(session: Session, site: Site, models: Collection[str] | None = None) -> int:
    """Every row of the site (or of ``models``, when the time zone has not changed) from the
    stored credits, in the site's current time zone."""
    timezone = site_settings(site).timezone
    state = _state(session, site)
    if state.credits_timezone != timezone:
        models = None
    of_models = [] if models is None else [CreditRollup.model.in_(sorted(models))]
    session.execute(delete(CreditRollup).where(CreditRollup.site_id == site.id, *of_models))
    first, last = session.execute(
        select(func.min(C.converted_at), func.max(C.converted_at)).where(C.site_id == site.id)
    ).one()
    closed_first, closed_last = session.execute(
        select(func.min(Deal.closed_at), func.max(Deal.closed_at)).where(
            Deal.site_id == site.id, Deal.closed_at.is_not(None))
    ).one()
    moments = [m for m in (first, last, closed_first, closed_last) if m is not None]
    written = 0
    if moments:
        tz = zone(timezone)
        start = min(moments).astimezone(tz).date()
        stop = max(moments).astimezone(tz).date()
        days = [start + dt.timedelta(days=i) for i in range((stop - start).days + 1)]
        for run_first, run_last in _day_runs(days, CHUNK_DAYS):
            written += _write(session, site.id, _aggregate(
                session, site.id, timezone, local_midnight(run_first, timezone),
                local_midnight(run_last + dt.timedelta(days=1), timezone), models))
    state.credits_timezone = timezone
    session.flush()
    return written


def credit_moments(session: Session, site_id: int, lead_ids: Collection[uuid.UUID]
                   ) -> set[dt.datetime]:
    """The instants that date the rollup rows ``lead_ids`` contribute to: their stored
    conversions and their deals' closings. Read before and after their credits change."""
    if not lead_ids:
        return set()
    wanted = sorted(lead_ids)
    found = set(session.scalars(
        select(C.converted_at).where(C.site_id == site_id, C.lead_id.in_(wanted)).distinct()))
    found.update(session.scalars(
        select(Deal.closed_at).where(Deal.site_id == site_id, Deal.lead_id.in_(wanted),
                                     Deal.closed_at.is_not(None))))
    return found


def local_days_of_moments(site: Site, moments: Collection[dt.datetime]) -> set[dt.date]:
    """The site's local days of ``moments`` (UTC instants)."""
    tz = zone(site_settings(site).timezone)
    return {moment.astimezone(tz).date() for moment in moments}


def refresh_credits(
    session: Session,
    site: Site,
    moments: Collection[dt.datetime | dt.date],
    local_days: Collection[dt.date] = (),
) -> int:
    """What the worker does after credits changed at ``moments`` (UTC instants or days) and
    on ``local_days``. A site whose credit rollups were never built, or were built in another
    time zone, is rebuilt whole."""
    timezone = site_settings(site).timezone
    state = session.get(RollupState, site.id)
    if state is None or state.credits_timezone != timezone:
        return rebuild_credits(session, site)
    instants = local_days_of_moments(site, [m for m in moments if isinstance(m, dt.datetime)])
    utc_days = {m for m in moments if not isinstance(m, dt.datetime)}
    days = {*local_days, *instants, *traffic_rollups.local_days_of(utc_days, timezone)}
    return refresh_credit_days(session, site.id, timezone, days)

