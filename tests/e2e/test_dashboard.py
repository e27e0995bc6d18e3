"""The dashboard in real Chromium against a real ``leadtrail serve``: sign in, switch the
model, drill down, open a journey, download a CSV equal to the API's, upload costs with an
error, replay a failed webhook. Each page is saved under ``build/screenshots/``.

Data goes in through the real paths: visits and forms through the collector over HTTP, deals
through signed webhooks, the user through the users service. The one failed delivery is
made by the inbox service with the deal store failing (as ``tests/api/test_webhooks.py``
does), since a healthy server never fails to apply a valid delivery.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from crm_sync.providers import generic
from tests.e2e.conftest import USER_AGENT, LiveServer, Tab
from tracker.accounts.users import create_user
from tracker.crm import inbox
from tracker.db import PROJECT_ROOT, write_engine
from tracker.models.base import utcnow
from tracker.sites.service import CreatedSite

SCREENSHOTS = PROJECT_ROOT / "build" / "screenshots"
PASSWORD = "a long dashboard password"
SECRET = "whsec_dashboard_e2e_0123456789"
ORIGIN = "http://localhost"


def _send(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def _visit(server: LiveServer, site: CreatedSite, visitor: str, url: str, minutes_ago: float,
           ref: str | None = None) -> None:
    now = int(time.time() * 1000)
    event: dict[str, Any] = {"id": secrets.token_hex(8), "type": "pageview",
                             "ts": now - int(minutes_ago * 60_000), "url": url}
    if ref:
        event["ref"] = ref
    body = {"k": site.write_key, "vid": visitor, "sent_at": now, "events": [event]}
    headers = {"User-Agent": USER_AGENT, "Origin": ORIGIN, "Content-Type": "text/plain"}
    assert _send(f"{server.url}/collect", json.dumps(body).encode(), headers) == 200


def _identify(server: LiveServer, site: CreatedSite, visitor: str, email: str) -> None:
    body = {"k": site.write_key, "vid": visitor, "id": secrets.token_hex(8),
            "ts": int(time.time() * 1000), "url": "http://localhost/contact", "email": email}
    headers = {"User-Agent": USER_AGENT, "Origin": ORIGIN, "Content-Type": "text/plain"}
    assert _send(f"{server.url}/identify", json.dumps(body).encode(), headers) == 200


def _won(deal_id: str, email: str, amount: str) -> bytes:
    occurred = utcnow().isoformat().replace("+00:00", "Z")
    event = {"id": f"evt_{deal_id}", "type": "deal.won", "occurred_at": occurred,
             "deal": {"id": deal_id, "email": email, "amount": amount, "currency": "USD"}}
    return json.dumps(event).encode()


@dataclass
class Seeded:
    server: LiveServer
    site: CreatedSite
    email: str

    def url(self, path: str, **query: str) -> str:
        args = "&".join(f"{k}={v}" for k, v in {"site": str(self.site.site.id), **query}.items())
        return f"{self.server.url}{path}?{args}"


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> Iterator[Seeded]:
    site = live_server.make_site(generic_secrets=[SECRET])
    email = f"marketer{site.site.id}@example.com"
    # A write beside the server's worker process: BEGIN IMMEDIATE on SQLite, as the app's own
    # writers do (a deferred read turned write fails at once if the worker committed between).
    with Session(write_engine(live_server.engine)) as session, session.begin():
        create_user(session, email, PASSWORD, site_ids=[site.site.id])
    # Alice: a paid click (campaign and keyword), back later from organic search, then a form.
    _visit(live_server, site, "visitor-alice",
           "http://localhost/?utm_source=google&utm_medium=cpc&utm_campaign=spring"
           "&utm_term=crm+software", 120)
    _visit(live_server, site, "visitor-alice", "http://localhost/pricing", 10,
           ref="https://www.bing.com/")
    _identify(live_server, site, "visitor-alice", "alice@example.com")
    # Bob: a paid social visit, then a form.
    _visit(live_server, site, "visitor-bob",
           "http://localhost/?utm_source=facebook&utm_medium=paid_social&utm_campaign=retarget", 5)
    _identify(live_server, site, "visitor-bob", "bob@example.com")
    body = _won("D-1", "alice@example.com", "1200")
    header = generic.sign(body, SECRET, int(time.time()))
    status = _send(f"{live_server.url}/webhooks/generic/{site.site.id}", body,
                   {"LeadTrail-Signature": header, "Content-Type": "application/json"})
    assert status == 200
    _store_failed_delivery(live_server, site, _won("D-2", "bob@example.com", "300"))
    _calls(live_server, site)
    assert live_server.wait_until_fresh(), "the built-in worker did not drain the queue"
    yield Seeded(live_server, site, email)


def _calls(server: LiveServer, site: CreatedSite) -> None:
    """Call tracking with one pool for every sourced visit, shown to Alice (her latest visit
    is organic), and two calls that make no lead (one shorter than the minimum, one missed
    from a withheld number): the Calls page has rows while every other page's figures stay
    the forms' and the deals'."""
    config = {"min_duration_s": 10, "generic_secrets": [SECRET], "pools": [
        {"id": "sourced", "scope": "channel", "hold_minutes": 30,
         "numbers": ["+1 415 555 0101"]}]}
    headers = {"Authorization": f"Bearer {site.api_key}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{server.url}/api/v1/calls/config", method="PUT",
                                     data=json.dumps(config).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    number = {"k": site.write_key, "vid": "visitor-alice"}
    assert _send(f"{server.url}/calls/number", json.dumps(number).encode(),
                 {"Origin": ORIGIN, "Content-Type": "text/plain"}) == 200
    started = dt.datetime.now(dt.UTC).isoformat()
    for call in ({"id": "e2e-1", "caller": "+16505550199", "duration_s": 4, "answered": True},
                 {"id": "e2e-2", "caller": None, "duration_s": 0, "answered": False}):
        body = json.dumps({"called": "+14155550101", "started_at": started, **call}).encode()
        assert _send(f"{server.url}/calls/webhooks/generic/{site.site.id}", body, {
            "LeadTrail-Signature": generic.sign(body, SECRET, int(time.time())),
            "Content-Type": "application/json"}) == 200


def _store_failed_delivery(server: LiveServer, site: CreatedSite, body: bytes) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("deal store unavailable")

    received = utcnow()
    with Session(write_engine(server.engine)) as session, session.begin():
        from tracker.sites.settings import site_settings

        settings = site_settings(session.merge(site.site))
        events = inbox.parse_delivery("generic", settings, body, received)
        stored = inbox.store_delivery(session, site.site.id, "generic", body, events, {},
                                      received)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tracker.crm.inbox.apply_deal_update", refuse)
        assert inbox.apply_stored(server.engine, site.site.id, stored.id) == inbox.FAILED


def _shoot(tab: Tab, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _log_in(tab: Tab, seeded: Seeded) -> None:
    tab.page.goto(seeded.url("/dashboard/"))
    tab.page.fill("#email", seeded.email)
    tab.page.fill("#password", PASSWORD)
    tab.page.click("button[type=submit]")
    tab.page.wait_for_selector("#groups-table")


def _cell(tab: Tab, table: str, group: str, metric: str) -> str:
    name = tab.page.locator("th", has_text=re.compile(f"^{re.escape(group)}$"))
    row = tab.page.locator(f"#{table} tbody tr").filter(has=name)
    # The figure, without the change against the comparison period on the line below it.
    return row.locator(f"td[data-metric='{metric}']").inner_text().split("\n")[0]


def test_sign_in_switch_model_and_drill_into_a_campaign(
    seeded: Seeded, new_tab: Callable[..., Tab]
) -> None:
    tab = new_tab(viewport={"width": 1280, "height": 900})
    login = tab.page.goto(seeded.url("/dashboard/login"))
    _shoot(tab, "login")
    _log_in(tab, seeded)
    tab.page.select_option("#f-model", "first_touch")
    tab.page.click("form.filters button[type=submit]")
    tab.page.wait_for_url("**model=first_touch**")
    _shoot(tab, "overview")
    first_touch = _cell(tab, "groups-table", "Paid Search", "revenue")

    tab.page.select_option("#f-model", "last_touch")
    tab.page.click("form.filters button[type=submit]")
    tab.page.wait_for_url("**model=last_touch**")
    last_touch = _cell(tab, "groups-table", "Paid Search", "revenue")

    tab.page.get_by_role("link", name="Paid Search", exact=True).click()
    tab.page.get_by_role("link", name="google", exact=True).click()
    tab.page.get_by_role("link", name="spring", exact=True).click()
    tab.page.wait_for_selector("text=Revenue by keyword")
    keyword_row = tab.page.locator("#groups-table tbody th", has_text="crm software")
    _shoot(tab, "overview-drilled-to-keyword")

    assert (first_touch, last_touch) == ("$1,200.00", "$0.00")
    assert keyword_row.count() == 1
    assert "campaign=spring" in tab.page.url and "model=last_touch" in tab.page.url
    assert tab.page.evaluate("document.querySelectorAll('canvas[data-chart]').length") == 4
    assert tab.page.evaluate("Object.keys(Chart.instances).length") == 4
    # ...all drawn under the strict CSP (a violation would be a console error, failing new_tab)
    assert login is not None
    assert "script-src 'self'" in login.headers["content-security-policy"]


def test_lead_journey_and_a_narrow_screen(seeded: Seeded, new_tab: Callable[..., Tab]) -> None:
    tab = new_tab(viewport={"width": 375, "height": 800})
    _log_in(tab, seeded)
    _shoot(tab, "overview-375px")
    overflow = tab.page.evaluate("document.documentElement.scrollWidth")

    tab.page.goto(seeded.url("/dashboard/leads", model="first_touch"))
    tab.page.fill("#q", "alice")
    tab.page.press("#q", "Enter")
    tab.page.get_by_role("link", name="alice@example.com").click()
    tab.page.wait_for_selector("#journey")
    _shoot(tab, "lead-journey")
    journey_width = tab.page.evaluate("document.documentElement.scrollWidth")
    credits = tab.page.locator("#journey .credit li[data-conversion='won']").all_inner_texts()

    assert overflow <= 375 and journey_width <= 375
    assert credits == ["Won deal: 100.0%", "Won deal: 0.0%"]


def test_csv_download_equals_the_api(seeded: Seeded, new_tab: Callable[..., Tab],
                                     tmp_path: Path) -> None:
    tab = new_tab()
    _log_in(tab, seeded)
    today = dt.datetime.now(dt.UTC).date()
    window = {"model": "linear", "from": str(today - dt.timedelta(days=6)), "to": str(today)}
    tab.page.goto(seeded.url("/dashboard/", **window))
    with tab.page.expect_download() as download:
        tab.page.get_by_role("link", name="Download this report as CSV").click()
    saved = tmp_path / "revenue.csv"
    download.value.save_as(saved)
    query = "&".join(f"{k}={v}" for k, v in window.items())
    request = urllib.request.Request(
        f"{seeded.server.url}/api/v1/reports/revenue?format=csv&{query}",
        headers={"Authorization": f"Bearer {seeded.site.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        from_api = response.read().decode()

    assert saved.read_bytes().decode() == from_api
    assert "Paid Search" in from_api


def test_cost_upload_shows_the_error_then_imports(
    seeded: Seeded, new_tab: Callable[..., Tab], tmp_path: Path
) -> None:
    tab = new_tab()
    _log_in(tab, seeded)
    bad = tmp_path / "costs.csv"
    bad.write_text("date,channel,source,campaign,amount\n"
                   "2026-01-05,Paid Search,google,spring,120.50\n"
                   "2026-01-06,Paid Search,google,spring,lots\n")
    tab.page.goto(seeded.url("/dashboard/setup/costs"))
    tab.page.set_input_files("#cost-file", str(bad))
    tab.page.get_by_role("button", name="Upload", exact=True).click()
    tab.page.wait_for_selector("#cost-errors")
    _shoot(tab, "costs-error")
    error_row = tab.page.locator("#cost-errors tbody tr").first.locator("td").all_inner_texts()

    good = tmp_path / "good.csv"
    good.write_text(
        "date,channel,source,campaign,amount\n2026-01-05,Paid Search,google,spring,120.50\n"
    )
    tab.page.set_input_files("#cost-file", str(good))
    tab.page.get_by_role("button", name="Upload", exact=True).click()
    result = tab.page.locator("#cost-result").inner_text()

    assert error_row == ["2", "amount", "expected a number such as 1234.56"]
    assert "Imported 1 cost rows" in result
    rows = seeded.server.rows("SELECT amount_site FROM costs WHERE site_id = :s",
                              s=seeded.site.site.id)
    assert [float(r[0]) for r in rows] == [120.5]


def test_replay_a_failed_webhook_and_the_set_up_pages(
    seeded: Seeded, new_tab: Callable[..., Tab]
) -> None:
    tab = new_tab()
    _log_in(tab, seeded)
    tab.page.goto(seeded.url("/dashboard/setup/crm"))
    failed_before = tab.page.locator("#failed-events tbody tr").all_inner_texts()
    _shoot(tab, "crm")
    tab.page.get_by_role("button", name="Replay delivery", exact=False).click()
    tab.page.wait_for_selector(".flash")
    flash = tab.page.locator(".flash").inner_text()
    failed_after = tab.page.locator("#failed-events tbody tr").all_inner_texts()
    _shoot(tab, "crm-after-replay")

    tab.page.goto(seeded.url("/dashboard/setup/snippet"))
    live = tab.page.locator("#live-status").inner_text()
    _shoot(tab, "snippet")
    tab.page.goto(seeded.url("/dashboard/setup/keys"))
    tab.page.fill("#key-name", "reporting")
    tab.page.click("form.inline button[type=submit]")
    new_key = tab.page.input_value("#new-key")
    _shoot(tab, "api-keys")

    assert "ConnectionError: deal store unavailable" in failed_before[0]
    assert flash == "Event replayed: applied."
    assert failed_after == ["No failed deliveries."]
    statuses = seeded.server.rows(
        "SELECT status FROM crm_events WHERE site_id = :s ORDER BY received_at",
        s=seeded.site.site.id,
    )
    assert [row[0] for row in statuses] == ["applied", "applied"]
    assert "Last event received" in live
    assert new_key.startswith(f"lt_sk_{seeded.site.site.id}_")


def _table_fits(tab: Tab, table: str) -> bool:
    """The table needs no sideways scroll inside its wrapper."""
    return bool(tab.page.evaluate(
        "t => { const w = document.getElementById(t).parentElement;"
        " return w.scrollWidth <= w.clientWidth; }", table))


def test_default_columns_fit_at_1440_and_the_chooser_is_kept_in_the_url(
    seeded: Seeded, new_tab: Callable[..., Tab]
) -> None:
    tab = new_tab(viewport={"width": 1440, "height": 900})
    _log_in(tab, seeded)
    tab.page.goto(seeded.url("/dashboard/", model="first_touch"))
    headers = tab.page.locator("#groups-table thead th").all_inner_texts()
    fits = _table_fits(tab, "groups-table")
    models_fit = _table_fits(tab, "models-table")
    models_shown = tab.page.locator("#models-table thead th").count()
    revenue = _cell(tab, "groups-table", "Paid Search", "revenue")
    leads = _cell(tab, "groups-table", "Paid Search", "leads")
    cpl = _cell(tab, "groups-table", "Paid Search", "cpl")
    chart_text = tab.page.evaluate(
        "() => { const c = Chart.getChart("
        "document.querySelector('canvas[data-chart=chart-groups]'));"
        " const i = c.data.labels.indexOf('Paid Search'); return c.data.datasets[0].text[i]; }")
    change = tab.page.locator("#groups-table tbody tr").filter(
        has=tab.page.get_by_role("link", name="Paid Search", exact=True)
    ).locator("td[data-metric=revenue] .delta").inner_text()
    trend_dashes = tab.page.evaluate(
        "() => Chart.getChart(document.querySelector('canvas[data-chart=chart-trend]'))"
        ".data.datasets.map(d => (d.borderDash || []).length > 0)")
    fitted = tab.page.locator("table[id^=fitted-markov] tbody tr").count()
    _shoot(tab, "overview-1440px")

    tab.page.click(".chooser summary")
    tab.page.uncheck("#column-chooser input[value=roi]")
    tab.page.check("#column-chooser input[value=visitors]")
    tab.page.click("#column-chooser button[type=submit]")
    tab.page.wait_for_url("**cols=**")
    chosen = tab.page.locator("#groups-table thead th").all_inner_texts()
    tab.page.get_by_role("link", name="Paid Search", exact=True).click()
    tab.page.wait_for_selector("text=Revenue by source")
    drilled = tab.page.locator("#groups-table thead th").all_inner_texts()

    assert headers == ["Channel", "Revenue", "Leads", "Customers", "Cost", "CPL", "CPA", "ROAS",
                       "ROI", "Lead value"]
    assert fits
    assert models_fit and models_shown == 11  # every stored model beside the channel
    assert (revenue, leads, cpl) == ("$1,200.00", "1", "—")  # no spend known: no CPL
    assert chart_text == revenue
    assert change in ("new", "—") or change.endswith("%")  # against the previous period
    assert trend_dashes == [False] * 3 + [True] * 3  # the comparison period, dashed
    assert fitted > 0  # the Markov fit's shares are on the page (and under axe)
    assert "ROI" not in chosen and "Visitors" in chosen
    assert drilled[1:] == chosen[1:] and "cols=" in tab.page.url


def test_at_390px_the_group_column_stays_while_numbers_scroll(
    seeded: Seeded, new_tab: Callable[..., Tab]
) -> None:
    tab = new_tab(viewport={"width": 390, "height": 844})
    _log_in(tab, seeded)
    tab.page.goto(seeded.url("/dashboard/", model="first_touch"))
    first = tab.page.locator("#groups-table tbody tr th").first
    revenue = tab.page.locator("#groups-table tbody tr td[data-metric=revenue]").first
    before = (first.bounding_box(), revenue.bounding_box())
    _shoot(tab, "overview-390px")
    tab.page.evaluate("document.getElementById('groups-table').parentElement.scrollLeft = 400")
    tab.page.wait_for_function(
        "document.getElementById('groups-table').parentElement.scrollLeft > 0")
    after = (first.bounding_box(), revenue.bounding_box())
    _shoot(tab, "overview-390px-scrolled")
    page_width = tab.page.evaluate("document.documentElement.scrollWidth")

    assert before[0] is not None and after[0] is not None
    assert before[1] is not None and after[1] is not None
    assert after[0]["x"] == before[0]["x"]  # the channel's name did not move
    assert before[0]["width"] >= 100  # "Paid Search" on a line or two, not a letter a line
    assert after[1]["x"] < before[1]["x"]  # the numbers did
    assert page_width <= 390  # only the table scrolls, never the page


def test_the_destinations_page_names_the_bad_field_then_adds_and_pauses(
    seeded: Seeded, new_tab: Callable[..., Tab]
) -> None:
    tab = new_tab(viewport={"width": 1440, "height": 900})
    _log_in(tab, seeded)
    tab.page.get_by_role("link", name="Destinations").click()
    tab.page.fill("#d-name", "meta")
    tab.page.select_option("#d-platform", "meta")
    tab.page.fill("#d-access_token", "EAAB-browser-secret")
    tab.page.fill("#d-event-won", "Purchase")
    tab.page.select_option("#d-rule-won", "deal")
    tab.page.get_by_role("button", name="Save destination").click()
    refused = tab.page.locator("#destination-error").inner_text()
    _shoot(tab, "destinations-error")
    tab.page.fill("#d-pixel_id", "555")
    tab.page.fill("#d-access_token", "EAAB-browser-secret")  # secrets are never sent back
    tab.page.get_by_role("button", name="Save destination").click()
    tab.page.wait_for_selector(".flash")
    row = tab.page.locator("#destinations-table tr[data-destination=meta]")
    added = row.inner_text()
    tab.page.get_by_role("button", name="Pause meta").click()
    tab.page.wait_for_selector("#destinations-table tr[data-destination=meta] "
                               "td[data-state=paused]")
    _shoot(tab, "destinations")

    assert "settings.pixel_id" in refused and "meta needs pixel_id" in refused
    assert "Meta" in added and "won → Purchase (deal amount)" in added
    assert "EAAB-browser-secret" not in tab.page.content()
    stored = seeded.server.rows("SELECT enabled FROM destinations WHERE site_id = :s",
                                s=seeded.site.site.id)
    assert [bool(r[0]) for r in stored] == [False]


def test_an_ad_account_is_connected_from_the_form_then_paused(
    seeded: Seeded, new_tab: Callable[..., Tab]
) -> None:
    tab = new_tab(viewport={"width": 1440, "height": 900})
    _log_in(tab, seeded)
    tab.page.goto(seeded.url("/dashboard/setup/costs"))
    tab.page.select_option("#a-platform", "google_ads")
    tab.page.fill("#a-account", "123-456-7890")
    for field, value in (("developer_token", "dev-browser"), ("client_id", "cid"),
                         ("client_secret", "csecret")):
        tab.page.fill(f"#a-{field}", value)
    tab.page.get_by_role("button", name="Connect", exact=True).click()
    refused = tab.page.locator("#connect-error").inner_text()
    for field, value in (("developer_token", "dev-browser"), ("client_id", "cid"),
                         ("client_secret", "csecret"), ("refresh_token", "1//browser")):
        tab.page.fill(f"#a-{field}", value)
    tab.page.get_by_role("button", name="Connect", exact=True).click()
    tab.page.wait_for_selector(".flash")
    # The worker cannot reach Google from here; pausing stops its retries.
    tab.page.get_by_role("button", name="Pause google_ads 1234567890").click()
    tab.page.wait_for_selector("tr[data-account='google_ads:1234567890'] td[data-state=paused]")
    row = tab.page.locator("tr[data-account='google_ads:1234567890']").inner_text()
    _shoot(tab, "ad-accounts")

    assert "credentials.refresh_token" in refused
    assert "Google Ads 1234567890" in row and "paused" in row
    assert "1//browser" not in tab.page.content()


@pytest.mark.parametrize("path", ["/dashboard/setup/destinations", "/dashboard/setup/costs"])
def test_the_outbound_set_up_pages_fit_a_phone(
    seeded: Seeded, new_tab: Callable[..., Tab], path: str
) -> None:
    tab = new_tab(viewport={"width": 390, "height": 900})
    _log_in(tab, seeded)
    tab.page.goto(seeded.url(path))
    _shoot(tab, path.rsplit("/", 1)[-1] + "-390px")

    assert tab.page.evaluate("document.documentElement.scrollWidth") <= 390


AXE = PROJECT_ROOT / "tests" / "e2e" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# Every dashboard page, as (name, path, query); the lead's journey is found by its email.
AXE_PAGES = (
    ("login", "/dashboard/login", {}),
    ("overview", "/dashboard/", {"model": "first_touch"}),
    ("overview-drilled", "/dashboard/", {"channel": "Paid Search"}),
    ("paths", "/dashboard/paths", {}),
    ("calls", "/dashboard/calls", {}),
    ("leads", "/dashboard/leads", {}),
    ("snippet", "/dashboard/setup/snippet", {}),
    ("keys", "/dashboard/setup/keys", {}),
    ("costs", "/dashboard/setup/costs", {}),
    ("crm", "/dashboard/setup/crm", {}),
    ("destinations", "/dashboard/setup/destinations", {}),
    ("password", "/dashboard/account/password", {}),
)


def _axe_violations(tab: Tab) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page. The engine is evaluated over
    the DevTools protocol, so the page's CSP (no inline script) stays as served."""
    tab.page.evaluate(AXE.read_text(encoding="utf-8"))
    found = tab.page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))")
    return list(found)


