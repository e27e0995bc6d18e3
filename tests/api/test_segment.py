"""Segment-compatible intake (``/v1/…``) on SQLite and PostgreSQL: write key by basic auth or
body, every path, messageId dedup, context mapped to sessions and channels, userId/traits
stitching as /identify does, gzip, Segment's limits and status codes, tenancy."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.badinputs import row_count
from tests.factories import SiteMaker
from tracker.models import Event, Lead, LeadVisitor, SegmentUser, Visitor, VisitSession
from tracker.sites.service import CreatedSite

BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
CAMPAIGN_URL = "https://www.example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=launch"


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ago(**delta: float) -> str:
    return iso(dt.datetime.now(dt.UTC) - dt.timedelta(**delta))


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def page(anonymous_id: str, url: str = CAMPAIGN_URL, referrer: str = "", **extra: Any
         ) -> dict[str, Any]:
    return {
        "type": "page", "messageId": str(uuid.uuid4()), "anonymousId": anonymous_id,
        "timestamp": ago(minutes=5),
        "properties": {"url": url, "path": "/", "referrer": referrer, "title": "Home"},
        "context": {"page": {"url": url, "referrer": referrer}, "userAgent": BROWSER,
                    "library": {"name": "analytics.js", "version": "npm:next-1.84.3"}},
        **extra,
    }


def send(client: FlaskClient, site: CreatedSite, messages: list[dict[str, Any]],
         path: str = "/v1/batch", **headers: str) -> Any:
    body = {"batch": messages, "sentAt": iso(dt.datetime.now(dt.UTC))}
    return client.post(path, data=json.dumps(body), content_type="application/json",
                       headers={"Authorization": basic(site.write_key), **headers})


def count(session: Session, model: type, site_id: int) -> int:
    return int(session.scalar(
        select(func.count()).select_from(model).where(model.site_id == site_id)  # type: ignore[attr-defined]
    ))


def test_a_campaign_page_view_makes_the_session_the_snippet_would(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make(domains=["example.com"])
    anonymous_id = str(uuid.uuid4())

    response = send(client, site, [
        page(anonymous_id, context_campaign := CAMPAIGN_URL),
        page(anonymous_id, "https://www.example.com/pricing", CAMPAIGN_URL),
    ])

    assert context_campaign
    assert response.status_code == 200
    assert response.json == {"success": True}
    session = db_session.scalars(select(VisitSession).where(
        VisitSession.site_id == site.site.id)).one()
    assert (session.visitor_id, session.channel, session.source, session.medium,
            session.campaign) == (anonymous_id, "Email", "newsletter", "email", "launch")
    assert (session.browser, session.device_type) == ("Chrome", "desktop")
    assert count(db_session, Event, site.site.id) == 2


def test_context_campaign_and_a_click_id_classify_like_the_url_would(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    server_side = page("anon-server-1", url="https://www.example.com/landing")
    server_side["context"]["campaign"] = {"source": "google", "medium": "cpc",
                                          "name": "brand", "term": "acme shoes"}
    clicked = page("anon-click-22", url="https://www.example.com/?gclid=Cj0abc123")

    assert send(client, site, [server_side, clicked]).status_code == 200

    rows = db_session.execute(
        select(VisitSession.visitor_id, VisitSession.channel, VisitSession.campaign,
               VisitSession.term, VisitSession.click_id_kind)
        .where(VisitSession.site_id == site.site.id).order_by(VisitSession.visitor_id)
    ).all()
    assert [tuple(row) for row in rows] == [
        ("anon-click-22", "Paid Search", None, None, "gclid"),
        ("anon-server-1", "Paid Search", "brand", "acme shoes", None),
    ]


def test_every_path_and_the_write_key_in_the_body(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    anonymous_id = "anon-paths-1"
    first = page(anonymous_id)
    messages = {
        "/v1/page": first,
        "/v1/p": page(anonymous_id, "https://www.example.com/pricing"),
        "/v1/track": {**page(anonymous_id), "type": "track", "event": "Signed Up",
                      "properties": {"plan": "pro", "revenue": 49.5, "nested": {"x": 1}}},
        "/v1/t": {**page(anonymous_id), "type": "track", "event": "Clicked"},
        "/v1/identify": {**page(anonymous_id), "type": "identify", "properties": {}},
        "/v1/i": {**page(anonymous_id), "type": "identify", "properties": {}},
    }

    answers = [
        client.post(path, data=json.dumps({**message, "writeKey": site.write_key}),
                    content_type="text/plain").status_code
        for path, message in messages.items()
    ]

    assert answers == [200] * 6
    types = db_session.execute(
        select(Event.type, Event.name, Event.props).where(Event.site_id == site.site.id)
        .order_by(Event.type, Event.name)
    ).all()
    assert [(t, n) for t, n, _ in types] == [
        ("custom", "Clicked"), ("custom", "Signed Up"), ("identify", None),
        ("identify", None), ("pageview", None), ("pageview", None)]
    # Flat properties are kept as /collect keeps them; nested ones stay with Segment.
    assert types[1][2] == {"plan": "pro", "revenue": 49.5}


def test_a_retried_batch_changes_nothing(
    client: FlaskClient, sites: SiteMaker, db_session: Session, engine: Engine
) -> None:
    site = sites.make()
    messages = [page("anon-retry-1"), {**page("anon-retry-1"), "type": "identify",
                                        "userId": "u-1", "traits": {"email": "ada@example.com"}}]

    assert send(client, site, messages).status_code == 200
    before = row_count(engine)
    again = send(client, site, messages)
    twice_in_one = send(client, site, [messages[0], messages[0]])

    assert (again.status_code, twice_in_one.status_code) == (200, 200)
    assert row_count(engine) == before
    assert count(db_session, Event, site.site.id) == 2


def test_gzip_bodies_are_read_and_bad_ones_refused(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    body = json.dumps({"batch": [page("anon-gzip-1")], "writeKey": site.write_key}).encode()
    bomb = gzip.compress(json.dumps({"batch": [], "pad": " " * 600_000}).encode())

    good = client.post("/v1/batch", data=gzip.compress(body), content_type="application/json",
                       headers={"Content-Encoding": "gzip"})
    broken = client.post("/v1/batch", data=b"\x1f\x8b not gzip", headers={
        "Content-Encoding": "gzip"})
    inflated = client.post("/v1/batch", data=bomb, headers={"Content-Encoding": "gzip"})

    assert good.status_code == 200
    assert count(db_session, Event, site.site.id) == 1
    assert (broken.status_code, broken.json["error"]["field"]) == (400, "body")
    assert (inflated.status_code, inflated.json["error"]["field"]) == (400, "body")
    assert len(bomb) < 10_000


def test_segments_size_limits_are_400s_a_client_will_not_retry(
    client: FlaskClient, sites: SiteMaker, engine: Engine
) -> None:
    site = sites.make()
    big_message = page("anon-big-1", properties={"title": "t" * 40_000})
    many = [page("anon-many-1") for _ in range(1_200)]  # about 600 KB
    before = row_count(engine)

    over_message = send(client, site, [page("anon-big-0"), big_message])
    over_request = send(client, site, many)

    assert over_message.status_code == 400
    assert over_message.json["error"]["field"] == "batch.1"
    # The libraries read code and message at the top level: a 4xx without them is retried.
    assert over_message.json["code"] == "invalid" and "32768" in over_message.json["message"]
    assert over_request.status_code == 400
    assert over_request.json["error"]["field"] == "body"
    assert row_count(engine) == before


def test_refusals_name_the_field_and_write_nothing(
    client: FlaskClient, sites: SiteMaker, engine: Engine
) -> None:
    site = sites.make()
    before = row_count(engine)
    no_id = page("x")
    del no_id["anonymousId"]
    cases = {
        "writeKey": client.post("/v1/batch", data=json.dumps({"batch": [page("anon-k-1")]})),
        "batch.0.anonymousId": send(client, site, [no_id]),
        "batch.1.event": send(client, site, [page("anon-e-1"), {**page("anon-e-1"),
                                                                 "type": "track"}]),
        "batch.0.timestamp": send(client, site, [{**page("anon-t-1"), "timestamp": ago(days=40)}]),
        "batch.0.surprise": send(client, site, [{**page("anon-u-1"), "surprise": 1}]),
        "batch.0.type": send(client, site, [{**page("anon-y-1"), "type": "visit"}]),
        "batch.0.traits.email": send(client, site, [{**page("anon-m-1"), "type": "identify",
                                                     "traits": {"email": "not-an-address"}}]),
        "batch.0.properties.title": send(client, site, [page("anon-n-1", properties={
            "url": CAMPAIGN_URL, "title": "a\x00b"})]),
        "type": client.post("/v1/t", data=json.dumps({**page("anon-p-1"),
                                                      "writeKey": site.write_key})),
        "batch": send(client, site, []),
    }

    # A track without its event, a time out of the 30-day window and a message of another
    # type than the path's are rules the document states in words: 422.
    expected = {"writeKey": 401, "batch.1.event": 422, "batch.0.timestamp": 422, "type": 422}
    assert {field: (r.status_code, r.json["error"]["field"]) for field, r in cases.items()} == {
        field: (expected.get(field, 400), field) for field in cases}
    assert row_count(engine) == before


def test_unknown_write_key_and_foreign_origin(
    client: FlaskClient, sites: SiteMaker, engine: Engine
) -> None:
    site = sites.make(domains=["example.com"])
    before = row_count(engine)

    unknown = client.post("/v1/batch", data=json.dumps({"batch": [page("anon-w-1")]}),
                          headers={"Authorization": basic("wk_nobody")})
    foreign = send(client, site, [page("anon-o-1")], Origin="https://evil.example.net")
    own = send(client, site, [page("anon-o-2")], Origin="https://www.example.com")

    assert (unknown.status_code, unknown.json["error"]["field"]) == (401, "writeKey")
    assert foreign.status_code == 403
    assert own.status_code == 200
    assert own.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert row_count(engine) > before


def test_clock_skew_is_corrected_with_sent_at(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    now = dt.datetime.now(dt.UTC)
    # The device's clock runs 2 hours fast: its event was 1 minute before it sent.
    message = {**page("anon-skew-1"), "timestamp": iso(now + dt.timedelta(hours=2, minutes=-1))}
    body = {"batch": [message], "sentAt": iso(now + dt.timedelta(hours=2))}

    response = client.post("/v1/batch", data=json.dumps(body),
                           headers={"Authorization": basic(site.write_key)})

    assert response.status_code == 200
    occurred = db_session.scalar(select(Event.occurred_at).where(Event.site_id == site.site.id))
    assert occurred is not None
    assert abs(occurred - (now - dt.timedelta(minutes=1))) < dt.timedelta(seconds=30)


def test_identify_stitches_every_visitor_the_user_was_seen_with(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    laptop, phone = "anon-laptop-1", "anon-phone-1"
    first = page(laptop, timestamp=ago(hours=3))
    signed_in_on_phone = {**page(phone, url="https://www.example.com/app", timestamp=ago(hours=2)),
                          "type": "track", "event": "Signed In", "userId": "user-42"}
    signed_in_on_phone["context"]["userAgent"] = PHONE
    identify = {**page(laptop, timestamp=ago(hours=1)), "type": "identify", "userId": "user-42",
                "traits": {"email": " Ada@Example.com ", "firstName": "Ada",
                           "lastName": "Lovelace", "phone": "+44 20 7946 0958",
                           "company": {"name": "Analytical Engines"}}}

    assert send(client, site, [first]).status_code == 200
    assert send(client, site, [signed_in_on_phone]).status_code == 200
    assert send(client, site, [identify]).status_code == 200

    lead = db_session.scalars(select(Lead).where(Lead.site_id == site.site.id)).one()
    assert (lead.email, lead.name, lead.phone, lead.company) == (
        "ada@example.com", "Ada Lovelace", "+442079460958", "Analytical Engines")
    linked = set(db_session.scalars(select(LeadVisitor.visitor_id).where(
        LeadVisitor.site_id == site.site.id, LeadVisitor.lead_id == lead.id)))
    assert linked == {laptop, phone}
    first_session = db_session.get(VisitSession, (site.site.id, lead.first_session_id))
    assert first_session is not None and first_session.visitor_id == laptop
    assert first_session.channel == "Email"


def test_a_known_user_on_a_new_device_and_an_alias_join_the_lead(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    identify = {**page("anon-first-1", timestamp=ago(hours=3)), "type": "identify",
                "userId": "user-7", "traits": {"email": "grace@example.com"}}
    tablet = {**page("anon-tablet-1", timestamp=ago(hours=2)), "userId": "user-7"}
    server_side = {"type": "track", "userId": "user-7", "event": "Invoice Paid",
                   "messageId": "srv-msg-0001", "timestamp": ago(hours=1)}
    earlier_browser = page("anon-before-1", timestamp=ago(hours=4))
    alias = {"type": "alias", "previousId": "anon-before-1", "userId": "user-7",
             "messageId": "alias-0001", "timestamp": ago(minutes=30)}

    assert send(client, site, [identify, tablet, server_side, earlier_browser, alias]
                ).status_code == 200

    lead = db_session.scalars(select(Lead).where(Lead.site_id == site.site.id)).one()
    linked = set(db_session.scalars(select(LeadVisitor.visitor_id).where(
        LeadVisitor.site_id == site.site.id, LeadVisitor.lead_id == lead.id)))
    server_visitor = db_session.scalar(select(Event.visitor_id).where(
        Event.site_id == site.site.id, Event.name == "Invoice Paid"))
    # The backend's event went to the browser the user was last seen with.
    assert server_visitor == "anon-tablet-1"
    assert linked == {"anon-first-1", "anon-tablet-1", "anon-before-1"}
    first_session = db_session.get(VisitSession, (site.site.id, lead.first_session_id))
    assert first_session is not None and first_session.visitor_id == "anon-before-1"
    assert count(db_session, SegmentUser, site.site.id) == 3


def test_a_user_never_seen_in_a_browser_gets_a_visitor_of_its_own(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    backend = {"type": "identify", "userId": "crm-9", "messageId": "srv-id-0001",
               "traits": {"email": "backend@example.com"}}

    assert send(client, site, [backend]).status_code == 200

    visitor = db_session.scalars(select(Visitor.id).where(Visitor.site_id == site.site.id)).one()
    lead = db_session.scalars(select(Lead).where(Lead.site_id == site.site.id)).one()
    assert visitor.startswith("su-") and lead.email == "backend@example.com"


def test_group_and_screen_are_acknowledged_not_stored(
    client: FlaskClient, sites: SiteMaker, engine: Engine
) -> None:
    site = sites.make()
    before = row_count(engine)

    response = send(client, site, [
        {"type": "group", "anonymousId": "anon-g-1", "groupId": "acme", "traits": {}},
        {"type": "screen", "anonymousId": "anon-g-1", "name": "Home"},
    ])

    assert response.status_code == 200 and row_count(engine) == before


def test_server_side_messages_keep_their_context_ip_and_user_agent(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    message = page("anon-ip-1")
    message["context"]["ip"] = "203.0.113.77"
    message["context"]["userAgent"] = PHONE

    assert send(client, site, [message], **{"User-Agent": "analytics-python/2.4.0"}
                ).status_code == 200

    session = db_session.scalars(select(VisitSession).where(
        VisitSession.site_id == site.site.id)).one()
    assert (session.ip_prefix, session.device_type) == ("203.0.113.0", "mobile")


def test_tenants_are_apart(client: FlaskClient, sites: SiteMaker, db_session: Session) -> None:
    first, second = sites.make(), sites.make()
    identify = {**page("anon-ten-1"), "type": "identify", "userId": "same-user",
                "traits": {"email": "same@example.com"}}

    assert send(client, first, [identify]).status_code == 200
    assert send(client, second, [{**page("anon-ten-2"), "userId": "same-user"}]
                ).status_code == 200

    assert count(db_session, Lead, first.site.id) == 1
    assert count(db_session, Lead, second.site.id) == 0
    assert count(db_session, LeadVisitor, second.site.id) == 0
    assert count(db_session, Visitor, second.site.id) == 1


def test_erasing_the_person_removes_their_segment_user_links(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    identify = {**page("anon-gone-1"), "type": "identify", "userId": "user-gone",
                "traits": {"email": "gone@example.com"}}
    assert send(client, site, [identify, {**page("anon-stays-1"), "userId": "user-stays"}]
                ).status_code == 200

    response = client.post("/api/v1/gdpr/erase", json={"email": "gone@example.com"},
                           headers={"Authorization": f"Bearer {site.api_key}"})

    assert response.status_code == 200
    assert set(db_session.scalars(select(SegmentUser.user_id).where(
        SegmentUser.site_id == site.site.id))) == {"user-stays"}
