"""The collector's bulk statements, issued straight to the driver.

The collector writes thousands of rows a second. Two measured costs shaped this module
(cProfile of the writer): SQLAlchemy's per-row parameter processing took about 40% of the
writer's time, and on PostgreSQL a pipelined ``executemany`` still runs one statement per row
on the server. So values are converted once, in the dialect's own storage format (the format
SQLAlchemy reads back: naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text and 32-hex UUIDs on
SQLite, native types on PostgreSQL), and on PostgreSQL each table's rows travel as typed
arrays expanded by ``unnest``: one statement per table per group. Every other query goes
through SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

EVENT_COLUMNS = (
    ("site_id", "bigint"),
    ("id", "text"),
    ("session_id", "uuid"),
    ("visitor_id", "text"),
    ("type", "text"),
    ("name", "text"),
    ("url", "text"),
    ("path", "text"),
    ("title", "text"),
    ("referrer", "text"),
    ("occurred_at", "timestamptz"),
    ("received_at", "timestamptz"),
    ("props", "json"),
)
VISITOR_COLUMNS = (
    ("site_id", "bigint"),
    ("id", "text"),
    ("first_seen_at", "timestamptz"),
    ("last_seen_at", "timestamptz"),
)
SESSION_COLUMN_TYPES = {
    "site_id": "bigint",
    "id": "uuid",
    "started_at": "timestamptz",
    "ended_at": "timestamptz",
    "click_seen_at": "timestamptz",
    "screen_width": "smallint",
}
BOT_HIT_COLUMNS = (("site_id", "bigint"), ("day", "date"), ("family", "text"), ("hits", "integer"))


def _typed(columns: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple((name, SESSION_COLUMN_TYPES.get(name, "text")) for name in columns)


class RowWriter:
    """Dialect-specific SQL and value conversion for one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.least = "LEAST" if self.postgres else "min"
        self.greatest = "GREATEST" if self.postgres else "max"

    def time(self, value: dt.datetime | None) -> Any:
        if value is None or self.postgres:
            return value
        if value.tzinfo is not dt.UTC:
            value = value.astimezone(dt.UTC)
        # isoformat with a space and microseconds is SQLAlchemy's SQLite storage format,
        # several times cheaper than strftime.
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")

    def uuid(self, value: uuid.UUID) -> Any:
        return value if self.postgres else value.hex

    def json(self, value: Any) -> str:
        return json.dumps(value, separators=(",", ":")) if value else "{}"

    def _source(
        self, columns: Sequence[tuple[str, str]], rows: Sequence[tuple[Any, ...]]
    ) -> tuple[str, Any]:
        """``(sql, parameters)`` for the rows as a row source named ``v``."""
        names = ", ".join(name for name, _ in columns)
        if self.postgres:
            # json travels as text[] (psycopg has no json[] adapter) and is cast per value.
            arrays = ", ".join(f"%b::{'text' if kind == 'json' else kind}[]" for _, kind in columns)
            casts = ", ".join(f"{name}::json" if kind == "json" else name for name, kind in columns)
            sql = f"SELECT {casts} FROM unnest({arrays}) AS v({names})"
            return sql, [list(column) for column in zip(*rows, strict=True)]
        marks = ", ".join("?" for _ in columns)
        return f"VALUES ({marks})", rows

    def _insert(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[tuple[Any, ...]],
        conflict: str,
    ) -> None:
        if not rows:
            return
        source, parameters = self._source(columns, rows)
        names = ", ".join(name for name, _ in columns)
        sql = f"INSERT INTO {table} ({names}) {source} {conflict}"
        self._execute(sql, parameters)

    def _update(
        self,
        assignments: Sequence[tuple[str, str]],
        columns: Sequence[tuple[str, str]],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """``UPDATE sessions`` from rows of ``columns`` (ending with site_id and id).

        ``assignments`` are (column, rule) with rule ``set``, ``least`` or ``greatest``.
        One statement per site, each with a constant ``site_id``: on Citus a statement that
        names its shard key runs on that site's shard alone (docs/scaling.md).
        """
        sites = sorted({row[-2] for row in rows})
        if len(sites) > 1:
            for site_id in sites:
                self._update(assignments, columns, [row for row in rows if row[-2] == site_id])
            return
        if not rows:
            return
        functions = {"least": self.least, "greatest": self.greatest}
        if self.postgres:
            new = {name: f"v.{name}" for name, _ in columns}
            old = {name: f"s.{name}" for name, _ in columns}
        else:
            new = {name: f"?{index}" for index, (name, _) in enumerate(columns, start=1)}
            old = {name: name for name, _ in columns}
        sets = ", ".join(
            f"{name} = {new[name]}"
            if rule == "set"
            else f"{name} = {functions[rule]}({old[name]}, {new[name]})"
            for name, rule in assignments
        )
        if self.postgres:
            source, parameters = self._source(columns, rows)
            self._execute(
                f"UPDATE sessions AS s SET {sets} FROM ({source}) AS v "
                "WHERE s.site_id = %s AND s.site_id = v.site_id AND s.id = v.id",
                [*parameters, sites[0]],
            )
        else:
            self.conn.exec_driver_sql(
                f"UPDATE sessions SET {sets} WHERE site_id = {new['site_id']} AND id = {new['id']}",
                list(rows),
            )

    def _execute(self, sql: str, parameters: Any) -> None:
        if not self.postgres:
            self.conn.exec_driver_sql(sql, list(parameters))
            return
        # The arrays go as binary parameters (%b): psycopg dumps them without the per-element
        # escaping of the text format, several times faster for thousands of values.
        self.conn.exec_driver_sql(sql, tuple(parameters))

    def insert_events(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._insert("events", EVENT_COLUMNS, rows, "ON CONFLICT (site_id, id) DO NOTHING")

    def upsert_visitors(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._insert(
            "visitors",
            VISITOR_COLUMNS,
            rows,
            "ON CONFLICT (site_id, id) DO UPDATE SET "
            f"first_seen_at = {self.least}(visitors.first_seen_at, excluded.first_seen_at), "
            f"last_seen_at = {self.greatest}(visitors.last_seen_at, excluded.last_seen_at)",
        )

    def insert_sessions(self, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        self._insert("sessions", _typed(columns), rows, "ON CONFLICT (site_id, id) DO NOTHING")

    def widen_sessions(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of (start, end, site_id, id): times only ever widen, whoever wrote last."""
        columns = _typed(("started_at", "ended_at", "site_id", "id"))
        self._update([("started_at", "least"), ("ended_at", "greatest")], columns, rows)

    def retag_sessions(self, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of (*columns values, site_id, id)."""
        self._update([(name, "set") for name in columns], _typed((*columns, "site_id", "id")), rows)

    def add_bot_hits(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._insert(
            "bot_hits",
            BOT_HIT_COLUMNS,
            rows,
            "ON CONFLICT (site_id, day, family) DO UPDATE SET hits = bot_hits.hits + excluded.hits",
        )
