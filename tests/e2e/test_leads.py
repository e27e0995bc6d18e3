"""The leads scenario of the identity issue, in real Chromium, checked in the database."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.e2e.conftest import LiveServer, Tab
from tests.e2e.test_tracking import SHORT_TIMEOUT_MIN

PageUrl = Callable[..., str]
PASSWORD = "correct horse battery staple 42"


def test_paid_click_then_a_form_on_a_later_visit_then_another_device(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site(session_timeout_minutes=SHORT_TIMEOUT_MIN)
    s = site.site.id
    laptop = new_tab()

    laptop.page.goto(pages(site) + "?utm_source=google&utm_medium=cpc&gclid=TEST123")
    live_server.wait_for("SELECT count(*) FROM events WHERE site_id = :s", 1, s=s)
    time.sleep(SHORT_TIMEOUT_MIN * 60 + 1.5)
    laptop.page.goto(pages(site))
    live_server.wait_for("SELECT count(*) FROM events WHERE site_id = :s", 2, s=s)
    laptop.page.fill("#email", "ada@example.com")
    laptop.page.fill("#full_name", "Ada Lovelace")
    laptop.page.fill("#password", PASSWORD)
    laptop.page.fill("#card", "4111111111111111")
    laptop.page.click("#send")
    laptop.page.wait_for_url("**/thanks.html")
    assert live_server.wait_for("SELECT count(*) FROM leads WHERE site_id = :s", 1, s=s) == 1

    lead = live_server.rows(
        "SELECT id, email, name, first_session_id, creation_session_id FROM leads "
        "WHERE site_id = :s",
        s=s,
    )[0]
    sessions = {
        row[0]: row[1:]
        for row in live_server.rows(
            "SELECT id, channel, click_id_kind, click_id FROM sessions WHERE site_id = :s", s=s
        )
    }
    assert (lead[1], lead[2]) == ("ada@example.com", "Ada Lovelace")
    assert sessions[lead[3]] == ("Paid Search", "gclid", "TEST123")
    assert sessions[lead[4]][0] == "Direct"

    phone = new_tab()
    phone.page.goto(pages(site))
    live_server.wait_for("SELECT count(*) FROM visitors WHERE site_id = :s", 2, s=s)
    phone.page.evaluate("leadtrail('identify', {email: 'ADA@EXAMPLE.COM'})")
    count = "SELECT count(*) FROM lead_visitors WHERE site_id = :s"
    assert live_server.wait_for(count, 2, s=s) == 2

    assert live_server.rows("SELECT count(*) FROM leads WHERE site_id = :s", s=s)[0][0] == 1
    everything = " ".join(
        str(value)
        for table in (
            "events",
            "sessions",
            "visitors",
            "leads",
            "lead_visitors",
            "lead_stage_changes",
            "lead_score_changes",
        )
        for row in live_server.rows(f"SELECT * FROM {table}")
        for value in row
    )
    assert PASSWORD not in everything and "4111111111111111" not in everything


def test_an_ignored_form_makes_no_lead(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site()
    tab = new_tab()
    tab.page.goto(pages(site))
    live_server.wait_for("SELECT count(*) FROM events WHERE site_id = :s", 1, s=site.site.id)

    tab.page.fill("#ignored-email", "nobody@example.com")
    tab.page.click("#ignored-send")
    tab.page.wait_for_url("**/thanks.html*")
    time.sleep(1.5)

    assert (
        live_server.rows("SELECT count(*) FROM leads WHERE site_id = :s", s=site.site.id)[0][0] == 0
    )
