"""Call tracking in Chromium against a live server: a paid-search visit is shown a pool number
(swapped into the marked element, the matching text and the tel: links), a direct visit keeps
the default, a signed call webhook for that number and minute creates a lead whose first
touch is the paid click, and a used-up pool shows the default until a hold lapses."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import requests

from crm_sync.providers import generic
from tests.e2e.conftest import LiveServer, Tab
from tracker.sites.service import CreatedSite

PageUrl = Callable[..., str]
SECRET = "whsec_e2e_calls_0123456789"
PAID = "?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=crm&gclid=Cj0e2e"
HOLD_MINUTES = 0.2  # twelve seconds: long enough for a loaded machine to ask twice


def configure(server: LiveServer, site: CreatedSite, numbers: list[str]) -> None:
    config = {
        "default_number": "+1 415 555 0100",
        "generic_secrets": [SECRET],
        "pools": [{"id": "paid", "channel": "Paid Search", "scope": "visitor",
                   "hold_minutes": HOLD_MINUTES, "numbers": numbers}],
    }
    response = requests.put(f"{server.url}/api/v1/calls/config", json=config, timeout=10,
                            headers={"Authorization": f"Bearer {site.api_key}"})
    assert response.status_code == 200, response.text


def shown(tab: Tab) -> dict[str, Any]:
    return dict(tab.page.evaluate(
        "() => ({text: document.querySelector('#phone').textContent,"
        " href: document.querySelector('#phone').getAttribute('href'),"
        " footer: document.querySelector('#footer').textContent,"
        " footerHref: document.querySelector('#footer-link').getAttribute('href'),"
        " number: document.documentElement.getAttribute('data-lt-number')})"))


def number_for(server: LiveServer, site: CreatedSite, tab: Tab) -> Any:
    vid = next(c["value"] for c in tab.context.cookies() if c["name"] == "_lt_vid")
    return requests.post(f"{server.url}/calls/number", timeout=10,
                         data=json.dumps({"k": site.write_key, "vid": vid})).json()


def wait_swapped(tab: Tab) -> dict[str, Any]:
    tab.page.wait_for_function("document.documentElement.hasAttribute('data-lt-number')",
                               timeout=15_000)
    return shown(tab)


def test_paid_search_sees_a_pool_number_and_its_call_becomes_a_lead(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site()
    configure(live_server, site, ["+1 415 555 0101", "+1 415 555 0102"])
    paid, direct = new_tab(), new_tab()

    paid.page.goto(pages(site, page="calls.html") + PAID, referer="https://www.google.com/")
    seen = wait_swapped(paid)
    direct.page.goto(pages(site, page="calls.html"))
    live_server.wait_for("SELECT count(DISTINCT visitor_id) FROM sessions WHERE site_id = :s",
                         2, s=site.site.id)
    direct_answer = number_for(live_server, site, direct)
    body = json.dumps({"id": "e2e-call-1", "called": seen["number"], "caller": "+44 20 7946 0958",
                       "started_at": dt.datetime.now(dt.UTC).isoformat(), "duration_s": 75,
                       "answered": True}).encode()
    call = requests.post(f"{live_server.url}/calls/webhooks/generic/{site.site.id}", data=body,
                         timeout=10, headers={"LeadTrail-Signature": generic.sign(
                             body, SECRET, int(time.time()))})

    assert seen["text"] == "(415) 555-0101" and seen["href"] == "tel:+14155550101"
    assert seen["footer"].startswith("Questions? (415) 555-0101")
    assert seen["footerHref"] == "tel:+14155550101"
    assert (direct_answer["pool"], direct_answer["number"]) == (None, "+14155550100")
    assert shown(direct)["text"] == "(415) 555-0100" and shown(direct)["number"] is None
    assert call.status_code == 200 and call.json()["lead_id"]
    first_touch = live_server.rows(
        "SELECT l.phone, s.channel, s.click_id_kind, s.click_id, s.term FROM leads l"
        " JOIN sessions s ON s.site_id = l.site_id AND s.id = l.first_session_id"
        " WHERE l.site_id = :s", s=site.site.id)
    assert [tuple(row) for row in first_touch] == [
        ("+442079460958", "Paid Search", "gclid", "Cj0e2e", "crm")]


def test_a_used_up_pool_shows_the_default_until_a_hold_lapses(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site()
    configure(live_server, site, ["+1 415 555 0109"])
    first, second = new_tab(), new_tab()

    first.page.goto(pages(site, page="calls.html") + PAID, referer="https://www.google.com/")
    held = wait_swapped(first)
    second.page.goto(pages(site, page="calls.html") + PAID, referer="https://www.google.com/")
    live_server.wait_for("SELECT count(DISTINCT visitor_id) FROM sessions WHERE site_id = :s",
                         2, s=site.site.id)
    while_held = number_for(live_server, site, second)
    time.sleep(HOLD_MINUTES * 60 + 1)  # the first visitor's hold lapses (no page view since)
    second.page.reload()
    released = wait_swapped(second)

    assert held["number"] == "+14155550109"
    assert (while_held["number"], while_held["exhausted"]) == ("+14155550100", True)
    assert released["number"] == "+14155550109" and released["text"] == "(415) 555-0109"
    holders = live_server.rows(
        "SELECT visitor_id FROM call_assignments WHERE site_id = :s ORDER BY assigned_at",
        s=site.site.id)
    assert len({row[0] for row in holders}) == 2
