"""Every class of bad input the public and API endpoints must refuse with a clean 4xx naming
the field, writing nothing: the table tests/api/test_bad_inputs.py runs on SQLite and
PostgreSQL. It only speaks HTTP to the app, so ``python -m tests.badinputs`` also runs it
against any checkout and prints how many answers were 5xx (the figures of issue 11).
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from crm_sync.providers import generic
from tests.factories import BatchBuilder, new_id, now_ms
from tracker.models import Base
from tracker.sites.service import CreatedSite

WEBHOOK_SECRET = "whsec_bad_inputs_0123456789abcdef"
DASHBOARD_PASSWORD = "correct horse battery staple"
DEEP = "[" * 30_000 + "]" * 30_000  # 60 kB: under every body limit
NUL = "\x00"
LONE_SURROGATE = "\\ud83d"  # JSON escape of half an emoji, as JavaScript's slice leaves it
HUGE_ID = "99999999999999999999999"


@dataclass
class Target:
    """What the cases send to: a site with its keys, an API client and a signed-in
    dashboard client."""

    client: FlaskClient
    dashboard: FlaskClient
    site: CreatedSite
    engine: Engine

    def api(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {self.site.api_key}", **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def collect(self, body: dict[str, Any] | str, path: str = "/collect") -> TestResponse:
        data = body if isinstance(body, str) else json.dumps(body)
        return self.client.post(path, data=data, content_type="text/plain")

    def batch(self, **event: Any) -> dict[str, Any]:
        return BatchBuilder(self.site.write_key).pageview(**event).body()

    def identify(self, **fields: Any) -> dict[str, Any]:
        return {
            "k": self.site.write_key,
            "vid": "v." + new_id(),
            "id": new_id(),
            "ts": now_ms(),
            "url": "https://example.com/contact",
            "email": "ada@example.com",
            **fields,
        }

    def webhook(self, raw: str) -> TestResponse:
        body = raw.encode()
        return self.client.post(
            f"/webhooks/generic/{self.site.site.id}",
            data=body,
            headers={
                "LeadTrail-Signature": generic.sign(body, WEBHOOK_SECRET, int(time.time())),
                "Content-Type": "application/json",
            },
        )


    def webhook_chunked(self, raw: str) -> TestResponse:
        body = raw.encode()
        return self.client.post(
            f"/webhooks/generic/{self.site.site.id}",
            input_stream=io.BytesIO(body),
            headers={
                "LeadTrail-Signature": generic.sign(body, WEBHOOK_SECRET, int(time.time())),
                "Content-Type": "application/json",
                "Transfer-Encoding": "chunked",
            },
            environ_overrides={"wsgi.input_terminated": True},
        )


def deal_event(**deal: Any) -> dict[str, Any]:
    return {
        "id": "evt_" + new_id(),
        "type": "deal.updated",
        "occurred_at": "2026-10-01T09:00:00Z",
        "deal": {"id": "D-1", "name": "Acme renewal", "amount": "100.00", **deal},
    }


def _with_surrogate(body: dict[str, Any], placeholder: str) -> str:
    return json.dumps(body).replace(placeholder, LONE_SURROGATE)


def _with_number(body: dict[str, Any], literal: str) -> str:
    """``body`` with its property ``n`` written as ``literal`` (not valid JSON for Python's
    encoder to produce)."""
    return json.dumps(body).replace('"n": 1', f'"n": {literal}')


def _chunked(t: Target, path: str, size: int) -> TestResponse:
    """A body without Content-Length (Transfer-Encoding: chunked), as a WSGI server that
    terminates the input stream (gunicorn) hands it over."""
    body = json.dumps(t.batch(title="x" * size)).encode()
    return t.client.post(
        path,
        input_stream=io.BytesIO(body),
        content_type="text/plain",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def _segment(t: Target, message: dict[str, Any] | str, path: str = "/v1/batch",
             **headers: str) -> TestResponse:
    """A Segment batch of ``message`` (or a raw body) with the write key as basic auth."""
    auth = base64.b64encode(f"{t.site.write_key}:".encode()).decode()
    body = message if isinstance(message, str) else json.dumps({"batch": [message]})
    return t.client.post(path, data=body, content_type="application/json",
                         headers={"Authorization": f"Basic {auth}", **headers})


def _segment_page(**fields: Any) -> dict[str, Any]:
    return {"type": "page", "messageId": "msg-" + new_id(), "anonymousId": "anon-" + new_id(),
            "properties": {"url": "https://example.com/"}, **fields}


@dataclass(frozen=True)
class BadInput:
    name: str
    send: Callable[[Target], TestResponse]
    field: str | None  # the error's field; None when the answer is not a JSON error
    status: int = 400


def _touch(**values: Any) -> dict[str, Any]:
    return {"touch": {"utm_source": "news", "utm_medium": "email", **values}}


CASES: tuple[BadInput, ...] = (
    # /collect: text the database cannot store
    BadInput("collect: NUL in title", lambda t: t.collect(t.batch(title=f"a{NUL}b")),
             "events.0.title"),
    BadInput("collect: lone surrogate in title",
             lambda t: t.collect(_with_surrogate(t.batch(title="@@"), "@@")), "events.0.title"),
    BadInput("collect: NUL in url",
             lambda t: t.collect(t.batch(url=f"https://example.com/{NUL}")), "events.0.url"),
    BadInput("collect: lone surrogate in url",
             lambda t: t.collect(_with_surrogate(t.batch(url="https://example.com/@@"), "@@")),
             "events.0.url"),
    BadInput("collect: NUL in referrer",
             lambda t: t.collect(t.batch(ref=f"https://news.example.org/{NUL}")),
             "events.0.ref"),
    BadInput("collect: NUL in a UTM value",
             lambda t: t.collect(t.batch(**_touch(utm_campaign=f"spring{NUL}"))),
             "events.0.touch.utm_campaign"),
    BadInput("collect: NUL in a custom event name",
             lambda t: t.collect(BatchBuilder(t.site.write_key).custom(f"sign{NUL}up").body()),
             "events.0.name"),
    BadInput("collect: NUL in a property value",
             lambda t: t.collect(t.batch(props={"plan": f"pro{NUL}"})), "events.0.props.plan"),
    BadInput("collect: NUL in a property name",
             lambda t: t.collect(t.batch(props={f"pl{NUL}an": "pro"})), "events.0.props.pl\x00an"),
    BadInput("collect: NUL in the write key",
             lambda t: t.collect({**t.batch(), "k": f"wk_{NUL}"}), "k"),
    BadInput("collect: NUL in the write key of the query",
             lambda t: t.client.post("/collect?k=%00", data=json.dumps(
                 {key: value for key, value in t.batch().items() if key != "k"}),
                 content_type="text/plain"), "k"),
    BadInput("identify: NUL in the write key of the query",
             lambda t: t.client.post("/identify?k=%00", data=json.dumps(
                 {key: value for key, value in t.identify().items() if key != "k"}),
                 content_type="text/plain"), "k"),
    # numbers
    BadInput("collect: property 1e400 (infinite)",
             lambda t: t.collect(_with_number(t.batch(props={"n": 1}), "1e400")),
             "events.0.props.n"),
    BadInput("collect: property NaN",
             lambda t: t.collect(_with_number(t.batch(props={"n": 1}), "NaN")),
             "events.0.props.n"),
    BadInput("collect: property -Infinity",
             lambda t: t.collect(_with_number(t.batch(props={"n": 1}), "-Infinity")),
             "events.0.props.n"),
    BadInput("collect: integer beyond int64",
             lambda t: t.collect(t.batch(props={"n": 2**70})), "events.0.props.n"),
    # structure and size
    BadInput("collect: JSON nested 30,000 deep", lambda t: t.collect(DEEP), "body"),
    BadInput("collect: sent_at overflowing the clock skew",
             lambda t: t.collect({**t.batch(ts=1_000), "sent_at": 99_999_999_999_999}),
             "sent_at"),
    BadInput("collect: event time before 1970", lambda t: t.collect(t.batch(ts=-1)),
             "events.0.ts"),
    BadInput("collect: invalid UTF-8", lambda t: t.client.post(
        "/collect", data=b'{"k": "\xff\xfe"}', content_type="text/plain"), "body"),
    BadInput("collect: body over the limit with Content-Length",
             lambda t: t.collect(t.batch(title="x" * 2_000_000)), "body", 413),
    BadInput("collect: body over the limit, chunked",
             lambda t: _chunked(t, "/collect", 2_000_000), "body", 413),
    # the pixel always answers the GIF
    BadInput("collect.gif: %00 in the page URL",
             lambda t: t.client.get(f"/collect.gif?k={t.site.write_key}&u=https://example.com/%00"),
             None, 200),
    BadInput("collect.gif: %00 in the write key",
             lambda t: t.client.get("/collect.gif?k=wk_%00&u=https://example.com/"), None, 200),
    BadInput("collect.gif: %00 in the referrer",
             lambda t: t.client.get(
                 f"/collect.gif?k={t.site.write_key}&u=https://example.com/&r=https://a.org/%00"),
             None, 200),
    # /identify: refused whole, nothing of it stored
    BadInput("identify: NUL in name",
             lambda t: t.collect(t.identify(name=f"Ada{NUL}"), "/identify"), "name"),
    BadInput("identify: NUL in company",
             lambda t: t.collect(t.identify(company=f"Acme{NUL}"), "/identify"), "company"),
    BadInput("identify: lone surrogate in email",
             lambda t: t.collect(_with_surrogate(t.identify(email="a@@@example.com"), "@@"),
                                 "/identify"), "email"),
    BadInput("identify: JSON nested 30,000 deep", lambda t: t.collect(DEEP, "/identify"),
             "body"),
    BadInput("identify: NUL in the form name",
             lambda t: t.collect(t.identify(form={"id": "contact", "name": f"c{NUL}"}),
                                 "/identify"), "form.name"),
    # cross-domain
    BadInput("xd/sign: NUL in the write key",
             lambda t: t.collect({"k": f"wk{NUL}", "vid": "v.12345678"}, "/xd/sign"), "k"),
    BadInput("xd/adopt: JSON nested 30,000 deep", lambda t: t.collect(DEEP, "/xd/adopt"),
             "body"),
    # API bodies
    BadInput("api: conversions nested 30,000 deep",
             lambda t: t.api("POST", "/api/v1/conversions", data=DEEP,
                             content_type="application/json"), "body"),
    BadInput("api: conversion with NUL in email",
             lambda t: t.api("POST", "/api/v1/conversions",
                             json={"email": f"a{NUL}@example.com", "kind": "call"}), "email"),
    BadInput("api: conversion in year 1",
             lambda t: t.api("POST", "/api/v1/conversions",
                             json={"id": "conv-1", "email": "a@example.com", "kind": "call",
                                   "occurred_at": "0001-01-01T00:00:00+01:00"}), "occurred_at"),
    BadInput("api: offline touch with NUL in campaign",
             lambda t: t.api("POST", "/api/v1/offline-touches",
                             json={"id": "call-1", "email": "a@example.com", "kind": "call",
                                   "occurred_at": "2026-10-01T09:00:00Z",
                                   "campaign": f"spring{NUL}"}), "campaign"),
    # a list or object where one of a few words is expected (found by the fuzzing gate: a set
    # membership test raised TypeError, a 500)
    BadInput("collect: event type is a list",
             lambda t: t.collect({**t.batch(), "events": [{**t.batch()["events"][0],
                                                          "type": ["pageview"]}]}),
             "events.0.type"),
    BadInput("api: offline touch kind is a list",
             lambda t: t.api("POST", "/api/v1/offline-touches",
                             json={"id": "call-3", "email": "a@example.com", "kind": ["call"],
                                   "occurred_at": "2026-10-01T09:00:00Z"}), "kind"),
    BadInput("api: conversion kind is an object",
             lambda t: t.api("POST", "/api/v1/conversions",
                             json={"id": "conv-2", "email": "a@example.com", "kind": {},
                                   "occurred_at": "2026-10-01T09:00:00Z"}), "kind"),
    # an unknown query parameter (a typo) is refused, not silently ignored (found by the
    # fuzzing gate)
    BadInput("api: unknown parameter on the costs list",
             lambda t: t.api("GET", "/api/v1/costs?form=2026-10-01"), "form"),
    BadInput("api: unknown parameter on the CRM inbox",
             lambda t: t.api("GET", "/api/v1/crm/events?state=failed"), "state"),
    BadInput("api: offline touch in year 9999",
             lambda t: t.api("POST", "/api/v1/offline-touches",
                             json={"id": "call-2", "email": "a@example.com", "kind": "call",
                                   "occurred_at": "9999-12-31T23:59:59-01:00"}), "occurred_at"),
    BadInput("api: stage changes nested 30,000 deep",
             lambda t: t.api("POST", "/api/v1/leads/stages", data=DEEP,
                             content_type="application/json"), "body"),
    BadInput("api: costs JSON with NUL in campaign",
             lambda t: t.api("POST", "/api/v1/costs", json={"rows": [
                 {"date": "2026-10-01", "channel": "Paid Search", "campaign": f"c{NUL}",
                  "amount": "10"}]}), "rows.1.campaign"),
    BadInput("api: costs amount 1e30",
             lambda t: t.api("POST", "/api/v1/costs", json={"rows": [
                 {"date": "2026-10-01", "channel": "Paid Search", "amount": "1e30"}]}),
             "rows.1.amount"),
    BadInput("api: costs in year 1",
             lambda t: t.api("POST", "/api/v1/costs", json={"rows": [
                 {"date": "0001-01-01", "channel": "Paid Search", "amount": "10"}]}),
             "rows.1.date"),
    BadInput("api: costs in year 9999",
             lambda t: t.api("POST", "/api/v1/costs", json={"rows": [
                 {"date": "9999-12-31", "channel": "Paid Search", "amount": "10"}]}),
             "rows.1.date"),
    BadInput("api: costs CSV with NUL in campaign",
             lambda t: t.api("POST", "/api/v1/costs",
                             data=f"date,channel,campaign,amount\n2026-10-01,Email,c{NUL},5\n",
                             content_type="text/csv"), "rows.1.campaign"),
    BadInput("api: exchange rate from year 1",
             lambda t: t.api("POST", "/api/v1/exchange-rates",
                             json={"currency": "EUR", "valid_from": "0001-01-01", "rate": "1.1"}),
             "valid_from"),
    BadInput("api: exchange rate 1e30",
             lambda t: t.api("POST", "/api/v1/exchange-rates",
                             json={"currency": "EUR", "valid_from": "2026-01-01", "rate": "1e30"}),
             "rate"),
    # Segment-compatible intake (/v1/…)
    BadInput("segment: NUL in a page url",
             lambda t: _segment(t, _segment_page(properties={"url": f"https://e.com/{NUL}"})),
             "batch.0.properties.url"),
    BadInput("segment: lone surrogate in an event name",
             lambda t: _segment(t, _with_surrogate(
                 {"batch": [_segment_page(type="track", event="@@")]}, "@@")),
             "batch.0.event"),
    BadInput("segment: JSON nested 30,000 deep", lambda t: _segment(t, DEEP), "body"),
    BadInput("segment: a message of 40 KB",
             lambda t: _segment(t, _segment_page(properties={"title": "x" * 40_000})), "batch.0"),
    BadInput("segment: a timestamp in year 9999",
             lambda t: _segment(t, _segment_page(timestamp="9999-12-31T23:59:59Z")),
             "batch.0.timestamp"),
    BadInput("segment: an identify whose email is a number",
             lambda t: _segment(t, _segment_page(type="identify", traits={"email": 5})),
             "batch.0.traits.email"),
    BadInput("segment: a userId that is an object",
             lambda t: _segment(t, _segment_page(userId={"id": 1})), "batch.0.userId"),
    BadInput("segment: gzip header on a plain body",
             lambda t: _segment(t, _segment_page(), **{"Content-Encoding": "gzip"}), "body"),
    BadInput("segment: an unknown write key",
             lambda t: t.client.post("/v1/t", data=json.dumps(
                 {**_segment_page(type="track", event="x"), "writeKey": "wk_unknown"})),
             "writeKey", 401),
    # Call tracking (/calls/…, /api/v1/calls/…)
    BadInput("calls: NUL in the visitor id",
             lambda t: t.client.post("/calls/number", data=json.dumps(
                 {"k": t.site.write_key, "vid": f"v.{NUL}12345678"})), "vid"),
    BadInput("calls: a number lookup without a write key",
             lambda t: t.client.post("/calls/number", data=json.dumps({"vid": "v.12345678"})),
             "k"),
    BadInput("calls: JSON nested 30,000 deep in the configuration",
             lambda t: t.api("PUT", "/api/v1/calls/config", data=DEEP,
                             content_type="application/json"), "body"),
    BadInput("calls: a pool number that is no phone number",
             lambda t: t.api("PUT", "/api/v1/calls/config",
                             json={"pools": [{"id": "p", "numbers": [f"+1{NUL}"]}]}),
             "pools.0.numbers.0"),
    BadInput("calls: a webhook for a site without call tracking",
             lambda t: t.client.post(f"/calls/webhooks/generic/{t.site.site.id}", data="{}"),
             "site_id", 404),
    BadInput("calls: a report from year 1",
             lambda t: t.api("GET", "/api/v1/reports/calls?start=0001-01-01"), "start"),
    # API query strings and URLs
    BadInput("api: NUL in the lead search", lambda t: t.api("GET", "/api/v1/leads?q=%00"), "q"),
    BadInput("api: NUL in a lead filter",
             lambda t: t.api("GET", "/api/v1/leads?first_channel=Email%00"), "first_channel"),
    BadInput("api: leads created from year 1",
             lambda t: t.api("GET", "/api/v1/leads?created_from=0001-01-01T00:00:00%2B01:00"),
             "created_from"),
    BadInput("api: a non-ASCII digit as limit",
             lambda t: t.api("GET", "/api/v1/leads?limit=%C2%B2"), "limit"),
    BadInput("api: NUL in a lead id", lambda t: t.api("GET", "/api/v1/leads/%00"), "lead_id"),
    # more digits than int() converts (4,300) was a ValueError, a 500 (found by
    # tests/api/test_query_strings.py)
    BadInput("api: a limit of 20,000 digits",
             lambda t: t.api("GET", "/api/v1/leads?limit=" + "9" * 20_000), "limit"),
    BadInput("api: a report offset of 20,000 digits",
             lambda t: t.api("GET", "/api/v1/reports/leads?offset=" + "9" * 20_000), "offset"),
    BadInput("api: report from year 1",
             lambda t: t.api("GET", "/api/v1/reports/revenue?from=0001-01-01"), "from"),
    BadInput("api: report to year 9999",
             lambda t: t.api("GET", "/api/v1/reports/revenue?to=9999-12-31"), "to"),
    BadInput("api: NUL in a report filter",
             lambda t: t.api("GET", "/api/v1/reports/revenue?channel=Email%00"), "channel"),
    BadInput("api: costs listed to year 9999",
             lambda t: t.api("GET", "/api/v1/costs?to=9999-12-31"), "to"),
    BadInput("api: API key naming a site id beyond int64",
             lambda t: t.client.get("/api/v1/leads", headers={
                 "Authorization": f"Bearer lt_sk_{HUGE_ID}_abcdefgh_secret"}),
             "authorization", 401),
    BadInput("api: NUL in the inbox status",
             lambda t: t.api("GET", "/api/v1/crm/events?status=%00"), "status"),
    # webhooks
    BadInput("webhook: site id beyond int64",
             lambda t: t.client.post(f"/webhooks/generic/{HUGE_ID}", data=b"{}"), None, 404),
    BadInput("webhook: signed, NUL in deal.name",
             lambda t: t.webhook(json.dumps(deal_event(name=f"Acme{NUL}"))), "deal.name"),
    BadInput("webhook: signed, lone surrogate in deal.owner",
             lambda t: t.webhook(_with_surrogate(deal_event(owner="@@"), "@@")), "deal.owner"),
    BadInput("webhook: signed, nested 30,000 deep", lambda t: t.webhook(DEEP), "body"),
    BadInput("webhook: body over 1 MiB, chunked (Werkzeug would cut it at the limit)",
             lambda t: t.webhook_chunked(json.dumps(deal_event()) + " " * 1_500_000),
             "body", 413),
    BadInput("webhook: signed, occurred in year 9999",
             lambda t: t.webhook(json.dumps(
                 {**deal_event(), "occurred_at": "9999-12-31T23:59:59Z"})), "occurred_at"),
    # dashboard (HTML error pages: the status is checked, not a JSON field)
    BadInput("dashboard: ?site= beyond int64",
             lambda t: t.dashboard.get(f"/dashboard/?site={HUGE_ID}"), None),
    BadInput("dashboard: NUL in the lead search",
             lambda t: t.dashboard.get("/dashboard/leads?q=%00"), None),
    BadInput("dashboard: from year 1", lambda t: t.dashboard.get("/dashboard/?from=0001-01-01"),
             None),
    BadInput("dashboard: to year 9999", lambda t: t.dashboard.get("/dashboard/?to=9999-12-31"),
             None),
    BadInput("dashboard: NUL in a drill-down filter",
             lambda t: t.dashboard.get("/dashboard/export/revenue.csv?channel=Email%00"), None),
    BadInput("dashboard: NUL in a lead id", lambda t: t.dashboard.get("/dashboard/leads/%00"),
             None),
    BadInput("dashboard: a lead page of 20,000 digits",
             lambda t: t.dashboard.get("/dashboard/leads?page=" + "9" * 20_000), None),
    BadInput("dashboard: reports API with ?site= beyond int64",
             lambda t: t.dashboard.get(f"/api/v1/reports/revenue?site={HUGE_ID}"), "site"),
    BadInput("dashboard: NUL in the login email",
             lambda t: t.client.post("/dashboard/login", data={
                 "email": f"a{NUL}@example.com", "password": "x", "csrf_token": "x"}), None),
)


def row_count(engine: Engine) -> int:
    with Session(engine) as session:
        return sum(
            int(session.execute(select(func.count()).select_from(table)).scalar_one())
            for table in Base.metadata.sorted_tables
        )


def problems_of(case: BadInput, response: TestResponse, written: int) -> list[str]:
    """What is wrong with the answer to ``case`` (empty when it is right)."""
    found = []
    if response.status_code >= 500:
        found.append(f"answered {response.status_code}")
    elif response.status_code != case.status:
        found.append(f"answered {response.status_code}, expected {case.status}")
    if case.status == 200 and response.mimetype != "image/gif":
        found.append(f"answered {response.mimetype}, expected the GIF")
    if case.field is not None and response.is_json:
        field = (response.get_json() or {}).get("error", {}).get("field")
        if field != case.field:
            found.append(f"named field {field!r}, expected {case.field!r}")
    if written and case.status != 200:
        found.append(f"wrote {written} rows")
    return found


def sign_in(client: FlaskClient, email: str) -> None:
    page = client.get("/dashboard/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    answer = client.post("/dashboard/login", data={
        "email": email, "password": DASHBOARD_PASSWORD, "csrf_token": token.group(1)})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]


def main() -> None:  # pragma: no cover - run by hand for the issue's figures
    """Send every case to a fresh app on SQLite and on PostgreSQL; print the 5xx count."""
    import sys
    import tempfile

    from sqlalchemy.orm import Session

    from tests.conftest import drop_postgres_database, fresh_database_url
    from tracker import create_app, migrate
    from tracker.accounts.users import create_user
    from tracker.config import Settings
    from tracker.db import make_engine
    from tracker.sites.service import create_site

    total_5xx = 0
    for dialect in ("sqlite", "postgresql"):
        url = fresh_database_url(dialect, "leadtrail_bad_inputs", __import__("pathlib").Path(
            tempfile.mkdtemp()))
        engine = make_engine(url)
        migrate.upgrade(engine)
        app = create_app(Settings(database_url=url, log_level="ERROR",
                                  secret_key="bad-inputs-" + "k" * 40), engine=engine)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            site = create_site(session, name="Bad inputs", domains=["example.com"],
                               settings={"generic_secrets": [WEBHOOK_SECRET]})
            create_user(session, "admin@example.com", DASHBOARD_PASSWORD, is_admin=True)
        dashboard = app.test_client()
        sign_in(dashboard, "admin@example.com")
        target = Target(app.test_client(), dashboard, site, engine)
        fivexx = 0
        for case in CASES:
            before = row_count(engine)
            try:
                response = case.send(target)
            except Exception as exc:  # noqa: BLE001 - an exception escaping is a 5xx too
                print(f"  {dialect}: {case.name}: raised {type(exc).__name__}")
                fivexx += 1
                continue
            found = problems_of(case, response, row_count(engine) - before)
            fivexx += response.status_code >= 500
            if found:
                print(f"  {dialect}: {case.name}: {'; '.join(found)}")
        print(f"{dialect}: {len(CASES)} bad-input classes, {fivexx} answered 5xx")
        total_5xx += fivexx
        engine.dispose()
        if dialect == "postgresql":
            drop_postgres_database(url)
    sys.exit(0 if total_5xx == 0 else 1)


if __name__ == "__main__":
    main()
