"""The spend mapping (a shared case table, like the channel rules'), the campaign remainder
rule, the pull range and the ad platforms' HTTP client rules that need no database."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from crm_sync.errors import ApiError
from tracker.costs.adspend.http import AdsClient, OAuthToken
from tracker.costs.adspend.mapping import account_mapping, cost_key
from tracker.costs.adspend.platforms import meta, microsoft_ads
from tracker.costs.adspend.pull import pull_range
from tracker.costs.adspend.rows import SpendRow, with_remainders
from tracker.errors import ValidationError
from tracker.models import AdAccount
from tracker.rules.channels import ChannelRule

D = decimal.Decimal
DAY = dt.date(2026, 10, 1)
ROW = SpendRow(DAY, "11", "Brand EU", D("1.5"), 10, 1, group_id="21", group="Exact",
               item_id="31", item="acme crm")


@pytest.mark.parametrize(("platform", "overrides", "expected"), [
    ("google_ads", {}, ("Paid Search", "google", "cpc", "Brand EU", "acme crm")),
    ("microsoft_ads", {}, ("Paid Search", "bing", "cpc", "Brand EU", "acme crm")),
    ("meta", {}, ("Paid Social", "facebook", "paid", "Brand EU", "acme crm")),
    ("linkedin", {}, ("Paid Social", "linkedin", "paid", "Brand EU", "31")),
    ("google_ads", {"campaign_from": "id"}, ("Paid Search", "google", "cpc", "11", "acme crm")),
    ("google_ads", {"campaign_from": "none", "keyword_from": "none"},
     ("Paid Search", "google", "cpc", "", "")),
    ("meta", {"medium": "Paid_Social", "keyword_from": "group_name"},
     ("Paid Social", "facebook", "paid_social", "Brand EU", "Exact")),
    # The collector's rules decide the channel: display medium is Display, not Paid Search.
    ("google_ads", {"medium": "display"}, ("Display", "google", "display", "Brand EU",
                                           "acme crm")),
])
def test_rows_map_like_the_collector_classifies_their_clicks(
    platform: str, overrides: dict[str, str], expected: tuple[str, ...]
) -> None:
    assert cost_key(ROW, account_mapping(platform, overrides), ()) == expected


def test_a_site_channel_rule_applies_to_spend_too() -> None:
    rules = [ChannelRule.from_dict({"channel": "Brand Search", "campaign": "brand.*"})]

    assert cost_key(ROW, account_mapping("google_ads", {}), rules)[0] == "Brand Search"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"keyword": "x"}, "mapping.keyword"),
    ({"campaign_from": "label"}, "mapping.campaign_from"),
    ({"source": ""}, "mapping.source"),
])
def test_a_bad_override_names_its_key(overrides: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        account_mapping("google_ads", overrides)

    assert refused.value.field == field


def test_campaign_totals_beyond_keywords_become_a_row_without_keyword() -> None:
    totals = [SpendRow(DAY, "11", "Brand", D("10"), 100, 10),
              SpendRow(DAY, "12", "PMax", D("0"), 0, 0)]
    keywords = [SpendRow(DAY, "11", "Brand", D("7.5"), 60, 8, item="acme"),
                SpendRow(DAY, "11", "Brand", D("2.5"), 30, 2, item="crm")]

    rows = with_remainders(totals, keywords)

    assert [(r.campaign, r.item, r.cost, r.impressions, r.clicks) for r in rows] == [
        ("Brand", "acme", D("7.5"), 60, 8), ("Brand", "crm", D("2.5"), 30, 2),
        ("Brand", "", D("0"), 10, 0),  # impressions the keywords did not have
        ("PMax", "", D("0"), 0, 0),  # a known zero day of a campaign
    ]


@pytest.mark.parametrize(("synced", "since", "expected"), [
    (None, None, (dt.date(2026, 9, 1), DAY)),  # first pull: from the start day
    (dt.date(2026, 9, 29), None, (dt.date(2026, 9, 25), DAY)),  # the restatement window
    (dt.date(2026, 9, 10), None, (dt.date(2026, 9, 11), DAY)),  # resume after the checkpoint
    (DAY, dt.date(2026, 8, 1), (dt.date(2026, 9, 1), DAY)),  # never before the start day
])
def test_pull_range(synced: dt.date | None, since: dt.date | None,
                    expected: tuple[dt.date, dt.date]) -> None:
    account = AdAccount(start_day=dt.date(2026, 9, 1), synced_through=synced)

    assert pull_range(account, DAY, since) == expected


def client(server: HTTPServer, sleeps: list[float], **token: Any) -> AdsClient:
    return AdsClient(server.url_for("/").rstrip("/"),
                     OAuthToken(access_token=token.pop("access_token", "at"), **token),
                     sleep=sleeps.append, http=requests.Session())


def test_links_off_the_api_origin_are_refused(httpserver: HTTPServer) -> None:
    api = client(httpserver, [])

    with pytest.raises(ApiError) as refused:
        api.json("GET", "https://evil.example/steal")

    assert "outside the API's origin" in refused.value.message


def test_a_retry_after_beyond_the_limit_is_not_waited_for(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_response(
        Response("{}", status=429, headers={"Retry-After": "3600"}))
    sleeps: list[float] = []

    with pytest.raises(ApiError) as failed:
        client(httpserver, sleeps).json("GET", "/x")

    assert failed.value.retryable and failed.value.status == 429
    assert sleeps == []


def test_an_expired_token_is_refreshed_before_the_call(httpserver: HTTPServer) -> None:
    saved: list[dict[str, str]] = []
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "fresh", "expires_in": 60})

    def answer(request: Request) -> Response:
        return Response(json.dumps({"auth": request.headers["Authorization"]}),
                        content_type="application/json")

    httpserver.expect_request("/x").respond_with_handler(answer)
    api = client(httpserver, [], access_token="stale", refresh_token="r", client_id="c",
                 token_url=httpserver.url_for("/token"),
                 expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
                 save=lambda fields: saved.append(dict(fields)))

    assert api.json("GET", "/x") == {"auth": "Bearer fresh"}
    assert saved[0]["access_token"] == "fresh" and "refresh_token" not in saved[0]


@pytest.mark.parametrize(("status", "body", "headers", "expected"), [
    (400, {"error": {"code": 17}}, {}, meta.DEFAULT_THROTTLE_SECONDS),
    (400, {"error": {"code": 80004}}, {"X-Business-Use-Case-Usage": json.dumps(
        {"1": [{"estimated_time_to_regain_access": 5}]})}, 300.0),
    (400, {"error": {"code": 100}}, {}, None),
    (500, {"error": {"code": 17}}, {}, None),
])
def test_meta_throttling_answers(status: int, body: dict[str, Any], headers: dict[str, str],
                                 expected: float | None) -> None:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers.update(headers)

    assert meta.throttled(response) == expected


def test_microsoft_is_never_asked_for_days_after_its_today() -> None:
    # Pacific is behind: an account in Europe may already be on a day Microsoft refuses.
    source = microsoft_ads.MicrosoftAdsSource(
        AdsClient("http://127.0.0.1:9", OAuthToken("at")), "1", "2", sleep=lambda _s: None,
        today=lambda: DAY)

    assert source.fetch(DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)) == []
