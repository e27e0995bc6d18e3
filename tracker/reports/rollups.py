"""Traffic figures (sessions, exact or approximate unique visitors) from ``traffic_rollups``
and attributed figures (credit sums, win-rate weights, time to convert) from
``credit_rollups``.

Used when the site's rollups exist in the query's time zone and one level covers the
query's group and filters (tracker/rollups/levels.py); otherwise :func:`traffic_from_rollups`
returns None and the caller scans the sessions. Both give the same numbers (tested).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    Float,
    Select,
    String,
    and_,
    cast,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import UserDefinedType

from tracker.db import BINARY_RESULTS
from tracker.models import CreditRollup, CreditRollupTimes, RollupState, TrafficRollup
from tracker.reports.query import ReportQuery
from tracker.rollups.levels import (
    LEVELS,
    TAIL_LEVELS,
    count_unique,
    level_for,
    merge_times_by_group,
    visitors_since,
)

R = TrafficRollup
Key = str | None


def _rows_in_range(query: ReportQuery, site_id: int, level: int, *columns: Any,
                   table: type[TrafficRollup] | type[CreditRollup] = TrafficRollup,
                   every_model: bool = False) -> Select[Any]:
    """``columns`` of the rows of ``level`` in the query's range and filters, as one statement
    that answers no row at all when the site has no rollups of ``table`` in the query's time
    zone (the caller falls back to the raw rows) and a row of NULLs when they hold nothing in
    range."""
    on = [
        table.site_id == RollupState.site_id,
        table.level == level,
        table.day >= query.start,
        table.day <= query.end,
        *(getattr(table, name) == (value or "") for name, value in query.filters),
    ]
    built_in: Any = RollupState.timezone
    if table is CreditRollup:
        if not every_model:
            on.append(CreditRollup.model == query.model)
        built_in = RollupState.credits_timezone
    return (
        select(RollupState.site_id, *columns)
        .select_from(RollupState)
        .outerjoin(table, and_(*on))
        .where(RollupState.site_id == site_id, built_in == query.timezone)
    )


def _level(query: ReportQuery, group_by: str | None) -> int | None:
    needed = {name for name, _value in query.filters}
    if group_by is not None:
        needed.add(group_by)
    return level_for(needed)


def traffic_from_rollups(
    session: Session, site_id: int, query: ReportQuery, group_by: str | None
) -> tuple[dict[Key, tuple[int, int]], tuple[int, int]] | None:
    """``({group: (sessions, visitors)}, (sessions, visitors))`` like
    :func:`tracker.reports.queries.traffic`, or None when the rollups cannot answer.

    Unique visitors of a group that is one path of its level (a channel, a campaign under
    one source, ...) are a sum over its rows' gaps (tracker/rollups/levels.py); so are the
    site's, from the channel rows' site gaps, and those of a filter that names every
    dimension of its level, and, without filters, those of groups by a level's last
    dimension (a campaign, whatever source it came under) from the rows' tail gaps. Any
    other group that gathers several paths (a campaign under two sources of one channel
    filtered on) merges its rows' visitor sets instead, as do rows built before gaps were
    stored."""
    level = _level(query, group_by)
    if level is None:
        return None
    group_column = getattr(R, group_by) if group_by is not None else R.level
    if query.approximate_visitors and session.get_bind().dialect.name == "postgresql":
        approximate = _approximate_traffic(session, site_id, query, level, group_column,
                                           group_by)
        if approximate is not False:
            return approximate
    # Grouped by a tail level's last dimension alone (say campaigns, under whatever source),
    # a group's rows hold each of its visitor-days once in their tail gaps.
    by_tail = (not query.filters and level in TAIL_LEVELS
               and group_by == LEVELS[level][-1])
    statement = _rows_in_range(query, site_id, level, group_column, R.sessions, R.day, R.path,
                               R.tail_gaps if by_tail else R.visitor_gaps)
    # Core: plain tuples, no ORM rows.
    rows = session.connection().execute(statement, execution_options=BINARY_RESULTS).all()
    if not rows:
        return None
    sessions: dict[Key, int] = defaultdict(int)
    by_group: dict[Key, list[_GapRow]] = defaultdict(list)
    for _site, key, count, day, path, gaps in rows:
        if count is None:  # the row of NULLs: nothing in range
            continue
        group: Key = (key or None) if group_by is not None else None
        sessions[group] += int(count)
        by_group[group].append((day, path, gaps))
    total_level = level_for({name for name, _value in query.filters})
    assert total_level is not None  # the group's level covers the filters
    site_wide = not query.filters
    # Without filters the site's visitors come from the channel rows' site gaps alone.
    total_gaps = R.site_gaps if site_wide else R.visitor_gaps
    total_rows = [
        (day, path, gaps)
        for _site, day, path, gaps in session.connection().execute(_rows_in_range(
            query, site_id, total_level, R.day, R.path, total_gaps),
            execution_options=BINARY_RESULTS).all()
        if day is not None
    ]
    total = (sum(sessions.values()),
             _unique(session, site_id, query, total_level, total_rows, site_wide))
    if group_by is None:
        return ({None: total} if sessions else {}), total
    groups = {key: (sessions[key], _unique(session, site_id, query, level, found, by_tail))
              for key, found in by_group.items()}
    return groups, total


_GapRow = tuple[dt.date, int, bytes | None]  # (day, path, gaps) of a traffic rollup row


def _unique(session: Session, site_id: int, query: ReportQuery, level: int,
            rows: list[_GapRow], whole: bool = False) -> int:
    """Unique visitors over ``rows`` of ``level`` in the query's range: a sum of gaps when
    they are one path's rows, or ``whole`` (the gaps are the site's, or a tail value's,
    measured over all the rows), else a union of their visitor sets."""
    if not rows:
        return 0
    summable = [(day, gaps) for day, _path, gaps in rows if gaps is not None]
    if len(summable) == len(rows) and (
            whole or len({path for _day, path, _gaps in rows}) == 1):
        return visitors_since(summable, query.start)
    keys = sorted({(day, path) for day, path, _gaps in rows})
    blobs = [blob for i in range(0, len(keys), _KEYS_PER_READ)
             for (blob,) in session.connection().execute(
                 select(R.visitors).where(R.site_id == site_id, R.level == level,
                                          tuple_(R.day, R.path).in_(keys[i:i + _KEYS_PER_READ])))]
    return count_unique(blobs)


# Rows whose visitor sets one statement reads when a group merges them.
_KEYS_PER_READ = 1_000


class _Hll(UserDefinedType[bytes]):
    """The hll extension's type: a ``visitors_sketch`` is stored as its bytes."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "hll"


