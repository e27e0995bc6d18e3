"""Meta Conversions API (developers.facebook.com/docs/marketing-api/conversions-api):
``POST /<version>/<pixel id>/events`` with ``{"data": [...], "test_event_code"?}``. Events
from the CRM are ``action_source: system_generated``; ``event_id`` is our idempotency key
(Meta deduplicates on ``event_name`` + ``event_id``); ``event_time`` in Unix seconds. One event
older than 7 days makes Meta reject the whole request, so stale ones are refused here and the
rest sent."""

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

API_VERSION = "v24.0"
MAX_EVENTS = 1000
MAX_AGE = dt.timedelta(days=7)


def fbc_from_click(fbclid: str, clicked_at: dt.datetime) -> str:
    """``fb.1.<click time in ms>.<fbclid>`` (Meta's fbc format, subdomain index 1)."""
    return f"fb.1.{int(clicked_at.timestamp() * 1000)}.{fbclid}"


def user_data(conversion: Conversion) -> dict[str, Any]:
    data: dict[str, Any] = {"external_id": [hashing.sha256_hex(conversion.lead_id)]}
    if conversion.email:
        data["em"] = [hashing.meta_email(conversion.email)]
    if conversion.phone and (phone := hashing.meta_phone(conversion.phone)):
        data["ph"] = [phone]
    fbclick = conversion.click("fbclid")
    fbc = conversion.fbc or (fbc_from_click(fbclick.value, fbclick.seen_at) if fbclick else None)
    if fbc:
        data["fbc"] = fbc
    if conversion.fbp:
        data["fbp"] = conversion.fbp
    return data


def _event(conversion: Conversion) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": conversion.name,
        "event_time": int(conversion.occurred_at.timestamp()),
        "action_source": "system_generated",
        "event_id": conversion.key,
        "user_data": user_data(conversion),
    }
    custom: dict[str, Any] = {}
    if conversion.value is not None:
        custom.update(value=float(conversion.value), currency=conversion.currency)
    if conversion.milestone == "won":
        custom["order_id"] = conversion.transaction_id
    if custom:
        event["custom_data"] = custom
    return event


def prepare(conversions: Sequence[Conversion], settings: Mapping[str, Any],
            credentials: Mapping[str, str], now: dt.datetime) -> Prepared:
    refused: dict[str, str] = {}
    fresh = []
    for conversion in conversions:
        refusal = new_conversion_refusal(
            conversion, now, MAX_AGE, too_old="older than Meta's 7-day event age",
            no_adjustment="Meta has no adjustment of a sent event")
        if refusal is not None:
            refused[conversion.key] = refusal
        else:
            fresh.append(conversion)
    version = settings.get("api_version") or API_VERSION
    path = f"/{version}/{settings['pixel_id']}/events"
    requests = []
    for chunk in chunks(fresh, MAX_EVENTS):
        body: dict[str, Any] = {"data": [_event(c) for c in chunk]}
        if settings.get("test_event_code"):
            body["test_event_code"] = settings["test_event_code"]
        requests.append(Request(path, body, tuple(c.key for c in chunk)))
    return Prepared(tuple(requests), refused)


def read_answer(request: Request, document: Mapping[str, Any]) -> dict[str, str | None]:
    """A 2xx accepts the whole batch (``events_received``)."""
    received = document.get("events_received")
    if isinstance(received, int) and received < len(request.keys):
        reason = f"Meta received {received} of {len(request.keys)} events"
        return {key: reason for key in request.keys}
    return {key: None for key in request.keys}
