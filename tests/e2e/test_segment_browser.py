"""Segment's analytics.js (``@segment/analytics-next`` from npm, bundled locally by ``make
segment-js``; nothing is loaded from Segment's CDN) in Chromium, configured with our
``apiHost``: the same journey through it and through our own snippet gives the same sessions,
channels and lead."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import DIALECTS, create_postgres_database, drop_postgres_database, worker_name
from tests.e2e.conftest import LiveServer, Tab
from tests.servers import free_port, serve
from tracker.sites.service import CreatedSite

BUNDLE = Path(__file__).parents[2] / "build" / "segment" / "analytics-next.js"
LANDING_QUERY = "?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=crm&gclid=Cj0x1"
PageUrl = Callable[..., str]

# The page a Segment customer has: analytics.js loaded with its settings given inline instead
# of fetched from the CDN, sending to LeadTrail (apiHost) instead of api.segment.io.
SEGMENT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script src="/analytics-next.js"></script>
<script>
  const writeKey = "{key}";
  window.analytics = window.AnalyticsBrowser.load({{
    writeKey,
    cdnSettings: {{
      integrations: {{"Segment.io": {{apiKey: writeKey, apiHost: "{api_host}", protocol: "http"}}}},
      metrics: {{sampleRate: 0}},
    }},
  }});
  window.analytics.page();
</script></head>
<body><h1>{title}</h1><a id="next" href="pricing.html">Pricing</a></body></html>
"""


class _SegmentPages(BaseHTTPRequestHandler):
    api_host = ""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/favicon.ico":  # Chromium asks now and then; a 404 is a console error
            self.send_response(204)
            self.end_headers()
            return
        if path == "/analytics-next.js":
            self._send(BUNDLE.read_bytes(), "application/javascript")
            return
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "seg":
            self.send_error(404)
            return
        html = SEGMENT_PAGE.format(title=parts[2].removesuffix(".html").title(), key=parts[1],
                                   api_host=self.api_host)
        self._send(html.encode(), "text/html; charset=utf-8")

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="module", params=DIALECTS)
def segment_server(request: pytest.FixtureRequest, live_server: LiveServer
                   ) -> Iterator[LiveServer]:
    """The browser tests' server (SQLite), and one over PostgreSQL."""
    if request.param == "sqlite":
        yield live_server
        return
    url = create_postgres_database(f"leadtrail_segment_e2e_{worker_name()}")
    with serve(url, {"LEADTRAIL_WORKERS": "1"}) as server:
        yield server
    drop_postgres_database(url)


@pytest.fixture(scope="module")
def segment_pages(segment_server: LiveServer) -> Iterator[Callable[[CreatedSite, str], str]]:
    if not BUNDLE.exists():
        pytest.fail(f"{BUNDLE} is missing: run `make segment-js`", pytrace=False)
    port = free_port()
    api_host = urlsplit(segment_server.url).netloc + "/v1"
    handler = type("Handler", (_SegmentPages,), {"api_host": api_host})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield lambda site, page: f"http://localhost:{port}/seg/{site.write_key}/{page}"
    server.shutdown()
    server.server_close()


def _outcome(server: LiveServer, site: CreatedSite) -> dict[str, Any]:
    sessions = server.rows(
        "SELECT channel, source, medium, campaign, term, click_id_kind, click_id, landing_url"
        " FROM sessions WHERE site_id = :s ORDER BY started_at", s=site.site.id)
    pages = server.rows(
        "SELECT path FROM events WHERE site_id = :s AND type = 'pageview' ORDER BY occurred_at",
        s=site.site.id)
    leads = server.rows(
        "SELECT l.email, s.channel, s.campaign, (SELECT count(*) FROM lead_visitors v"
        " WHERE v.site_id = l.site_id AND v.lead_id = l.id) FROM leads l"
        " JOIN sessions s ON s.site_id = l.site_id AND s.id = l.first_session_id"
        " WHERE l.site_id = :s", s=site.site.id)
    return {
        "sessions": [(*row[:7], urlsplit(row[7]).path) for row in sessions],
        "pages": [urlsplit(row[0]).path.rsplit("/", 1)[-1] for row in pages],
        "leads": [tuple(row) for row in leads],
    }


def test_analytics_js_and_our_snippet_record_the_same_journey(
    live_server: LiveServer, pages: PageUrl, segment_server: LiveServer,
    segment_pages: Callable[[CreatedSite, str], str], new_tab: Callable[..., Tab],
) -> None:
    ours, theirs = live_server.make_site(), segment_server.make_site()
    leaving: list[str] = []

    # Our snippet: a paid click lands, one more page, then the visitor identifies.
    snippet = new_tab()
    snippet.page.goto(pages(ours) + LANDING_QUERY, referer="https://www.google.com/")
    live_server.wait_for("SELECT count(*) FROM events WHERE site_id = :s", 1, s=ours.site.id)
    snippet.page.goto(pages(ours, page="thanks.html"))
    snippet.page.evaluate("leadtrail('identify', {email: 'ada@example.com'})")
    live_server.wait_for("SELECT count(*) FROM leads WHERE site_id = :s", 1, s=ours.site.id)

    # analytics.js: the same journey on a page instrumented for Segment.
    segment = new_tab()
    segment.page.route(
        "**/*",
        lambda route: (leaving.append(route.request.url), route.abort())
        if urlsplit(route.request.url).hostname not in {"localhost", "127.0.0.1"}
        else route.continue_(),
    )
    segment.page.goto(segment_pages(theirs, "index.html") + LANDING_QUERY,
                      referer="https://www.google.com/")
    segment_server.wait_for("SELECT count(*) FROM events WHERE site_id = :s", 1, s=theirs.site.id)
    segment.page.click("#next")
    segment.page.wait_for_url("**/pricing.html")
    segment.page.wait_for_function("window.analytics !== undefined")
    segment_server.wait_for("SELECT count(*) FROM events WHERE site_id = :s", 2, s=theirs.site.id)
    segment.page.evaluate("analytics.identify('user-1', {email: 'ada@example.com'})")
    segment_server.wait_for("SELECT count(*) FROM leads WHERE site_id = :s", 1, s=theirs.site.id)

    expected_session = ("Paid Search", "google", "cpc", "brand", "crm", "gclid", "Cj0x1")
    snippet_outcome = _outcome(live_server, ours)
    segment_outcome = _outcome(segment_server, theirs)
    assert leaving == []  # nothing went to Segment's CDN or API
    assert [s[:7] for s in snippet_outcome["sessions"]] == [expected_session]
    assert [s[:7] for s in segment_outcome["sessions"]] == [expected_session]
    assert snippet_outcome["leads"] == segment_outcome["leads"] == [
        ("ada@example.com", "Paid Search", "brand", 1)]
    assert len(segment_outcome["pages"]) == len(snippet_outcome["pages"]) == 2
    visitor = segment_server.rows("SELECT visitor_id FROM sessions WHERE site_id = :s",
                               s=theirs.site.id)[0][0]
    assert visitor == segment.page.evaluate("analytics.user().then(user => user.anonymousId())")
