"""LinkedIn Marketing API: ``GET /rest/adAnalytics`` with the statistics finder pivoted by
campaign and creative, daily, in the account's currency (``costInLocalCurrency``); campaign
names and groups from ``/rest/adAccounts/{id}/adCampaigns`` (paged by ``pageToken``).
adAnalytics has no paging (learn.microsoft.com/linkedin/marketing/integrations/ads-reporting/
ads-reporting): a range is asked in chunks small enough to stay under its row cap. Rest.li
query values are sent in LinkedIn's own syntax, ``List(...)`` and ``(start:(year:...))``.
LinkedIn reports days in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from tracker.costs.adspend.http import AdsClient
from tracker.costs.adspend.rows import AccountInfo, SpendRow, to_decimal, to_int

API_URL = "https://api.linkedin.com"
API_VERSION = "202607"
TOKEN_URL = "https://www.linkedin.com/oauth/v2/accessToken"
CAMPAIGN_PAGE_SIZE = 1000


def _restli_date(day: dt.date) -> str:
    return f"(year:{day.year},month:{day.month},day:{day.day})"


def _urn_id(urn: str) -> str:
    return urn.rsplit(":", 1)[-1]


class LinkedInSource:
    platform = "linkedin"
    chunk_days = 14

    def __init__(self, client: AdsClient, account_id: str, version: str = API_VERSION) -> None:
        self.client = client
        self.account_id = account_id
        self.client.headers.update(
            {"LinkedIn-Version": version, "X-Restli-Protocol-Version": "2.0.0"})

    def account(self) -> AccountInfo:
        found = self.client.json("GET", f"/rest/adAccounts/{self.account_id}")
        return AccountInfo(str(found.get("name") or ""), found.get("currency"), "UTC")

    def campaigns(self) -> dict[str, dict[str, Any]]:
        """Campaign id → the campaign (name, campaignGroup), every page."""
        found: dict[str, dict[str, Any]] = {}
        token: str | None = None
        while True:
            params: dict[str, str | int] = {"q": "search", "pageSize": CAMPAIGN_PAGE_SIZE}
            if token:
                params["pageToken"] = token
            page = self.client.json(
                "GET", f"/rest/adAccounts/{self.account_id}/adCampaigns", params=params)
            for campaign in page.get("elements") or []:
                found[str(campaign.get("id"))] = campaign
            token = (page.get("metadata") or {}).get("nextPageToken")
            if not token:
                return found

    def fetch(self, start: dt.date, end: dt.date) -> list[SpendRow]:
        names = self.campaigns()
        account = quote(f"urn:li:sponsoredAccount:{self.account_id}", safe="")
        query = (
            "q=statistics&pivots=List(CAMPAIGN,CREATIVE)&timeGranularity=DAILY"
            f"&dateRange=(start:{_restli_date(start)},end:{_restli_date(end)})"
            f"&accounts=List({account})"
            "&fields=dateRange,pivotValues,impressions,clicks,costInLocalCurrency"
        )
        page = self.client.json("GET", f"/rest/adAnalytics?{query}")
        rows = []
        for found in page.get("elements") or []:
            pivots = found.get("pivotValues") or []
            campaign_id = next((_urn_id(p) for p in pivots if ":sponsoredCampaign:" in p), "")
            creative_id = next((_urn_id(p) for p in pivots if ":sponsoredCreative:" in p), "")
            begin = (found.get("dateRange") or {}).get("start") or {}
            campaign = names.get(campaign_id, {})
            group_urn = str(campaign.get("campaignGroup") or "")
            rows.append(SpendRow(
                day=dt.date(int(begin["year"]), int(begin["month"]), int(begin["day"])),
                campaign_id=campaign_id,
                campaign=str(campaign.get("name") or campaign_id),
                cost=to_decimal(found.get("costInLocalCurrency")),
                impressions=to_int(found.get("impressions")),
                clicks=to_int(found.get("clicks")),
                group_id=_urn_id(group_urn) if group_urn else "",
                item_id=creative_id,
                item=creative_id,
            ))
        return rows
