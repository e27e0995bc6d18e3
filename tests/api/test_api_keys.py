"""A secret key's "last used" is written on use, at most once a minute per key (not a write per
request), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from tests.factories import SiteMaker
from tracker.models import ApiKey
from tracker.models.base import utcnow
from tracker.sites.keys import LAST_USED_RESOLUTION, record_key_use


def _last_used(engine: Engine, site_id: int) -> dt.datetime | None:
    with Session(engine) as session:
        return session.scalar(select(ApiKey.last_used_at).where(ApiKey.site_id == site_id))


@contextmanager
def _key_writes(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _key_id(engine: Engine, site_id: int) -> str:
    with Session(engine) as session:
        return session.scalars(select(ApiKey.id).where(ApiKey.site_id == site_id)).one()


def _get_leads(client: FlaskClient, api_key: str) -> int:
    return client.get("/api/v1/leads", headers={"Authorization": f"Bearer {api_key}"}).status_code


def test_a_key_in_use_gets_its_last_used_time(
    client: FlaskClient, engine: Engine, sites: SiteMaker
) -> None:
    created = sites.make()
    assert _last_used(engine, created.site.id) is None

    assert _get_leads(client, created.api_key) == 200

    assert _last_used(engine, created.site.id) is not None


def test_requests_within_a_minute_write_it_once(
    client: FlaskClient, engine: Engine, sites: SiteMaker
) -> None:
    created = sites.make()

    with _key_writes(engine) as writes:
        statuses = [_get_leads(client, created.api_key) for _ in range(20)]

    assert statuses == [200] * 20
    assert len(writes) == 1


def test_a_use_after_the_resolution_moves_it_forward(
    client: FlaskClient, engine: Engine, sites: SiteMaker, db_session: Session
) -> None:
    created = sites.make()
    long_ago = utcnow() - 10 * LAST_USED_RESOLUTION
    with db_session.begin():
        key = db_session.get_one(ApiKey, (created.site.id, _key_id(engine, created.site.id)))
        key.last_used_at = long_ago

    assert _get_leads(client, created.api_key) == 200

    last_used = _last_used(engine, created.site.id)
    assert last_used is not None and last_used > long_ago


def test_a_rejected_key_records_nothing(
    client: FlaskClient, engine: Engine, sites: SiteMaker
) -> None:
    created = sites.make()
    forged = created.api_key[:-4] + ("aaaa" if not created.api_key.endswith("aaaa") else "bbbb")

    assert _get_leads(client, forged) == 401

    assert _last_used(engine, created.site.id) is None


def test_two_processes_noting_the_same_minute_write_once(
    engine: Engine, sites: SiteMaker
) -> None:
    created = sites.make()
    key_id = _key_id(engine, created.site.id)
    now = utcnow()

    outcomes = []
    for _ in range(2):  # as two collectors would, each having read "not used yet"
        with Session(engine) as session, session.begin():
            outcomes.append(record_key_use(session, created.site.id, key_id, now))

    assert outcomes == [True, False]
