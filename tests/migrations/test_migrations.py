"""Migrations go up to head, down to base and up again on SQLite and PostgreSQL, and the
models match the migrated schema (``alembic check`` finds no drift)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from tracker import migrate
from tracker.db import make_engine
from tracker.models import Base


def test_up_down_up_and_no_drift(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        migrate.upgrade(engine)
        tables_at_head = set(inspect(engine).get_table_names())
        migrate.downgrade(engine, "base")
        tables_at_base = set(inspect(engine).get_table_names()) - {"alembic_version"}
        migrate.upgrade(engine)

        with engine.connect() as conn:
            drift = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        with engine.connect() as conn:
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.check(config)  # raises when autogenerate would write anything

        assert set(Base.metadata.tables) <= tables_at_head
        assert tables_at_base == set()
        assert drift == []
        assert migrate.is_current(engine)
    finally:
        engine.dispose()


def test_every_primary_and_unique_key_starts_with_site_id() -> None:
    for table in Base.metadata.sorted_tables:
        if table.name in {"sites", "users"}:
            continue  # the tenant registry (its id *is* the site id) and the global logins
        assert table.primary_key.columns.keys()[0] == "site_id", table.name
        for constraint in table.constraints:
            columns = getattr(constraint, "columns", None)
            if constraint.__class__.__name__ == "UniqueConstraint" and columns is not None:
                assert columns.keys()[0] == "site_id", (table.name, constraint.name)


def test_session_generation_keeps_existing_users_up_and_down(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        migrate.upgrade(engine, "0011")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (email, password_hash, is_admin, created_at) "
                "VALUES ('ada@example.com', 'x', false, CURRENT_TIMESTAMP)"))
        migrate.upgrade(engine, "0012")
        with engine.connect() as conn:
            at_0012 = conn.execute(text("SELECT email, session_generation FROM users")).all()
        migrate.downgrade(engine, "0011")
        columns = {c["name"] for c in inspect(engine).get_columns("users")}
        with engine.connect() as conn:
            at_0011 = conn.execute(text("SELECT email FROM users")).all()
    finally:
        engine.dispose()

    assert [tuple(row) for row in at_0012] == [("ada@example.com", 0)]
    assert "session_generation" not in columns
    assert [tuple(row) for row in at_0011] == [("ada@example.com",)]


def _insert(conn: Any, table: str, values: dict[str, Any]) -> None:
    """A row of ``table`` with ``values``, every other required column filled with a
    placeholder of its type (the schema of an old revision has no model to build it)."""
    row = dict(values)
    for column in inspect(conn).get_columns(table):
        name, kind = column["name"], str(column["type"]).upper()
        if name in row or column["nullable"] or column.get("default") is not None:
            continue
        if column.get("autoincrement") is True and name == "id" and "INT" in kind:
            continue
        row[name] = (
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC) if "TIME" in kind
            else dt.date(2026, 1, 1) if kind == "DATE"
            else 0 if any(t in kind for t in ("INT", "FLOAT", "NUMERIC", "DOUBLE", "REAL"))
            else False if "BOOL" in kind
            else b"" if any(t in kind for t in ("BLOB", "BYTEA", "BINARY"))
            else "{}" if "JSON" in kind
            else "x"
        )
    if conn.dialect.name == "sqlite":  # as SQLAlchemy's Uuid and DateTime store them there
        row = {name: value.hex if isinstance(value, uuid.UUID)
               else value.replace(tzinfo=None).isoformat(" ", "microseconds")
               if isinstance(value, dt.datetime) else value
               for name, value in row.items()}
    names = ", ".join(row)
    conn.execute(text(f"INSERT INTO {table} ({names}) VALUES "
                      f"({', '.join(':' + name for name in row)})"), row)


def test_credits_learn_their_stage_and_closing_up_and_down(empty_url: str) -> None:
    """0013 fills the new credit columns from the stage history and the deals, and clears
    the credit rollups' zone so the worker rebuilds them with their new count."""
    engine = make_engine(empty_url)
    lead, deal = uuid.uuid4(), uuid.uuid4()
    closed = dt.datetime(2026, 2, 3, 4, 5, tzinfo=dt.UTC)
    try:
        migrate.upgrade(engine, "0012")
        with engine.begin() as conn:
            _insert(conn, "sites", {"id": 1})
            _insert(conn, "leads", {"site_id": 1, "id": lead})
            for stage in ("mql", "sql"):
                _insert(conn, "lead_stage_changes", {"site_id": 1, "id": uuid.uuid4(),
                                                     "lead_id": lead, "to_stage": stage})
            _insert(conn, "deals", {"site_id": 1, "id": deal, "lead_id": lead,
                                    "status": "won", "closed_at": closed})
            for kind, conversion in (("lead", lead), ("opportunity", deal)):
                _insert(conn, "attribution_credits", {
                    "site_id": 1, "model": "linear", "conversion": kind,
                    "conversion_id": conversion, "position": 0, "lead_id": lead})
            _insert(conn, "rollup_state", {"site_id": 1, "timezone": "UTC",
                                           "credits_timezone": "UTC"})
        migrate.upgrade(engine, "0013")
        with engine.connect() as conn:
            filled = conn.execute(text(
                "SELECT conversion, stage_rank, deal_status, deal_closed_at "
                "FROM attribution_credits ORDER BY conversion")).all()
            zone = conn.execute(text("SELECT credits_timezone FROM rollup_state")).scalar()
        migrate.downgrade(engine, "0012")
        columns = {c["name"] for c in inspect(engine).get_columns("attribution_credits")}
    finally:
        engine.dispose()

    (lead_row, deal_row) = filled
    assert tuple(lead_row[:3]) == ("lead", 2, None)
    assert tuple(deal_row[:3]) == ("opportunity", None, "won")
    assert deal_row[3] is not None and str(deal_row[3]).startswith("2026-02-03")
    assert zone is None
    assert not {"stage_rank", "deal_status", "deal_closed_at"} & columns
