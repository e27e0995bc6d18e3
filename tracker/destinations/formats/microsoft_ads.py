"""Microsoft Advertising offline conversions (learn.microsoft.com/advertising/
campaign-management-service/applyofflineconversions), Campaign Management v13 REST JSON:
``POST /CampaignManagement/v13/OfflineConversions/Apply`` with ``OfflineConversions`` (each a
``MicrosoftClickId``, ``ConversionName`` = the offline conversion goal's name, ``ConversionTime``,
``ConversionValue``, ``ConversionCurrencyCode``) and ``.../OfflineConversionAdjustments/Apply``
(``AdjustmentType`` Restate or Retract, keyed by click id + name + original time). Microsoft
ignores a second conversion with the same click id and time, which makes retries safe. Row
errors come back in ``PartialErrors`` by ``Index``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.destinations.formats.conversion import (
    NO_CONSENT,
    Conversion,
    Prepared,
    Request,
    chunks,
)

MAX_ROWS = 1000
WINDOW = dt.timedelta(days=90)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def prepare(conversions: Sequence[Conversion], settings: Mapping[str, Any],
            credentials: Mapping[str, str], now: dt.datetime) -> Prepared:
    refused: dict[str, str] = {}
    uploads: list[tuple[str, dict[str, Any]]] = []
    adjustments: list[tuple[str, dict[str, Any]]] = []
    for conversion in conversions:
        click = conversion.click("msclkid")
        if click is None:
            refused[conversion.key] = "no msclkid click for this lead"
            continue
        if conversion.consent is False:
            refused[conversion.key] = NO_CONSENT
            continue
        if conversion.kind == "conversion":
            if conversion.occurred_at < click.seen_at:
                refused[conversion.key] = "the conversion precedes the msclkid click"
                continue
            if conversion.occurred_at - click.seen_at > WINDOW:
                refused[conversion.key] = "the msclkid click is older than 90 days"
                continue
            row: dict[str, Any] = {"MicrosoftClickId": click.value,
                                   "ConversionName": conversion.name,
                                   "ConversionTime": iso(conversion.occurred_at)}
            if conversion.value is not None:
                row.update(ConversionValue=float(conversion.value),
                           ConversionCurrencyCode=conversion.currency)
            uploads.append((conversion.key, row))
            continue
        original = conversion.original_at
        if original is None:
            refused[conversion.key] = "the original conversion's time is unknown"
            continue
        row = {"MicrosoftClickId": click.value, "ConversionName": conversion.name,
               "ConversionTime": iso(original), "AdjustmentTime": iso(conversion.occurred_at),
               "AdjustmentType": "Retract" if conversion.kind == "retraction" else "Restate"}
        if conversion.kind == "restatement" and conversion.value is not None:
            row.update(AdjustmentValue=float(conversion.value),
                       AdjustmentCurrencyCode=conversion.currency)
        adjustments.append((conversion.key, row))
    requests = []
    for path, field, rows in (
        ("/CampaignManagement/v13/OfflineConversions/Apply", "OfflineConversions", uploads),
        ("/CampaignManagement/v13/OfflineConversionAdjustments/Apply",
         "OfflineConversionAdjustments", adjustments),
    ):
        for chunk in chunks(rows, MAX_ROWS):
            requests.append(Request(path, {field: [row for _, row in chunk]},
                                    tuple(key for key, _ in chunk)))
    return Prepared(tuple(requests), refused)


def read_answer(request: Request, document: Mapping[str, Any]) -> dict[str, str | None]:
    outcome: dict[str, str | None] = {key: None for key in request.keys}
    for error in document.get("PartialErrors") or []:
        index = error.get("Index")
        if isinstance(index, int) and 0 <= index < len(request.keys):
            outcome[request.keys[index]] = (
                f"{error.get('Message') or 'rejected'} ({error.get('ErrorCode', '')})")
    return outcome
