"""Google Ads: GAQL reports through the REST ``googleAds:search`` method, paged by
``nextPageToken`` (up to 10,000 rows a page; ``pageSize`` is refused since v17).

Two reports per range: ``campaign`` (every campaign's spend, whatever its type) and
``keyword_view`` (search keywords); what a campaign spent beyond its keywords becomes a row
without keyword (:func:`tracker.costs.adspend.rows.with_remainders`). ``metrics.cost_micros`` is in
the account's currency (``customer.currency_code``) and ``segments.date`` in its time zone
(``customer.time_zone``). developers.google.com/google-ads/api/rest/common/search.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator
from typing import Any

from tracker.costs.adspend.http import AdsClient
from tracker.costs.adspend.rows import AccountInfo, SpendRow, to_int, with_remainders

API_URL = "https://googleads.googleapis.com"
API_VERSION = "v25"
TOKEN_URL = "https://oauth2.googleapis.com/token"
MICROS = decimal.Decimal(1_000_000)

CAMPAIGN_QUERY = (
    "SELECT segments.date, campaign.id, campaign.name, metrics.cost_micros, "
    "metrics.impressions, metrics.clicks FROM campaign "
    "WHERE segments.date BETWEEN '{start}' AND '{end}'"
)
KEYWORD_QUERY = (
    "SELECT segments.date, campaign.id, campaign.name, ad_group.id, ad_group.name, "
    "ad_group_criterion.criterion_id, ad_group_criterion.keyword.text, metrics.cost_micros, "
    "metrics.impressions, metrics.clicks FROM keyword_view "
    "WHERE segments.date BETWEEN '{start}' AND '{end}'"
)
ACCOUNT_QUERY = (
    "SELECT customer.descriptive_name, customer.currency_code, customer.time_zone FROM customer"
)


def customer_path(customer_id: str) -> str:
    return customer_id.replace("-", "").strip()


class GoogleAdsSource:
    platform = "google_ads"
    chunk_days = 31

    def __init__(self, client: AdsClient, customer_id: str, version: str = API_VERSION) -> None:
        self.client = client
        self.customer_id = customer_path(customer_id)
        self.version = version

    def search(self, query: str) -> Iterator[dict[str, Any]]:
        """Every result row of ``query``, page after page."""
        path = f"/{self.version}/customers/{self.customer_id}/googleAds:search"
        token: str | None = None
        while True:
            body: dict[str, Any] = {"query": query}
            if token:
                body["pageToken"] = token
            page = self.client.json("POST", path, body=body)
            yield from page.get("results") or []
            token = page.get("nextPageToken")
            if not token:
                return

    def account(self) -> AccountInfo:
        for row in self.search(ACCOUNT_QUERY):
            customer = row.get("customer") or {}
            return AccountInfo(str(customer.get("descriptiveName") or ""),
                               customer.get("currencyCode"), customer.get("timeZone"))
        return AccountInfo("", None, None)

    def fetch(self, start: dt.date, end: dt.date) -> list[SpendRow]:
        dates = {"start": start.isoformat(), "end": end.isoformat()}
        campaigns = [_row(found) for found in self.search(CAMPAIGN_QUERY.format(**dates))]
        keywords = [_row(found) for found in self.search(KEYWORD_QUERY.format(**dates))]
        return with_remainders(campaigns, keywords)


def _row(found: dict[str, Any]) -> SpendRow:
    campaign = found.get("campaign") or {}
    group = found.get("adGroup") or {}
    criterion = found.get("adGroupCriterion") or {}
    metrics = found.get("metrics") or {}
    return SpendRow(
        day=dt.date.fromisoformat(found["segments"]["date"]),
        campaign_id=str(campaign.get("id", "")),
        campaign=str(campaign.get("name", "")),
        # Zero metrics are left out of the JSON (proto3 defaults).
        cost=decimal.Decimal(to_int(metrics.get("costMicros"))) / MICROS,
        impressions=to_int(metrics.get("impressions")),
        clicks=to_int(metrics.get("clicks")),
        group_id=str(group.get("id", "")),
        group=str(group.get("name", "")),
        item_id=str(criterion.get("criterionId", "")),
        item=str((criterion.get("keyword") or {}).get("text", "")),
    )
