"""Hostile query strings on every GET endpoint the app serves, API and dashboard alike, on
SQLite and PostgreSQL: a NUL (``%00``), a lone UTF-16 surrogate and an overlong UTF-8 NUL as
percent-encoded bytes, and values of 20,000 characters (digits, and plain text). Each is sent
in every parameter the endpoint documents or reads (the OpenAPI document's parameters, the
dashboard's filters) plus a few every endpoint might read. None may answer 5xx or write a
row; a NUL is a 400 naming its parameter; the pixel answers its GIF whatever it is sent; an
API answer's status is one the OpenAPI document lists for that operation.

The schemathesis gate (tests/api/test_fuzz_openapi.py) covers the documented API operations
with generated values; this covers the dashboard too, and the values a generator rarely
reaches (NUL, bytes that are not UTF-8, thousands of digits).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from tests.badinputs import DASHBOARD_PASSWORD, WEBHOOK_SECRET, row_count, sign_in
from tests.factories import SiteMaker
from tracker.accounts.users import create_user
from tracker.dashboard.filters import FILTER_KEYS, LEVELS
from tracker.sites.service import CreatedSite

HOSTILE = {
    "NUL": "%00",
    "lone surrogate": "%ED%A0%BD",  # CESU-8 of U+D83D: not UTF-8
    "overlong NUL": "%C0%80",
    "20,000 digits": "9" * 20_000,  # int() refuses more than 4,300 digits with a ValueError
    "20,000 letters": "a" * 20_000,
}
# Read by some endpoint without being in its OpenAPI parameters, or read by the dashboard.
EVERYWHERE = ("site", "q", "limit", "offset", "page", "from", "to", "model", "k")
DASHBOARD = (*FILTER_KEYS, *LEVELS, "q", "stage", "label", "deal", "page", "cols", "owner",
             "next", "first_channel", "group_by", "limit", "view", "interval", "conversion")
PATH_VALUES = {"report": "revenue", "name": "dashboard.css"}
PIXEL = "/collect.gif"


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def _get_rules(app: Flask) -> list[Rule]:
    return sorted(
        (rule for rule in app.url_map.iter_rules()
         if "GET" in (rule.methods or set()) and rule.endpoint != "static"),
        key=lambda rule: rule.rule,
    )


def _parameters(rule: Rule, document: dict[str, Any]) -> list[str]:
    operation = document["paths"].get(_openapi_path(rule.rule), {}).get("get", {})
    names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    names.update(EVERYWHERE)
    if rule.rule.startswith("/dashboard"):
        names.update(DASHBOARD)
    return sorted(names)


def _path(rule: Rule, lead_id: int) -> str:
    path = rule.rule
    for variable in rule.arguments:
        value = PATH_VALUES.get(variable, str(lead_id))
        path = re.sub(rf"<(?:[^:>]+:)?{variable}>", value, path)
    return path


@pytest.fixture
def site(sites: SiteMaker, db_session: Session) -> CreatedSite:
    created = sites.make(generic_secrets=[WEBHOOK_SECRET])
    with db_session.begin():
        create_user(db_session, "admin@example.com", DASHBOARD_PASSWORD, is_admin=True)
    return created


def test_no_get_endpoint_answers_5xx_or_writes_for_a_hostile_query_value(
    app: Flask, client: FlaskClient, engine: Engine, site: CreatedSite
) -> None:
    dashboard = app.test_client()
    sign_in(dashboard, "admin@example.com")
    document = client.get("/api/openapi.json").json
    api_headers = {"Authorization": f"Bearer {site.api_key}"}
    problems: list[str] = []
    sent = 0

    for rule in _get_rules(app):
        path = _path(rule, site.site.id)
        operation = document["paths"].get(_openapi_path(rule.rule), {}).get("get")
        documented = set(operation["responses"]) if operation else None
        sender = dashboard if rule.rule.startswith("/dashboard") else client
        # Counted per endpoint, not per request: counting every table is most of the time.
        before = row_count(engine)
        for name in _parameters(rule, document):
            for label, value in HOSTILE.items():
                response = sender.get(f"{path}?{name}={value}", headers=api_headers)
                sent += 1
                where = f"GET {path}?{name}=<{label}>"
                if path == PIXEL:
                    if response.status_code != 200 or response.mimetype != "image/gif":
                        problems.append(f"{where}: {response.status_code} {response.mimetype}")
                    continue
                if response.status_code >= 500:
                    problems.append(f"{where}: answered {response.status_code}")
                if documented is not None and str(response.status_code) not in documented:
                    problems.append(f"{where}: {response.status_code} is not documented")
                if label == "NUL":
                    field = (response.get_json(silent=True) or {}).get("error", {}).get("field")
                    if response.status_code != 400 or (response.is_json and field != name):
                        problems.append(f"{where}: {response.status_code}, field {field!r}")
        written = row_count(engine) - before
        if written and path != PIXEL:
            problems.append(f"GET {path} with hostile queries: wrote {written} rows")

    assert sent > 1_000
    assert not problems, "\n".join(problems)
