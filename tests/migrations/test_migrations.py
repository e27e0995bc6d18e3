"""Migrations go up to head, down to base and up again on SQLite and PostgreSQL, and the
models match the migrated schema (``alembic check`` finds no drift)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from tests.conftest import DIALECTS, drop_postgres_database, fresh_database_url, worker_name
from tracker import migrate
from tracker.db import make_engine
from tracker.models import Base


@pytest.fixture(params=DIALECTS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, f"leadtrail_migrations_{worker_name()}", tmp_path)
    yield url
    if request.param == "postgresql":
        drop_postgres_database(url)


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
