"""How the snippet delivers, in real Chromium against the real collector (through a real
proxy that can take it down or make it answer 500): strings cut by code point, identify
queued and retried like events, refused batches dropped, failing batches set aside."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from tests.e2e.conftest import CollectorProxy, LiveServer, Tab
from tracker.sites.service import CreatedSite

PageUrl = Callable[..., str]
# What Chromium logs for a request the proxy left unanswered or answered 500.
NETWORK_ERRORS = ("Failed to load resource",)
EVENTS = "SELECT count(*) FROM events WHERE site_id = :s"


def close_quietly(tab: Tab) -> None:
    """Close the tab, then forget the network errors it logged on purpose (Playwright hands
    console messages over until the context closes)."""
    tab.context.close()
    tab.errors[:] = [e for e in tab.errors if not e.startswith(NETWORK_ERRORS)]


def names_of(server: LiveServer, site: CreatedSite) -> list[str]:
    rows = server.rows(
        "SELECT name FROM events WHERE site_id = :s AND type = 'custom' ORDER BY occurred_at",
        s=site.site.id,
    )
    return [row[0] for row in rows]


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_an_emoji_at_the_cut_stays_whole(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site()
    tab = new_tab()

    tab.page.goto(pages(site, "emoji.html"))
    tab.page.evaluate("leadtrail('track', 'b'.repeat(99) + '\\u{1F680}' + 'more', "
                      "{half: 'x\\uD800y'})")

    assert live_server.wait_for(EVENTS, 2, s=site.site.id) == 2
    titles = live_server.rows(
        "SELECT title FROM events WHERE site_id = :s AND type = 'pageview'", s=site.site.id
    )
    props = live_server.rows(
        "SELECT props FROM events WHERE site_id = :s AND type = 'custom'", s=site.site.id
    )
    assert titles[0][0] == "a" * 199 + "\U0001f600"
    assert names_of(live_server, site) == ["b" * 99 + "\U0001f680"]
    stored = props[0][0] if isinstance(props[0][0], dict) else json.loads(props[0][0])
    assert stored == {"half": "x\ufffdy"}


def test_with_the_collector_down_then_up_identify_and_events_arrive_once(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab],
    collector_proxy: CollectorProxy,
) -> None:
    site = live_server.make_site()
    tab = new_tab()
    proxy = collector_proxy.state
    proxy.down = True

    tab.page.goto(pages(site, flags=f"api{collector_proxy.port}"))
    tab.page.fill("#email", "ada@example.com")
    tab.page.fill("#full_name", "Ada Lovelace")
    tab.page.click("#send")  # navigates to thanks.html, still without a collector
    tab.page.wait_for_url("**/thanks.html")
    assert wait_until(lambda: len(proxy.seen("/identify")) >= 1)
    proxy.down = False

    assert live_server.wait_for(EVENTS, 3, timeout=60, s=site.site.id) == 3
    assert wait_until(lambda: tab.page.evaluate("localStorage.getItem('_lt_q')") == "[]")
    time.sleep(1)  # anything sent twice would be stored by now

    events = live_server.rows(
        "SELECT type, count(*) FROM events WHERE site_id = :s GROUP BY type ORDER BY type",
        s=site.site.id,
    )
    leads = live_server.rows(
        "SELECT email, name FROM leads WHERE site_id = :s", s=site.site.id
    )
    links = live_server.rows(
        "SELECT count(*) FROM lead_visitors WHERE site_id = :s", s=site.site.id
    )
    assert [tuple(row) for row in events] == [("form_submit", 1), ("pageview", 2)]
    assert [tuple(row) for row in leads] == [("ada@example.com", "Ada Lovelace")]
    assert links[0][0] == 1
    identify_answers = [e.status for e in proxy.seen("/identify")]
    assert identify_answers[0] == 0 and 200 in identify_answers  # unanswered, then stored
    close_quietly(tab)


def test_a_refused_batch_is_dropped_and_later_events_still_arrive(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab],
    collector_proxy: CollectorProxy,
) -> None:
    site = live_server.make_site()
    tab = new_tab()
    proxy = collector_proxy.state
    tab.page.goto(pages(site, flags=f"api{collector_proxy.port}"))
    assert live_server.wait_for(EVENTS, 1, s=site.site.id) == 1

    # Properties over the collector's 2,048 bytes: a real 422 naming events.0.props.
    tab.page.evaluate("leadtrail('track', 'too_big', {blob: 'x'.repeat(2048)})")
    tab.page.evaluate("leadtrail('identify', {email: 'ada@example.com', phone: '12'})")
    assert wait_until(lambda: len(proxy.seen("/identify")) == 1)
    tab.page.evaluate("leadtrail('track', 'after')")

    assert wait_until(lambda: names_of(live_server, site) == ["after"])
    time.sleep(3)  # a retry of a refused batch would have been sent by now
    refused = proxy.seen("/collect", "too_big")
    assert [e.status for e in refused] == [422]
    assert [e.status for e in proxy.seen("/identify")] == [400]
    assert tab.page.evaluate("localStorage.getItem('_lt_q')") == "[]"
    close_quietly(tab)


def test_a_batch_failing_with_5xx_is_set_aside_and_newer_events_arrive(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab],
    collector_proxy: CollectorProxy,
) -> None:
    site = live_server.make_site()
    tab = new_tab()
    proxy = collector_proxy.state
    proxy.fail_marker = "poison"
    tab.page.goto(pages(site, flags=f"api{collector_proxy.port}"))
    assert live_server.wait_for(EVENTS, 1, s=site.site.id) == 1

    tab.page.evaluate("leadtrail('track', 'poison')")
    assert wait_until(lambda: len(proxy.seen("/collect", "poison")) == 1)
    tab.page.evaluate("leadtrail('track', 'fresh')")

    assert wait_until(lambda: names_of(live_server, site) == ["fresh"])
    aside = json.loads(tab.page.evaluate("localStorage.getItem('_lt_aside')"))
    sent = proxy.seen("/collect")
    poisoned = [i for i, e in enumerate(sent) if "poison" in e.body]
    delivered = next(i for i, e in enumerate(sent) if "fresh" in e.body and e.status == 200)
    # Three 500s, then the batch waits aside and the newer event goes first, on its own.
    assert [sent[i].status for i in poisoned[:3]] == [500, 500, 500]
    assert poisoned[2] < delivered and "poison" not in sent[delivered].body
    assert [entry["e"]["name"] for entry in aside] == ["poison"]
    assert tab.page.evaluate("localStorage.getItem('_lt_q')") == "[]"
    close_quietly(tab)