def _approximate_traffic(
    session: Session, site_id: int, query: ReportQuery, level: int, group_column: Any,
    group_by: str | None,
) -> tuple[dict[Key, tuple[int, int]], tuple[int, int]] | Literal[False] | None:
    """:func:`traffic_from_rollups` with unique visitors estimated by the hll extension, which
    unions the rows' sketches per group and over all groups, in one statement; False when
    some row in range has no sketch yet (built before they existed): the caller counts
    exactly.

    Every session is in one row of each level, so the totals come from the smallest level
    the filters allow (no filter: the channels, a few rows a day) rather than from the
    group's level: each union of a full sketch costs the same, and a campaign or keyword
    level has ten to a hundred times more rows."""

    def figures(at: int, *key: Any) -> Select[Any]:
        visitors = func.hll_cardinality(func.hll_union_agg(cast(R.visitors_sketch, _Hll())))
        return _rows_in_range(
            query, site_id, at, *key, func.sum(R.sessions),
            func.count(R.day) - func.count(R.visitors_sketch), visitors,
        ).group_by(RollupState.site_id, *key[1:])

    total_level = level_for({name for name, _value in query.filters})
    assert total_level is not None  # the group's level covers the filters
    overall = figures(total_level, literal(1), literal(None, String()))
    statement = overall if group_by is None else union_all(
        figures(level, literal(0), group_column), overall)
    rows = session.connection().execute(statement).all()
    if not rows:
        return None
    groups: dict[Key, tuple[int, int]] = {}
    total = (0, 0)
    for _site, is_total, key, count, unsketched, estimate in rows:
        if unsketched:
            return False
        if count is None:  # no row in range
            continue
        found = (int(count), round(estimate or 0))
        if is_total:
            total = found
            if group_by is None:  # one group, the whole range, as the exact count has it
                groups[None] = found
        else:
            groups[key or None] = found
    return groups, total


