"""Pulled rows into ``costs``: mapped, summed per day and grouping, converted to the site's
currency with the dated exchange rates (the original amount and currency kept), and stored
by *replacing* every row the account had on those days. A restated day therefore replaces
the day, never adds to it, and a campaign that vanished from a restated day vanishes here.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from tracker.costs.adspend.mapping import SpendMapping, cost_key
from tracker.costs.adspend.rows import ZERO, SpendRow
from tracker.costs.service import MAX_ABS_NUMBER, load_exchange_rates, rate_on
from tracker.errors import ValidationError
from tracker.models import Cost
from tracker.rules.channels import ChannelRule

_CENTS = decimal.Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class StoredDays:
    rows: int
    total_site_currency: decimal.Decimal


def origin_of(platform: str, account_id: str) -> str:
    """The ``costs.origin`` of an account's rows."""
    return f"{platform}:{account_id}"


def replace_days(
    session: Session,
    site_id: int,
    origin: str,
    start: dt.date,
    end: dt.date,
    rows: Sequence[SpendRow],
    *,
    account_currency: str | None,
    site_currency: str,
    mapping: SpendMapping,
    rules: Sequence[ChannelRule],
    now: dt.datetime,
) -> StoredDays:
    """Replace ``origin``'s costs of ``start``..``end`` with ``rows`` (in the caller's
    transaction). Raises :class:`ValidationError` naming ``currency`` when a day has no
    exchange rate; nothing is written then."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        if not start <= row.day <= end:
            continue  # a platform answering outside the range asked: not ours to replace
        channel, source, medium, campaign, keyword = cost_key(row, mapping, rules)
        key = (row.day, channel, source, medium, campaign, keyword)
        entry = merged.setdefault(key, {
            "site_id": site_id, "id": uuid.uuid4(), "origin": origin, "day": row.day,
            "channel": channel, "source": source, "medium": medium, "campaign": campaign,
            "keyword": keyword, "amount": ZERO, "impressions": 0, "clicks": 0,
        })
        entry["amount"] += row.cost
        entry["impressions"] += row.impressions
        entry["clicks"] += row.clicks
    currency = (account_currency or site_currency).upper()
    rates = load_exchange_rates(session, site_id) if currency != site_currency else {}
    for entry in merged.values():
        rate = decimal.Decimal(1)
        if currency != site_currency:
            found = rate_on(rates.get(currency, []), entry["day"])
            if found is None:
                raise ValidationError(
                    f"no exchange rate from {currency} to {site_currency} on {entry['day']}; "
                    f"add one with `leadtrail costs rate --currency {currency}`",
                    field="currency",
                )
            rate = found
        entry["amount"] = entry["amount"].quantize(_CENTS)
        entry["amount_site"] = (entry["amount"] * rate).quantize(_CENTS)
        if max(abs(entry["amount"]), abs(entry["amount_site"])) >= MAX_ABS_NUMBER:
            raise ValidationError(f"a day's spend reaches {MAX_ABS_NUMBER:,}", field="amount")
        entry.update(currency=currency, imported_at=now, import_name=None)
    session.execute(
        delete(Cost).where(Cost.site_id == site_id, Cost.origin == origin,
                           Cost.day >= start, Cost.day <= end)
    )
    values = list(merged.values())
    if values:
        session.execute(insert(Cost), values)
    return StoredDays(len(values), sum((v["amount_site"] for v in values), ZERO))
