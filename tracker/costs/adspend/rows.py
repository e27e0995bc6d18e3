"""What every platform connector gives back, whatever its API: the account's own facts and
daily rows at the deepest level it reports (keyword, ad or creative), in account currency."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

ZERO = decimal.Decimal(0)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    name: str
    currency: str | None
    timezone: str | None


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One day of one campaign / group / item: ``group`` is the ad group (Google, Microsoft),
    ad set (Meta) or campaign group (LinkedIn); ``item`` the keyword text (Google, Microsoft)
    or the ad / creative name. ``cost`` is in the account's currency."""

    day: dt.date
    campaign_id: str
    campaign: str
    cost: decimal.Decimal
    impressions: int = 0
    clicks: int = 0
    group_id: str = ""
    group: str = ""
    item_id: str = ""
    item: str = ""


class SpendSource(Protocol):
    """A platform connector for one account."""

    platform: str
    # Days per request: the platforms time out or cap rows on long ranges.
    chunk_days: int

    def account(self) -> AccountInfo: ...

    def fetch(self, start: dt.date, end: dt.date) -> list[SpendRow]:
        """Every row of the days ``start`` to ``end`` (inclusive)."""
        ...


def with_remainders(campaigns: Iterable[SpendRow], details: Iterable[SpendRow]) -> list[SpendRow]:
    """``details`` (keyword rows) plus, per day and campaign, what the campaign's totals hold
    beyond its keywords (display, Performance Max, shopping: spend with no keyword) as a row
    with no item, so that the rows add up to the account's spend."""
    found = list(details)
    covered: dict[tuple[dt.date, str], list[decimal.Decimal | int]] = {}
    for row in found:
        sums = covered.setdefault((row.day, row.campaign_id), [ZERO, 0, 0])
        sums[0] += row.cost
        sums[1] += row.impressions
        sums[2] += row.clicks
    for total in campaigns:
        cost, impressions, clicks = covered.get((total.day, total.campaign_id), [ZERO, 0, 0])
        rest = total.cost - decimal.Decimal(cost)
        rest_impressions = max(total.impressions - int(impressions), 0)
        rest_clicks = max(total.clicks - int(clicks), 0)
        # A campaign without keyword rows keeps its day even at zero: known, not missing.
        no_details = (total.day, total.campaign_id) not in covered
        if rest > 0 or rest_impressions or rest_clicks or no_details:
            found.append(SpendRow(total.day, total.campaign_id, total.campaign,
                                  max(rest, ZERO), rest_impressions, rest_clicks))
    return found


def to_int(value: object) -> int:
    """An API's count (int64 values come as strings in JSON); absent is 0."""
    if value is None or value == "":
        return 0
    return int(str(value).replace(",", ""))


def to_decimal(value: object) -> decimal.Decimal:
    if value is None or value == "":
        return ZERO
    try:
        return decimal.Decimal(str(value).replace(",", ""))
    except decimal.InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