def sessions_by_day_from_rollups(
    session: Session, site_id: int, query: ReportQuery
) -> dict[dt.date, int] | None:
    """``{local day: sessions}`` over the query's range and filters, or None when the rollups
    cannot answer (as for :func:`traffic_from_rollups`)."""
    level = level_for({name for name, _value in query.filters})
    if level is None:
        return None
    statement = _rows_in_range(query, site_id, level, R.day, func.sum(R.sessions)).group_by(
        RollupState.site_id, R.day)
    rows = session.execute(statement).all()
    if not rows:
        return None
    return {day: int(count) for _site, day, count in rows if day is not None}


@dataclass(frozen=True, slots=True)
class CreditFigures:
    """What the revenue report needs of the stored credits, per group and over all groups."""

    sums: dict[Key, dict[str, float]]
    closed: dict[Key, tuple[float, float]]
    times: dict[Key, dict[str, npt.NDArray[np.float64]]]
    all_times: dict[str, npt.NDArray[np.float64]]


ATTRIBUTED = ("leads", "mqls", "sqls", "opportunities", "pipeline", "customers", "revenue")
# The lead credit of leads that reached each funnel stage (tracker.leads.stages.FUNNEL) by now.
REACHED = ("leads", "mqls", "sqls", "opportunity_leads", "customer_leads")
CR = CreditRollup


def _appended_times(query: ReportQuery, site_id: int, level: int, key: Any, measures: int
                    ) -> Select[Any]:
    """The time pairs appended to the rows :func:`_rows_in_range` reads (their
    ``credit_rollup_times`` chunks), as rows of the same shape whose ``measures`` are 0."""
    CT = CreditRollupTimes
    zero = cast(literal_column("0"), Float)
    return (
        select(RollupState.site_id, CR.model, key, *([zero] * measures), CT.lead_times,
               CT.won_times)
        .select_from(CT)
        .join(CR, and_(CR.site_id == CT.site_id, CR.day == CT.day, CR.model == CT.model,
                       CR.level == CT.level, CR.path == CT.path))
        .join(RollupState, RollupState.site_id == CT.site_id)
        .where(CT.site_id == site_id, CT.level == level, CT.model == query.model,
               CT.day >= query.start, CT.day <= query.end,
               RollupState.credits_timezone == query.timezone,
               *(getattr(CR, name) == (value or "") for name, value in query.filters))
    )


def _credit_rows(session: Session, site_id: int, query: ReportQuery, level: int,
                 key: Any, *columns: Any, every_model: bool = False, times: int = 0
                 ) -> list[Any] | None:
    """``(site_id, model, key, *columns)`` of the credit rollup rows of ``level`` in the
    query's range and filters (under the query's model unless ``every_model``), or None when
    the site's credit rollups were not built in the query's time zone. With ``times``, the
    last two columns are the rows' time pairs and the ``times`` before them their measures:
    the pairs appended to a row since it was written come as rows of their own, with 0 for
    every measure."""
    statement: Any = _rows_in_range(query, site_id, level, CR.model, key, *columns, table=CR,
                                    every_model=every_model)
    if times:
        statement = union_all(statement, _appended_times(query, site_id, level, key, times))
    rows = session.connection().execute(statement, execution_options=BINARY_RESULTS).all()
    if not rows:
        return None
    return [row for row in rows if row[1] is not None]


