"""Every class of bad input (tests/badinputs.py) gets a 4xx naming its field and writes
nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.badinputs import (
    CASES,
    DASHBOARD_PASSWORD,
    WEBHOOK_SECRET,
    BadInput,
    Target,
    problems_of,
    row_count,
    sign_in,
)
from tests.factories import SiteMaker
from tracker.accounts.users import create_user


@pytest.fixture
def target(app: Flask, client: FlaskClient, sites: SiteMaker, db_session: Session,
           engine: Engine) -> Target:
    site = sites.make(generic_secrets=[WEBHOOK_SECRET])
    with db_session.begin():
        create_user(db_session, "admin@example.com", DASHBOARD_PASSWORD, is_admin=True)
    dashboard = app.test_client()
    sign_in(dashboard, "admin@example.com")
    return Target(client, dashboard, site, engine)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    target: Target, engine: Engine, case: BadInput
) -> None:
    before = row_count(engine)

    response = case.send(target)

    assert problems_of(case, response, row_count(engine) - before) == []


def test_the_table_covers_every_kind_of_endpoint() -> None:
    kinds = {case.name.split(":")[0] for case in CASES}

    assert kinds >= {"collect", "collect.gif", "identify", "xd/sign", "xd/adopt", "api",
                     "webhook", "dashboard", "segment", "calls"}
    assert len({case.name for case in CASES}) == len(CASES)


def test_a_chunked_body_under_the_limit_is_read_whole(target: Target, engine: Engine) -> None:
    body = json.dumps(target.batch(title="t" * 150)).encode()

    response = target.client.post(
        "/collect",
        input_stream=io.BytesIO(body),
        content_type="text/plain",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"stored": 1}


def test_a_405_names_the_allowed_methods(client: FlaskClient) -> None:
    response = client.get("/collect")

    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"POST", "OPTIONS"}
