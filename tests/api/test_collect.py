"""``POST /collect`` on SQLite and PostgreSQL: storage, dedupe, validation, limits, tenancy,
CORS, consent, bots, and the acknowledged-means-stored rule."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import BatchBuilder, SiteMaker, new_id, now_ms
from tracker.models import BotHit, Event, Visitor, VisitSession

BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
ORIGIN = "https://www.example.com"


def post(client: FlaskClient, body: Any, origin: str | None = ORIGIN, **headers: str):  # type: ignore[no-untyped-def]
    all_headers = {"User-Agent": BROWSER, **headers}
    if origin:
        all_headers["Origin"] = origin
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post("/collect", data=data, headers=all_headers, content_type="text/plain")


def count(session: Session, model: type, site_id: int) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.site_id == site_id))  # type: ignore[attr-defined]


def test_a_batch_is_stored_and_tagged(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    batch = (
        BatchBuilder(site.write_key)
        .pageview(
            "https://www.example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=launch",
            title="Home",
            sw=1280,
            sh=800,
            lang="en-GB",
        )
        .pageview("https://www.example.com/pricing")
    )

    response = post(client, batch.body())

    assert response.status_code == 200
    assert response.json == {"stored": 2}
    sessions = db_session.scalars(
        select(VisitSession).where(VisitSession.site_id == site.site.id)
    ).all()
    assert len(sessions) == 1
    session = sessions[0]
    assert (session.channel, session.source, session.medium, session.campaign) == (
        "Email",
        "newsletter",
        "email",
        "launch",
    )
    assert (session.browser, session.os, session.device_type) == ("Chrome", "Mac OS X", "desktop")
    assert count(db_session, Event, site.site.id) == 2
    assert count(db_session, Visitor, site.site.id) == 1


def test_a_retried_batch_changes_nothing(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    body = BatchBuilder(site.write_key).pageview("https://example.com/?gclid=abc123").body()

    first = post(client, body)
    snapshot = db_session.execute(
        select(VisitSession.id, VisitSession.started_at, VisitSession.ended_at)
    ).all()
    second = post(client, body)
    db_session.expire_all()

    assert first.status_code == second.status_code == 200
    assert count(db_session, Event, site.site.id) == 1
    assert (
        db_session.execute(
            select(VisitSession.id, VisitSession.started_at, VisitSession.ended_at)
        ).all()
        == snapshot
    )


def test_click_ids_classify_and_are_kept(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    post(client, BatchBuilder(site.write_key).pageview("https://example.com/?gclid=Cj0KCQ").body())

    session = db_session.scalars(select(VisitSession)).one()

    assert (session.channel, session.click_id_kind, session.click_id) == (
        "Paid Search",
        "gclid",
        "Cj0KCQ",
    )


def test_a_landing_touch_from_the_snippet_wins_over_the_rewritten_url(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    touch = {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "launch",
        "seen_at": now_ms() - 5000,
    }
    post(
        client, BatchBuilder(site.write_key).pageview("https://example.com/app", touch=touch).body()
    )

    session = db_session.scalars(select(VisitSession)).one()

    assert (session.channel, session.campaign) == ("Email", "launch")


def test_sensitive_query_parameters_are_not_stored(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    post(
        client,
        BatchBuilder(site.write_key).pageview("https://example.com/thanks?email=a%40b.com").body(),
    )

    event = db_session.scalars(select(Event)).one()
    session = db_session.scalars(select(VisitSession)).one()

    assert "a%40b.com" not in (event.url or "") and "a@b.com" not in (event.url or "")
    assert "@" not in (session.landing_url or "")


def test_the_client_ip_is_truncated(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.77"
    post(client, BatchBuilder(site.write_key).pageview().body())

    assert db_session.scalars(select(VisitSession.ip_prefix)).one() == "198.51.100.0"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(k="wk_unknown"), "k"),
        (lambda b: b.pop("vid"), "vid"),
        (lambda b: b.update(vid="short"), "vid"),
        (lambda b: b.update(extra=1), "extra"),
        (lambda b: b.update(events=[]), "events"),
        (lambda b: b["events"][0].update(type="purchase"), "events.0.type"),
        (lambda b: b["events"][0].update(url="javascript:alert(1)"), "events.0.url"),
        (lambda b: b["events"][0].update(url="https://x.com/" + "a" * 2100), "events.0.url"),
        (lambda b: b["events"][0].update(ts=now_ms() - 40 * 86_400_000), "events.0.ts"),
        (lambda b: b["events"][0].update(ts=now_ms() + 3_600_000), "events.0.ts"),
        (lambda b: b["events"][0].update(ts="yesterday"), "events.0.ts"),
        (lambda b: b["events"][0].update(colour="red"), "events.0.colour"),
        (lambda b: b["events"][0].update(id="bad id!"), "events.0.id"),
        (lambda b: b["events"][0].update(props={"nested": {"a": 1}}), "events.0.props.nested"),
        (lambda b: b["events"][0].update(touch={"utm_source": 5}), "events.0.touch.utm_source"),
        (lambda b: b["events"][0].update(sw=-1), "events.0.sw"),
        (lambda b: b["events"].append(dict(b["events"][0])), "events"),
        (
            lambda b: b["events"].extend(
                {"id": new_id(), "type": "pageview", "ts": now_ms(), "url": "https://example.com/"}
                for _ in range(100)
            ),
            "events",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_stores_nothing(
    client: FlaskClient, sites: SiteMaker, db_session: Session, mutate: Any, field: str
) -> None:
    site = sites.make()
    body = BatchBuilder(site.write_key).pageview().pageview("https://example.com/2").body()
    mutate(body)

    response = post(client, body)

    assert 400 <= response.status_code < 500
    assert response.json["error"]["field"] == field
    assert count(db_session, Event, site.site.id) == 0
    assert count(db_session, VisitSession, site.site.id) == 0


@pytest.mark.parametrize(
    ("raw", "field", "status"),
    [
        (b"", "body", 400),
        (b"{not json", "body", 400),
        (b"[1, 2]", "body", 400),
        (b'{"k": "' + b"x" * 70_000 + b'"}', "body", 413),
    ],
)
def test_unreadable_or_oversized_bodies_are_refused(
    client: FlaskClient, sites: SiteMaker, raw: bytes, field: str, status: int
) -> None:
    response = post(client, raw)

    assert response.status_code == status
    assert response.json["error"]["field"] == field


def test_another_sites_write_key_is_refused_from_this_origin(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    mine = sites.make(domains=["example.com"])
    theirs = sites.make(domains=["other.org"])

    response = post(client, BatchBuilder(theirs.write_key).pageview().body(), origin=ORIGIN)

    assert response.status_code == 403
    assert response.json["error"]["field"] == "origin"
    assert count(db_session, Event, theirs.site.id) == 0
    assert count(db_session, Event, mine.site.id) == 0


def test_cors_allows_the_sites_domains_and_subdomains_only(
    client: FlaskClient, sites: SiteMaker
) -> None:
    site = sites.make(domains=["example.com"])

    allowed = post(
        client, BatchBuilder(site.write_key).pageview().body(), origin="https://shop.example.com"
    )
    refused = post(
        client, BatchBuilder(site.write_key).pageview().body(), origin="https://example.com.evil.io"
    )
    preflight = client.options("/collect", headers={"Origin": "https://shop.example.com"})

    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    assert refused.status_code == 403
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_server_to_server_batches_need_no_origin(client: FlaskClient, sites: SiteMaker) -> None:
    site = sites.make()

    response = post(
        client,
        BatchBuilder(site.write_key).pageview().body(),
        origin=None,
        **{"Content-Type": "application/json"},
    )

    assert response.status_code == 200


def test_a_site_requiring_consent_refuses_batches_without_it(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make(consent_mode="required")
    body = BatchBuilder(site.write_key).pageview().body()

    refused = post(client, body)
    body["consent"] = True
    accepted = post(client, body)

    assert refused.status_code == 400 and refused.json["error"]["field"] == "consent"
    assert accepted.status_code == 200
    assert count(db_session, Event, site.site.id) == 1


def test_global_privacy_control_is_honoured_when_the_site_asks(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    honours = sites.make(honor_gpc=True)
    ignores = sites.make()

    first = post(client, BatchBuilder(honours.write_key).pageview().body(), **{"Sec-GPC": "1"})
    second = post(client, BatchBuilder(ignores.write_key).pageview().body(), **{"Sec-GPC": "1"})

    assert first.json == {"stored": 0, "reason": "gpc"} or first.json == {"stored": 0}
    assert count(db_session, Event, honours.site.id) == 0
    assert second.json == {"stored": 1}


def test_bots_are_counted_not_sessionized(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()

    response = post(
        client,
        BatchBuilder(site.write_key).pageview().body(),
        **{"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"},
    )

    assert response.status_code == 200
    assert count(db_session, VisitSession, site.site.id) == 0
    assert db_session.scalars(select(BotHit.hits).where(BotHit.site_id == site.site.id)).one() == 1


def test_a_session_times_out_into_a_new_one(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make(session_timeout_minutes=30)
    builder = BatchBuilder(site.write_key)
    builder.pageview(
        "https://example.com/?utm_source=newsletter&utm_medium=email", ts=now_ms() - 3_600_000
    )
    builder.pageview("https://example.com/", ref="https://www.google.com/search?q=lead+tracking")

    post(client, builder.body())
    sessions = db_session.scalars(select(VisitSession).order_by(VisitSession.started_at)).all()

    assert [s.channel for s in sessions] == ["Email", "Organic Search"]
    assert sessions[1].term == "lead tracking"


def test_late_events_are_placed_in_their_session(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    builder = BatchBuilder(site.write_key)
    landing = {
        "id": new_id(),
        "type": "pageview",
        "ts": now_ms() - 60_000,
        "url": "https://example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=launch",
    }
    post(client, builder.pageview("https://example.com/pricing").body())
    post(
        client, BatchBuilder(site.write_key, visitor_id=builder.visitor_id, events=[landing]).body()
    )

    session = db_session.scalars(select(VisitSession)).one()

    assert (session.channel, session.campaign) == ("Email", "launch")
    assert session.landing_url is not None and "utm_campaign=launch" in session.landing_url
    assert count(db_session, Event, site.site.id) == 2


def test_the_collector_sets_the_visitor_cookie_on_the_sites_own_domain(
    client: FlaskClient, sites: SiteMaker
) -> None:
    site = sites.make(domains=["example.com"])
    body = BatchBuilder(site.write_key).pageview().body()

    own = client.post(
        "/collect",
        data=json.dumps(body),
        base_url="https://collect.example.com",
        headers={"User-Agent": BROWSER, "Origin": ORIGIN},
    )
    elsewhere = post(client, BatchBuilder(site.write_key).pageview().body())

    cookie = own.headers["Set-Cookie"]
    assert cookie.startswith(f"_lt_vid={body['vid']}")
    assert "Domain=example.com" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    assert "Set-Cookie" not in elsewhere.headers


def test_the_pixel_records_a_page_view_without_javascript(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()

    response = client.get(
        "/collect.gif",
        query_string={
            "k": site.write_key,
            "u": "https://example.com/?utm_source=print&utm_medium=qr",
        },
        headers={"User-Agent": BROWSER},
    )
    bad = client.get(
        "/collect.gif",
        query_string={"k": site.write_key, "u": "nope"},
        headers={"User-Agent": BROWSER},
    )

    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert bad.status_code == 200 and bad.headers["X-LeadTrail-Error"].startswith("events.0.url")
    assert db_session.scalars(select(VisitSession.source)).one() == "print"


def test_the_snippet_is_served_small_gzipped_and_cacheable(client: FlaskClient) -> None:
    plain = client.get("/t.js")
    zipped = client.get("/t.js", headers={"Accept-Encoding": "gzip, br"})
    again = client.get(
        "/t.js", headers={"If-None-Match": f'"{plain.headers["ETag"].strip(chr(34))}"'}
    )

    assert plain.status_code == 200 and plain.mimetype == "application/javascript"
    assert "max-age=3600" in plain.headers["Cache-Control"]
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert len(zipped.data) < 4096
    assert gzip.decompress(zipped.data) == plain.data
    assert b"// " not in plain.data and b"_lt_vid" in plain.data
    assert again.status_code == 304


def test_health_and_metrics(client: FlaskClient, sites: SiteMaker) -> None:
    site = sites.make()
    post(client, BatchBuilder(site.write_key).pageview().body())

    health = client.get("/healthz")
    metrics = client.get("/metrics").get_data(as_text=True)

    assert health.status_code == 200 and health.json["database"] == "ok"
    assert "leadtrail_events_acknowledged_total" in metrics
    assert "leadtrail_commit_groups_total" in metrics
