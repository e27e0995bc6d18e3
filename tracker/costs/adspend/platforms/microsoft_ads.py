"""Microsoft Advertising Reporting API v13 (REST): a report is submitted
(``GenerateReport/Submit``), polled until ``Success`` (``GenerateReport/Poll``) and downloaded
as a zipped CSV from ``ReportDownloadUrl`` (absent when the range has no data).

Two daily reports per range, like Google's: ``CampaignPerformanceReportRequest`` (all spend)
and ``KeywordPerformanceReportRequest``; the rest of a campaign beyond its keywords becomes a
row without keyword. ``Spend`` is in the account's currency (``CurrencyCode`` column).
learn.microsoft.com/advertising/reporting-service/submitgeneratereport.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from crm_sync.errors import ApiError
from tracker.costs.adspend.http import AdsClient
from tracker.costs.adspend.rows import AccountInfo, SpendRow, to_decimal, to_int, with_remainders

API_URL = "https://reporting.api.bingads.microsoft.com"
TOKEN_URL = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
SCOPE = "https://ads.microsoft.com/msads.manage offline_access"
# Report files are served from Microsoft's storage hosts, not the API's.
DOWNLOAD_HOSTS = ("bingads.microsoft.com", "blob.core.windows.net")
# The reporting service's "today" when a request names no ReportTimeZone.
REPORT_TIME_ZONE = ZoneInfo("America/Los_Angeles")
POLL_SECONDS = 5.0
MAX_POLLS = 120
CAMPAIGN_COLUMNS = ["TimePeriod", "CampaignId", "CampaignName", "CurrencyCode",
                    "Impressions", "Clicks", "Spend"]
KEYWORD_COLUMNS = ["TimePeriod", "CampaignId", "CampaignName", "AdGroupId", "AdGroupName",
                   "KeywordId", "Keyword", "CurrencyCode", "Impressions", "Clicks", "Spend"]


def _date(value: dict[str, int] | None, day: dt.date) -> dict[str, int]:
    return {"Day": day.day, "Month": day.month, "Year": day.year}


def _parse_day(text: str) -> dt.date:
    text = text.strip()
    if "/" in text:  # M/D/YYYY in some report locales
        month, day, year = (int(part) for part in text.split("/"))
        return dt.date(year, month, day)
    return dt.date.fromisoformat(text)


class MicrosoftAdsSource:
    platform = "microsoft_ads"
    chunk_days = 31

    def __init__(
        self,
        client: AdsClient,
        account_id: str,
        customer_id: str,
        *,
        currency: str | None = None,
        timezone: str | None = None,
        sleep: Callable[[float], None],
        today: Callable[[], dt.date] = lambda: dt.datetime.now(REPORT_TIME_ZONE).date(),
    ) -> None:
        self.client = client
        self.account_id = account_id
        self.customer_id = customer_id
        self.client.headers.update({"CustomerAccountId": account_id, "CustomerId": customer_id})
        self.currency = currency
        self.timezone = timezone
        self.sleep = sleep
        self.today = today
        self.seen_currency: str | None = None

    def account(self) -> AccountInfo:
        # The reports say the currency in every row; the time zone is the account's own.
        return AccountInfo("", self.seen_currency or self.currency, self.timezone)

    def fetch(self, start: dt.date, end: dt.date) -> list[SpendRow]:
        # "The end date cannot be later than today's date", today being the report time
        # zone's, Pacific when none is given (ReportTime): an account east of it is ahead.
        end = min(end, self.today())
        if end < start:
            return []
        campaigns = [self._row(r) for r in self._report(
            "CampaignPerformanceReportRequest", CAMPAIGN_COLUMNS, start, end)]
        keywords = [self._row(r) for r in self._report(
            "KeywordPerformanceReportRequest", KEYWORD_COLUMNS, start, end)]
        return with_remainders(campaigns, keywords)

    def _report(self, kind: str, columns: list[str], start: dt.date, end: dt.date
                ) -> list[dict[str, str]]:
        request: dict[str, Any] = {
            "Type": kind,
            "ReportName": f"LeadTrail {kind} {start}..{end}",
            "Format": "Csv",
            "FormatVersion": "2.0",
            "ExcludeReportHeader": True,
            "ExcludeReportFooter": True,
            "ExcludeColumnHeaders": False,
            "ReturnOnlyCompleteData": False,
            "Aggregation": "Daily",
            "Columns": columns,
            "Scope": {"AccountIds": [int(self.account_id)]},
            "Time": {"CustomDateRangeStart": _date(None, start),
                     "CustomDateRangeEnd": _date(None, end)},
        }
        submitted = self.client.json("POST", "/Reporting/v13/GenerateReport/Submit",
                                     body={"ReportRequest": request})
        request_id = submitted.get("ReportRequestId")
        if not request_id:
            raise ApiError(None, "the report was not accepted (no ReportRequestId)",
                           retryable=False)
        for _ in range(MAX_POLLS):
            polled = self.client.json("POST", "/Reporting/v13/GenerateReport/Poll",
                                      body={"ReportRequestId": request_id})
            status = polled.get("ReportRequestStatus") or {}
            if status.get("Status") == "Success":
                url = status.get("ReportDownloadUrl")
                return self._read(self.client.download(url)) if url else []
            if status.get("Status") == "Error":
                raise ApiError(None, f"report {request_id} failed at Microsoft", retryable=True)
            self.sleep(POLL_SECONDS)
        raise ApiError(None, f"report {request_id} not ready after {MAX_POLLS} polls",
                       retryable=True)

    def _read(self, blob: bytes) -> list[dict[str, str]]:
        if blob[:2] == b"PK":
            with zipfile.ZipFile(io.BytesIO(blob)) as archive:
                blob = archive.read(archive.namelist()[0])
        text = blob.decode("utf-8-sig")
        return [row for row in csv.DictReader(io.StringIO(text)) if row.get("TimePeriod")]

    def _row(self, found: dict[str, str]) -> SpendRow:
        if found.get("CurrencyCode"):
            self.seen_currency = found["CurrencyCode"]
        return SpendRow(
            day=_parse_day(found["TimePeriod"]),
            campaign_id=found.get("CampaignId", ""),
            campaign=found.get("CampaignName", ""),
            cost=to_decimal(found.get("Spend")),
            impressions=to_int(found.get("Impressions")),
            clicks=to_int(found.get("Clicks")),
            group_id=found.get("AdGroupId", "") or "",
            group=found.get("AdGroupName", "") or "",
            item_id=found.get("KeywordId", "") or "",
            item=found.get("Keyword", "") or "",
        )
