"""Conversions pushed to ad platforms, end to end on SQLite and PostgreSQL: a paid click, a
form, a CRM won deal → exactly one conversion per destination, each platform played by a
local HTTP server checking the exact request; duplicated and shuffled webhooks; a lowered
amount then a lost deal → restatement and retraction; the platforms' error answers."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug import Response

from tests.api.test_dashboard import csrf_from, log_in, make_user
from tests.api.test_leads import api, identify, visit
from tests.api.test_webhooks import GENERIC_SECRET, post_generic
from tests.factories import SiteMaker
from tracker.costs.adspend import accounts
from tracker.destinations import sender, service
from tracker.localtime import local_midnight, local_today
from tracker.models import ConversionOutbox, Destination, Lead
from tracker.models.base import utcnow
from tracker.sites.service import CreatedSite

GA_COOKIE = "GA1.1.1234567890.1700000000"
FBP = "fb.1.1700000000000.987654321"
WON_AT = (utcnow() - dt.timedelta(hours=2)).replace(microsecond=0)
CLICK_KINDS = {"gclid": "Cj0KCQ-G1", "msclkid": "M1abc", "fbclid": "IwAR-F1",
               "li_fat_id": "L1-uuid"}
# sha256("ada@example.com")
ADA_SHA256 = "b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72"


def base(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def add(db_session: Session, site: CreatedSite, name: str, platform: str,
        settings: dict[str, Any], credentials: dict[str, Any]) -> None:
    with db_session.begin():
        service.add_destination(db_session, site.site.id, name, platform, settings, credentials)


def oauth(server: HTTPServer) -> dict[str, str]:
    return {"refresh_token": "1//refresh", "client_id": "cid", "client_secret": "csecret",
            "token_url": server.url_for("/token")}


@pytest.fixture
def site(sites: SiteMaker) -> CreatedSite:
    return sites.make(generic_secrets=[GENERIC_SECRET], currency="EUR")


@pytest.fixture
def all_platforms(db_session: Session, site: CreatedSite, httpserver: HTTPServer) -> CreatedSite:
    url = base(httpserver)
    add(db_session, site, "ga4", "ga4", {"measurement_id": "G-TEST1", "api_url": url,
                                         "milestones": {"won": "purchase"}},
        {"api_secret": "mp-secret"})
    add(db_session, site, "meta", "meta", {"pixel_id": "555", "api_url": url,
                                           "milestones": {"won": "Purchase"}},
        {"access_token": "EAAB-meta"})
    add(db_session, site, "google", "google_ads",
        {"customer_id": "123-456-7890", "api_url": url, "milestones": {"won": "987654"}},
        {"developer_token": "dev-token", **oauth(httpserver)})
    add(db_session, site, "bing", "microsoft_ads",
        {"customer_id": "111", "account_id": "222", "api_url": url,
         "milestones": {"won": "Closed won"}},
        {"developer_token": "ms-dev", **oauth(httpserver)})
    add(db_session, site, "linkedin", "linkedin",
        {"api_url": url, "milestones": {"won": "104012"}}, oauth(httpserver))
    return site


def paid_lead(client: FlaskClient, site: CreatedSite) -> None:
    """A visitor clicks ads on each network, then fills in the form with their cookies."""
    for minutes, (kind, value) in zip((300, 280, 260, 240), CLICK_KINDS.items(), strict=True):
        visit(client, site, "visitor-ada", f"https://example.com/?{kind}={value}", minutes)
    response = identify(client, site, "visitor-ada", "ada@example.com",
                        ad_ids={"ga": GA_COOKIE, "fbp": FBP})
    assert response.status_code == 200, response.json


def deal_event(event_id: str, kind: str, at: dt.datetime, **deal: object) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "occurred_at": iso(at),
            "deal": {"id": "D-1", "email": "ada@example.com", **deal}}


def deliver(client: FlaskClient, site: CreatedSite, *events: dict[str, Any]) -> None:
    for event in events:
        response = post_generic(client, site.site.id, event)
        assert response.status_code in (200, 202), response.get_data(as_text=True)


def rows(engine: Engine, site_id: int) -> list[tuple[str, str, str, str, float | None]]:
    with Session(engine) as session:
        names = {d.id: d.name for d in session.scalars(select(Destination))}
        return sorted(
            (names[row.destination_id], row.idempotency_key.split(":")[0], row.kind, row.status,
             float(row.value) if row.value is not None else None)
            for row in session.scalars(select(ConversionOutbox)
                                       .where(ConversionOutbox.site_id == site_id)))


def expect_tokens(server: HTTPServer, times: int = 3) -> None:
    for _ in range(times):
        server.expect_oneshot_request("/token", method="POST").respond_with_json(
            {"access_token": "ya29.fresh", "expires_in": 3600})


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_a_won_deal_is_one_conversion_per_destination_with_the_original_click(
    client: FlaskClient, all_platforms: CreatedSite, engine: Engine, httpserver: HTTPServer,
) -> None:
    site = all_platforms
    paid_lead(client, site)
    created = deal_event("e1", "deal.created", WON_AT - dt.timedelta(hours=1), amount="5000",
                         currency="EUR")
    won = deal_event("e2", "deal.won", WON_AT, closed_at=iso(WON_AT))
    # Delivered three times, in shuffled order.
    deliver(client, site, won, created, won, created, won, created)
    with Session(engine) as session:
        lead = session.scalars(select(Lead).where(Lead.site_id == site.site.id)).one()
        deal_rows = session.scalars(select(ConversionOutbox)).all()
    micros = int(WON_AT.timestamp()) * 1_000_000
    expect_tokens(httpserver)
    httpserver.expect_oneshot_request(
        "/mp/collect", method="POST",
        query_string={"measurement_id": "G-TEST1", "api_secret": "mp-secret"},
        json={"client_id": "1234567890.1700000000", "events": [{
            "name": "purchase", "timestamp_micros": micros,
            "params": {"engagement_time_msec": 1, "transaction_id": "generic-D-1",
                       "value": 5000.0, "currency": "EUR"}}]},
    ).respond_with_data("", status=204)
    meta_seen: list[dict[str, Any]] = []

    def meta_handler(request: Any) -> Response:
        meta_seen.append({"auth": request.headers.get("Authorization"), "body": request.json})
        return Response(json.dumps({"events_received": 1, "messages": [],
                                    "fbtrace_id": "AbC"}), content_type="application/json")

    httpserver.expect_oneshot_request("/v24.0/555/events", method="POST").respond_with_handler(
        meta_handler)
    google_seen: list[dict[str, Any]] = []

    def google_handler(request: Any) -> Response:
        google_seen.append({"headers": dict(request.headers), "body": request.json})
        return Response(json.dumps({"results": [{"gclid": "Cj0KCQ-G1"}]}),
                        content_type="application/json")

    httpserver.expect_oneshot_request(
        "/v25/customers/1234567890:uploadClickConversions", method="POST",
        headers={"developer-token": "dev-token", "Authorization": "Bearer ya29.fresh"},
    ).respond_with_handler(google_handler)
    httpserver.expect_oneshot_request(
        "/CampaignManagement/v13/OfflineConversions/Apply", method="POST",
        headers={"DeveloperToken": "ms-dev", "CustomerId": "111", "CustomerAccountId": "222",
                 "Authorization": "Bearer ya29.fresh"},
        json={"OfflineConversions": [{
            "MicrosoftClickId": "M1abc", "ConversionName": "Closed won",
            "ConversionTime": WON_AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ConversionValue": 5000.0, "ConversionCurrencyCode": "EUR"}]},
    ).respond_with_json({"PartialErrors": []})
    linkedin_seen: list[dict[str, Any]] = []

    def linkedin_handler(request: Any) -> Response:
        linkedin_seen.append({"headers": dict(request.headers), "body": request.json})
        return Response(json.dumps({"elements": [{"status": 201}]}),
                        content_type="application/json")

    httpserver.expect_oneshot_request("/rest/conversionEvents", method="POST",
                                      headers={"X-RestLi-Method": "BATCH_CREATE",
                                               "X-Restli-Protocol-Version": "2.0.0"}
                                      ).respond_with_handler(linkedin_handler)

    done = sender.drain(engine, site_id=site.site.id)

    httpserver.check_assertions()
    assert (done.sent, done.retrying, done.dead) == (5, 0, 0)
    assert rows(engine, site.site.id) == [
        (name, "won", "conversion", "sent", 5000.0)
        for name in ("bing", "ga4", "google", "linkedin", "meta")]
    (meta_call,) = meta_seen
    assert meta_call["auth"] == "Bearer EAAB-meta"
    (event,) = meta_call["body"]["data"]
    assert event["event_name"] == "Purchase" and event["event_time"] == int(WON_AT.timestamp())
    assert event["action_source"] == "system_generated"
    assert event["event_id"] == deal_rows[0].idempotency_key
    assert lead.ad_ids == {"ga_client_id": "1234567890.1700000000", "fbp": FBP}
    assert event["user_data"]["fbp"] == FBP
    assert event["user_data"]["fbc"].startswith("fb.1.") and event["user_data"]["fbc"].endswith(
        ".IwAR-F1")
    assert event["user_data"]["em"] == [ADA_SHA256]
    assert event["custom_data"] == {"value": 5000.0, "currency": "EUR",
                                    "order_id": "generic-D-1"}
    (google_call,) = google_seen
    (conversion,) = google_call["body"]["conversions"]
    assert google_call["body"]["partialFailure"] is True
    assert conversion["gclid"] == "Cj0KCQ-G1"
    assert "gbraid" not in conversion and "wbraid" not in conversion
    assert conversion["conversionAction"] == "customers/1234567890/conversionActions/987654"
    assert conversion["conversionDateTime"] == WON_AT.strftime("%Y-%m-%d %H:%M:%S+00:00")
    assert (conversion["conversionValue"], conversion["currencyCode"], conversion["orderId"]) == (
        5000.0, "EUR", "generic-D-1")
    (linkedin_call,) = linkedin_seen
    (element,) = linkedin_call["body"]["elements"]
    assert linkedin_call["headers"]["Linkedin-Version"] == "202607"
    assert element["conversion"] == "urn:lla:llaPartnerConversion:104012"
    assert element["conversionHappenedAt"] == ms(WON_AT)
    assert {"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": "L1-uuid"} in (
        element["user"]["userIds"])
    assert {"idType": "SHA256_EMAIL", "idValue": ADA_SHA256} in element["user"]["userIds"]


def test_a_lowered_amount_then_a_lost_deal_are_restated_then_retracted(
    client: FlaskClient, site: CreatedSite, db_session: Session, engine: Engine,
    httpserver: HTTPServer,
) -> None:
    url = base(httpserver)
    add(db_session, site, "google", "google_ads",
        {"customer_id": "1234567890", "api_url": url, "milestones": {"won": "987654"}},
        {"developer_token": "dev-token", **oauth(httpserver)})
    add(db_session, site, "ga4", "ga4", {"measurement_id": "G-TEST1", "api_url": url,
                                         "milestones": {"won": "purchase"}},
        {"api_secret": "mp-secret"})
    paid_lead(client, site)
    deliver(client, site, deal_event("e1", "deal.won", WON_AT, amount="5000", currency="EUR"))
    # One refresh: the token it returns is stored and reused by the later drains.
    expect_tokens(httpserver, times=1)
    httpserver.expect_oneshot_request("/mp/collect", method="POST").respond_with_data("")
    httpserver.expect_oneshot_request(
        "/v25/customers/1234567890:uploadClickConversions", method="POST",
    ).respond_with_json({"results": [{}]})
    assert sender.drain(engine, site_id=site.site.id).sent == 2

    lowered_at = WON_AT + dt.timedelta(minutes=30)
    lost_at = WON_AT + dt.timedelta(minutes=60)
    deliver(client, site, deal_event("e2", "deal.updated", lowered_at, amount="3000"))
    deliver(client, site, deal_event("e2", "deal.updated", lowered_at, amount="3000"))
    adjustment = {"conversionAction": "customers/1234567890/conversionActions/987654",
                  "orderId": "generic-D-1"}
    httpserver.expect_oneshot_request(
        "/v25/customers/1234567890:uploadConversionAdjustments", method="POST",
        json={"conversionAdjustments": [{
            **adjustment, "adjustmentType": "RESTATEMENT",
            "adjustmentDateTime": lowered_at.strftime("%Y-%m-%d %H:%M:%S+00:00"),
            "restatementValue": {"adjustedValue": 3000.0, "currencyCode": "EUR"}}],
            "partialFailure": True, "validateOnly": False},
    ).respond_with_json({"results": [{}]})
    restated = sender.drain(engine, site_id=site.site.id)
    deliver(client, site, deal_event("e3", "deal.lost", lost_at))
    httpserver.expect_oneshot_request(
        "/v25/customers/1234567890:uploadConversionAdjustments", method="POST",
        json={"conversionAdjustments": [{
            **adjustment, "adjustmentType": "RETRACTION",
            "adjustmentDateTime": lost_at.strftime("%Y-%m-%d %H:%M:%S+00:00")}],
            "partialFailure": True, "validateOnly": False},
    ).respond_with_json({"results": [{}]})
    httpserver.expect_oneshot_request(
        "/mp/collect", method="POST",
        json={"client_id": "1234567890.1700000000", "events": [{
            "name": "refund", "timestamp_micros": int(lost_at.timestamp()) * 1_000_000,
            "params": {"engagement_time_msec": 1, "transaction_id": "generic-D-1",
                       "value": 5000.0, "currency": "EUR"}}]},
    ).respond_with_data("", status=204)
    retracted = sender.drain(engine, site_id=site.site.id)

    httpserver.check_assertions()
    # GA4 cannot restate: it hears only the refund, of what it recorded.
    assert (restated.sent, restated.dead) == (1, 0)
    assert (retracted.sent, retracted.dead) == (2, 0)
    assert rows(engine, site.site.id) == [
        ("ga4", "retract", "retraction", "sent", 5000.0),
        ("ga4", "won", "conversion", "sent", 5000.0),
        ("google", "restate", "restatement", "sent", 3000.0),
        ("google", "retract", "retraction", "sent", 3000.0),
        ("google", "won", "conversion", "sent", 5000.0),
    ]


def outbox_state(engine: Engine, site_id: int) -> list[tuple[str, str, int, str | None]]:
    with Session(engine) as session:
        names = {d.id: d.name for d in session.scalars(select(Destination))}
        return sorted((names[r.destination_id], r.status, r.attempts, r.error)
                      for r in session.scalars(select(ConversionOutbox)
                                               .where(ConversionOutbox.site_id == site_id)))


def won_lead(client: FlaskClient, site: CreatedSite) -> None:
    paid_lead(client, site)
    deliver(client, site, deal_event("e1", "deal.won", WON_AT, amount="5000", currency="EUR"))


def test_platform_errors_retry_or_dead_letter_with_the_platforms_reason(
    client: FlaskClient, site: CreatedSite, db_session: Session, engine: Engine,
    httpserver: HTTPServer,
) -> None:
    url = base(httpserver)
    add(db_session, site, "google", "google_ads",
        {"customer_id": "1234567890", "api_url": url, "milestones": {"won": "987654"}},
        {"developer_token": "dev-token", "access_token": "ya29.expired",
         "expires_at": (utcnow() + dt.timedelta(hours=1)).isoformat(), **oauth(httpserver)})
    add(db_session, site, "meta", "meta", {"pixel_id": "555", "api_url": url,
                                           "milestones": {"won": "Purchase"}},
        {"access_token": "EAAB-meta"})
    add(db_session, site, "linkedin", "linkedin",
        {"api_url": url, "milestones": {"won": "104012"}},
        {**oauth(httpserver), "access_token": "li-current",
         "expires_at": (utcnow() + dt.timedelta(hours=1)).isoformat()})
    won_lead(client, site)
    # Google: the stored token has expired early (401) → refreshed once, then a partial
    # failure names the row. Meta: its error object. LinkedIn: throttled, Retry-After 120.
    httpserver.expect_ordered_request(
        "/v25/customers/1234567890:uploadClickConversions", method="POST",
        headers={"Authorization": "Bearer ya29.expired"},
    ).respond_with_json({"error": {"code": 401, "message": "Request had invalid authentication "
                                   "credentials.", "status": "UNAUTHENTICATED"}}, status=401)
    httpserver.expect_ordered_request("/token", method="POST").respond_with_json(
        {"access_token": "ya29.fresh", "expires_in": 3600})
    httpserver.expect_ordered_request(
        "/v25/customers/1234567890:uploadClickConversions", method="POST",
        headers={"Authorization": "Bearer ya29.fresh"},
    ).respond_with_json({"partialFailureError": {
        "code": 3, "message": "The click is too old to be imported.",
        "details": [{"@type": "type.googleapis.com/google.ads.googleads.v25.errors."
                              "GoogleAdsFailure",
                     "errors": [{"errorCode": {"conversionUploadError": "EXPIRED_EVENT"},
                                 "message": "The click is too old to be imported.",
                                 "location": {"fieldPathElements": [
                                     {"fieldName": "conversions", "index": 0}]}}]}]},
        "results": [{}]})
    httpserver.expect_oneshot_request("/v24.0/555/events", method="POST").respond_with_json(
        {"error": {"message": "Invalid parameter", "type": "OAuthException", "code": 100,
                   "error_subcode": 2804003, "error_user_title": "Event Timestamp Too Old",
                   "fbtrace_id": "A1b2"}}, status=400)
    httpserver.expect_oneshot_request("/rest/conversionEvents", method="POST").respond_with_json(
        {"status": 429, "message": "Too many requests"}, status=429,
        headers={"Retry-After": "120"})
    now = utcnow()

    done = sender.drain(engine, site_id=site.site.id, now=now)

    httpserver.check_assertions()
    assert (done.sent, done.retrying, done.dead) == (0, 1, 2)
    assert outbox_state(engine, site.site.id) == [
        ("google", "dead", 1, "The click is too old to be imported. "
                              "(conversionUploadError=EXPIRED_EVENT)"),
        ("linkedin", "failed", 1, "HTTP 429: Too many requests"),
        ("meta", "dead", 1, "HTTP 400: Invalid parameter"),
    ]
    with Session(engine) as session:
        waiting = session.scalars(select(ConversionOutbox.next_attempt_at).where(
            ConversionOutbox.status == "failed")).one()
        google = session.scalars(select(Destination).where(Destination.name == "google")).one()
    assert waiting >= now + dt.timedelta(seconds=120)  # Retry-After honoured over backoff
    assert google.credentials["access_token"] == "ya29.fresh"  # the refreshed token is kept
    assert google.last_error is not None

    with Session(engine) as session, session.begin():
        requeued = sender.replay(session, site.site.id)
    assert requeued == 2
    assert sorted(s for _, s, _, _ in outbox_state(engine, site.site.id)) == [
        "failed", "pending", "pending"]


def test_rules_are_enforced_before_sending_and_stale_events_split_off(
    client: FlaskClient, site: CreatedSite, db_session: Session, engine: Engine,
    httpserver: HTTPServer,
) -> None:
    url = base(httpserver)
    add(db_session, site, "ga4", "ga4", {"measurement_id": "G-TEST1", "api_url": url,
                                         "milestones": {"won": "purchase"}},
        {"api_secret": "mp-secret"})
    add(db_session, site, "bing", "microsoft_ads",
        {"customer_id": "111", "account_id": "222", "api_url": url,
         "milestones": {"won": "Closed won"}},
        {"developer_token": "ms-dev", **oauth(httpserver)})
    # No ad click and no _ga cookie: a lead from an organic visit.
    visit(client, site, "visitor-bob", "https://example.com/", 30)
    assert identify(client, site, "visitor-bob", "bob@example.com").status_code == 200
    long_ago = utcnow() - dt.timedelta(days=5)
    deliver(client, site, deal_event("e1", "deal.won", long_ago, amount="10", currency="EUR",
                                     email="bob@example.com"))

    done = sender.drain(engine, site_id=site.site.id)

    assert (done.sent, done.dead) == (0, 2)
    assert outbox_state(engine, site.site.id) == [
        ("bing", "dead", 1, "no msclkid click for this lead"),
        ("ga4", "dead", 1, "older than GA4's 72 h backdating limit"),
    ]
    assert httpserver.log == []  # nothing was sent


def test_cli_adds_lists_without_secrets_and_validates_against_ga4_debug(
    runner: FlaskCliRunner, site: CreatedSite, httpserver: HTTPServer,
) -> None:
    url = base(httpserver)
    added = runner.invoke(args=[
        "destinations", "add", str(site.site.id), "ga4", "ga4",
        "--setting", "measurement_id=G-TEST1", "--setting", f"api_url={url}",
        "--milestone", "sql=qualify_lead:fixed:50", "--milestone", "won=purchase",
        "--credential", "api_secret=mp-very-secret"])
    refused = runner.invoke(args=["destinations", "add", str(site.site.id), "x", "meta"])
    httpserver.expect_oneshot_request(
        "/debug/mp/collect", method="POST",
        query_string={"measurement_id": "G-TEST1", "api_secret": "mp-very-secret"},
    ).respond_with_json({"validationMessages": [{
        "fieldPath": "events.params.currency", "description": "Currency must be ISO 4217.",
        "validationCode": "VALUE_INVALID"}]})

    tested = runner.invoke(args=["destinations", "test", str(site.site.id), "ga4"])
    listed = runner.invoke(args=["destinations", "list", str(site.site.id)])

    assert added.exit_code == 0, added.output
    assert refused.exit_code == 2 and "settings.pixel_id" in refused.output
    assert tested.exit_code == 1
    assert "events.params.currency: Currency must be ISO 4217. (VALUE_INVALID)" in tested.output
    assert "mp-very-secret" not in listed.output + added.output
    (shown,) = json.loads(listed.output)
    assert shown["settings"]["milestones"] == {
        "sql": {"name": "qualify_lead", "value": {"rule": "fixed", "amount": "50"}},
        "won": {"name": "purchase", "value": {"rule": "deal"}}}


def test_the_api_connects_lists_logs_and_replays_and_keeps_tenants_apart(
    client: FlaskClient, site: CreatedSite, sites: SiteMaker, engine: Engine,
    httpserver: HTTPServer,
) -> None:
    other = sites.make()
    url = base(httpserver)
    body = {"name": "bing", "platform": "microsoft_ads",
            "settings": {"customer_id": "111", "account_id": "222", "api_url": url,
                         "milestones": {"won": "Closed won"}},
            "credentials": {"developer_token": "ms-dev", **oauth(httpserver)}}
    created = api(client, site, "POST", "/api/v1/destinations", body)
    no_amount = {"won": {"name": "x", "value": {"rule": "fixed"}}}
    bad = api(client, site, "POST", "/api/v1/destinations",
              {**body, "settings": {**body["settings"], "milestones": no_amount}})
    paid_lead(client, site)
    deliver(client, site, deal_event("e1", "deal.won", WON_AT, amount="5000", currency="EUR"))
    httpserver.expect_oneshot_request("/token", method="POST").respond_with_json(
        {"access_token": "t", "expires_in": 3600})
    httpserver.expect_oneshot_request(
        "/CampaignManagement/v13/OfflineConversions/Apply", method="POST",
    ).respond_with_json({"PartialErrors": [{
        "Index": 0, "ErrorCode": "OfflineConversionNameInvalid",
        "Message": "The conversion name is not valid."}]})
    sender.drain(engine, site_id=site.site.id)

    listed = api(client, site, "GET", "/api/v1/destinations")
    log = api(client, site, "GET", "/api/v1/destinations/bing/deliveries?status=dead")
    foreign = api(client, other, "GET", "/api/v1/destinations/bing/deliveries")
    replayed = api(client, site, "POST", "/api/v1/destinations/bing/replay")
    metrics_text = client.get("/metrics").get_data(as_text=True)

    assert created.status_code == 201, created.json
    assert bad.status_code == 400
    assert bad.json["error"]["field"] == "settings.milestones.won.value.amount"
    (shown,) = listed.json["destinations"]
    assert shown["counts"] == {"dead": 1}
    assert "ms-dev" not in listed.get_data(as_text=True)
    assert [(d["kind"], d["error"], d["value"], d["currency"])
            for d in log.json["deliveries"]] == [
        ("conversion", "The conversion name is not valid. (OfflineConversionNameInvalid)",
         "5000.0000", "EUR")]
    assert foreign.status_code == 404
    assert replayed.json == {"requeued": 1}
    assert 'leadtrail_conversions_total{outcome="dead",platform="microsoft_ads"}' in metrics_text


@pytest.mark.parametrize(("ad_ids", "field"), [
    ({"ga": "not-a-ga-cookie"}, "ad_ids.ga"),
    ({"fbp": "fb.1.x.y"}, "ad_ids.fbp"),
    ({"gclid": "x"}, "ad_ids.gclid"),
    ("GA1.1.1.1", "ad_ids"),
])
def test_identify_refuses_malformed_ad_cookies_and_stores_nothing(
    client: FlaskClient, site: CreatedSite, engine: Engine, ad_ids: object, field: str,
) -> None:
    response = identify(client, site, "visitor-eve", "eve@example.com", ad_ids=ad_ids)

    assert response.status_code == 400
    assert response.json["error"]["field"] == field
    with Session(engine) as session:
        assert session.scalars(select(Lead).where(Lead.site_id == site.site.id)).all() == []


def test_erasing_a_person_drops_their_queued_conversions(
    client: FlaskClient, site: CreatedSite, db_session: Session, engine: Engine,
    httpserver: HTTPServer,
) -> None:
    add(db_session, site, "meta", "meta", {"pixel_id": "555", "api_url": base(httpserver)},
        {"access_token": "EAAB-meta"})
    won_lead(client, site)
    queued = rows(engine, site.site.id)

    erased = api(client, site, "POST", "/api/v1/gdpr/erase", {"email": "ada@example.com"})

    assert [(name, key) for name, key, *_ in queued] == [("meta", "lead"), ("meta", "won")]
    assert erased.status_code == 200, erased.json
    assert rows(engine, site.site.id) == []


def test_the_worker_sends_what_the_webhook_queued(
    client: FlaskClient, runner: FlaskCliRunner, site: CreatedSite, db_session: Session,
    engine: Engine, httpserver: HTTPServer,
) -> None:
    add(db_session, site, "meta", "meta", {"pixel_id": "555", "api_url": base(httpserver),
                                           "milestones": {"won": "Purchase"}},
        {"access_token": "EAAB-meta"})
    won_lead(client, site)
    httpserver.expect_oneshot_request("/v24.0/555/events", method="POST").respond_with_json(
        {"events_received": 1, "messages": [], "fbtrace_id": "AbC"})

    result = runner.invoke(args=["worker", "--once"])

    httpserver.check_assertions()
    assert result.exit_code == 0, result.output
    assert "conversions sent 1, retrying 0, dead 0" in result.output
    assert rows(engine, site.site.id) == [("meta", "won", "conversion", "sent", 5000.0)]


def test_a_disabled_destination_keeps_its_queue_and_sends_it_once_enabled(
    client: FlaskClient, runner: FlaskCliRunner, site: CreatedSite, sites: SiteMaker,
    db_session: Session, engine: Engine, httpserver: HTTPServer,
) -> None:
    add(db_session, site, "meta", "meta", {"pixel_id": "555", "api_url": base(httpserver),
                                           "milestones": {"won": "Purchase"}},
        {"access_token": "EAAB-meta"})
    other = sites.make()
    won_lead(client, site)

    disabled = api(client, site, "PATCH", "/api/v1/destinations/meta", {"enabled": False})
    foreign = api(client, other, "PATCH", "/api/v1/destinations/meta", {"enabled": True})
    wrong = api(client, site, "PATCH", "/api/v1/destinations/meta", {"enabled": "no"})
    unknown = api(client, site, "PATCH", "/api/v1/destinations/meta", {"name": "x"})
    paused = sender.drain(engine, site_id=site.site.id)
    waiting = rows(engine, site.site.id)
    httpserver.expect_oneshot_request("/v24.0/555/events", method="POST").respond_with_json(
        {"events_received": 1, "messages": [], "fbtrace_id": "AbC"})
    enabled = runner.invoke(args=["destinations", "enable", str(site.site.id), "meta"])
    with Session(engine) as session:  # the paused rows were put off; make them due now
        for row in session.scalars(select(ConversionOutbox)):
            row.next_attempt_at = utcnow()
        session.commit()
    resumed = sender.drain(engine, site_id=site.site.id)

    assert disabled.status_code == 200 and disabled.json["enabled"] is False
    assert foreign.status_code == 404
    assert (wrong.status_code, wrong.json["error"]["field"]) == (400, "enabled")
    assert (unknown.status_code, unknown.json["error"]["field"]) == (400, "name")
    assert paused.sent == 0
    assert waiting == [
        ("meta", "won", "conversion", "pending", 5000.0)]
    assert enabled.exit_code == 0 and "meta: enabled; 1 conversions pending" in enabled.output
    httpserver.check_assertions()
    assert resumed.sent == 1
    assert rows(engine, site.site.id) == [("meta", "won", "conversion", "sent", 5000.0)]
    listed = api(client, site, "GET", "/api/v1/destinations").json["destinations"]
    assert listed[0]["enabled"] is True and listed[0]["last_success_at"] is not None


def test_cli_disable_refuses_an_unknown_destination(
    runner: FlaskCliRunner, site: CreatedSite,
) -> None:
    result = runner.invoke(args=["destinations", "disable", str(site.site.id), "nope"])

    assert result.exit_code != 0 and "nope" in result.output


def test_the_destinations_page_adds_pauses_and_validates_like_the_api(
    client: FlaskClient, site: CreatedSite, sites: SiteMaker, db_session: Session,
    engine: Engine, httpserver: HTTPServer,
) -> None:
    other = sites.make(domains=["other.example"])
    make_user(db_session, "marketer@example.com", site.site.id)
    add(db_session, site, "ga4-debug", "ga4",
        {"measurement_id": "G-TEST1", "api_url": base(httpserver)}, {"api_secret": "mp-s"})
    assert log_in(client, "marketer@example.com").status_code == 302
    path = f"/dashboard/setup/destinations?site={site.site.id}"
    token = csrf_from(client, path)
    form = {"csrf_token": token, "name": "meta", "platform": "meta",
            "access_token": "EAAB-very-secret", "event_won": "Purchase", "rule_won": "deal",
            "event_sql": "QualifiedLead", "rule_sql": "fixed"}

    no_pixel = client.post(path, data=form)
    no_amount = client.post(path, data={**form, "pixel_id": "555"})
    added = client.post(path, data={**form, "pixel_id": "555", "amount_sql": "50"})
    with Session(engine) as session:
        meta = session.scalars(select(Destination).where(Destination.name == "meta")).one()
        ga4 = session.scalars(select(Destination).where(Destination.name == "ga4-debug")).one()
    paused = client.post(f"/dashboard/setup/destinations/{meta.id}/enabled?site={site.site.id}",
                         data={"csrf_token": token, "enabled": "0"})
    foreign = client.post(
        f"/dashboard/setup/destinations/{meta.id}/enabled?site={other.site.id}",
        data={"csrf_token": token, "enabled": "1"})
    httpserver.expect_oneshot_request(
        "/debug/mp/collect", method="POST",
        query_string={"measurement_id": "G-TEST1", "api_secret": "mp-s"},
    ).respond_with_json({"validationMessages": []})
    tested = client.post(f"/dashboard/setup/destinations/{ga4.id}/test?site={site.site.id}",
                         data={"csrf_token": token})
    page = client.get(path).get_data(as_text=True)

    assert no_pixel.status_code == 200
    assert 'data-field="settings.pixel_id"' in no_pixel.get_data(as_text=True)
    assert 'data-field="settings.milestones.sql.value.amount"' in no_amount.get_data(
        as_text=True)
    assert added.status_code == 302
    assert meta.settings["milestones"] == {
        "won": {"name": "Purchase", "value": {"rule": "deal"}},
        "sql": {"name": "QualifiedLead", "value": {"rule": "fixed", "amount": "50"}}}
    assert paused.status_code == 302 and foreign.status_code == 403
    with Session(engine) as session:
        assert session.get(Destination, (site.site.id, meta.id)).enabled is False  # type: ignore[union-attr]
    httpserver.check_assertions()
    assert "the platform accepted the sample conversion" in tested.get_data(as_text=True)
    assert "won → Purchase (deal amount)" in page and "sql → QualifiedLead (fixed 50)" in page
    assert 'data-state="paused"' in page and "EAAB-very-secret" not in page


def queued(db_session: Session, site: CreatedSite, destination_name: str,
           *rows: tuple[dt.datetime, str]) -> None:
    """Outbox rows queued at the given instants, each with its status now."""
    with db_session.begin():
        destination = service.find_destination(db_session, site.site.id, destination_name)
        for n, (at, status) in enumerate(rows):
            db_session.add(ConversionOutbox(
                site_id=site.site.id, id=uuid.uuid4(), destination_id=destination.id,
                idempotency_key=f"lead:{n}", milestone="lead", kind="conversion",
                lead_id=uuid.uuid4(), occurred_at=at, status=status, attempts=1,
                next_attempt_at=at, created_at=at, sent_at=at if status == "sent" else None))


def test_deliveries_are_counted_per_local_day_queued_on_the_page_and_the_api(
    client: FlaskClient, sites: SiteMaker, db_session: Session, httpserver: HTTPServer,
) -> None:
    # Tokyo (UTC+9, no DST): a row a minute before local midnight is yesterday's even when
    # its UTC date is today's.
    site = sites.make(timezone="Asia/Tokyo")
    other = sites.make(domains=["other.example"])
    add(db_session, site, "ga4", "ga4",
        {"measurement_id": "G-TEST1", "api_url": base(httpserver)}, {"api_secret": "mp-s"})
    today = local_today("Asia/Tokyo")
    midnight = local_midnight(today, "Asia/Tokyo")
    queued(db_session, site, "ga4",
           (midnight, "sent"), (midnight, "sent"), (midnight, "pending"),
           (midnight - dt.timedelta(minutes=1), "dead"),
           (midnight - dt.timedelta(minutes=1), "failed"),
           (midnight - dt.timedelta(days=3), "sent"),
           (midnight - dt.timedelta(days=20), "sent"))
    make_user(db_session, "marketer@example.com", site.site.id)

    answer = api(client, site, "GET", "/api/v1/destinations/ga4/days")
    week = api(client, site, "GET", "/api/v1/destinations/ga4/days?days=7")
    zero = api(client, site, "GET", "/api/v1/destinations/ga4/days?days=0")
    foreign = api(client, other, "GET", "/api/v1/destinations/ga4/days")
    assert log_in(client, "marketer@example.com").status_code == 302
    page = client.get(f"/dashboard/setup/destinations?site={site.site.id}").get_data(
        as_text=True)

    assert answer.status_code == 200, answer.json
    days = answer.json["days"]
    assert answer.json["timezone"] == "Asia/Tokyo"
    assert [d["day"] for d in days] == [(today - dt.timedelta(days=13 - n)).isoformat()
                                        for n in range(14)]
    by_day = {d["day"]: d for d in days}
    assert by_day[today.isoformat()] == {
        "day": today.isoformat(), "pending": 1, "sent": 2, "failed": 0, "dead": 0}
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert by_day[yesterday] == {"day": yesterday, "pending": 0, "sent": 0, "failed": 1,
                                 "dead": 1}
    assert by_day[(today - dt.timedelta(days=4)).isoformat()]["sent"] == 0
    assert sum(d["sent"] for d in days) == 3  # the row 20 days back is outside
    assert len(week.json["days"]) == 7
    assert zero.status_code == 400 and zero.json["error"]["field"] == "days"
    assert foreign.status_code == 404
    table = page[page.index('class="destination-days" data-destination="ga4"'):]
    row = table[table.index(f'data-day="{yesterday}"'):]
    row = row[:row.index("</tr>")]
    assert '<td class="num" data-status="failed">1</td>' in row
    assert '<td class="num" data-status="dead">1</td>' in row
    assert 'data-chart="chart-destination-days"' in page


def test_the_destinations_page_borrows_a_connected_ad_accounts_tokens(
    client: FlaskClient, site: CreatedSite, db_session: Session, engine: Engine,
    httpserver: HTTPServer,
) -> None:
    with db_session.begin():
        account = accounts.connect_account(
            db_session, site.site, "google_ads", "123-456-7890",
            credentials={"developer_token": "dev", **oauth(httpserver)},
            start_day=dt.date(2026, 1, 1), now=utcnow())
    make_user(db_session, "marketer@example.com", site.site.id)
    assert log_in(client, "marketer@example.com").status_code == 302
    path = f"/dashboard/setup/destinations?site={site.site.id}"
    form = {"csrf_token": csrf_from(client, path), "name": "google", "platform": "google_ads",
            "customer_id": "123-456-7890", "ad_account": "1234567890",
            "event_won": "987654", "rule_won": "deal"}

    offered = client.get(path).get_data(as_text=True)
    wrong_platform = client.post(path, data={**form, "platform": "microsoft_ads",
                                             "account_id": "222"})
    added = client.post(path, data=form)
    page = client.get(path).get_data(as_text=True)

    assert '<option value="1234567890"' in offered
    assert 'data-field="ad_account"' in wrong_platform.get_data(as_text=True)
    assert added.status_code == 302
    with Session(engine) as session:
        google = session.scalars(select(Destination).where(Destination.name == "google")).one()
        assert google.ad_account_id == account.id and google.credentials == {}
    assert "data-borrows" in page