@pytest.mark.parametrize("width", [1440, 390])
def test_every_dashboard_page_has_no_serious_accessibility_violation(
    seeded: Seeded, new_tab: Callable[..., Tab], width: int
) -> None:
    assert AXE.exists(), "run `make axe` (npm ci in tests/e2e/axe) first"
    login = new_tab(viewport={"width": width, "height": 900})
    login.page.goto(seeded.url("/dashboard/login"))
    violations = {"login": _axe_violations(login)}
    tab = new_tab(viewport={"width": width, "height": 900})
    _log_in(tab, seeded)
    for name, path, query in AXE_PAGES[1:]:
        tab.page.goto(seeded.url(path, **query))
        violations[name] = _axe_violations(tab)
    tab.page.goto(seeded.url("/dashboard/leads", model="first_touch"))
    tab.page.get_by_role("link", name="alice@example.com").click()
    tab.page.wait_for_selector("#journey")
    violations["lead"] = _axe_violations(tab)
    _shoot(tab, f"lead-journey-{width}px")

    assert {name: found for name, found in violations.items() if found} == {}


@pytest.mark.parametrize("width", [1440, 390])
def test_the_calls_page_charts_answered_and_missed_calls_by_channel(
    seeded: Seeded, new_tab: Callable[..., Tab], width: int
) -> None:
    tab = new_tab(viewport={"width": width, "height": 900})
    _log_in(tab, seeded)
    tab.page.goto(seeded.url("/dashboard/calls"))
    tab.page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.querySelector('canvas[data-chart]'))")
    rows = [row.split("\t")[:4]
            for row in tab.page.locator("#calls-table tbody tr").all_inner_texts()]
    stacked = tab.page.evaluate(
        "() => Chart.getChart(document.querySelector('canvas[data-chart]')).options.scales.x"
        ".stacked")
    _shoot(tab, f"calls-{width}px")

    assert rows == [["Organic Search", "2", "1", "1"]]
    assert stacked is True
    assert tab.page.locator("[data-kpi=calls] .value").inner_text() == "2"
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_paths_page_shows_what_the_api_answers(
    seeded: Seeded, new_tab: Callable[..., Tab]
) -> None:
    tab = new_tab(viewport={"width": 1440, "height": 900})
    _log_in(tab, seeded)
    tab.page.goto(seeded.url("/dashboard/paths", conversion="won", model="last_touch"))
    shown = [
        [cell.strip() for cell in row.split("\t")]
        for row in tab.page.locator("#paths-table tbody tr").all_inner_texts()
    ]
    assists = tab.page.locator("#assists-table tbody tr").all_inner_texts()
    _shoot(tab, "paths-1440px")
    to = utcnow().date().isoformat()
    since = (utcnow().date() - dt.timedelta(days=29)).isoformat()
    answer = tab.context.request.get(seeded.url(
        "/api/v1/reports/paths", view="top", conversion="won", model="last_touch",
        **{"from": since, "to": to})).json()

    assert answer["rows"], answer
    assert [row[0] for row in shown] == [row["path"] for row in answer["rows"]]
    assert [row[2] for row in shown] == [f"{row['conversions']:,}" for row in answer["rows"]]
    assert [row[4] for row in shown] == [f"${row['value']:,.2f}" for row in answer["rows"]]
    # alice's won deal: Paid Search first, closed by another channel under last touch.
    assert any(row.startswith("Paid Search\t0\t1\t1\t") for row in assists), assists
