"""Engine, per-request session and the dialect-aware helpers every service shares.

One engine per app (in ``app.extensions``), one ``Session`` per request in ``g`` closed on
teardown. Services take the session first and never commit; views, commands and workers own
their transactions, each through :func:`transaction`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, overload

from flask import Flask, current_app, g
from sqlalchemy import Engine, Table, create_engine, event, insert, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

# SQLite waits this long for another writer instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# An inbox row keeps this much of the error that stopped it from being applied.
MAX_ERROR_LENGTH = 500


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # WAL + NORMAL is durable against application crashes; a power loss can drop only the
    # last transactions, never corrupt the file (sqlite.org/wal.html).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINTs; take it over as
    # the SQLAlchemy docs recommend ("Serializable isolation / Savepoints / Transactional DDL").
    # Writers that read first ask for IMMEDIATE (``write_engine``): taking the write lock up
    # front makes busy_timeout apply instead of a deadlock when two such transactions race.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


@overload
def write_engine(engine: Engine) -> Engine: ...
@overload
def write_engine(engine: Connection) -> Connection: ...
def write_engine(engine: Engine | Connection) -> Engine | Connection:
    """``engine`` for read-then-write transactions (IMMEDIATE on SQLite, unchanged elsewhere)."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """Create an engine with LeadTrail's connection settings for either dialect."""
    if database_url.startswith("sqlite"):
        if database_url in {"sqlite://", "sqlite:///:memory:"}:
            # One shared connection, or every checkout would see a new empty database.
            kwargs.setdefault("poolclass", StaticPool)
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **kwargs,
        )
        event.listen(engine, "connect", _set_sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _disable_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(database_url, **kwargs)
    event.listen(engine, "do_execute", _execute_with_binary_results)
    return engine


# A statement run with this execution option gets its rows in PostgreSQL's binary format:
# a bytea column travels as its bytes instead of twice as many hex digits, which the server
# encodes and the driver decodes (the rollups' pair blobs of a report at 10M sessions).
BINARY_RESULTS = {"binary_results": True}


def _execute_with_binary_results(cursor: Any, statement: str, parameters: Any,
                                 context: Any) -> bool:
    if not context.execution_options.get("binary_results"):
        return False
    cursor.execute(statement, parameters, binary=True)
    return True


def get_engine(app: Flask | None = None) -> Engine:
    app = app or current_app
    engine: Engine = app.extensions["leadtrail.engine"]
    return engine


def get_session() -> Session:
    """The request's session, opened on first use and closed on teardown."""
    if "db_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions["leadtrail.sessionmaker"]
        g.db_session = factory()
    session: Session = g.db_session
    return session


@contextmanager
def transaction(bind: Engine | Connection, *, immediate: bool = True) -> Iterator[Session]:
    """A session in one transaction, committed on success and rolled back on error.

    ``immediate`` (the default, for transactions that read then write) begins with
    ``BEGIN IMMEDIATE`` on SQLite: a deferred transaction takes a read lock first, and when two
    of them race the second to write fails at once with "database is locked" (its snapshot is
    stale) instead of waiting out busy_timeout. On a ``Connection`` already in a transaction
    (the tests' outer one) the session works in a SAVEPOINT of it instead.
    """
    target = write_engine(bind) if immediate else bind
    with Session(target, expire_on_commit=False,
                 join_transaction_mode="create_savepoint") as session, session.begin():
        yield session


@contextmanager
def core_transaction(bind: Engine | Connection, *, immediate: bool = True) -> Iterator[Connection]:
    """:func:`transaction` without the ORM, for the collector's group commits: a ``Session``
    around each transaction costs as much again as a small one (~65 us on SQLite), paid
    twice per group there. On a ``Connection`` (the tests' outer transaction) it works in a
    SAVEPOINT of it."""
    if isinstance(bind, Connection):
        with bind.begin_nested():
            yield bind
        return
    with (write_engine(bind) if immediate else bind).begin() as conn:
        yield conn


@contextmanager
def write_session() -> Iterator[Session]:
    """The request's read-then-write transaction (views)."""
    with transaction(get_engine()) as session:
        yield session


def close_session(_exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_app(app: Flask, engine: Engine | None = None) -> None:
    """Attach the engine and the per-request session to ``app``."""
    settings = app.config["LEADTRAIL_SETTINGS"]
    engine = engine or make_engine(settings.database_url)
    app.extensions["leadtrail.engine"] = engine
    # The request's session only reads (views write through ``write_session``). On a
    # connection already in a transaction (the tests' outer one) it must not open a SAVEPOINT:
    # closing it would roll back the writes nested in it since.
    app.extensions["leadtrail.sessionmaker"] = sessionmaker(
        bind=engine, expire_on_commit=False, join_transaction_mode="rollback_only")
    app.teardown_appcontext(close_session)


def has_extension(bind: Session | Connection, name: str) -> bool:
    """Whether the database is PostgreSQL with the extension ``name`` installed."""
    dialect = (bind.get_bind() if isinstance(bind, Session) else bind).dialect
    if dialect.name != "postgresql":
        return False
    found = bind.execute(text("SELECT 1 FROM pg_extension WHERE extname = :name"),
                         {"name": name})
    return found.first() is not None


def dialect_name(bind: Session | Connection) -> str:
    """``postgresql`` or ``sqlite``: the dialect of a session's bind or of a connection."""
    return (bind.get_bind() if isinstance(bind, Session) else bind).dialect.name


def dialect_insert(bind: Session | Connection, table: Table) -> Any:
    """``INSERT`` with ``on_conflict_do_nothing/do_update`` for the bind's dialect."""
    return (pg_insert if dialect_name(bind) == "postgresql" else sqlite_insert)(table)


def insert_ignore(
    session: Session | Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    conflict_columns: Iterable[str],
) -> None:
    """``INSERT … ON CONFLICT (cols) DO NOTHING`` for either dialect.

    Never check-then-insert: two concurrent writers of the same key both succeed and one row
    remains, which is what makes retries and duplicate deliveries harmless.
    """
    if not rows:
        return
    statement = dialect_insert(session, table).on_conflict_do_nothing(
        index_elements=list(conflict_columns)
    )
    session.execute(statement, list(rows))


# Rows per INSERT batch when COPY is not available (SQLite).
INSERT_CHUNK = 5_000


def bulk_insert(
    bind: Session | Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    *,
    copy: bool = True,
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) in the bind's transaction: COPY on
    PostgreSQL when ``copy``, batched multi-row INSERTs otherwise. Returns the row count."""
    count = 0
    connection = bind.connection() if isinstance(bind, Session) else bind
    if copy and connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as writer:
            for row in rows:
                writer.write_row(row)
                count += 1
        return count
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(dict(zip(columns, row, strict=True)))
        if len(chunk) >= INSERT_CHUNK:
            connection.execute(insert(table), chunk)
            count, chunk = count + len(chunk), []
    if chunk:
        connection.execute(insert(table), chunk)
        count += len(chunk)
    return count


def describe_failure(error: Exception) -> str:
    """The error kept on an inbox row that failed to apply: its kind and first line, never
    SQL parameters (which can hold contact details)."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        first_line = (str(error.orig).splitlines() or [""])[0]
        text = f"{type(error).__name__}: {type(error.orig).__name__}: {first_line}"
    else:
        text = f"{type(error).__name__}: {error}"
    return text[:MAX_ERROR_LENGTH]
