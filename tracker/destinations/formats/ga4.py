"""GA4 Measurement Protocol (developers.google.com/analytics/devguides/collection/protocol/
ga4/sending-events): ``POST /mp/collect?measurement_id&api_secret``, one ``client_id`` per
request, at most 25 events, each backdated at most 72 hours (``timestamp_micros`` per event).
Revenue is ``purchase`` with ``transaction_id``; a retracted deal is a ``refund`` of it.
``/mp/collect`` answers 2xx even to malformed events: validation mode posts to
``/debug/mp/collect``, which answers ``validationMessages``."""

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

MAX_EVENTS = 25
MAX_AGE = dt.timedelta(hours=72)
COLLECT, DEBUG = "/mp/collect", "/debug/mp/collect"


def client_id_from_ga_cookie(cookie: str) -> str | None:
    """The client id of a ``_ga`` cookie: ``GA1.1.<random>.<timestamp>`` → ``<random>.<ts>``."""
    parts = cookie.strip().split(".")
    if len(parts) < 4 or not parts[0].startswith("GA") or not all(
            p.isdigit() for p in parts[-2:]):
        return None
    return f"{parts[-2]}.{parts[-1]}"


def _event(conversion: Conversion) -> dict[str, Any]:
    params: dict[str, Any] = {"engagement_time_msec": 1}
    name = "refund" if conversion.kind == "retraction" else conversion.name
    if conversion.milestone == "won":
        params["transaction_id"] = conversion.transaction_id
    if conversion.value is not None:
        params["value"] = float(conversion.value)
        params["currency"] = conversion.currency
    micros = int(conversion.occurred_at.timestamp()) * 1_000_000
    return {"name": name, "params": params, "timestamp_micros": micros}


def prepare(conversions: Sequence[Conversion], settings: Mapping[str, Any],
            credentials: Mapping[str, str], now: dt.datetime) -> Prepared:
    refused: dict[str, str] = {}
    by_client: dict[str, list[Conversion]] = {}
    for conversion in conversions:
        if conversion.kind == "restatement":
            refused[conversion.key] = "GA4 cannot restate a value (only refund it)"
        elif conversion.occurred_at < now - MAX_AGE:
            refused[conversion.key] = "older than GA4's 72 h backdating limit"
        elif not conversion.ga_client_id:
            refused[conversion.key] = "no GA4 client_id (no _ga cookie seen for this lead)"
        elif conversion.consent is False:
            refused[conversion.key] = NO_CONSENT
        else:
            by_client.setdefault(conversion.ga_client_id, []).append(conversion)
    params = {"measurement_id": str(settings["measurement_id"]),
              "api_secret": credentials.get("api_secret", "")}
    path = DEBUG if settings.get("validate") else COLLECT
    requests = []
    for client_id, found in by_client.items():
        for chunk in chunks(found, MAX_EVENTS):
            body: dict[str, Any] = {"client_id": client_id,
                                    "events": [_event(c) for c in chunk]}
            if any(c.consent for c in chunk):
                body["consent"] = {"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"}
            requests.append(Request(path, body, tuple(c.key for c in chunk), params))
    return Prepared(tuple(requests), refused)


def read_answer(request: Request, document: Mapping[str, Any]) -> dict[str, str | None]:
    """Per conversion: ``None`` when accepted, else the reason. Only the debug endpoint
    says anything; its messages concern the whole request."""
    messages = document.get("validationMessages") or []
    if not messages:
        return {key: None for key in request.keys}
    text = "; ".join(
        f"{m.get('fieldPath', '')}: {m.get('description', '')} ({m.get('validationCode', '')})"
        for m in messages if isinstance(m, Mapping))
    return {key: text for key in request.keys}
