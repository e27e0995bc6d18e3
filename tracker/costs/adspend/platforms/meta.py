"""Meta Marketing API Insights: ``GET /act_<id>/insights`` at ``level=ad`` with
``time_increment=1`` (one row per ad and day), paged by following ``paging.next``.

``spend`` is in the ad account's currency and days in its time zone (``currency``,
``timezone_name`` of the account). Throttling is an HTTP 400/403 with error code 4, 17, 32,
613 or 80000-80014; ``X-Business-Use-Case-Usage`` says how many minutes until access returns
(developers.facebook.com/docs/marketing-api/overview/rate-limiting). Tokens are long-lived
system-user tokens (no refresh).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import requests

from tracker.costs.adspend.http import AdsClient
from tracker.costs.adspend.rows import AccountInfo, SpendRow, to_decimal, to_int

API_URL = "https://graph.facebook.com"
API_VERSION = "v24.0"
PAGE_SIZE = 500
INSIGHT_FIELDS = (
    "campaign_id,campaign_name,adset_id,adset_name,ad_id,ad_name,spend,impressions,clicks"
)
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
# Wait when Meta throttles without saying for how long.
DEFAULT_THROTTLE_SECONDS = 60.0


def throttled(response: requests.Response) -> float | None:
    """Seconds to wait when ``response`` is Meta's throttling answer, else None."""
    if response.status_code not in {400, 403}:
        return None
    try:
        code = (response.json().get("error") or {}).get("code")
    except (ValueError, AttributeError):
        return None
    if code not in THROTTLE_CODES:
        return None
    minutes = 0
    try:
        usage = json.loads(response.headers.get("X-Business-Use-Case-Usage") or "{}")
        for entries in usage.values():
            for entry in entries:
                minutes = max(minutes, int(entry.get("estimated_time_to_regain_access") or 0))
    except (ValueError, TypeError, AttributeError):
        minutes = 0
    return minutes * 60.0 if minutes else DEFAULT_THROTTLE_SECONDS


class MetaInsightsSource:
    platform = "meta"
    chunk_days = 7

    def __init__(self, client: AdsClient, account_id: str, version: str = API_VERSION) -> None:
        self.client = client
        self.account_id = account_id.removeprefix("act_")
        self.version = version

    def account(self) -> AccountInfo:
        found = self.client.json(
            "GET", f"/{self.version}/act_{self.account_id}",
            params={"fields": "name,currency,timezone_name"})
        return AccountInfo(str(found.get("name") or ""), found.get("currency"),
                           found.get("timezone_name"))

    def fetch(self, start: dt.date, end: dt.date) -> list[SpendRow]:
        params: dict[str, str | int] | None = {
            "level": "ad",
            "time_increment": 1,
            "time_range": json.dumps({"since": start.isoformat(), "until": end.isoformat()}),
            "fields": INSIGHT_FIELDS,
            "limit": PAGE_SIZE,
        }
        path = f"/{self.version}/act_{self.account_id}/insights"
        rows: list[SpendRow] = []
        while path:
            page = self.client.json("GET", path, params=params)
            rows.extend(_row(found) for found in page.get("data") or [])
            # ``next`` repeats every parameter; it is absent on the last page.
            path = ((page.get("paging") or {}).get("next")) or ""
            params = None
        return rows


def _row(found: dict[str, Any]) -> SpendRow:
    return SpendRow(
        day=dt.date.fromisoformat(found["date_start"]),
        campaign_id=str(found.get("campaign_id", "")),
        campaign=str(found.get("campaign_name", "")),
        cost=to_decimal(found.get("spend")),
        impressions=to_int(found.get("impressions")),
        clicks=to_int(found.get("clicks")),
        group_id=str(found.get("adset_id", "")),
        group=str(found.get("adset_name", "")),
        item_id=str(found.get("ad_id", "")),
        item=str(found.get("ad_name", "")),
    )
