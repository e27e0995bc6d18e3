"""Property tests of the public parsers on SQLite and PostgreSQL: whatever bytes reach
``/collect``, ``/identify``, Segment's ``/v1/batch``, a signed generic webhook or a signed call
webhook, the answer is a 2xx or a 4xx, never a
5xx, and a 4xx writes nothing. Bodies are drawn three ways: raw bytes, arbitrary JSON, and a
valid body with one field replaced by an arbitrary value (NUL, lone surrogates, huge or
non-finite numbers, deep nesting, wrong types), which reaches past the first check.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from crm_sync.providers import generic
from tests.badinputs import row_count
from tests.factories import BatchBuilder, SiteMaker, new_id, now_ms
from tracker.models import CrmEvent
from tracker.sites.service import CreatedSite

# Reads with connections of its own: it needs real commits.
pytestmark = pytest.mark.committed

SECRET = "whsec_property_0123456789abcdef"
SETTINGS = settings(
    max_examples=75, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text that breaks storage or parsing: NUL, lone surrogates (as a JavaScript slice leaves
# them), emoji, control characters, formula prefixes.
nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\x00", "a\x00b", "\ud83d", "x\udc00", "😀" * 3, "\r\n\t", "=1+1", "",
                     "https://example.com/\x00", "9999-12-31T23:59:59Z", "0001-01-01"]),
)
nasty_numbers = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 2**63, 1e400, 10**14, 253402300799999]),
)
json_values = st.recursive(
    st.none() | st.booleans() | nasty_numbers | nasty_text,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(nasty_text, children, max_size=4),
    max_leaves=12,
)


def encode(value: Any) -> bytes:
    """JSON as a hostile client writes it: NaN/Infinity allowed, lone surrogates kept."""
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    """``valid`` with one value (at any depth) replaced by an arbitrary one, or one key
    added."""
    body = json.loads(json.dumps(valid))
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, item in node.items():
                walk(item, [*path, key])
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, [*path, index])

    walk(body, [])
    path = draw(st.sampled_from(paths[1:]))
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    if draw(st.booleans()) or not isinstance(parent, dict):
        parent[path[-1]] = draw(json_values)
    else:
        parent[draw(nasty_text)] = draw(json_values)
    return encode(body)


def bodies(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        json_values.map(encode),
        st.integers(min_value=30, max_value=5000).map(deep),
        mutated(valid),
        mutated(valid),
    )


@pytest.fixture
def site(sites: SiteMaker) -> CreatedSite:
    return sites.make(generic_secrets=[SECRET])


def _valid_batch(site: CreatedSite) -> dict[str, Any]:
    builder = BatchBuilder(site.write_key, visitor_id="v.property1")
    builder.pageview("https://example.com/?utm_source=news&utm_medium=email",
                     title="Home", props={"plan": "pro"},
                     touch={"utm_source": "news", "utm_medium": "email"})
    return builder.body()


def _valid_identify(site: CreatedSite) -> dict[str, Any]:
    return {"k": site.write_key, "vid": "v.property1", "id": new_id(), "ts": now_ms(),
            "url": "https://example.com/contact", "email": "ada@example.com", "name": "Ada",
            "company": "Acme", "form": {"id": "contact"}}


def _valid_deal_event() -> dict[str, Any]:
    return {"id": "evt_" + new_id(), "type": "deal.won", "occurred_at": "2026-10-01T09:00:00Z",
            "deal": {"id": "D-1", "name": "Renewal", "email": "ada@example.com",
                     "amount": "100.00", "currency": "USD", "owner": "olivia"}}


def _check(client: FlaskClient, engine: Engine, path: str, body: bytes,
           headers: dict[str, str] | None = None) -> int:
    before = row_count(engine)
    response = client.post(path, data=body, content_type="text/plain", headers=headers or {})
    written = row_count(engine) - before
    assert response.status_code < 500, (response.status_code, response.get_data()[:300])
    if response.status_code >= 400:
        assert response.is_json and response.get_json()["error"]["code"]
        assert written == 0, (response.status_code, written)
    return response.status_code


@pytest.mark.parametrize("path", ["/collect", "/identify"])
def test_any_collector_body_is_answered_2xx_or_4xx_and_a_4xx_writes_nothing(
    client: FlaskClient, engine: Engine, site: CreatedSite, path: str
) -> None:
    valid = _valid_batch(site) if path == "/collect" else _valid_identify(site)
    # A page view first, so identify bodies can get as far as stitching.
    assert _check(client, engine, "/collect", encode(_valid_batch(site))) == 200

    @SETTINGS
    @given(body=bodies(valid))
    def answer(body: bytes) -> None:
        _check(client, engine, path, body)

    answer()


def test_any_signed_generic_webhook_is_answered_2xx_or_4xx_and_never_acked_unappliable(
    client: FlaskClient, engine: Engine, site: CreatedSite
) -> None:
    @SETTINGS
    @given(body=bodies(_valid_deal_event()))
    def answer(body: bytes) -> None:
        header = generic.sign(body, SECRET, int(time.time()))
        status = _check(client, engine, f"/webhooks/generic/{site.site.id}", body,
                        {generic.SIGNATURE_HEADER: header, "Content-Type": "application/json"})
        if status < 300:
            with engine.connect() as conn:
                failed = conn.execute(select(CrmEvent.error).where(
                    CrmEvent.site_id == site.site.id, CrmEvent.status == "failed")).all()
            assert failed == []

    answer()


def _valid_segment_batch() -> dict[str, Any]:
    context = {"userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36",
               "ip": "203.0.113.9", "campaign": {"source": "google", "medium": "cpc"},
               "page": {"url": "https://example.com/?gclid=abc", "referrer": "https://google.com/"}}
    sent_at = dt.datetime.now(dt.UTC).isoformat()
    return {"sentAt": sent_at, "batch": [
        {"type": "page", "messageId": "m-page-0001", "anonymousId": "anon-prop-1",
         "properties": {"url": "https://example.com/?gclid=abc", "title": "Home"},
         "context": context},
        {"type": "identify", "messageId": "m-ident-0001", "anonymousId": "anon-prop-1",
         "userId": "u-1", "traits": {"email": "ada@example.com", "name": "Ada",
                                     "company": {"name": "Acme"}}, "context": context},
        {"type": "track", "messageId": "m-track-0001", "userId": "u-1", "event": "Signed Up",
         "properties": {"plan": "pro", "revenue": 10}},
        {"type": "alias", "messageId": "m-alias-0001", "previousId": "anon-prop-0",
         "userId": "u-1"},
    ]}


def test_any_segment_body_is_answered_2xx_or_4xx_and_a_4xx_writes_nothing(
    client: FlaskClient, engine: Engine, site: CreatedSite
) -> None:
    auth = {"Authorization": "Basic " + base64.b64encode(f"{site.write_key}:".encode()).decode()}

    @SETTINGS
    @given(body=bodies(_valid_segment_batch()))
    def answer(body: bytes) -> None:
        status = _check(client, engine, "/v1/batch", body, auth)
        assert status in {200, 400, 401, 403, 422}

    answer()


def test_any_signed_call_webhook_is_answered_2xx_or_4xx_and_a_4xx_writes_nothing(
    client: FlaskClient, engine: Engine, site: CreatedSite
) -> None:
    configured = client.put("/api/v1/calls/config", json={
        "default_number": "+14155550100", "generic_secrets": [SECRET],
        "pools": [{"id": "paid", "channel": "Paid Search", "numbers": ["+14155550101"]}]},
        headers={"Authorization": f"Bearer {site.api_key}"})
    assert configured.status_code == 200
    valid = {"id": "call-1", "called": "+14155550101", "caller": "+16505550199",
             "started_at": dt.datetime.now(dt.UTC).isoformat(), "duration_s": 30,
             "answered": True}

    @SETTINGS
    @given(body=bodies(valid))
    def answer(body: bytes) -> None:
        header = generic.sign(body, SECRET, int(time.time()))
        _check(client, engine, f"/calls/webhooks/generic/{site.site.id}", body,
               {generic.SIGNATURE_HEADER: header})

    answer()
