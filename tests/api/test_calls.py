"""Call tracking on SQLite and PostgreSQL: configuration, number assignment by the collector
(pool match, hold, release, exhaustion, default), signed call webhooks from Twilio (signed
by Twilio's own validator), CallRail and our format resolved to the visitor who saw the
number, calls as leads, deduplication, refusals naming the field, the report, tenancy."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from crm_sync.providers import generic
from tests.api.test_dashboard import csrf_from, log_in
from tests.api.test_reports import by_group, report
from tests.badinputs import row_count
from tests.factories import BatchBuilder, SiteMaker
from tracker.accounts.users import create_user
from tracker.calls.assign import show_number
from tracker.calls.providers import callrail_signature
from tracker.destinations.identity import load_identity
from tracker.models import Call, Lead, LeadVisitor, OfflineTouch, VisitSession
from tracker.sites.service import CreatedSite

BROWSER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Safari/537.36")
SECRET = "whsec_calls_0123456789abcdef"
TWILIO_TOKEN = "twilio_auth_token_0123456789"
CALLRAIL_KEY = "callrail_signing_key_0123456789"
PAID = "https://example.com/?gclid=Cj0abc&utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=crm+software"
DEFAULT = "+1 415 555 0100"
CONFIG: dict[str, Any] = {
    "default_number": DEFAULT,
    "min_duration_s": 10,
    "twilio_auth_tokens": [TWILIO_TOKEN],
    "callrail_signing_keys": [CALLRAIL_KEY],
    "generic_secrets": [SECRET],
    "pools": [
        {"id": "paid-search", "channel": "Paid Search", "scope": "visitor", "hold_minutes": 30,
         "numbers": ["+1 415 555 0101", {"number": "+14155550102", "display": "415.555.0102"}]},
        {"id": "email", "channel": "Email", "scope": "channel", "hold_minutes": 60,
         "numbers": ["+1 415 555 0110"]},
    ],
}


def api(client: FlaskClient, site: CreatedSite, method: str, path: str,
        body: Any = None) -> Any:
    return client.open(path, method=method, data=None if body is None else json.dumps(body),
                       headers={"Authorization": f"Bearer {site.api_key}"},
                       content_type="application/json")


def visit(client: FlaskClient, site: CreatedSite, url: str, visitor: str | None = None) -> str:
    batch = BatchBuilder(site.write_key, **({"visitor_id": visitor} if visitor else {}))
    response = client.post("/collect", data=json.dumps(batch.pageview(url).body()),
                           headers={"User-Agent": BROWSER}, content_type="text/plain")
    assert response.status_code == 200
    return batch.visitor_id


def number_for(client: FlaskClient, site: CreatedSite, visitor: str) -> Any:
    response = client.post("/calls/number", data=json.dumps({"k": site.write_key,
                                                              "vid": visitor}))
    assert response.status_code == 200
    return response.json


def generic_call(client: FlaskClient, site: CreatedSite, **fields: Any) -> Any:
    body = json.dumps({"id": "call-1", "called": "+14155550101", "caller": "(650) 555-0199",
                       "started_at": dt.datetime.now(dt.UTC).isoformat(), "duration_s": 95,
                       "answered": True, **fields}).encode()
    return client.post(f"/calls/webhooks/generic/{site.site.id}", data=body,
                       headers={"LeadTrail-Signature": generic.sign(body, SECRET,
                                                                    int(time.time()))})


@pytest.fixture
def site(client: FlaskClient, sites: SiteMaker) -> CreatedSite:
    made = sites.make()
    assert api(client, made, "PUT", "/api/v1/calls/config", CONFIG).status_code == 200
    return made


def test_the_configuration_is_stored_normalised_with_secrets_hidden(
    client: FlaskClient, site: CreatedSite
) -> None:
    stored = api(client, site, "GET", "/api/v1/calls/config").json

    assert stored["default_number"] == "+14155550100"
    assert stored["default_display"] == "(415) 555-0100"
    assert stored["pools"][0]["numbers"] == [
        {"number": "+14155550101", "display": "(415) 555-0101"},
        {"number": "+14155550102", "display": "415.555.0102"}]
    assert stored["generic_secrets"][0].startswith("sha256:") and SECRET not in json.dumps(stored)


@pytest.mark.parametrize(("change", "field"), [
    ({"pools": [{"id": "x", "numbers": ["12"]}]}, "pools.0.numbers.0"),
    ({"pools": [{"id": "Bad Id", "numbers": ["+14155550101"]}]}, "pools.0.id"),
    ({"pools": [{"id": "x", "scope": "city", "numbers": ["+14155550101"]}]}, "pools.0.scope"),
    ({"pools": [{"id": "x", "hold_minutes": 0, "numbers": ["+14155550101"]}]},
     "pools.0.hold_minutes"),
    ({"pools": [{"id": "a", "numbers": ["+14155550101"]},
                {"id": "b", "numbers": ["+1 415 555 0101"]}]}, "pools.1.numbers.0"),
    ({"generic_secrets": ["short"]}, "generic_secrets.0"),
    ({"surprise": 1}, "surprise"),
])
def test_a_bad_configuration_names_the_field_and_changes_nothing(
    client: FlaskClient, site: CreatedSite, engine: Engine, change: dict[str, Any], field: str
) -> None:
    before = row_count(engine)

    response = api(client, site, "PUT", "/api/v1/calls/config", {**CONFIG, **change})

    # A number in two pools breaks a rule the document states in words: 422.
    assert (response.status_code, response.json["error"]["field"]) == (
        422 if field == "pools.1.numbers.0" else 400, field)
    assert row_count(engine) == before


def test_paid_search_sees_a_pool_number_direct_sees_the_default(
    client: FlaskClient, site: CreatedSite
) -> None:
    paid = visit(client, site, PAID)
    direct = visit(client, site, "https://example.com/")
    unknown = "v.never-seen-1"

    shown, again = number_for(client, site, paid), number_for(client, site, paid)

    assert (shown["pool"], shown["number"]) == ("paid-search", "+14155550101")
    assert again["number"] == shown["number"] and again["held_until"] >= shown["held_until"]
    assert number_for(client, site, direct)["number"] == "+14155550100"
    assert number_for(client, site, direct)["pool"] is None
    assert number_for(client, site, unknown)["display"] == "(415) 555-0100"


def test_a_used_up_pool_shows_the_default_and_a_lapsed_hold_frees_the_number(
    client: FlaskClient, site: CreatedSite, db_session: Session
) -> None:
    visitors = [visit(client, site, PAID) for _ in range(3)]
    now = dt.datetime.now(dt.UTC)

    with db_session.begin():
        first, second, third = (show_number(db_session, site.site.id, v, now) for v in visitors)
    with db_session.begin():
        later = show_number(db_session, site.site.id, visitors[2], now + dt.timedelta(minutes=31))

    assert {first.number, second.number} == {"+14155550101", "+14155550102"}
    assert (third.number, third.pool, third.exhausted) == ("+14155550100", None, True)
    assert later.pool == "paid-search" and later.number in {first.number, second.number}


def test_a_signed_call_to_a_visitors_number_makes_a_lead_with_the_paid_first_touch(
    client: FlaskClient, site: CreatedSite, db_session: Session, engine: Engine
) -> None:
    visitor = visit(client, site, PAID)
    assert number_for(client, site, visitor)["number"] == "+14155550101"

    response = generic_call(client, site)
    before_retry = row_count(engine)
    retry = generic_call(client, site)

    assert response.status_code == 200 and response.json["stored"] is True
    assert retry.status_code == 200 and retry.json["stored"] is False
    assert row_count(engine) == before_retry
    lead = db_session.scalars(select(Lead).where(Lead.site_id == site.site.id)).one()
    assert lead.phone == "+16505550199" and lead.email == "16505550199@phone.invalid"
    first = db_session.get(VisitSession, (site.site.id, lead.first_session_id))
    assert first is not None and first.visitor_id == visitor
    assert (first.channel, first.click_id_kind, first.term) == ("Paid Search", "gclid",
                                                                 "crm software")
    call = db_session.get(Call, (site.site.id, "generic", "call-1"))
    assert call is not None and (call.channel, call.term, call.visitor_id) == (
        "Paid Search", "crm software", visitor)


def test_a_call_from_a_visitor_who_is_already_a_lead_joins_that_lead(
    client: FlaskClient, site: CreatedSite, db_session: Session
) -> None:
    visitor = visit(client, site, PAID)
    identify = {"k": site.write_key, "vid": visitor, "id": "identify-0001",
                "ts": int(time.time() * 1000), "email": "ada@example.com"}
    assert client.post("/identify", data=json.dumps(identify),
                       headers={"User-Agent": BROWSER}).status_code == 200
    number_for(client, site, visitor)

    assert generic_call(client, site).status_code == 200

    lead = db_session.scalars(select(Lead).where(Lead.site_id == site.site.id)).one()
    assert (lead.email, lead.phone) == ("ada@example.com", "+16505550199")


def test_twilio_status_callbacks_signed_by_twilios_validator(
    client: FlaskClient, site: CreatedSite, db_session: Session
) -> None:
    visitor = visit(client, site, PAID)
    number_for(client, site, visitor)
    url = f"http://localhost/calls/webhooks/twilio/{site.site.id}"
    stamp = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")

    def post(status: str, token: str = TWILIO_TOKEN, **extra: str) -> Any:
        params = {"CallSid": "CA0123456789abcdef", "AccountSid": "AC01", "From": "+16505550123",
                  "To": "+14155550101", "CallStatus": status, "Direction": "inbound",
                  "Timestamp": stamp, **extra}
        signature = RequestValidator(token).compute_signature(url, params)
        return client.post(url, data=urlencode(params), headers={
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"})

    ringing = post("ringing")
    forged = post("completed", token="not_the_account_token_000", CallDuration="61")
    completed = post("completed", CallDuration="61")

    assert (ringing.status_code, ringing.json["stored"]) == (200, False)
    assert forged.status_code == 401 and forged.json["error"]["field"] == "X-Twilio-Signature"
    assert (completed.status_code, completed.json["stored"]) == (200, True)
    call = db_session.get(Call, (site.site.id, "twilio", "CA0123456789abcdef"))
    assert call is not None and (call.answered, call.duration_s, call.caller) == (
        True, 61, "+16505550123")
    assert call.lead_id is not None and call.visitor_id == visitor
    assert "From" not in call.payload


def test_a_callrail_call_to_a_channel_number_is_a_touch_of_that_channel(
    client: FlaskClient, site: CreatedSite, db_session: Session
) -> None:
    reader = visit(client, site, "https://example.com/?utm_source=newsletter&utm_medium=email")
    assert number_for(client, site, reader)["number"] == "+14155550110"
    body = json.dumps({"resource_id": "CAL123", "tracking_phone_number": "+14155550110",
                       "customer_phone_number": "+14155550177", "duration": "45",
                       "answered": True,
                       "start_time": dt.datetime.now(dt.UTC).isoformat()}).encode()

    forged = client.post(f"/calls/webhooks/callrail/{site.site.id}", data=body,
                         headers={"Signature": callrail_signature(body, "wrong_key_0123456789")})
    response = client.post(f"/calls/webhooks/callrail/{site.site.id}", data=body,
                           headers={"Signature": callrail_signature(body, CALLRAIL_KEY)})

    assert forged.status_code == 401
    assert response.status_code == 200 and response.json["channel"] == "Email"
    lead = db_session.scalars(select(Lead).where(Lead.site_id == site.site.id)).one()
    links = db_session.scalars(select(LeadVisitor).where(LeadVisitor.site_id == site.site.id))
    assert list(links) == []  # a shared number names the channel, not the reader
    touch = db_session.scalars(select(OfflineTouch).where(
        OfflineTouch.site_id == site.site.id, OfflineTouch.lead_id == lead.id)).one()
    assert (touch.kind, touch.channel) == ("call", "Email")


@pytest.mark.parametrize(("digest", "encode"), [
    (hashlib.sha1, lambda mac: base64.b64encode(mac).decode()),
    (hashlib.sha1, bytes.hex),
    (hashlib.sha256, lambda mac: base64.b64encode(mac).decode()),
    (hashlib.sha256, bytes.hex),
])
def test_a_callrail_signature_is_any_hmac_of_the_body_under_the_company_key(
    client: FlaskClient, site: CreatedSite, digest: Any, encode: Any
) -> None:
    body = json.dumps({"resource_id": f"CAL-{digest().name}-{encode.__name__}",
                       "tracking_phone_number": "+14155550110",
                       "customer_phone_number": "+14155550177", "duration": "45",
                       "answered": True,
                       "start_time": dt.datetime.now(dt.UTC).isoformat()}).encode()

    def signed(key: str) -> str:
        return str(encode(hmac.new(key.encode(), body, digest).digest()))

    forged = client.post(f"/calls/webhooks/callrail/{site.site.id}", data=body,
                         headers={"Signature": signed("wrong_key_0123456789")})
    accepted = client.post(f"/calls/webhooks/callrail/{site.site.id}", data=body,
                           headers={"Signature": signed(CALLRAIL_KEY)})

    assert (forged.status_code, forged.json["error"]["field"]) == (401, "Signature")
    assert accepted.status_code == 200


def test_short_calls_are_kept_without_a_lead_and_withheld_callers_make_none(
    client: FlaskClient, site: CreatedSite, db_session: Session
) -> None:
    assert generic_call(client, site, id="short-1", duration_s=4).status_code == 200
    assert generic_call(client, site, id="anon-1", caller="anonymous").status_code == 200

    calls = db_session.scalars(select(Call).where(Call.site_id == site.site.id)).all()
    assert sorted((c.call_id, c.lead_id) for c in calls) == [("anon-1", None), ("short-1", None)]
    assert db_session.scalars(select(Lead).where(Lead.site_id == site.site.id)).all() == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"called": "not a number"}, "called"),
    ({"duration_s": -1}, "duration_s"),
    # more digits than int() converts (4,300): a ValueError, a 500, before the length check
    ({"duration_s": "9" * 5_000}, "duration_s"),
    ({"started_at": "2001-01-01T00:00:00+00:00"}, "started_at"),
    ({"started_at": "yesterday"}, "started_at"),
    ({"id": ""}, "id"),
    ({"extra": 1}, "extra"),
])
def test_bad_call_webhooks_name_the_field_and_write_nothing(
    client: FlaskClient, site: CreatedSite, engine: Engine, fields: dict[str, Any], field: str
) -> None:
    before = row_count(engine)

    response = generic_call(client, site, **fields)

    # A number in two pools breaks a rule the document states in words: 422.
    assert (response.status_code, response.json["error"]["field"]) == (
        422 if field == "pools.1.numbers.0" else 400, field)
    assert row_count(engine) == before


def test_the_calls_report_and_tenancy(
    client: FlaskClient, site: CreatedSite, sites: SiteMaker
) -> None:
    other = sites.make()
    assert api(client, other, "PUT", "/api/v1/calls/config",
               {**CONFIG, "generic_secrets": ["whsec_other_site_0123456789"]}).status_code == 200
    visitor = visit(client, site, PAID)
    number_for(client, site, visitor)
    assert generic_call(client, site).status_code == 200
    assert generic_call(client, site, id="call-2", answered=False, duration_s=0,
                        called="+14155550100").status_code == 200
    # Site one's signature does not open site two.
    body = json.dumps({"id": "x-1", "called": "+14155550101", "caller": "+16505550100",
                       "started_at": dt.datetime.now(dt.UTC).isoformat()}).encode()
    crossing = client.post(f"/calls/webhooks/generic/{other.site.id}", data=body, headers={
        "LeadTrail-Signature": generic.sign(body, SECRET, int(time.time()))})

    report = api(client, site, "GET", "/api/v1/reports/calls?group_by=channel").json
    theirs = api(client, other, "GET", "/api/v1/reports/calls").json

    assert crossing.status_code == 401
    assert sorted(report["rows"], key=lambda row: row["duration_s"]) == [
        {"channel": None, "calls": 1, "answered": 0, "missed": 1, "duration_s": 0,
         "average_duration_s": None, "leads": 0},
        {"channel": "Paid Search", "calls": 1, "answered": 1, "missed": 0, "duration_s": 95,
         "average_duration_s": 95.0, "leads": 1},
    ]
    assert report["totals"] == {"calls": 2, "answered": 1, "missed": 1, "duration_s": 95,
                                "average_duration_s": 95.0, "leads": 1}
    assert theirs["rows"] == []
    assert theirs["totals"] == {"calls": 0, "answered": 0, "missed": 0, "duration_s": 0,
                                "average_duration_s": None, "leads": 0}


def test_the_journey_shows_the_call_and_erasure_forgets_the_caller(
    client: FlaskClient, site: CreatedSite, db_session: Session
) -> None:
    visitor = visit(client, site, PAID)
    number_for(client, site, visitor)
    lead_id = generic_call(client, site).json["lead_id"]

    journey = api(client, site, "GET", f"/api/v1/leads/{lead_id}").json
    dashboard = _dashboard(client, db_session, site)
    page = dashboard.get(f"/dashboard/leads/{lead_id}?site={site.site.id}").get_data(as_text=True)
    erased = api(client, site, "POST", "/api/v1/gdpr/erase",
                 {"email": "16505550199@phone.invalid"})

    assert [(c["tracking_number"], c["channel"], c["term"], c["answered"])
            for c in journey["calls"]] == [("+14155550101", "Paid Search", "crm software", True)]
    assert "Phone call to +14155550101 (answered, 95 s)" in page and "crm software" in page
    assert "+16505550199 (caller)" in page and "phone.invalid" not in page
    assert erased.status_code == 200
    call = db_session.get(Call, (site.site.id, "generic", "call-1"))
    assert call is not None and (call.caller, call.lead_id, call.visitor_id) == (None, None, None)


def _refuse_conversions(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("lead store unavailable")

    monkeypatch.setattr("tracker.calls.service.record_conversion", refuse)


def test_a_call_whose_apply_fails_is_kept_in_the_inbox_and_a_replay_applies_it(
    client: FlaskClient, site: CreatedSite, db_session: Session, runner: FlaskCliRunner,
    monkeypatch: pytest.MonkeyPatch, engine: Engine,
) -> None:
    visitor = visit(client, site, PAID)
    number_for(client, site, visitor)
    _refuse_conversions(monkeypatch)

    failed = generic_call(client, site)
    listed = api(client, site, "GET", "/api/v1/calls?status=failed").json
    with Session(engine) as session:
        stored = session.get(Call, (site.site.id, "generic", "call-1"))
        assert stored is not None
        state = (stored.status, stored.attempts, stored.lead_id, stored.error)
    monkeypatch.undo()
    replayed = runner.invoke(args=["calls", "replay", "--site", str(site.site.id)])
    again = runner.invoke(args=["calls", "replay"])

    # Acknowledged means stored: the provider is told so and must not send it again.
    assert (failed.status_code, failed.json["stored"], failed.json["status"]) == (
        200, True, "failed")
    assert [(c["call_id"], c["status"], c["attempts"]) for c in listed["calls"]] == [
        ("call-1", "failed", 1)]
    assert state == ("failed", 1, None, "RuntimeError: lead store unavailable")
    assert replayed.exit_code == 0, replayed.output
    assert replayed.output.strip() == "replayed 1: 1 applied, 0 failed"
    assert again.output.strip() == "replayed 0: 0 applied, 0 failed"
    call = db_session.get(Call, (site.site.id, "generic", "call-1"))
    assert call is not None and (call.status, call.attempts, call.error) == ("applied", 2, None)
    lead = db_session.scalars(select(Lead).where(Lead.site_id == site.site.id)).one()
    assert call.lead_id == lead.id and call.visitor_id == visitor
    first = db_session.get(VisitSession, (site.site.id, lead.first_session_id))
    assert first is not None and first.channel == "Paid Search"


def test_a_call_stored_but_never_applied_is_applied_by_the_providers_redelivery(
    client: FlaskClient, site: CreatedSite, db_session: Session, engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process stopping between storing and applying: the row stays ``received``; the
    provider's retry (or a replay) applies it once."""
    visitor = visit(client, site, PAID)
    number_for(client, site, visitor)
    monkeypatch.setattr("tracker.calls.inbox.apply_stored_call", lambda *_args: "received")

    first = generic_call(client, site)
    waiting = api(client, site, "GET", "/api/v1/calls?status=received").json["calls"]
    monkeypatch.undo()
    redelivered = generic_call(client, site)
    counted = row_count(engine)
    replay = api(client, site, "POST", "/api/v1/calls/replay")
    third = generic_call(client, site)

    assert (first.json["stored"], first.json["status"], first.json["lead_id"]) == (
        True, "received", None)
    assert [c["call_id"] for c in waiting] == ["call-1"]
    assert (redelivered.json["stored"], redelivered.json["status"]) == (False, "applied")
    assert redelivered.json["lead_id"] is not None
    assert replay.json == {"applied": 0, "failed": 0}
    assert (third.json["stored"], third.json["lead_id"]) == (False, redelivered.json["lead_id"])
    assert row_count(engine) == counted
    assert db_session.scalars(select(Lead).where(Lead.site_id == site.site.id)).one()


