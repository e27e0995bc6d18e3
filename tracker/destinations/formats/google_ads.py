"""Google Ads offline conversions (developers.google.com/google-ads/api/docs/conversions/
upload-offline, .../upload-adjustments, .../enhanced-conversions/leads), REST JSON with
lowerCamelCase names.

``POST /<version>/customers/<id>:uploadClickConversions``: each conversion carries exactly one
of ``gclid``, ``gbraid``, ``wbraid`` (our lead's original click; gclid preferred), or, with no
click, hashed ``userIdentifiers`` (enhanced conversions for leads). The conversion must come
after the click and inside the action's click-through window. ``partialFailure: true`` is
required: rows fail one by one in ``partialFailureError``, addressed by
``conversions[<index>]``. Restatements and retractions go to ``:uploadConversionAdjustments``
by ``orderId``. ``validateOnly`` checks without recording."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.destinations.formats import hashing
from tracker.destinations.formats.conversion import (
    NO_CONSENT,
    Conversion,
    Prepared,
    Request,
    chunks,
)

API_VERSION = "v25"
MAX_ROWS = 2000
CLICK_KINDS = ("gclid", "gbraid", "wbraid")
DEFAULT_WINDOW_DAYS = 90
# How a partial failure names the row list: the proto's snake_case field name (REST answers
# keep it), or the camelCase JSON one.
ROW_FIELDS = frozenset({"conversions", "conversion_adjustments", "conversionAdjustments"})


def action_resource(customer_id: str, name: str) -> str:
    """The conversion action's resource name; a bare id is completed with the customer."""
    return name if name.startswith("customers/") else (
        f"customers/{customer_id}/conversionActions/{name}")


def date_time(moment: dt.datetime) -> str:
    """``yyyy-mm-dd hh:mm:ss+00:00``, the only form Google Ads accepts."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def customer(settings: Mapping[str, Any]) -> str:
    return str(settings["customer_id"]).replace("-", "")


def _identifiers(conversion: Conversion) -> list[dict[str, str]]:
    found = []
    if conversion.email:
        found.append({"hashedEmail": hashing.google_hashed_email(conversion.email)})
    if conversion.phone and (phone := hashing.google_hashed_phone(conversion.phone)):
        found.append({"hashedPhoneNumber": phone})
    return found


def _click_row(conversion: Conversion, cid: str, window: dt.timedelta
               ) -> tuple[dict[str, Any] | None, str | None]:
    row: dict[str, Any] = {
        "conversionAction": action_resource(cid, conversion.name),
        "conversionDateTime": date_time(conversion.occurred_at),
        "orderId": conversion.transaction_id,
    }
    click = conversion.click(*CLICK_KINDS)
    if click is not None:
        if conversion.occurred_at < click.seen_at:
            return None, f"the conversion precedes the {click.kind} click"
        if conversion.occurred_at - click.seen_at > window:
            return None, f"the {click.kind} click is outside the action's click-through window"
        row[{"gclid": "gclid", "gbraid": "gbraid", "wbraid": "wbraid"}[click.kind]] = click.value
    identifiers = _identifiers(conversion)
    if identifiers:
        row["userIdentifiers"] = identifiers
    if click is None and not identifiers:
        return None, "no gclid, gbraid, wbraid or email to match"
    if conversion.value is not None:
        row["conversionValue"] = float(conversion.value)
        row["currencyCode"] = conversion.currency
    if conversion.consent is not None:
        granted = "GRANTED" if conversion.consent else "DENIED"
        row["consent"] = {"adUserData": granted}
    return row, None


def _adjustment(conversion: Conversion, cid: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "conversionAction": action_resource(cid, conversion.name),
        "adjustmentType": "RETRACTION" if conversion.kind == "retraction" else "RESTATEMENT",
        "adjustmentDateTime": date_time(conversion.occurred_at),
        "orderId": conversion.transaction_id,
    }
    if conversion.kind == "restatement" and conversion.value is not None:
        row["restatementValue"] = {"adjustedValue": float(conversion.value),
                                   "currencyCode": conversion.currency}
    return row


def prepare(conversions: Sequence[Conversion], settings: Mapping[str, Any],
            credentials: Mapping[str, str], now: dt.datetime) -> Prepared:
    cid = customer(settings)
    version = settings.get("api_version") or API_VERSION
    window = dt.timedelta(days=int(settings.get("click_window_days") or DEFAULT_WINDOW_DAYS))
    validate = bool(settings.get("validate"))
    refused: dict[str, str] = {}
    uploads: list[tuple[str, dict[str, Any]]] = []
    adjustments: list[tuple[str, dict[str, Any]]] = []
    for conversion in conversions:
        if conversion.consent is False:
            refused[conversion.key] = NO_CONSENT
        elif conversion.kind == "conversion":
            row, reason = _click_row(conversion, cid, window)
            if row is None:
                refused[conversion.key] = reason or "refused"
            else:
                uploads.append((conversion.key, row))
        else:
            adjustments.append((conversion.key, _adjustment(conversion, cid)))
    requests = []
    for name, field, rows in (("uploadClickConversions", "conversions", uploads),
                              ("uploadConversionAdjustments", "conversionAdjustments",
                               adjustments)):
        for chunk in chunks(rows, MAX_ROWS):
            body = {field: [row for _, row in chunk], "partialFailure": True,
                    "validateOnly": validate}
            requests.append(Request(f"/{version}/customers/{cid}:{name}", body,
                                    tuple(key for key, _ in chunk)))
    return Prepared(tuple(requests), refused)


def read_answer(request: Request, document: Mapping[str, Any]) -> dict[str, str | None]:
    """Per row: ``None`` when accepted, else the message of its ``partialFailureError``
    detail (addressed by the ``conversions`` / ``conversionAdjustments`` index)."""
    outcome: dict[str, str | None] = {key: None for key in request.keys}
    failure = document.get("partialFailureError") or {}
    unplaced = []
    for detail in failure.get("details") or []:
        for error in detail.get("errors") or []:
            message = str(error.get("message") or failure.get("message") or "rejected")
            code = error.get("errorCode") or {}
            if code:
                message += " (" + ", ".join(f"{k}={v}" for k, v in code.items()) + ")"
            elements = (error.get("location") or {}).get("fieldPathElements") or []
            index = next((e.get("index") for e in elements
                          if e.get("fieldName") in ROW_FIELDS),
                         None)
            if isinstance(index, int) and 0 <= index < len(request.keys):
                outcome[request.keys[index]] = message
            else:
                unplaced.append(message)
    if failure and not failure.get("details"):
        unplaced.append(str(failure.get("message") or "partial failure"))
    if unplaced:
        for key in request.keys:
            outcome[key] = outcome[key] or "; ".join(unplaced)
    return outcome
