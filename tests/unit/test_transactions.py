"""Read-then-write transactions on a file SQLite database, as two CLI commands run them.

With a deferred BEGIN each takes a read snapshot first; when the other commits a write
meanwhile, the first one's own write cannot upgrade a stale snapshot and fails at once with
"database is locked" (busy_timeout does not apply). BEGIN IMMEDIATE makes the second wait for
the first instead, so both increments land.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, text

from tracker.cli.common import in_transaction
from tracker.db import make_engine

# How long the first transaction waits for the second to have read. With IMMEDIATE the second
# cannot read until the first commits, so the wait runs out; it only orders the steps.
WAIT_FOR_OTHER_SECONDS = 1.0


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'counter.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter (n) VALUES (0)"))
    yield engine
    engine.dispose()


def _increment(app: Flask, *, has_read: threading.Event, may_write: threading.Event,
               errors: list[BaseException]) -> None:
    """One command's transaction: read the counter, wait until ``may_write``, write it + 1."""
    try:
        with app.app_context(), in_transaction() as session:
            value = session.execute(text("SELECT n FROM counter")).scalar_one()
            has_read.set()
            may_write.wait(WAIT_FOR_OTHER_SECONDS)
            session.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})
    except BaseException as error:  # noqa: BLE001 - reported by the test's assertion
        errors.append(error)
    finally:
        has_read.set()


def test_two_concurrent_read_then_write_commands_both_apply(engine: Engine) -> None:
    app = Flask(__name__)
    app.extensions["leadtrail.engine"] = engine
    first_read, second_read, first_done = (threading.Event() for _ in range(3))
    errors: list[BaseException] = []

    def first() -> None:
        _increment(app, has_read=first_read, may_write=second_read, errors=errors)
        first_done.set()

    first_thread = threading.Thread(target=first)
    first_thread.start()
    first_read.wait()  # the first is inside its transaction before the second begins
    second_thread = threading.Thread(
        target=_increment,
        kwargs={"app": app, "has_read": second_read, "may_write": first_done, "errors": errors})
    second_thread.start()
    first_thread.join()
    second_thread.join()

    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 2
