"""Building and maintaining ``credit_rollups`` from ``attribution_credits`` (the worker's job).

A rollup row is a pure sum over credit rows: each credit row carries what its rollups count
(the lead's furthest funnel stage, the deal's status and reported closing), so

* the worker keeps the rows current by subtracting the credit rows a batch replaced and
  adding the ones it wrote (:func:`apply_recredited`): its cost follows the batch, not the
  days it touches, and the same batch twice gives the same rows (the second finds its own
  rows to subtract);
* a local day can still be rebuilt whole from the credits dated that day
  (:func:`refresh_credit_days`): erasures, whose credits go by ``ON DELETE CASCADE``, note
  their days for that;
* ``leadtrail rollups rebuild`` recreates everything (:func:`rebuild_credits`) and must give
  the same rows, up to float rounding.

What a row holds follows the reports' definitions (tracker/reports/queries.py): leads, MQLs
and SQLs by the lead's creation day (a stage reached later re-queues the lead, so "reached by
now" stays true), opportunities and pipeline by the deal's opening, customers and revenue by
its closing, won and lost credit by the closing of deals closed either way, and the
conversions behind the time-to-convert figures.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Table, delete, func, select, text, tuple_
from sqlalchemy.orm import Session

from tracker.credits.store import ROLLUP_COLUMNS, Recredited
from tracker.db import bulk_insert
from tracker.leads.stages import FUNNEL
from tracker.localtime import local_midnight, zone
from tracker.models import (
    AttributionCredit,
    CreditRollup,
    CreditRollupTimes,
    RollupState,
    Site,
)
from tracker.rollups import traffic as traffic_rollups
from tracker.rollups.levels import LEVEL_INDEXES, TIMES, encode_times, level_columns
from tracker.sites.settings import site_settings

C = AttributionCredit
CR = CreditRollup
CT = CreditRollupTimes
MEASURES = ("leads", "mqls", "sqls", "opportunity_leads", "customer_leads", "opportunities",
            "pipeline", "customers", "revenue", "won", "lost")
COUNTS = ("touches", "lead_touches", "closed_touches")
KEY = ("site_id", "day", "model", "level", "path")
COLUMNS = (
    "site_id", "day", "model", "level", "path", "channel", "source", "medium", "campaign",
    "keyword", "landing_page", *MEASURES, *COUNTS, "lead_times", "won_times",
)
_LEADS, _OPPS, _PIPELINE, _CUSTOMERS, _REVENUE, _WON, _LOST = (
    MEASURES.index(name) for name in ("leads", "opportunities", "pipeline", "customers",
                                      "revenue", "won", "lost"))
_CREDIT_COLUMNS = tuple(getattr(C, name) for name in ROLLUP_COLUMNS)
_CLOSED = ("won", "lost")
# Days aggregated per read while rebuilding a whole site: bounded memory, few statements.
CHUNK_DAYS = 14
# Rollup rows fetched, merged and rewritten per statement when a batch's changes are applied.
APPLY_CHUNK = 2_000
# Sums below this after a subtraction are float residue of credits that cancelled out.
RESIDUE = 1e-9
# A row's appended chunks of time pairs (credit_rollup_times) are folded into the row once it
# has this many: a batch appends at most one per row, so a busy day's rows are rewritten once
# per this many batches instead of every batch, and a report reads at most this many more
# rows for them.
CHUNKS_PER_ROW = 16
_TIMES_KEY = ("site_id", "day", "model", "level", "path", "chunk", "lead_times", "won_times")


def _table(model: type[CreditRollup] | type[CreditRollupTimes] = CreditRollup) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def conversion_hash(conversion_id: uuid.UUID) -> int:
    """A conversion's key in the time sets: its id's first 64 bits (ids are random)."""
    return int.from_bytes(conversion_id.bytes[:8], "little", signed=True)


class _Row:
    """One rollup row's change (or, in a rebuild, its content) while credit rows stream in.
    ``dropped_*`` hold the (hash, seconds) pairs of the conversions a subtraction removes."""

    __slots__ = ("counts", "dropped_lead", "dropped_won", "lead_times", "sums", "won_times")

    def __init__(self) -> None:
        self.sums = [0.0] * len(MEASURES)
        self.counts = [0, 0, 0]  # touches, lead_touches, closed_touches
        self.lead_times: dict[int, float] = {}
        self.won_times: dict[int, float] = {}
        self.dropped_lead: dict[int, float] = {}
        self.dropped_won: dict[int, float] = {}

    def appended(self) -> tuple[dict[int, float], dict[int, float]] | None:
        """The pairs this change only adds to the row's (lead, won) times, or None when it
        also takes some away (the row's pairs must then be read and rewritten). A conversion
        dropped and added back with the same seconds (its credits moved within the day, or
        its lead's stage changed) leaves the pairs as they are."""
        found = []
        for dropped, added in ((self.dropped_lead, self.lead_times),
                               (self.dropped_won, self.won_times)):
            if any(added.get(conversion) != seconds for conversion, seconds in dropped.items()):
                return None
            found.append({conversion: seconds for conversion, seconds in added.items()
                          if conversion not in dropped})
        return found[0], found[1]


def _keep_time(times: dict[int, float], conversion: int, seconds: float) -> None:
    found = times.get(conversion)
    times[conversion] = seconds if found is None else max(found, seconds)


class _Aggregate:
    """Rows keyed by (local day, model, level, dimension values) while credit rows stream in,
    each added (``sign=1``) or subtracted (``sign=-1``)."""

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

    def add_credit(self, row: Sequence[Any], sign: int = 1) -> None:
        """A credit row's figures on its conversion's day (:data:`ROLLUP_COLUMNS` order)."""
        (model, conversion, conversion_id, converted_at, credit, value, new_customer, seconds,
         rank, _status, _closed_at, *dims) = row
        times = None
        if seconds is not None and credit > 0 and conversion in ("lead", "won"):
            times = (conversion_hash(conversion_id), float(seconds))
        credit, value = sign * float(credit), sign * float(value)
        for target in self._targets(converted_at, model, tuple(dims)):
            sums = target.sums
            target.counts[0] += sign
            if conversion == "lead":
                target.counts[1] += sign
                # leads, mqls, sqls, opportunity_leads, customer_leads: one funnel stage each.
                for stage in range(min(rank or 0, len(FUNNEL) - 1) + 1):
                    sums[_LEADS + stage] += credit
                if times is not None:
                    _keep_time(target.dropped_lead if sign < 0 else target.lead_times, *times)
            elif conversion == "opportunity":
                sums[_OPPS] += credit
                sums[_PIPELINE] += value
            else:
                if new_customer:
                    sums[_CUSTOMERS] += credit
                sums[_REVENUE] += value
                if times is not None:
                    _keep_time(target.dropped_won if sign < 0 else target.won_times, *times)

    def add_closed(self, row: Sequence[Any], sign: int = 1) -> None:
        """An opportunity's win-rate credit on its deal's closing day, if it closed."""
        model, conversion, _id, _at, credit, _value, _new, _seconds, _rank, status, closed_at = (
            row[:11])
        if conversion != "opportunity" or status not in _CLOSED or closed_at is None:
            return
        for target in self._targets(closed_at, model, tuple(row[11:])):
            target.sums[_WON if status == "won" else _LOST] += sign * float(credit)
            target.counts[2] += sign

    def table_rows(self, site_id: int) -> Iterator[tuple[Any, ...]]:
        for (day, model, level, values), row in self.rows.items():
            yield (site_id, day, model, level, *level_columns(level, values), *row.sums,
                   *row.counts, encode_times(row.lead_times), encode_times(row.won_times))


def _aggregate(session: Session, site_id: int, timezone: str, start: dt.datetime,
               end: dt.datetime, models: Collection[str] | None = None) -> _Aggregate:
    """Every row of the local days in ``[start, end)`` (local midnights), of every model or
    of ``models``."""
    aggregate = _Aggregate(timezone)
    of_models = [] if models is None else [C.model.in_(sorted(models))]
    connection = session.connection()
    for row in connection.execute(
        select(*_CREDIT_COLUMNS)
        .where(C.site_id == site_id, C.converted_at >= start, C.converted_at < end, *of_models)
    ):
        aggregate.add_credit(row)
    for row in connection.execute(
        select(*_CREDIT_COLUMNS)
        .where(C.site_id == site_id, C.deal_closed_at >= start, C.deal_closed_at < end,
               C.deal_closed_at.is_not(None), C.conversion == "opportunity",
               C.deal_status.in_(_CLOSED), *of_models)
    ):
        aggregate.add_closed(row)
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
    of_models = [] if models is None else [CR.model.in_(sorted(models))]
    session.execute(delete(CR).where(CR.site_id == site.id, *of_models))
    found = session.execute(
        select(func.min(C.converted_at), func.max(C.converted_at), func.min(C.deal_closed_at),
               func.max(C.deal_closed_at)).where(C.site_id == site.id)
    ).one()
    moments = [moment for moment in found if moment is not None]
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
    """Rebuild the days of ``moments`` (UTC instants or UTC days) and ``local_days`` whole.
    A site whose credit rollups were never built, or were built in another time zone, is
    rebuilt whole."""
    timezone = site_settings(site).timezone
    state = session.get(RollupState, site.id)
    if state is None or state.credits_timezone != timezone:
        return rebuild_credits(session, site)
    instants = local_days_of_moments(site, [m for m in moments if isinstance(m, dt.datetime)])
    utc_days = {m for m in moments if not isinstance(m, dt.datetime)}
    days = {*local_days, *instants, *traffic_rollups.local_days_of(utc_days, timezone)}
    return refresh_credit_days(session, site.id, timezone, days)


def _decode_times(blob: bytes) -> dict[int, float]:
    pairs = np.frombuffer(blob, dtype=TIMES)
    return dict(zip(pairs["conversion"].tolist(), pairs["seconds"].tolist(), strict=True))


def _merged_times(blob: bytes | None, dropped: Collection[int], added: dict[int, float]
                  ) -> bytes:
    if not dropped and not added:
        return blob or b""
    times = _decode_times(blob) if blob else {}
    for conversion in dropped:
        times.pop(conversion, None)
    for conversion, seconds in added.items():
        found = times.get(conversion)
        times[conversion] = seconds if found is None else max(found, seconds)
    return encode_times(times)


def _settled(value: float) -> float:
    return 0.0 if abs(value) < RESIDUE else value


def _of_keys(session: Session, site_id: int, keys: list[tuple[Any, ...]], table: Table,
             verb: str, returning: Sequence[str]) -> Sequence[Any]:
    """``verb`` ("DELETE" or "SELECT") the rows of ``table`` with the (day, model, level,
    path) ``keys``, returning ``returning``."""
    if not keys:
        return []
    if session.get_bind().dialect.name == "postgresql":
        # A join against the keys as arrays: one index probe each, whatever their number.
        found = ", ".join(f"r.{name}" for name in returning)
        keys_sql = (
            "unnest(CAST(:days AS date[]), CAST(:models AS text[]), "
            "CAST(:levels AS smallint[]), CAST(:paths AS bigint[])) AS k(day, model, level, path)")
        match = ("r.site_id = :site AND r.day = k.day AND r.model = k.model "
                 "AND r.level = k.level AND r.path = k.path")
        statement = text(
            f"DELETE FROM {table.name} r USING {keys_sql} WHERE {match} RETURNING {found}"
            if verb == "DELETE" else
            f"SELECT {found} FROM {table.name} r JOIN {keys_sql} ON {match}")
        days, models, levels, paths = (list(column) for column in zip(*keys, strict=True))
        return session.connection().execute(statement, {
            "site": site_id, "days": days, "models": models, "levels": levels,
            "paths": paths}).all()
    c = table.c
    where = [c.site_id == site_id, tuple_(c.day, c.model, c.level, c.path).in_(keys)]
    columns = [c[name] for name in returning]
    if verb == "DELETE":
        return session.connection().execute(
            delete(table).where(*where).returning(*columns)).all()
    return session.connection().execute(select(*columns).where(*where)).all()


def _take_rows(session: Session, site_id: int, keys: list[tuple[Any, ...]]
               ) -> dict[tuple[Any, ...], Any]:
    """Delete the rows of ``keys`` ((day, model, level, path) tuples) and their appended time
    chunks, returning the rows by key, each with its chunks' pairs joined to its own."""
    key = ("day", "model", "level", "path")
    appended: dict[tuple[Any, ...], tuple[list[bytes], list[bytes]]] = {}
    for row in _of_keys(session, site_id, keys, _table(CT), "DELETE",
                        (*key, "lead_times", "won_times")):
        lead, won = appended.setdefault(tuple(row[:4]), ([], []))
        lead.append(row[4])
        won.append(row[5])
    taken = {}
    for row in _of_keys(session, site_id, keys, _table(), "DELETE",
                        (*key, *MEASURES, *COUNTS, "lead_times", "won_times")):
        found = list(row[4:])
        chunks = appended.get(tuple(row[:4]))
        if chunks is not None:
            found[-2] = b"".join([found[-2], *chunks[0]])
            found[-1] = b"".join([found[-1], *chunks[1]])
        taken[tuple(row[:4])] = found
    return taken


def _append_times(session: Session, site_id: int,
                  appended: list[tuple[tuple[Any, ...], bytes, bytes]]) -> list[tuple[Any, ...]]:
    """Write each row's appended pairs as a chunk of its own; the keys of the rows that now
    have :data:`CHUNKS_PER_ROW` chunks (to fold)."""
    if not appended:
        return []
    chunk = secrets.randbits(62)  # one batch, one chunk per row
    bulk_insert(session, _table(CT), _TIMES_KEY, (
        (site_id, *key, chunk, lead, won) for key, lead, won in appended))
    counts = Counter(tuple(row) for row in _of_keys(
        session, site_id, [key for key, _lead, _won in appended], _table(CT), "SELECT",
        ("day", "model", "level", "path")))
    return [key for key, count in counts.items() if count >= CHUNKS_PER_ROW]


def _merged_rows(site_id: int, changes: dict[tuple[Any, ...], _Row],
                 keys: dict[tuple[Any, ...], tuple[Any, ...]],
                 taken: dict[tuple[Any, ...], Any]) -> Iterator[tuple[Any, ...]]:
    n = len(MEASURES)
    for key, change in changes.items():
        day, model, level, _values = key
        columns = keys[key]
        old = taken.get((day, model, level, columns[0]))
        if old is None:
            sums, counts, lead_blob, won_blob = [0.0] * n, [0, 0, 0], None, None
        else:
            sums, counts = list(old[:n]), list(old[n:n + 3])
            lead_blob, won_blob = old[n + 3], old[n + 4]
        counts = [a + b for a, b in zip(counts, change.counts, strict=True)]
        if counts[0] <= 0 and counts[2] <= 0:
            continue  # its last credit row went
        yield (site_id, day, model, level, *columns,
               *(_settled(a + b) for a, b in zip(sums, change.sums, strict=True)), *counts,
               _merged_times(lead_blob, change.dropped_lead, change.lead_times),
               _merged_times(won_blob, change.dropped_won, change.won_times))


def _changed_conversions(recredited: Recredited) -> Iterator[tuple[int, list[tuple[Any, ...]]]]:
    """``(sign, rows)`` of the conversions (under one model) whose rows differ before and
    after. Most of a batch recomputes to the same rows (a lead re-queued by a change that
    moves no credit): those cancel out, and a conversion is replaced whole or not at all, so
    its (hash, seconds) pairs are re-derived from its complete new rows."""
    before: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    after: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for rows, by_conversion in ((recredited.removed, before), (recredited.added, after)):
        for row in rows:
            by_conversion[row[:3]].append(row)  # model, conversion, conversion_id
    for conversion in before.keys() | after.keys():
        old, new = before.get(conversion, []), after.get(conversion, [])
        if len(old) == len(new) and Counter(old) == Counter(new):
            continue
        yield -1, old
        yield 1, new


_PG_TYPES = {
    "site_id": "bigint", "day": "date", "model": "text", "level": "smallint", "path": "bigint",
    **{name: "text" for name in ("channel", "source", "medium", "campaign", "keyword",
                                 "landing_page")},
    **{name: "float8" for name in MEASURES}, **{name: "integer" for name in COUNTS},
    "lead_times": "bytea", "won_times": "bytea",
}


def _upsert_sql(dialect: str) -> str:
    """Add rows to the stored rows of the same keys, inserting new keys: sums and counts
    added; the time pairs of a stored row stay as they are (a batch's new pairs go to
    ``credit_rollup_times``, :func:`_append_times`). On PostgreSQL the rows come as one
    binary array per column (one statement, whatever their number); on SQLite as an
    executemany."""
    def settled(total: str) -> str:
        return f"CASE WHEN abs({total}) < {RESIDUE} THEN 0 ELSE {total} END"

    updates = ", ".join([
        *(f"{name} = {settled(f'credit_rollups.{name} + excluded.{name}')}" for name in MEASURES),
        *(f"{name} = credit_rollups.{name} + excluded.{name}" for name in COUNTS),
    ])
    if dialect == "postgresql":
        rows = "SELECT * FROM unnest({})".format(", ".join(
            f"%b::{_PG_TYPES[name]}[]" for name in COLUMNS))
    else:
        rows = "VALUES ({})".format(", ".join("?" for _ in COLUMNS))
    return (f"INSERT INTO credit_rollups ({', '.join(COLUMNS)}) {rows} "
            f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}")


def _upsert(session: Session, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # Binary arrays (%b), as the collector sends them (collect/rows.py): the text format
        # escapes every element with a regular expression, which was a quarter of a refresh's
        # time for leads whose credit moved.
        connection.exec_driver_sql(_upsert_sql(dialect),
                                   tuple(list(column) for column in zip(*rows, strict=True)))
    else:
        connection.exec_driver_sql(_upsert_sql(dialect), rows)


def _delete_emptied(session: Session, site_id: int, keys: list[tuple[Any, ...]]) -> None:
    """Delete the rows of ``keys`` left without any credit row."""
    for i in range(0, len(keys), APPLY_CHUNK):
        session.connection().execute(delete(CR).where(
            CR.site_id == site_id, CR.touches <= 0, CR.closed_touches <= 0,
            tuple_(CR.day, CR.model, CR.level, CR.path).in_(keys[i:i + APPLY_CHUNK])))


def apply_recredited(session: Session, site: Site, recredited: Recredited) -> int:
    """Bring the rollups in line with a batch's replaced credit rows: subtract the removed
    rows, add the written ones. Rows changed. A site whose credit rollups were never built,
    or were built in another time zone, is rebuilt whole instead.

    Most rows change by addition alone (sums, counts, and new conversions' time pairs): one
    upsert adds the sums and counts in the database and the new pairs go in as one chunk per
    row. A row that loses a conversion's pair is read, merged and rewritten with its chunks,
    and so is a row that has gathered :data:`CHUNKS_PER_ROW` chunks."""
    if not recredited.removed and not recredited.added:
        return 0
    timezone = site_settings(site).timezone
    state = session.get(RollupState, site.id)
    if state is None or state.credits_timezone != timezone:
        return rebuild_credits(session, site)
    change = _Aggregate(timezone)
    for sign, rows in _changed_conversions(recredited):
        for row in rows:
            change.add_credit(row, sign)
            change.add_closed(row, sign)
    keys = {key: level_columns(key[2], key[3]) for key in change.rows}
    additions: list[tuple[Any, ...]] = []
    appended_times = []
    rewritten = []
    shrunk = []  # keys that lost credit rows: some may be left with none
    for key, changed in change.rows.items():
        appended = changed.appended()
        if appended is None:
            rewritten.append(key)
            continue
        day, model, level, _values = key
        additions.append((site.id, day, model, level, *keys[key],
                          *(float(_settled(x)) for x in changed.sums), *changed.counts,
                          b"", b""))
        if appended[0] or appended[1]:
            appended_times.append(((day, model, level, keys[key][0]),
                                   encode_times(appended[0]), encode_times(appended[1])))
        if changed.counts[0] < 0 or changed.counts[2] < 0:
            shrunk.append((day, model, level, keys[key][0]))
    for i in range(0, len(additions), APPLY_CHUNK):
        _upsert(session, additions[i:i + APPLY_CHUNK])
    _delete_emptied(session, site.id, shrunk)
    pending = {key: change.rows[key] for key in rewritten}
    by_path = {(key[0], key[1], key[2], keys[key][0]): key for key in change.rows}
    for i in range(0, len(appended_times), APPLY_CHUNK):
        for full in _append_times(session, site.id, appended_times[i:i + APPLY_CHUNK]):
            # Folded by a rewrite that changes nothing else: the upsert added its change.
            pending[by_path[full]] = _Row()
    rewritten = sorted(pending, key=lambda key: (key[0], key[1], key[2], keys[key][0]))
    for i in range(0, len(rewritten), APPLY_CHUNK):
        chunk = rewritten[i:i + APPLY_CHUNK]
        taken = _take_rows(session, site.id,
                           [(day, model, level, keys[day, model, level, values][0])
                            for day, model, level, values in chunk])
        bulk_insert(session, _table(), COLUMNS, _merged_rows(
            site.id, {key: pending[key] for key in chunk}, keys, taken))
    return len(change.rows)
