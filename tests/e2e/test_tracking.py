"""The tracking scenario of the tracking-core issue, in real Chromium, checked in the database."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.e2e.conftest import LiveServer, Tab
from tracker.sites.service import CreatedSite

PageUrl = Callable[..., str]
CAMPAIGN = "?utm_source=newsletter&utm_medium=email&utm_campaign=launch"
SHORT_TIMEOUT_MIN = 0.1  # six seconds


def events_of(server: LiveServer, site: CreatedSite) -> int:
    return int(server.rows("SELECT count(*) FROM events WHERE site_id = :s", s=site.site.id)[0][0])


def test_campaign_visit_navigation_and_a_search_visit_after_the_timeout(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site(session_timeout_minutes=SHORT_TIMEOUT_MIN)
    tab = new_tab()
    count = "SELECT count(*) FROM events WHERE site_id = :s"

    tab.page.goto(pages(site) + CAMPAIGN)
    tab.page.click("#spa-pricing")
    assert live_server.wait_for(count, 2, s=site.site.id) == 2
    time.sleep(SHORT_TIMEOUT_MIN * 60 + 1.5)
    tab.page.goto(pages(site), referer="https://www.google.com/")
    assert live_server.wait_for(count, 3, s=site.site.id) == 3

    visitors = live_server.rows("SELECT id FROM visitors WHERE site_id = :s", s=site.site.id)
    sessions = live_server.rows(
        "SELECT id, channel, source, medium, campaign FROM sessions WHERE site_id = :s"
        " ORDER BY started_at",
        s=site.site.id,
    )
    per_session = dict(
        live_server.rows(
            "SELECT session_id, count(*) FROM events WHERE site_id = :s AND type = 'pageview'"
            " GROUP BY session_id",
            s=site.site.id,
        )
    )
    paths = [
        row[0]
        for row in live_server.rows(
            "SELECT path FROM events WHERE site_id = :s ORDER BY occurred_at", s=site.site.id
        )
    ]
    cookie = next(c for c in tab.context.cookies() if c["name"] == "_lt_vid")
    assert len(visitors) == 1 and visitors[0][0] == cookie["value"]
    assert [(s[1], s[2], s[3], s[4]) for s in sessions] == [
        ("Email", "newsletter", "email", "launch"),
        ("Organic Search", "google", "organic", None),
    ]
    assert [per_session[s[0]] for s in sessions] == [2, 1]
    assert paths[1].endswith("/pricing-spa")
    # The snippet asks for 2 years; Chromium caps cookie lifetimes at 400 days.
    assert cookie["sameSite"] == "Lax" and cookie["expires"] > time.time() + 390 * 86400


def test_consent_mode_waits_for_consent_and_keeps_the_landing_touch(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site(consent_mode="required")
    tab = new_tab()

    tab.page.goto(pages(site, flags="consent") + CAMPAIGN)
    tab.page.click("#spa-pricing")  # the campaign parameters leave the address bar
    time.sleep(1.5)
    stored_before = events_of(live_server, site)
    cookies_before = [c for c in tab.context.cookies() if c["name"] == "_lt_vid"]
    local_before = tab.page.evaluate("Object.keys(localStorage)")
    tab.page.evaluate("leadtrail('consent', true)")
    live_server.wait_for("SELECT count(*) FROM events WHERE site_id = :s", 2, s=site.site.id)

    sessions = live_server.rows(
        "SELECT channel, source, campaign FROM sessions WHERE site_id = :s", s=site.site.id
    )
    assert stored_before == 0 and cookies_before == [] and local_before == []
    assert [c["name"] for c in tab.context.cookies()] == ["_lt_vid"]
    assert sessions == [("Email", "newsletter", "launch")]


def test_without_consent_mode_the_cookie_is_set_at_once(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site()
    tab = new_tab()

    tab.page.goto(pages(site))
    tab.page.wait_for_function("document.cookie.indexOf('_lt_vid=') >= 0")

    assert (
        live_server.wait_for("SELECT count(*) FROM events WHERE site_id = :s", 1, s=site.site.id)
        == 1
    )


def test_global_privacy_control_is_honoured(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site(honor_gpc=True)
    tab = new_tab(extra_http_headers={"Sec-GPC": "1"})
    tab.page.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
    )

    tab.page.goto(pages(site, flags="gpc") + CAMPAIGN)
    time.sleep(2)

    assert events_of(live_server, site) == 0
    assert tab.context.cookies() == []


def test_an_event_tracked_right_before_leaving_arrives_by_beacon(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site()
    tab = new_tab()
    tab.page.goto(pages(site))
    live_server.wait_for("SELECT count(*) FROM events WHERE site_id = :s", 1, s=site.site.id)

    tab.page.evaluate("leadtrail('track', 'pricing_cta', {plan: 'pro'})")
    tab.page.click("#leave")  # leaves before the 1 s batching delay: only the beacon can carry it

    count = (
        "SELECT count(*) FROM events WHERE site_id = :s AND type = 'custom'"
        " AND name = 'pricing_cta'"
    )
    assert live_server.wait_for(count, 1, s=site.site.id) == 1


def test_a_failed_send_is_retried_with_the_same_event_id(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site()
    tab = new_tab()
    attempts: list[str] = []

    def fail_first(route):  # type: ignore[no-untyped-def]
        attempts.append(route.request.post_data or "")
        if len(attempts) == 1:
            route.abort()
        else:
            route.continue_()

    tab.page.route("**/collect", fail_first)
    tab.page.goto(pages(site))
    # Playwright runs route handlers only while it is called: wait inside it, not in sleep().
    tab.page.wait_for_timeout(6000)
    tab.errors.remove("Failed to load resource: net::ERR_FAILED")  # the aborted first send

    event_ids = [
        row[0]
        for row in live_server.rows("SELECT id FROM events WHERE site_id = :s", s=site.site.id)
    ]
    assert len(attempts) >= 2
    assert len(event_ids) == 1 and event_ids[0] in attempts[0] and event_ids[0] in attempts[1]