def credits_from_rollups(
    session: Session, site_id: int, query: ReportQuery, group_by: str | None
) -> CreditFigures | None:
    """The figures :func:`tracker.reports.queries.attributed`, ``closed_deals`` and
    ``durations`` give under the query's model, or None when the rollups cannot answer."""
    level = _level(query, group_by)
    if level is None:
        return None
    group_column = getattr(CR, group_by) if group_by is not None else CR.level
    measures = [getattr(CR, name) for name in (*ATTRIBUTED, "won", "lost")]
    rows = _credit_rows(session, site_id, query, level, group_column, *measures, CR.lead_times,
                        CR.won_times, times=len(measures))
    if rows is None:
        return None
    found: dict[Key, int] = {}
    groups = np.fromiter(
        (found.setdefault((row[2] or None) if group_by is not None else None, len(found))
         for row in rows), np.int64, len(rows))
    n = len(ATTRIBUTED)
    figures = np.array([row[3:5 + n] for row in rows], dtype=np.float64).reshape(-1, n + 2)
    sums = np.stack([np.bincount(groups, weights=figures[:, i], minlength=len(found))
                     for i in range(n + 2)], axis=1).tolist()
    keys = list(found)
    times: dict[Key, dict[str, npt.NDArray[np.float64]]] = {key: {} for key in keys}
    all_times = {}
    for kind, column in (("lead", 5 + n), ("won", 6 + n)):
        blobs = [row[column] or b"" for row in rows]
        by_group, all_times[kind] = merge_times_by_group(blobs, groups, len(keys))
        for key, merged in zip(keys, by_group, strict=True):
            times[key][kind] = merged
    return CreditFigures(
        sums={key: dict(zip(ATTRIBUTED, sums[i][:n], strict=True)) for i, key in enumerate(keys)},
        closed={key: (sums[i][n], sums[i][n + 1]) for i, key in enumerate(keys)},
        times=times,
        all_times=all_times,
    )


def _summed(rows: list[Any], names: tuple[str, ...]) -> dict[Any, dict[str, float]]:
    found: dict[Any, list[float]] = {}
    for key, *values in rows:
        sums = found.get(key)
        if sums is None:
            found[key] = [float(x) for x in values]
        else:
            for i, x in enumerate(values):
                sums[i] += x
    return {key: dict(zip(names, sums, strict=True)) for key, sums in found.items()}


def attributed_from_rollups(
    session: Session, site_id: int, query: ReportQuery, group_by: str | None,
    *, every_model: bool = False, names: tuple[str, ...] = ATTRIBUTED, leads_only: bool = False,
) -> dict[tuple[str, Key], dict[str, float]] | None:
    """``{(model, group): {name: credit sum}}`` like :func:`tracker.reports.queries.attributed`
    (``names`` from the rollup's measures) over the groups with a credited touch (of a lead
    conversion, when ``leads_only``), or None when the rollups cannot answer."""
    level = _level(query, group_by)
    if level is None:
        return None
    group_column = getattr(CR, group_by) if group_by is not None else CR.level
    rows = _credit_rows(session, site_id, query, level, group_column,
                        CR.lead_touches if leads_only else CR.touches,
                        *(getattr(CR, name) for name in names), every_model=every_model)
    if rows is None:
        return None
    # Rows without a touch hold only win-rate credit (a deal closed that day): not listed.
    keyed = [((model, (key or None) if group_by is not None else None), *values)
             for _site, model, key, touches, *values in rows if touches]
    return _summed(keyed, names)


def credits_by_day_from_rollups(
    session: Session, site_id: int, query: ReportQuery, names: tuple[str, ...]
) -> dict[dt.date, dict[str, float]] | None:
    """``{local day: {name: credit sum}}`` over the query's range and filters under its
    model, or None when the rollups cannot answer."""
    level = _level(query, None)
    if level is None:
        return None
    rows = _credit_rows(session, site_id, query, level, CR.day, CR.touches,
                        *(getattr(CR, name) for name in names))
    if rows is None:
        return None
    return _summed([(day, *values) for _site, _model, day, touches, *values in rows if touches],
                   names)
