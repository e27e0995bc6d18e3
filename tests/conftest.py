"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

One database per xdist worker and dialect, migrated once by ``alembic upgrade head``. A test
runs inside one outer transaction rolled back at its end: the app, its writer thread and the
test share that connection, and every session works in a SAVEPOINT of it
(``tracker.db.transaction``), so nothing is left behind without emptying tables. Tests that
need real commits (other connections, threads or processes reading what was written, a live
server, a browser) are marked ``committed``: they get the engine itself and every table is
emptied after them. PostgreSQL comes from LEADTRAIL_TEST_DATABASE_URL (default: the local server's
``test`` database as ``postgres``): when it cannot be reached the tests fail, never skip.
With LEADTRAIL_TEST_CITUS_URL (a Citus coordinator's database) the PostgreSQL tests run
there instead, each worker's database a schema of it (docs/scaling.md, "Testing on Citus").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.factories import SiteMaker
from tracker import create_app, migrate
from tracker.config import Settings, _as_database_url
from tracker.db import make_engine
from tracker.models import Base

# Tests never assert on time: Hypothesis's per-example deadline (200 ms by default) is one,
# and fails at random on a loaded machine. Tests that set their own settings keep them.
hypothesis_settings.register_profile("leadtrail", deadline=None)
hypothesis_settings.load_profile("leadtrail")

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DIALECTS = ("sqlite", "postgresql")


def worker_name() -> str:
    # The process id keeps two test runs on one machine (and one PostgreSQL) apart.
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def _postgres_url() -> str:
    return _as_database_url(os.environ.get("LEADTRAIL_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL))


def citus_url() -> str | None:
    """The Citus coordinator the PostgreSQL tests run on instead, if one is given."""
    raw = os.environ.get("LEADTRAIL_TEST_CITUS_URL")
    return _as_database_url(raw) if raw else None


def _create_citus_schema(coordinator: str, name: str) -> str:
    """On Citus a test "database" is a schema of the coordinator's database: creating
    databases would need the extension and the worker nodes set up in each. Tables of a
    schema distribute like any others (``tracker/citus.py`` works in ``current_schema()``)."""
    admin = create_engine(coordinator, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first() \
                    is None:
                pytest.fail("LEADTRAIL_TEST_CITUS_URL names a database without the citus "
                            "extension: CREATE EXTENSION citus there (docs/scaling.md)",
                            pytrace=False)
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    finally:
        admin.dispose()
    return make_url(coordinator).update_query_dict(
        {"options": f"-csearch_path={name}"}).render_as_string(hide_password=False)


def create_postgres_database(name: str) -> str:
    """A fresh PostgreSQL database ``name`` next to the configured one (a schema ``name``
    of the Citus coordinator's database when LEADTRAIL_TEST_CITUS_URL is set); its URL."""
    coordinator = citus_url()
    if coordinator is not None:
        return _create_citus_schema(coordinator, name)
    admin_url = make_url(_postgres_url())
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - turned into a failure that says what to do
        pytest.fail(
            f"PostgreSQL at {admin_url.render_as_string(hide_password=True)} is not usable "
            f"({type(exc).__name__}: {exc}). Start it or set LEADTRAIL_TEST_DATABASE_URL.",
            pytrace=False,
        )
    finally:
        admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


def fresh_database_url(dialect: str, name: str, tmp_dir: Path) -> str:
    if dialect == "sqlite":
        path = tmp_dir / f"{name}.db"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    return create_postgres_database(name)


def drop_postgres_database(url: str) -> None:
    """Remove a database :func:`create_postgres_database` made (runs leave nothing behind)."""
    coordinator = citus_url()
    admin = create_engine(coordinator or _postgres_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if coordinator is not None:
                schema = make_url(url).query["options"].removeprefix("-csearch_path=")
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            else:
                conn.execute(text(
                    f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session", params=DIALECTS)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    url = fresh_database_url(
        request.param, f"leadtrail_test_{worker_name()}", tmp_path_factory.mktemp(request.param)
    )
    yield url
    if request.param == "postgresql":
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def database(db_url: str) -> Iterator[Engine]:
    """The migrated test database's engine."""
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(request: pytest.FixtureRequest, database: Engine) -> Iterator[Engine]:
    """What the test and its app use as the engine: for a ``committed`` test the engine itself,
    every table emptied after the test; otherwise one connection in an outer transaction rolled
    back after the test (sessions on it open SAVEPOINTs, so their commits are released
    savepoints, seen by this connection only)."""
    if request.node.get_closest_marker("committed") is not None:
        yield database
        empty_all_tables(database)
        return
    with database.connect() as connection:
        outer = connection.begin()
        try:
            # A Connection stands in for the Engine: everything the app and the tests do
            # goes through Session(bind) or tracker.db.transaction(bind), which join it.
            yield connection  # type: ignore[misc]
        finally:
            if outer.is_active:  # a test's own Session on it may have rolled it back already
                outer.rollback()


def empty_all_tables(engine: Engine) -> None:
    tables = [t for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture
def postgres_only() -> Iterator[tuple[Flask, str]]:
    """An app on a PostgreSQL database of its own (the test runs once, on PostgreSQL,
    with real commits)."""
    url = create_postgres_database(f"leadtrail_own_{worker_name()}")
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        app = create_app(Settings(database_url=url, log_level="WARNING"), engine=engine)
        yield app, url
    finally:
        engine.dispose()
        drop_postgres_database(url)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, log_level="WARNING")


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Flask:
    app = create_app(settings, engine=engine)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def db_session(app: Flask, engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False,
                 join_transaction_mode="create_savepoint") as session:
        yield session


@pytest.fixture
def sites(db_session: Session) -> SiteMaker:
    return SiteMaker(db_session)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A browser talks to a live server on its own connections: it must see real commits.
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.committed)
