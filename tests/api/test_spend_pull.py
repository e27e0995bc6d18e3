"""Spend pulls against each ad platform's reporting API played by a local HTTP server
(pytest-httpserver) in the platform's documented shapes, on SQLite and PostgreSQL: paging,
throttling (429 + Retry-After, Meta's code 17), OAuth refresh (and a rotated refresh token
saved), the checkpoint, resuming after an interruption, restated days replacing (never
doubling) and currency conversion with the dated rates."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskCliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from crm_sync.errors import ApiError
from tests.factories import SiteMaker
from tracker.costs import service as costs
from tracker.costs.adspend import accounts
from tracker.costs.adspend.pull import ChunkPulled, pull_account, pull_due
from tracker.errors import ValidationError
from tracker.models import AdAccount, Cost
from tracker.sites.service import CreatedSite

NOW = dt.datetime(2026, 10, 10, 12, tzinfo=dt.UTC)
D8, D9, D10 = dt.date(2026, 10, 8), dt.date(2026, 10, 9), dt.date(2026, 10, 10)
D = decimal.Decimal


def base(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")


def connect(engine: Engine, site: CreatedSite, platform: str, account_id: str,
            credentials: dict[str, str], start: dt.date = D8,
            mapping: dict[str, str] | None = None) -> AdAccount:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return accounts.connect_account(
            session, session.merge(site.site), platform, account_id, credentials=credentials,
            mapping=mapping, start_day=start, now=NOW)


def pull(engine: Engine, account: AdAccount, sleeps: list[float] | None = None,
         now: dt.datetime = NOW, since: dt.date | None = None) -> list[ChunkPulled]:
    sleep: Callable[[float], None] = (sleeps if sleeps is not None else []).append
    return list(pull_account(engine, account.site_id, account.id, now=now, sleep=sleep,
                             since=since))


def stored(engine: Engine, site_id: int) -> list[tuple[Any, ...]]:
    with Session(engine) as session:
        return [tuple(row) for row in session.execute(
            select(Cost.origin, Cost.day, Cost.channel, Cost.source, Cost.medium, Cost.campaign,
                   Cost.keyword, Cost.amount, Cost.currency, Cost.amount_site, Cost.impressions,
                   Cost.clicks)
            .where(Cost.site_id == site_id)
            .order_by(Cost.day, Cost.campaign, Cost.keyword))]


def account_row(engine: Engine, account: AdAccount) -> AdAccount:
    with Session(engine, expire_on_commit=False) as session:
        found = session.get(AdAccount, (account.site_id, account.id))
        assert found is not None
        return found


# --- Google Ads -------------------------------------------------------------------------------

GOOGLE = {"developer_token": "dev-token-123", "client_id": "cid.apps.googleusercontent.com",
          "client_secret": "google-secret", "refresh_token": "1//refresh-google",
          "login_customer_id": "111-222-3333"}


def g_row(day: dt.date, campaign: tuple[str, str], cost_micros: int, impressions: int,
          clicks: int, keyword: tuple[str, str, str] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "segments": {"date": day.isoformat()},
        "campaign": {"resourceName": f"customers/1234567890/campaigns/{campaign[0]}",
                     "id": campaign[0], "name": campaign[1]},
        "metrics": {"costMicros": str(cost_micros), "impressions": str(impressions),
                    "clicks": str(clicks)},
    }
    if keyword:
        row["adGroup"] = {"id": keyword[0], "name": "Ad group " + keyword[0]}
        row["adGroupCriterion"] = {"criterionId": keyword[1],
                                   "keyword": {"text": keyword[2], "matchType": "EXACT"}}
    if not clicks:
        del row["metrics"]["clicks"]  # proto3 JSON leaves zero metrics out
    return row


class GoogleAds:
    """googleAds:search by GAQL: the customer, campaign and keyword_view reports, paged."""

    def __init__(self, campaigns: list[list[dict[str, Any]]],
                 keywords: list[list[dict[str, Any]]]) -> None:
        self.pages = {"campaign": campaigns, "keyword_view": keywords}
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.throttle_once = True

    def __call__(self, request: Request) -> Response:
        body = request.get_json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        query = body["query"]
        if "FROM customer" in query:
            return Response(json.dumps({"results": [{"customer": {
                "resourceName": "customers/1234567890", "descriptiveName": "Acme Ads",
                "currencyCode": "EUR", "timeZone": "Europe/Berlin"}}],
                "fieldMask": "customer.descriptiveName,customer.currencyCode,customer.timeZone"}),
                content_type="application/json")
        report = "keyword_view" if "FROM keyword_view" in query else "campaign"
        if report == "keyword_view" and self.throttle_once:
            self.throttle_once = False
            return Response(json.dumps({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                                                  "message": "Too many requests."}}),
                            status=429, headers={"Retry-After": "7"},
                            content_type="application/json")
        number = int(body.get("pageToken") or 0)
        pages = self.pages[report]
        document: dict[str, Any] = {"results": pages[number] if pages else []}
        if number + 1 < len(pages):
            document["nextPageToken"] = str(number + 1)
        return Response(json.dumps(document), content_type="application/json")


def google_token_endpoint(server: HTTPServer, seen: list[dict[str, str]]) -> None:
    def token(request: Request) -> Response:
        seen.append(dict(request.form))
        return Response(json.dumps({"access_token": f"ya29.token{len(seen)}",
                                    "expires_in": 3599, "token_type": "Bearer"}),
                        content_type="application/json")
    server.expect_request("/token", method="POST").respond_with_handler(token)


@pytest.fixture
def usd_site(sites: SiteMaker, engine: Engine) -> CreatedSite:
    created = sites.make(currency="USD", timezone="Europe/Berlin")
    with Session(engine) as session, session.begin():
        costs.set_exchange_rate(session, created.site.id,
                                {"currency": "EUR", "valid_from": "2026-01-01", "rate": "1.1"})
    return created


def google_account(engine: Engine, site: CreatedSite, server: HTTPServer) -> AdAccount:
    return connect(engine, site, "google_ads", "123-456-7890",
                   {**GOOGLE, "api_url": base(server), "token_url": server.url_for("/token")})


SEARCH = "/v25/customers/1234567890/googleAds:search"
BRAND, GENERIC, PMAX = ("11", "Brand"), ("12", "Generic"), ("13", "PMax")


def test_google_ads_keywords_and_campaign_rest_paged_throttled_converted(
    engine: Engine, usd_site: CreatedSite, httpserver: HTTPServer
) -> None:
    tokens: list[dict[str, str]] = []
    google_token_endpoint(httpserver, tokens)
    fake = GoogleAds(
        campaigns=[
            [g_row(D8, BRAND, 12_500_000, 100, 10), g_row(D8, PMAX, 3_000_000, 900, 4)],
            [g_row(D9, BRAND, 5_000_000, 40, 3), g_row(D9, GENERIC, 0, 0, 0)],
        ],
        keywords=[[
            g_row(D8, BRAND, 10_000_000, 80, 8, ("21", "31", "acme crm")),
            g_row(D9, BRAND, 5_000_000, 40, 3, ("21", "31", "acme crm")),
        ]],
    )
    httpserver.expect_request(SEARCH, method="POST").respond_with_handler(fake)
    account = google_account(engine, usd_site, httpserver)
    sleeps: list[float] = []

    chunks = pull(engine, account, sleeps)

    assert [(c.start, c.end, c.rows, c.synced_through) for c in chunks] == [(D8, D10, 5, D10)]
    origin = "google_ads:1234567890"
    assert stored(engine, usd_site.site.id) == [
        # The keyword's spend on its keyword; the campaign's rest on the campaign alone.
        (origin, D8, "Paid Search", "google", "cpc", "Brand", "", D("2.5000"), "EUR",
         D("2.7500"), 20, 2),
        (origin, D8, "Paid Search", "google", "cpc", "Brand", "acme crm", D("10.0000"), "EUR",
         D("11.0000"), 80, 8),
        (origin, D8, "Paid Search", "google", "cpc", "PMax", "", D("3.0000"), "EUR",
         D("3.3000"), 900, 4),
        (origin, D9, "Paid Search", "google", "cpc", "Brand", "acme crm", D("5.0000"), "EUR",
         D("5.5000"), 40, 3),
        # A campaign with a known zero day keeps the day.
        (origin, D9, "Paid Search", "google", "cpc", "Generic", "", D("0.0000"), "EUR",
         D("0.0000"), 0, 0),
    ]
    assert sleeps == [7.0]  # Retry-After of the 429
    assert [r.get("pageToken") for r in fake.requests if "FROM campaign" in r["query"]] == [
        None, "1"]
    assert "BETWEEN '2026-10-08' AND '2026-10-10'" in fake.requests[1]["query"]
    assert fake.headers[0]["Authorization"] == "Bearer ya29.token1"
    assert fake.headers[0]["Developer-Token"] == "dev-token-123"
    assert fake.headers[0]["Login-Customer-Id"] == "1112223333"
    assert tokens[0]["grant_type"] == "refresh_token"
    assert tokens[0]["refresh_token"] == "1//refresh-google"
    found = account_row(engine, account)
    assert (found.name, found.currency, found.timezone) == ("Acme Ads", "EUR", "Europe/Berlin")
    assert found.synced_through == D10 and found.last_error is None
    assert found.credentials["access_token"] == "ya29.token1"  # saved for the next pull
    assert found.credentials["refresh_token"] == "1//refresh-google"


def test_a_restated_day_replaces_it_and_a_vanished_campaign_goes(
    engine: Engine, usd_site: CreatedSite, httpserver: HTTPServer
) -> None:
    google_token_endpoint(httpserver, [])
    first = GoogleAds(campaigns=[[g_row(D8, BRAND, 10_000_000, 100, 10),
                                  g_row(D9, PMAX, 2_000_000, 50, 1)]], keywords=[])
    httpserver.expect_request(SEARCH, method="POST").respond_with_handler(first)
    account = google_account(engine, usd_site, httpserver)
    pull(engine, account)
    httpserver.clear()
    google_token_endpoint(httpserver, [])
    # Google restated 10-08 (invalid clicks credited) and PMax's 10-09 was removed.
    second = GoogleAds(campaigns=[[g_row(D8, BRAND, 8_000_000, 100, 9)]], keywords=[])
    httpserver.expect_request(SEARCH, method="POST").respond_with_handler(second)

    pull(engine, account, now=NOW + dt.timedelta(hours=6))

    rows = stored(engine, usd_site.site.id)
    assert [(r[1], r[5], r[7], r[11]) for r in rows] == [(D8, "Brand", D("8.0000"), 9)]
    # The second pull asked again from the start (inside the restatement window).
    assert "BETWEEN '2026-10-08' AND '2026-10-10'" in second.requests[1]["query"]


def test_no_exchange_rate_stores_nothing_and_records_the_error(
    engine: Engine, sites: SiteMaker, httpserver: HTTPServer
) -> None:
    site = sites.make(currency="GBP")
    google_token_endpoint(httpserver, [])
    fake = GoogleAds(campaigns=[[g_row(D8, BRAND, 1_000_000, 1, 1)]], keywords=[])
    httpserver.expect_request(SEARCH, method="POST").respond_with_handler(fake)
    account = google_account(engine, site, httpserver)

    with pytest.raises(ValidationError) as refused:
        pull(engine, account)

    assert refused.value.field == "currency"
    assert "no exchange rate from EUR to GBP on 2026-10-08" in refused.value.message
    assert stored(engine, site.site.id) == []
    found = account_row(engine, account)
    assert found.synced_through is None
    assert "no exchange rate" in (found.last_error or "")


def test_a_revoked_refresh_token_is_a_final_error_naming_the_fix(
    engine: Engine, usd_site: CreatedSite, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
        status=400)
    account = google_account(engine, usd_site, httpserver)

    with pytest.raises(ApiError) as failed:
        pull(engine, account)

    assert not failed.value.retryable
    assert "Token has been expired or revoked" in failed.value.message
    assert "connect the account again" in failed.value.message
    assert "1//refresh-google" not in str(failed.value)


# --- Meta -------------------------------------------------------------------------------------

META_TOKEN = "EAAB-system-user-token-0123456789"


def m_row(day: dt.date, ad: str, spend: str, impressions: int, clicks: int) -> dict[str, Any]:
    return {"campaign_id": "6001", "campaign_name": "Leads Q4", "adset_id": "7001",
            "adset_name": "Founders", "ad_id": ad, "ad_name": f"Video {ad}", "spend": spend,
            "impressions": str(impressions), "clicks": str(clicks),
            "date_start": day.isoformat(), "date_stop": day.isoformat()}


class MetaInsights:
    """``/act_<id>/insights`` with cursor paging by ``paging.next``; throttles once."""

    def __init__(self, server: HTTPServer, days: dict[dt.date, list[dict[str, Any]]],
                 fail_from: dt.date | None = None) -> None:
        self.server, self.days, self.fail_from = server, days, fail_from
        self.ranges: list[tuple[str, str]] = []
        self.throttled = False

    def __call__(self, request: Request) -> Response:
        assert request.headers["Authorization"] == f"Bearer {META_TOKEN}"
        if not self.throttled:
            self.throttled = True
            return Response(json.dumps({"error": {
                "message": "(#17) User request limit reached", "type": "OAuthException",
                "code": 17, "error_subcode": 2446079}}), status=400,
                headers={"X-Business-Use-Case-Usage": json.dumps({"101": [{
                    "type": "ads_insights", "call_count": 100, "total_cputime": 20,
                    "total_time": 30, "estimated_time_to_regain_access": 2}]})},
                content_type="application/json")
        if "after" in request.args:
            since, until = request.args["since_"], request.args["until_"]
        else:
            assert request.args["level"] == "ad" and request.args["time_increment"] == "1"
            window = json.loads(request.args["time_range"])
            since, until = window["since"], window["until"]
        self.ranges.append((since, until))
        if self.fail_from and dt.date.fromisoformat(since) >= self.fail_from:
            return Response(json.dumps({"error": {"message": "Invalid parameter", "code": 100}}),
                            status=400, content_type="application/json")
        rows = [row for day, found in sorted(self.days.items())
                if since <= day.isoformat() <= until for row in found]
        half = len(rows) // 2 + len(rows) % 2
        page = rows[half:] if "after" in request.args else rows[:half]
        document: dict[str, Any] = {"data": page}
        if "after" not in request.args and len(rows) > half:
            document["paging"] = {
                "cursors": {"before": "MAZDZD", "after": "MjQZD"},
                "next": self.server.url_for(request.path) +
                f"?after=MjQZD&since_={since}&until_={until}"}
        return Response(json.dumps(document), content_type="application/json")


def test_meta_ads_paged_throttled_resumed_after_an_interruption(
    engine: Engine, usd_site: CreatedSite, httpserver: HTTPServer
) -> None:
    start = dt.date(2026, 9, 25)  # 16 days to NOW: chunks of 7, 7 and 2 days
    days = {start + dt.timedelta(days=n): [m_row(start + dt.timedelta(days=n), "8001", "1.50",
                                                 100, 2),
                                           m_row(start + dt.timedelta(days=n), "8002", "0.50",
                                                 50, 1)]
            for n in range(16)}
    httpserver.expect_request("/v24.0/act_101", method="GET").respond_with_json(
        {"name": "Acme Meta", "currency": "USD", "timezone_name": "America/New_York",
         "id": "act_101"})
    fake = MetaInsights(httpserver, days, fail_from=dt.date(2026, 10, 2))
    httpserver.expect_request("/v24.0/act_101/insights").respond_with_handler(fake)
    account = connect(engine, usd_site, "meta", "act_101",
                      {"access_token": META_TOKEN, "api_url": base(httpserver)}, start=start)
    sleeps: list[float] = []
    done: list[ChunkPulled] = []

    with pytest.raises(ApiError) as stopped:
        for chunk in pull_account(engine, account.site_id, account.id, now=NOW,
                                  sleep=sleeps.append):
            done.append(chunk)

    assert stopped.value.status == 400 and "Invalid parameter" in stopped.value.message
    assert sleeps == [120.0]  # 2 minutes, from X-Business-Use-Case-Usage
    assert [(c.start, c.end, c.rows) for c in done] == [(start, dt.date(2026, 10, 1), 14)]
    assert account_row(engine, account).synced_through == dt.date(2026, 10, 1)
    assert "Invalid parameter" in (account_row(engine, account).last_error or "")

    fake.fail_from = None
    fake.ranges.clear()
    resumed = pull(engine, account)

    # From the day after the checkpoint (earlier than the restatement window), in chunks,
    # to today in New York.
    assert [r for r in fake.ranges] == [("2026-10-02", "2026-10-08"), ("2026-10-02",
                                        "2026-10-08"), ("2026-10-09", "2026-10-10"),
                                        ("2026-10-09", "2026-10-10")]
    assert resumed[-1].synced_through == D10
    rows = stored(engine, usd_site.site.id)
    assert len(rows) == 32 and len({(r[1], r[6]) for r in rows}) == 32
    assert {(r[2], r[3], r[4], r[5]) for r in rows} == {
        ("Paid Social", "facebook", "paid", "Leads Q4")}
    assert sum(r[9] for r in rows) == D("32.0000")  # 16 days x 2.00, nothing doubled
    assert account_row(engine, account).last_error is None


# --- Microsoft Advertising --------------------------------------------------------------------

MICROSOFT = {"developer_token": "ms-dev-token", "customer_id": "222", "client_id": "ms-app",
             "refresh_token": "M.R3_old", "timezone": "America/Chicago"}


def zipped_csv(lines: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("report.csv", "\ufeff" + "\r\n".join(lines) + "\r\n")
    return buffer.getvalue()


def test_microsoft_reports_submitted_polled_downloaded_and_the_rotated_token_saved(
    engine: Engine, usd_site: CreatedSite, httpserver: HTTPServer
) -> None:
    refreshes: list[dict[str, str]] = []

    def token(request: Request) -> Response:
        refreshes.append(dict(request.form))
        return Response(json.dumps({"access_token": "ms-access", "expires_in": 3600,
                                    "refresh_token": "M.R3_new", "token_type": "Bearer"}),
                        content_type="application/json")

    httpserver.expect_request("/oauth2/token", method="POST").respond_with_handler(token)
    submitted: list[dict[str, Any]] = []
    polls: dict[str, int] = {}

    def submit(request: Request) -> Response:
        assert request.headers["DeveloperToken"] == "ms-dev-token"
        assert request.headers["CustomerAccountId"] == "333"
        assert request.headers["CustomerId"] == "222"
        assert request.headers["Authorization"] == "Bearer ms-access"
        body = request.get_json()["ReportRequest"]
        submitted.append(body)
        return Response(json.dumps({"ReportRequestId": body["Type"]}),
                        content_type="application/json")

    def poll(request: Request) -> Response:
        report = request.get_json()["ReportRequestId"]
        polls[report] = polls.get(report, 0) + 1
        if polls[report] == 1:
            return Response(json.dumps({"ReportRequestStatus": {
                "ReportDownloadUrl": None, "Status": "Pending"}}),
                content_type="application/json")
        return Response(json.dumps({"ReportRequestStatus": {
            "ReportDownloadUrl": httpserver.url_for(f"/files/{report}.zip"),
            "Status": "Success"}}), content_type="application/json")

    httpserver.expect_request("/Reporting/v13/GenerateReport/Submit",
                              method="POST").respond_with_handler(submit)
    httpserver.expect_request("/Reporting/v13/GenerateReport/Poll",
                              method="POST").respond_with_handler(poll)
    httpserver.expect_request("/files/CampaignPerformanceReportRequest.zip").respond_with_data(
        zipped_csv([
            '"TimePeriod","CampaignId","CampaignName","CurrencyCode","Impressions","Clicks",'
            '"Spend"',
            '"2026-10-09","501","Search EU","EUR","300","12","9.00"',
        ]))
    httpserver.expect_request("/files/KeywordPerformanceReportRequest.zip").respond_with_data(
        zipped_csv([
            '"TimePeriod","CampaignId","CampaignName","AdGroupId","AdGroupName","KeywordId",'
            '"Keyword","CurrencyCode","Impressions","Clicks","Spend"',
            '"2026-10-09","501","Search EU","601","CRM","701","crm software","EUR","200","10",'
            '"7.00"',
        ]))
    account = connect(engine, usd_site, "microsoft_ads", "333",
                      {**MICROSOFT, "api_url": base(httpserver),
                       "token_url": httpserver.url_for("/oauth2/token")}, start=D9)
    sleeps: list[float] = []

    pull(engine, account, sleeps)

    assert [r[5:12] for r in stored(engine, usd_site.site.id)] == [
        ("Search EU", "", D("2.0000"), "EUR", D("2.2000"), 100, 2),
        ("Search EU", "crm software", D("7.0000"), "EUR", D("7.7000"), 200, 10),
    ]
    assert {r[3:5] for r in stored(engine, usd_site.site.id)} == {("bing", "cpc")}
    assert submitted[0]["Aggregation"] == "Daily"
    assert submitted[0]["Scope"] == {"AccountIds": [333]}
    assert submitted[0]["Time"]["CustomDateRangeStart"] == {"Day": 9, "Month": 10, "Year": 2026}
    assert sleeps == [5.0, 5.0]  # one Pending poll per report
    assert refreshes[0]["scope"] == "https://ads.microsoft.com/msads.manage offline_access"
    saved = account_row(engine, account).credentials
    assert saved["refresh_token"] == "M.R3_new"  # Microsoft rotated it: the new one is kept
    assert account_row(engine, account).currency == "EUR"


# --- LinkedIn ---------------------------------------------------------------------------------

def test_linkedin_statistics_by_creative_with_campaign_names_and_a_401_refreshed(
    engine: Engine, usd_site: CreatedSite, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/oauth/v2/accessToken", method="POST").respond_with_json(
        {"access_token": "li-fresh", "expires_in": 5184000})
    httpserver.expect_request("/rest/adAccounts/505").respond_with_json(
        {"id": 505, "name": "Acme LinkedIn", "currency": "USD"})
    pages = {"": ({"id": 9001, "name": "ABM Tier 1",
                   "campaignGroup": "urn:li:sponsoredCampaignGroup:77"}, "tok2"),
             "tok2": ({"id": 9002, "name": "Retargeting",
                       "campaignGroup": "urn:li:sponsoredCampaignGroup:77"}, None)}

    def campaigns(request: Request) -> Response:
        if request.headers["Authorization"] != "Bearer li-fresh":
            return Response(json.dumps({"status": 401, "serviceErrorCode": 65601,
                                        "code": "REVOKED_ACCESS_TOKEN",
                                        "message": "The token used in the request has expired"}),
                            status=401, content_type="application/json")
        assert request.args["q"] == "search"
        element, following = pages[request.args.get("pageToken", "")]
        metadata = {"nextPageToken": following} if following else {}
        return Response(json.dumps({"elements": [element], "metadata": metadata}),
                        content_type="application/json")

    queries: list[str] = []

    def analytics(request: Request) -> Response:
        assert request.headers["LinkedIn-Version"] == "202607"
        assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"
        queries.append(request.query_string.decode())

        def element(campaign: int, creative: int, cost: str, clicks: int) -> dict[str, Any]:
            return {"pivotValues": [f"urn:li:sponsoredCampaign:{campaign}",
                                    f"urn:li:sponsoredCreative:{creative}"],
                    "dateRange": {"start": {"year": 2026, "month": 10, "day": 9},
                                  "end": {"year": 2026, "month": 10, "day": 9}},
                    "impressions": 1000, "clicks": clicks, "costInLocalCurrency": cost}
        return Response(json.dumps({"elements": [element(9001, 41, "120.5", 7),
                                                 element(9002, 42, "30", 2)], "paging": {
            "count": 10, "start": 0, "links": []}}), content_type="application/json")

    httpserver.expect_request("/rest/adAccounts/505/adCampaigns").respond_with_handler(campaigns)
    httpserver.expect_request("/rest/adAnalytics").respond_with_handler(analytics)
    account = connect(engine, usd_site, "linkedin", "505",
                      {"client_id": "li-app", "client_secret": "li-secret",
                       "refresh_token": "li-refresh", "access_token": "li-expired",
                       "api_url": base(httpserver),
                       "token_url": httpserver.url_for("/oauth/v2/accessToken")}, start=D9)

    pull(engine, account)

    assert [(r[2], r[3], r[4], r[5], r[6], r[9], r[11])
            for r in stored(engine, usd_site.site.id)] == [
        ("Paid Social", "linkedin", "paid", "ABM Tier 1", "41", D("120.5000"), 7),
        ("Paid Social", "linkedin", "paid", "Retargeting", "42", D("30.0000"), 2),
    ]
    assert "pivots=List(CAMPAIGN,CREATIVE)" in queries[0]
    assert "timeGranularity=DAILY" in queries[0]
    assert "dateRange=(start:(year:2026,month:10,day:9),end:(year:2026,month:10,day:10))" \
        in queries[0]
    assert "accounts=List(urn%3Ali%3AsponsoredAccount%3A505)" in queries[0]
    assert account_row(engine, account).credentials["access_token"] == "li-fresh"


# --- the worker's schedule --------------------------------------------------------------------

def test_the_worker_pulls_due_accounts_once_and_schedules_the_next(
    engine: Engine, usd_site: CreatedSite, httpserver: HTTPServer
) -> None:
    google_token_endpoint(httpserver, [])
    fake = GoogleAds(campaigns=[[g_row(D8, BRAND, 1_000_000, 10, 1)]], keywords=[])
    httpserver.expect_request(SEARCH, method="POST").respond_with_handler(fake)
    account = google_account(engine, usd_site, httpserver)

    first = pull_due(engine, NOW, sleep=lambda _s: None)
    again = pull_due(engine, NOW + dt.timedelta(hours=1), sleep=lambda _s: None)

    assert (first.accounts, first.rows, first.failures) == (1, 1, 0)
    assert again.accounts == 0  # not due again before PULL_EVERY
    found = account_row(engine, account)
    assert found.next_pull_at == NOW + dt.timedelta(hours=6)
    assert found.pull_started_at is None and found.last_success_at == NOW


def test_worker_once_pulls_what_is_due(
    engine: Engine, usd_site: CreatedSite, httpserver: HTTPServer, runner: FlaskCliRunner
) -> None:
    google_token_endpoint(httpserver, [])
    fake = GoogleAds(campaigns=[[g_row(D8, BRAND, 1_000_000, 10, 1)]], keywords=[])
    fake.throttle_once = False
    httpserver.expect_request(SEARCH, method="POST").respond_with_handler(fake)
    google_account(engine, usd_site, httpserver)

    result = runner.invoke(args=["worker", "--once"])

    assert result.exit_code == 0, result.output
    assert "pulled spend of 1 ad accounts (1 rows); 0 failed" in result.output
    assert len(stored(engine, usd_site.site.id)) == 1


def test_authorize_prints_the_consent_url_and_connect_trades_the_code(
    engine: Engine, usd_site: CreatedSite, httpserver: HTTPServer, runner: FlaskCliRunner
) -> None:
    exchanged: list[dict[str, str]] = []

    def token(request: Request) -> Response:
        exchanged.append(dict(request.form))
        if request.form["code"] != "4/good-code":
            return Response(json.dumps({"error": "invalid_grant",
                                        "error_description": "Malformed auth code."}),
                            status=400, content_type="application/json")
        return Response(json.dumps({"access_token": "ya29.a", "expires_in": 3599,
                                    "refresh_token": "1//from-consent"}),
                        content_type="application/json")

    httpserver.expect_request("/token", method="POST").respond_with_handler(token)
    site = str(usd_site.site.id)
    options = ["--credential", "developer_token=dev", "--credential", "client_id=cid",
               "--credential", "client_secret=csecret", "--credential",
               f"token_url={httpserver.url_for('/token')}",
               "--redirect-uri", "http://localhost:8765/callback"]

    url = runner.invoke(args=["spend", "authorize", "google_ads", "--client-id", "cid",
                              "--redirect-uri", "http://localhost:8765/callback"])
    refused = runner.invoke(args=["spend", "connect", site, "google_ads", "1234567890",
                                  *options, "--auth-code", "4/used-code"])
    connected = runner.invoke(args=["spend", "connect", site, "google_ads", "1234567890",
                                    *options, "--auth-code", "4/good-code"])

    assert url.exit_code == 0
    assert url.output.startswith("https://accounts.google.com/o/oauth2/v2/auth?response_type=code"
                                 "&client_id=cid&redirect_uri=http%3A%2F%2Flocalhost%3A8765%2F"
                                 "callback&scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fadwords")
    assert "access_type=offline" in url.output
    assert refused.exit_code == 2 and "Malformed auth code" in refused.output
    assert connected.exit_code == 0, connected.output
    assert exchanged[-1] == {"grant_type": "authorization_code", "code": "4/good-code",
                             "redirect_uri": "http://localhost:8765/callback",
                             "client_id": "cid", "client_secret": "csecret"}
    with Session(engine) as session:
        account = session.scalars(select(AdAccount)).one()
        assert account.credentials["refresh_token"] == "1//from-consent"
    status = runner.invoke(args=["spend", "status", "--site", site])
    assert "1//from-consent" not in status.output and "refresh_token=sha256:" in status.output


def test_connect_refuses_missing_credentials_and_bad_mapping_naming_the_field(
    engine: Engine, usd_site: CreatedSite
) -> None:
    with pytest.raises(ValidationError) as missing:
        connect(engine, usd_site, "google_ads", "1234567890", {"developer_token": "x"})
    with pytest.raises(ValidationError) as mapping:
        connect(engine, usd_site, "meta", "1", {"access_token": META_TOKEN},
                mapping={"keyword_from": "banner"})

    assert missing.value.field == "credentials.client_id"
    assert mapping.value.field == "mapping.keyword_from"
    with Session(engine) as session:
        assert session.scalars(select(AdAccount)).all() == []
