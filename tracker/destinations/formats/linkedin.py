"""LinkedIn Conversions API (learn.microsoft.com/linkedin/marketing/integrations/
ads-reporting/conversions-api): ``POST /rest/conversionEvents`` with ``X-RestLi-Method:
BATCH_CREATE`` and ``{"elements": [...]}``; each names its conversion rule
(``urn:lla:llaPartnerConversion:<id>``), ``conversionHappenedAt`` in epoch milliseconds,
``eventId`` (deduplication), and ``user.userIds`` (always present): ``SHA256_EMAIL`` and/or the
``li_fat_id`` click as ``LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID``. Events older than 90 days are
rejected. LinkedIn has no adjustments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.destinations.formats import hashing
from tracker.destinations.formats.conversion import (
    Conversion,
    Prepared,
    Request,
    chunks,
    new_conversion_refusal,
)

API_VERSION = "202607"
MAX_ROWS = 5000
MAX_AGE = dt.timedelta(days=90)
PATH = "/rest/conversionEvents"


def rule_urn(name: str) -> str:
    return name if name.startswith("urn:") else f"urn:lla:llaPartnerConversion:{name}"


def _element(conversion: Conversion) -> dict[str, Any] | None:
    ids = []
    if conversion.email:
        ids.append({"idType": "SHA256_EMAIL", "idValue": hashing.linkedin_email(
            conversion.email)})
    click = conversion.click("li_fat_id")
    if click is not None:
        ids.append({"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": click.value})
    if not ids:
        return None
    element: dict[str, Any] = {
        "conversion": rule_urn(conversion.name),
        "conversionHappenedAt": int(conversion.occurred_at.timestamp() * 1000),
        "user": {"userIds": ids},
        "eventId": conversion.key,
    }
    if conversion.value is not None:
        element["conversionValue"] = {"currencyCode": conversion.currency,
                                      "amount": str(float(conversion.value))}
    return element


def prepare(conversions: Sequence[Conversion], settings: Mapping[str, Any],
            credentials: Mapping[str, str], now: dt.datetime) -> Prepared:
    refused: dict[str, str] = {}
    rows: list[tuple[str, dict[str, Any]]] = []
    for conversion in conversions:
        element = _element(conversion)
        refusal = new_conversion_refusal(
            conversion, now, MAX_AGE, too_old="older than LinkedIn's 90-day limit",
            no_adjustment="LinkedIn has no adjustment of a sent conversion")
        if refusal is not None:
            refused[conversion.key] = refusal
        elif element is None:
            refused[conversion.key] = "no li_fat_id click or email to match"
        else:
            rows.append((conversion.key, element))
    requests = [Request(PATH, {"elements": [row for _, row in chunk]},
                        tuple(key for key, _ in chunk))
                for chunk in chunks(rows, MAX_ROWS)]
    return Prepared(tuple(requests), refused)


def read_answer(request: Request, document: Mapping[str, Any]) -> dict[str, str | None]:
    outcome: dict[str, str | None] = {key: None for key in request.keys}
    for key, element in zip(request.keys, document.get("elements") or [], strict=False):
        status = element.get("status") if isinstance(element, Mapping) else None
        if isinstance(status, int) and status >= 400:
            outcome[key] = str((element.get("error") or {}).get("message")
                               or f"HTTP {status}")
    return outcome
