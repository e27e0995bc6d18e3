"""Keyword-level spend pulled from Google Ads (a local server playing the API) through the
CLI, and the reports' figures per keyword checked by hand, on SQLite and PostgreSQL; cost
known (0) where an account vouches for a group and period, unknown (null) elsewhere;
``spend status`` reporting spend with no matching sessions.

The scenario (T = now, all days in UTC):

    visitor  when   source/medium/campaign/keyword        then
    ann      T-6d   google/cpc/Brand/acme crm             identifies; deal won 1200 at T-2d
    ben      T-5d   google/cpc/Brand/acme crm             -
    cat      T-4d   google/cpc/Generic/crm software       identifies
    dan      T-3d   newsletter/email/spring               identifies

    Google Ads (account connected from T-7d, pulled to today):
    day    campaign     keyword              cost  impressions  clicks
    T-6d   Brand        acme crm               30          300       6
    T-5d   Brand        acme crm               20          200       4
    T-4d   Generic      crm software           40         1000      10
    T-4d   Generic      (campaign total 55, 1200 impressions, 12 clicks: 15 / 200 / 2
                        beyond its keywords, on the campaign with no keyword)
    T-4d   Competitors  hubspot alternative    25          100       2   (no session)

Every journey has one touch, so every model gives the same credit.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.test_dashboard import csrf_from, log_in, make_user
from tests.api.test_leads import api
from tests.api.test_reports import by_group, days_ago, deal, identified, pageview, report
from tests.api.test_spend_pull import GOOGLE, SEARCH, GoogleAds, g_row, google_token_endpoint
from tests.factories import SiteMaker
from tracker.models import AdAccount
from tracker.sites.service import CreatedSite

BRAND_URL = ("https://example.com/?utm_source=google&utm_medium=cpc&utm_campaign=Brand"
             "&utm_term=acme+crm")
GENERIC_URL = ("https://example.com/?utm_source=google&utm_medium=cpc&utm_campaign=Generic"
               "&utm_term=crm+software")
NEWSLETTER_URL = ("https://example.com/?utm_source=newsletter&utm_medium=email"
                  "&utm_campaign=spring")


def day(days: int) -> dt.date:
    return days_ago(days).date()


@pytest.fixture
def google_server(httpserver: HTTPServer) -> HTTPServer:
    google_token_endpoint(httpserver, [])
    fake = GoogleAds(
        campaigns=[[
            g_row(day(6), ("11", "Brand"), 30_000_000, 300, 6),
            g_row(day(5), ("11", "Brand"), 20_000_000, 200, 4),
            g_row(day(4), ("12", "Generic"), 55_000_000, 1200, 12),
            g_row(day(4), ("13", "Competitors"), 25_000_000, 100, 2),
        ]],
        keywords=[[
            g_row(day(6), ("11", "Brand"), 30_000_000, 300, 6, ("21", "31", "acme crm")),
            g_row(day(5), ("11", "Brand"), 20_000_000, 200, 4, ("21", "31", "acme crm")),
            g_row(day(4), ("12", "Generic"), 40_000_000, 1000, 10,
                  ("22", "32", "crm software")),
            g_row(day(4), ("13", "Competitors"), 25_000_000, 100, 2,
                  ("23", "33", "hubspot alternative")),
        ]],
    )
    fake.throttle_once = False
    httpserver.expect_request(SEARCH, method="POST").respond_with_handler(fake)
    return httpserver


@pytest.fixture
def spend_scenario(client: FlaskClient, sites: SiteMaker, db_session: Session,
                   runner: FlaskCliRunner, google_server: HTTPServer, tmp_path: Path
                   ) -> CreatedSite:
    site = sites.make(currency="EUR", mql_threshold=10_000)
    pageview(client, site, "visitor.ann", BRAND_URL, 6)
    assert identified(client, site, "visitor.ann", "ann@example.com", 6)
    pageview(client, site, "visitor.ben", BRAND_URL, 5)
    pageview(client, site, "visitor.cat", GENERIC_URL, 4)
    assert identified(client, site, "visitor.cat", "cat@example.com", 4)
    pageview(client, site, "visitor.dan", NEWSLETTER_URL, 3)
    assert identified(client, site, "visitor.dan", "dan@example.com", 3)
    deal(db_session, site.site.id, "W1", 3, status="open", currency="EUR", amount="1200",
         created_at=days_ago(3), contact_email="ann@example.com")
    deal(db_session, site.site.id, "W1", 2, status="won", closed_at=days_ago(2))
    credentials = tmp_path / "google.json"
    credentials.write_text(json.dumps({**GOOGLE, "api_url": google_server.url_for("/").rstrip(
        "/"), "token_url": google_server.url_for("/token")}))

    connected = runner.invoke(args=[
        "spend", "connect", str(site.site.id), "google_ads", "123-456-7890",
        "--credentials-file", str(credentials), "--start", str(day(7))])
    pulled = runner.invoke(args=["costs", "pull", "--site", str(site.site.id)])

    assert connected.exit_code == 0, connected.output
    assert "mapping: source=google, medium=cpc, campaign_from=name, keyword_from=keyword" \
        in connected.output
    assert "dev-token-123" not in connected.output and "google-secret" not in connected.output
    assert pulled.exit_code == 0, pulled.output
    assert "google_ads:1234567890: done, 5 rows" in pulled.output
    return site


def figures(row: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(row[name] for name in names)


def test_keyword_drill_down_has_each_keywords_spend_cpl_roas_ctr_cpc(
    client: FlaskClient, spend_scenario: CreatedSite
) -> None:
    body = report(client, spend_scenario, "revenue", model="linear", group_by="keyword",
                  source="google", **{"from": str(day(10))})
    rows = by_group(body)
    acme, software, rest = rows["acme crm"], rows["crm software"], rows[None]
    competitor = rows["hubspot alternative"]

    # acme crm: ann and ben (2 sessions), ann's lead and 1200 won. Spend 30 + 20 = 50,
    # 500 impressions, 10 clicks: CPL 50/1 = 50, CPA 50, ROAS 1200/50 = 24,
    # CTR 10/500 = 2%, CPC 50/10 = 5, click → lead 1/10 = 10%.
    assert figures(acme, "sessions", "leads", "customers", "revenue") == (2, 1, 1, 1200)
    assert figures(acme, "cost", "cpl", "cpa", "roas") == (50, 50, 50, 24)
    assert figures(acme, "impressions", "clicks", "ctr", "cpc", "click_to_lead_rate") == (
        500, 10, 2, 5, 10)
    # crm software: cat's lead, no revenue. 40 spent, 1000 impressions, 10 clicks:
    # CPL 40, CPA null (no customer), ROAS 0/40 = 0, CTR 1%, CPC 4, click → lead 10%.
    assert figures(software, "leads", "cost", "cpl", "cpa", "roas") == (1, 40, 40, None, 0)
    assert figures(software, "ctr", "cpc", "click_to_lead_rate") == (1, 4, 10)
    # Generic's spend beyond its keywords: 15 on no keyword, 200 impressions, 2 clicks.
    assert figures(rest, "sessions", "leads", "cost", "impressions", "clicks", "cpl") == (
        0, 0, 15, 200, 2, None)
    # A keyword that bought no session still shows its spend.
    assert figures(competitor, "sessions", "cost", "clicks", "cpc") == (0, 25, 2, 12.5)
    # Totals of google: 130 spent, 2 leads, 1200 revenue: CPL 65, ROAS 1200/130 = 9.230769;
    # 1800 impressions, 24 clicks: CTR 1.3333%, CPC 130/24 = 5.42 (money: cents),
    # click → lead 2/24 = 8.3333%.
    totals = body["totals"]
    assert figures(totals, "cost", "leads", "cpl", "roas") == (130, 2, 65, 9.230769)
    assert figures(totals, "impressions", "clicks", "ctr", "cpc", "click_to_lead_rate") == (
        1800, 24, 1.3333, 5.42, 8.3333)


def test_cost_is_known_where_the_account_vouches_and_unknown_elsewhere(
    client: FlaskClient, spend_scenario: CreatedSite
) -> None:
    channels = by_group(report(client, spend_scenario, "revenue", **{"from": str(day(10))}))
    yesterday = by_group(report(client, spend_scenario, "revenue", **{
        "from": str(day(1)), "to": str(day(1))}))
    before = by_group(report(client, spend_scenario, "revenue", **{
        "from": str(day(30)), "to": str(day(20))}))
    campaigns = by_group(report(client, spend_scenario, "revenue", group_by="campaign",
                                channel="Paid Search", **{"from": str(day(10))}))
    trend = {row["period"]: row for row in report(
        client, spend_scenario, "trend", **{"from": str(day(10))})["rows"]}
    email_trend = {row["period"]: row for row in report(
        client, spend_scenario, "trend", channel="Email", **{"from": str(day(10))})["rows"]}

    # Email: no spend source covers it, so cost, CPL and ROAS are unknown (—), not 0.
    assert figures(channels["Email"], "leads", "cost", "cpl", "roas") == (1, None, None, None)
    assert channels["Paid Search"]["cost"] == 130
    # Yesterday Google spent nothing, and says so: a known 0 (no session, no lead).
    assert figures(yesterday["Paid Search"], "sessions", "cost") == (0, 0)
    # Before the account's first pulled day nothing is known.
    assert "Paid Search" not in before
    # Drilled into Paid Search, every campaign is vouched for; Brand's CPL 50 / 1.
    assert figures(campaigns["Brand"], "cost", "cpl") == (50, 50)
    assert campaigns["Competitors"]["cost"] == 25
    # Per day: a pulled day without spend is 0; Email's days are nobody's to vouch for.
    assert trend[str(day(4))]["cost"] == 80
    assert (trend[str(day(3))]["cost"], trend[str(day(3))]["sessions"]) == (0, 1)
    assert (email_trend[str(day(3))]["cost"], email_trend[str(day(3))]["leads"]) == (None, 1)


def test_spend_status_reports_spend_with_no_matching_sessions(
    spend_scenario: CreatedSite, runner: FlaskCliRunner, client: FlaskClient
) -> None:
    result = runner.invoke(args=["spend", "status", "--site", str(spend_scenario.site.id)])
    exposed = client.get("/metrics").get_data(as_text=True)
    listed = api(client, spend_scenario, "GET", "/api/v1/costs").json["costs"]

    assert result.exit_code == 0, result.output
    assert "google_ads:1234567890 'Acme Ads' currency=EUR timezone=Europe/Berlin" in result.output
    assert "5 rows, spend 130.00 EUR, 1800 impressions, 24 clicks" in result.output
    # Competitors / hubspot alternative bought no session; Generic's rest matches cat's.
    assert "spend with no matching sessions: 25.00 EUR" in result.output
    assert "25.00  google/cpc campaign='Competitors' keyword='hubspot alternative'" \
        in result.output
    assert "last error" not in result.output
    assert 'leadtrail_spend_rows_pulled_total{platform="google_ads"}' in exposed
    acme = [c for c in listed if c["keyword"] == "acme crm"]
    assert [(c["origin"], c["amount"], c["currency"], c["impressions"], c["clicks"])
            for c in acme] == [("google_ads:1234567890", "30.0000", "EUR", 300, 6),
                               ("google_ads:1234567890", "20.0000", "EUR", 200, 4)]


@pytest.mark.committed  # db_session's rollback ends a snapshot the app's writes are nested in
def test_the_set_up_page_shows_each_account_and_pull_now_only_queues_it(
    client: FlaskClient, spend_scenario: CreatedSite, db_session: Session, sites: SiteMaker,
    google_server: HTTPServer,
) -> None:
    site_id = spend_scenario.site.id
    other = sites.make(domains=["other.example"])
    make_user(db_session, "marketer@example.com", site_id)
    make_user(db_session, "stranger@example.com", other.site.id)
    account = db_session.scalars(select(AdAccount)).one()
    assert log_in(client, "marketer@example.com").status_code == 302
    page = client.get(f"/dashboard/setup/costs?site={site_id}").get_data(as_text=True)
    token = csrf_from(client, f"/dashboard/setup/costs?site={site_id}")
    calls_before = len(google_server.log)

    queued = client.post(f"/dashboard/setup/spend/{account.id}/pull?site={site_id}",
                         data={"csrf_token": token})

    assert "Google Ads 1234567890 (Acme Ads)" in page
    assert "130.00" in page and "25.00" in page and "hubspot alternative" in page
    assert queued.status_code == 302
    assert len(google_server.log) == calls_before  # no pull inside the request
    db_session.rollback()  # end the read snapshot taken above
    due = db_session.get(AdAccount, (site_id, account.id))
    assert due is not None and due.next_pull_at <= dt.datetime.now(dt.UTC)
    client.post("/dashboard/logout", data={"csrf_token": token})
    assert log_in(client, "stranger@example.com").status_code == 302
    token = csrf_from(client, "/dashboard/")
    foreign = client.post(f"/dashboard/setup/spend/{account.id}/pull?site={other.site.id}",
                          data={"csrf_token": token})
    assert foreign.status_code == 404


@pytest.mark.committed  # db_session's rollback ends a snapshot the app's writes are nested in
def test_the_set_up_page_pauses_resumes_and_disconnects_an_account(
    client: FlaskClient, spend_scenario: CreatedSite, db_session: Session, runner: FlaskCliRunner,
    sites: SiteMaker, google_server: HTTPServer,
) -> None:
    site_id = spend_scenario.site.id
    other = sites.make(domains=["other.example"])
    make_user(db_session, "marketer@example.com", site_id, other.site.id)
    account = db_session.scalars(select(AdAccount)).one()
    db_session.rollback()
    assert log_in(client, "marketer@example.com").status_code == 302
    path = f"/dashboard/setup/costs?site={site_id}"
    token = csrf_from(client, path)
    base = f"/dashboard/setup/spend/{account.id}"

    paused = client.post(f"{base}/paused?site={site_id}", data={"csrf_token": token,
                                                                "paused": "1"})
    page = client.get(path).get_data(as_text=True)
    refused_pull = client.post(f"{base}/pull?site={site_id}", data={"csrf_token": token})
    synced = runner.invoke(args=["spend", "sync", "--site", str(site_id)])  # a pull by hand
    db_session.rollback()
    still_paused = db_session.get(AdAccount, (site_id, account.id))
    assert still_paused is not None
    paused_until = still_paused.next_pull_at
    db_session.rollback()
    resumed = client.post(f"{base}/paused?site={site_id}", data={"csrf_token": token,
                                                                 "paused": "0"})
    db_session.rollback()
    due = db_session.get(AdAccount, (site_id, account.id))
    assert due is not None
    due_at = due.next_pull_at
    db_session.rollback()
    foreign = client.post(f"/dashboard/setup/spend/{account.id}/disconnect?site={other.site.id}",
                          data={"csrf_token": token})
    disconnected = client.post(f"{base}/disconnect?site={site_id}", data={"csrf_token": token})
    after = client.get(path).get_data(as_text=True)
    costs = api(client, spend_scenario, "GET", "/api/v1/costs").json["costs"]

    assert paused.status_code == 302 and 'data-state="paused"' in page
    assert refused_pull.status_code == 400 and "resume it" in refused_pull.get_data(as_text=True)
    assert synced.exit_code == 0, synced.output
    assert paused_until.year == 9999  # the finished pull did not un-pause it
    assert resumed.status_code == 302 and due_at.year < 9999
    assert foreign.status_code == 404
    assert disconnected.status_code == 302, disconnected.get_data(as_text=True)
    assert "No ad account connected yet" in after, after
    db_session.rollback()
    assert db_session.scalars(select(AdAccount)).all() == []
    assert any(c["origin"] == "google_ads:1234567890" for c in costs)  # pulled spend stays


def test_the_connect_form_names_the_missing_credential_and_connects_without_pulling(
    client: FlaskClient, sites: SiteMaker, db_session: Session, httpserver: HTTPServer,
) -> None:
    site = sites.make(currency="EUR")
    make_user(db_session, "marketer@example.com", site.site.id)
    assert log_in(client, "marketer@example.com").status_code == 302
    path = f"/dashboard/setup/costs?site={site.site.id}"
    token = csrf_from(client, path)
    form = {"csrf_token": token, "platform": "google_ads", "account_id": "123-456-7890",
            "developer_token": "dev-secret-1", "client_id": "cid", "client_secret": "cs-2",
            "start_day": "2026-01-01"}

    missing = client.post(f"/dashboard/setup/spend?site={site.site.id}", data=form)
    bad_day = client.post(f"/dashboard/setup/spend?site={site.site.id}",
                          data={**form, "refresh_token": "1//r", "start_day": "Jan 1"})
    connected = client.post(f"/dashboard/setup/spend?site={site.site.id}",
                            data={**form, "refresh_token": "1//refresh-secret"})
    page = client.get(path).get_data(as_text=True)

    shown = missing.get_data(as_text=True)
    assert missing.status_code == 200
    assert 'data-field="credentials.refresh_token"' in shown and "dev-secret-1" not in shown
    assert 'data-field="start_day"' in bad_day.get_data(as_text=True)
    assert connected.status_code == 302
    (account,) = db_session.scalars(select(AdAccount)).all()
    assert (account.account_id, account.start_day, account.last_success_at) == (
        "1234567890", dt.date(2026, 1, 1), None)
    assert "Google Ads 1234567890" in page and "refresh-secret" not in page
    assert httpserver.log == []  # nothing fetched inside the request