def test_the_call_inbox_is_per_site_and_checks_its_parameters(
    client: FlaskClient, site: CreatedSite, sites: SiteMaker
) -> None:
    other = sites.make()
    assert generic_call(client, site).status_code == 200

    mine = api(client, site, "GET", "/api/v1/calls").json["calls"]
    theirs = api(client, other, "GET", "/api/v1/calls").json["calls"]
    bad = api(client, site, "GET", "/api/v1/calls?status=lost")
    extra = api(client, site, "GET", "/api/v1/calls?state=failed")

    assert [(c["call_id"], c["status"]) for c in mine] == [("call-1", "applied")]
    assert "caller" not in mine[0]
    assert theirs == []
    assert (bad.status_code, bad.json["error"]["field"]) == (400, "status")
    assert (extra.status_code, extra.json["error"]["field"]) == (400, "state")


def _dashboard(client: FlaskClient, db_session: Session, site: CreatedSite) -> FlaskClient:
    with db_session.begin():
        create_user(db_session, "calls@example.com", "correct horse battery staple",
                    site_ids=(site.site.id,))
    dashboard = client.application.test_client()
    log_in(dashboard, "calls@example.com", "correct horse battery staple")
    return dashboard


def test_the_calls_page_shows_calls_by_source_the_latest_calls_and_replays_failures(
    client: FlaskClient, site: CreatedSite, db_session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    visitor = visit(client, site, PAID)
    number_for(client, site, visitor)
    lead_id = generic_call(client, site, duration_s=3725).json["lead_id"]
    assert generic_call(client, site, id="call-2", answered=False, duration_s=0,
                        called="+14155550100").status_code == 200
    _refuse_conversions(monkeypatch)
    assert generic_call(client, site, id="call-3").json["status"] == "failed"
    monkeypatch.undo()
    dashboard = _dashboard(client, db_session, site)

    page = dashboard.get(f"/dashboard/calls?site={site.site.id}").get_data(as_text=True)
    by_keyword = dashboard.get(f"/dashboard/calls?site={site.site.id}&by=keyword")
    bad = dashboard.get(f"/dashboard/calls?site={site.site.id}&by=city")
    token = csrf_from(dashboard, f"/dashboard/calls?site={site.site.id}")
    replayed = dashboard.post("/dashboard/calls/replay",
                              data={"site": site.site.id, "csrf_token": token})
    after = dashboard.get(f"/dashboard/calls?site={site.site.id}").get_data(as_text=True)

    assert '<span class="label">Calls</span><span class="value">3</span>' in page
    assert "1:02:05" in page  # talk time of the answered call, h:mm:ss
    assert f"/dashboard/leads/{lead_id}" in page
    assert 'data-status="failed"' in page and "RuntimeError: lead store unavailable" in page
    assert "+16505550199" not in page  # the caller's number stays on the lead
    assert "<th scope=\"row\">crm software</th>" in by_keyword.get_data(as_text=True)
    assert bad.status_code == 400
    assert replayed.status_code == 302
    assert 'data-status="failed"' not in after and "None: every call is applied." in after


def test_the_calls_page_says_when_call_tracking_is_not_set_up(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    bare = sites.make()
    page = _dashboard(client, db_session, bare).get(f"/dashboard/calls?site={bare.site.id}")

    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'id="calls-not-set-up"' in body and "No calls in this period." in body


def test_the_revenue_report_counts_calls_where_it_can_know_them(
    client: FlaskClient, site: CreatedSite, sites: SiteMaker
) -> None:
    visitor = visit(client, site, PAID)
    number_for(client, site, visitor)
    assert generic_call(client, site).status_code == 200  # Paid Search, "crm software"
    assert generic_call(client, site, id="call-2", answered=False, duration_s=0,
                        called="+14155550100").status_code == 200  # the default number
    untracked = sites.make()
    visit(client, untracked, PAID)

    channels = by_group(report(client, site, "revenue", group_by="channel"))
    keywords = by_group(report(client, site, "revenue", group_by="keyword",
                               channel="Paid Search"))
    pages = report(client, site, "revenue", group_by="landing_page")
    theirs = report(client, untracked, "revenue", group_by="channel")
    csv = report_csv(client, site)

    assert {key: (row["calls"], row["answered_calls"]) for key, row in channels.items()} == {
        "Paid Search": (1, 1), None: (1, 0)}
    assert (keywords["crm software"]["calls"], keywords["crm software"]["leads"]) == (1, 1)
    assert {row["calls"] for row in pages["rows"]} == {None}  # calls have no landing page
    assert pages["totals"]["calls"] is None
    assert [row["calls"] for row in theirs["rows"]] == [None]  # not tracking calls: unknown
    assert "calls,answered_calls" in csv.splitlines()[0]


def report_csv(client: FlaskClient, site: CreatedSite) -> str:
    response = api(client, site, "GET", "/api/v1/reports/revenue?format=csv&group_by=channel")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_ad_platforms_get_a_phone_only_caller_by_phone_never_the_placeholder(
    client: FlaskClient, site: CreatedSite, db_session: Session
) -> None:
    lead_id = generic_call(client, site, called="+14155550100").json["lead_id"]

    identity = load_identity(db_session, site.site, uuid.UUID(lead_id))

    assert identity is not None and (identity.email, identity.phone) == (None, "+16505550199")
