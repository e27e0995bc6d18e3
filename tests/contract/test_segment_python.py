"""Segment's own Python library (segment-analytics-python) pointed at a real ``leadtrail
serve`` on SQLite and PostgreSQL: its batches (basic auth, gzip or not, its consumer thread
and its synchronous mode) are stored as sessions, channels and a stitched lead, a retry
changes nothing, and a refusal reaches the library as a non-retryable APIError with our
code and message."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from segment.analytics import Client
from segment.analytics.request import APIError

from tests.conftest import DIALECTS, fresh_database_url, worker_name
from tests.servers import LiveServer, serve
from tracker.sites.service import CreatedSite

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
LANDING = ("https://www.example.com/pricing?utm_source=google&utm_medium=cpc"
           "&utm_campaign=brand&utm_term=attribution%20tool")


@pytest.fixture(scope="module", params=DIALECTS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[LiveServer]:
    url = fresh_database_url(request.param, f"leadtrail_segment_{worker_name()}",
                             Path(tmp_path_factory.mktemp("segment")))
    with serve(url, {"LEADTRAIL_WORKERS": "1"}) as live:
        yield live
    if request.param == "postgresql":
        from tests.conftest import drop_postgres_database

        drop_postgres_database(url)


def client_for(server: LiveServer, site: CreatedSite, errors: list[Exception],
               **options: object) -> Client:
    return Client(write_key=site.write_key, host=server.url, max_retries=1,
                  on_error=lambda error, batch: errors.append(error), **options)  # type: ignore[arg-type]


def journey(analytics: Client, anonymous_id: str, user_id: str, email: str) -> None:
    """A server-side journey: a paid-search landing, a second page, then sign-up."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    context = {"userAgent": BROWSER, "ip": "198.51.100.23",
               "page": {"url": LANDING, "referrer": "https://www.google.com/"}}
    analytics.page(anonymous_id=anonymous_id, name="Pricing", timestamp=start,
                   properties={"url": LANDING, "referrer": "https://www.google.com/"},
                   context=context)
    analytics.page(anonymous_id=anonymous_id, name="Demo",
                   timestamp=start + dt.timedelta(minutes=3),
                   properties={"url": "https://www.example.com/demo"},
                   context={"userAgent": BROWSER, "ip": "198.51.100.23"})
    analytics.identify(user_id=user_id, anonymous_id=anonymous_id,
                       traits={"email": email, "name": "Ada Lovelace", "company": "Engines"},
                       timestamp=start + dt.timedelta(minutes=5),
                       context={"userAgent": BROWSER, "ip": "198.51.100.23"})
    # The backend knows only the userId afterwards.
    analytics.track(user_id=user_id, event="Demo Booked", properties={"plan": "pro"},
                    timestamp=start + dt.timedelta(minutes=6))


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_the_library_in_the_background_stores_a_stitched_journey(
    server: LiveServer, gzip: bool
) -> None:
    site = server.make_site()
    errors: list[Exception] = []
    analytics = client_for(server, site, errors, gzip=gzip, upload_size=10)
    anonymous_id = str(uuid.uuid4())

    journey(analytics, anonymous_id, "user-" + uuid.uuid4().hex[:8], "ada@example.com")
    analytics.flush()
    analytics.join()

    assert errors == []
    sessions = server.rows(
        "SELECT visitor_id, channel, source, medium, campaign, term, ip_prefix FROM sessions"
        " WHERE site_id = :s ORDER BY started_at", s=site.site.id)
    assert [tuple(row) for row in sessions] == [
        (anonymous_id, "Paid Search", "google", "cpc", "brand", "attribution tool",
         "198.51.100.0"),
    ]
    events = server.rows("SELECT type, name FROM events WHERE site_id = :s ORDER BY occurred_at",
                         s=site.site.id)
    assert [tuple(row) for row in events] == [
        ("pageview", None), ("pageview", None), ("identify", None), ("custom", "Demo Booked")]
    leads = server.rows(
        "SELECT l.email, l.name, l.company, s.visitor_id, s.channel FROM leads l"
        " JOIN sessions s ON s.site_id = l.site_id AND s.id = l.first_session_id"
        " WHERE l.site_id = :s", s=site.site.id)
    assert [tuple(row) for row in leads] == [
        ("ada@example.com", "Ada Lovelace", "Engines", anonymous_id, "Paid Search")]
    # The backend's userId-only event went to the browser the user was seen with.
    owned = server.rows("SELECT DISTINCT visitor_id FROM lead_visitors WHERE site_id = :s",
                        s=site.site.id)
    assert [row[0] for row in owned] == [anonymous_id]
    booked = server.rows("SELECT visitor_id FROM events WHERE site_id = :s AND name = :n",
                         s=site.site.id, n="Demo Booked")
    assert booked[0][0] == anonymous_id


def test_a_retry_of_the_same_messages_changes_nothing(server: LiveServer) -> None:
    site = server.make_site()
    errors: list[Exception] = []
    analytics = client_for(server, site, errors, sync_mode=True)
    message_id = str(uuid.uuid4())

    for _ in range(3):
        analytics.track(anonymous_id="anon-retry-0001", event="Signed Up", message_id=message_id,
                        context={"userAgent": BROWSER})

    assert errors == []
    counts = server.rows("SELECT count(*) FROM events WHERE site_id = :s", s=site.site.id)
    assert counts[0][0] == 1


def test_a_refusal_is_a_non_retryable_api_error_naming_the_problem(server: LiveServer) -> None:
    site = server.make_site()
    analytics = client_for(server, site, [], sync_mode=True)
    too_old = dt.datetime.now(dt.UTC) - dt.timedelta(days=45)

    with pytest.raises(APIError) as refused:
        analytics.track(anonymous_id="anon-old-0001", event="Old", timestamp=too_old)
    unknown_key = Client(write_key="wk_not_a_site", host=server.url, sync_mode=True)
    with pytest.raises(APIError) as unauthorized:
        unknown_key.track(anonymous_id="anon-key-0001", event="Nope")

    assert (refused.value.status, refused.value.code) == (422, "invalid")
    assert "older than 30 days" in refused.value.message
    assert (unauthorized.value.status, unauthorized.value.code) == (401, "unauthorized")
    counts = server.rows("SELECT count(*) FROM events WHERE site_id = :s", s=site.site.id)
    assert counts[0][0] == 0
