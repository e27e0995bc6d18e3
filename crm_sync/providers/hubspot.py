"""HubSpot webhooks: request signature v3 and batched ``deal.*`` events.

Signature v3 (developers.hubspot.com/docs/api/webhooks/validating-requests, and
``hubspot/utils/signature.py`` in HubSpot/hubspot-api-python): Base64 of HMAC-SHA256, keyed
with the app's client secret, over ``method + uri + body + timestamp``, where ``uri`` is the
full URL HubSpot called with a fixed set of percent-escapes decoded, and the timestamp
(``X-HubSpot-Request-Timestamp``, ms) must be within 5 minutes. Each delivery is a JSON
array of up to 100 events in no particular order. Standard library only.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from crm_sync.errors import PayloadInvalid, SignatureInvalid, SignatureReason
from crm_sync.events import MAX_EVENT_ID_LENGTH, DealEvent
from crm_sync.providers import TOLERANCE_SECONDS, same_secret
from crm_sync.stages import status_for_stage
from crm_sync.values import (
    amount,
    as_object,
    currency,
    epoch,
    identifier,
    iso_datetime,
    join,
    load_json,
    optional_identifier,
    text,
)

PROVIDER = "hubspot"
SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_EVENTS = 1000
# The deal property a site can fill with the LeadTrail lead id we pushed to the contact.
LEAD_ID_PROPERTY = "leadtrail_lead_id"

# HubSpot decodes exactly these escapes in the URI before signing, case-insensitively.
_DECODED = {
    "3A": ":",
    "2F": "/",
    "3F": "?",
    "40": "@",
    "21": "!",
    "24": "$",
    "27": "'",
    "28": "(",
    "29": ")",
    "2A": "*",
    "2C": ",",
    "3B": ";",
}
_ESCAPE = re.compile("%(" + "|".join(_DECODED) + ")", re.IGNORECASE)


def signed_uri(uri: str) -> str:
    """``uri`` as HubSpot signs it: only the escapes in its fixed list decoded."""
    return _ESCAPE.sub(lambda match: _DECODED[match.group(1).upper()], uri)


def sign(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The ``X-HubSpot-Signature-v3`` value HubSpot would send (for tests and replays)."""
    message = method.upper().encode() + signed_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(
    *,
    secrets: Sequence[str],
    method: str,
    uri: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: dt.datetime,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> None:
    """Check a delivery's v3 signature against any of ``secrets`` (client secrets, several
    while one is rotated). ``uri`` is the full public URL HubSpot called, query included;
    rebuild it from the forwarded headers when behind a proxy.

    Raises :class:`SignatureInvalid`: ``missing_signature`` (either header absent),
    ``malformed`` (timestamp not an integer), ``bad_signature`` (no secret matches),
    ``stale_timestamp`` (more than ``tolerance_seconds`` from ``now``, either way).
    """
    if not signature:
        raise SignatureInvalid(SignatureReason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} header")
    if not timestamp:
        raise SignatureInvalid(SignatureReason.MISSING_SIGNATURE, f"no {TIMESTAMP_HEADER} header")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
        raise SignatureInvalid(SignatureReason.MALFORMED, f"{TIMESTAMP_HEADER} is not a number")
    matches = [
        same_secret(
            signature.strip(),
            sign(secret=secret, method=method, uri=uri, body=body, timestamp=timestamp),
        )
        for secret in secrets
    ]
    if not any(matches):
        raise SignatureInvalid(SignatureReason.BAD_SIGNATURE, "no configured secret matches")
    age_ms = now.timestamp() * 1000 - int(timestamp)
    if abs(age_ms) > tolerance_seconds * 1000:
        raise SignatureInvalid(
            SignatureReason.STALE_TIMESTAMP, f"timestamp {age_ms / 1000:.0f} s away from now"
        )


def parse(
    body: bytes,
    *,
    stage_map: Mapping[str, str] | None = None,
    portal_id: int | None = None,
) -> list[DealEvent]:
    """The deal events of one delivery. Events about other objects (contacts, companies),
    and property changes of properties we do not track, are skipped: HubSpot retries any
    4xx, so what we ignore must still be acknowledged.

    ``portal_id``, when the site set it, must match every event's ``portalId``
    (:class:`SignatureInvalid` ``wrong_org`` otherwise). Raises :class:`PayloadInvalid` for a
    body that is not an array of HubSpot events.
    """
    document = load_json(body)
    if not isinstance(document, list):
        raise PayloadInvalid("body", "expected a JSON array of HubSpot events")
    if len(document) > MAX_EVENTS:
        raise PayloadInvalid("body", f"more than {MAX_EVENTS} events")
    events: list[DealEvent] = []
    for index, raw in enumerate(document):
        item = as_object(raw, str(index))
        if portal_id is not None and item.get("portalId") not in (portal_id, str(portal_id)):
            raise SignatureInvalid(
                SignatureReason.WRONG_ORG, f"event {index} is for another HubSpot portal"
            )
        event = _parse_event(item, str(index), stage_map)
        if event is not None:
            events.append(event)
    return events


def _parse_event(
    item: Mapping[str, object], prefix: str, stage_map: Mapping[str, str] | None
) -> DealEvent | None:
    kind_field = "subscriptionType" if "subscriptionType" in item else "eventType"
    kind = item.get(kind_field)
    if not isinstance(kind, str):
        raise PayloadInvalid(join(prefix, "subscriptionType"), "expected a string")
    if not kind.startswith("deal."):
        return None
    deal_id = identifier(item.get("objectId"), join(prefix, "objectId"))
    occurred_at = epoch(item.get("occurredAt"), join(prefix, "occurredAt"), milliseconds=True)
    event_id = identifier(item.get("eventId"), join(prefix, "eventId"))
    property_name = item.get("propertyName")
    # HubSpot says eventId alone is not guaranteed unique, so the event's key adds what the
    # event is about (their suggested dedupe key, minus the subscription).
    parts = [event_id, deal_id, str(item.get("occurredAt"))]
    if isinstance(property_name, str):
        parts.append(property_name)
    key = ":".join(parts)[:MAX_EVENT_ID_LENGTH]
    base = DealEvent(PROVIDER, deal_id, key, occurred_at)
    if kind == "deal.creation":
        return replace(base, fields=frozenset({"created_at"}), created_at=occurred_at)
    if kind == "deal.deletion":
        return replace(base, fields=frozenset({"deleted"}), deleted=True)
    if kind == "deal.restore":
        return replace(base, fields=frozenset({"deleted"}), deleted=False)
    if kind != "deal.propertyChange":
        return None
    if not isinstance(property_name, str):
        raise PayloadInvalid(join(prefix, "propertyName"), "expected a string")
    return _property_change(base, property_name, item.get("propertyValue"), prefix, stage_map)


def _property_change(
    base: DealEvent,
    name: str,
    value: object,
    prefix: str,
    stage_map: Mapping[str, str] | None,
) -> DealEvent | None:
    """The event for one changed property: it carries that field only (and, for a stage,
    the status the stage implies when a stage map knows it)."""
    field = join(prefix, "propertyValue")
    if value is not None and not isinstance(value, str | int | Decimal):
        raise PayloadInvalid(field, "expected a string")
    if name == "dealstage":
        stage = text(value, field)
        status = status_for_stage(PROVIDER, stage, stage_map)
        if status is None:
            return replace(base, fields=frozenset({"stage"}), stage=stage)
        return replace(base, fields=frozenset({"stage", "status"}), stage=stage, status=status)
    if name == "amount":
        return replace(base, fields=frozenset({"amount"}), amount=amount(value, field))
    if name == "closedate":
        return replace(base, fields=frozenset({"closed_at"}), closed_at=_hubspot_time(value, field))
    if name == "createdate":
        return replace(
            base, fields=frozenset({"created_at"}), created_at=_hubspot_time(value, field)
        )
    if name == "hubspot_owner_id":
        return replace(base, fields=frozenset({"owner"}), owner=text(value, field))
    if name == "dealname":
        return replace(base, fields=frozenset({"name"}), name=text(value, field))
    if name == "deal_currency_code":
        return replace(base, fields=frozenset({"currency"}), currency=currency(value, field))
    if name == LEAD_ID_PROPERTY:
        return replace(base, lead_id=optional_identifier(value, field))
    return None


def _hubspot_time(value: object, field: str) -> dt.datetime | None:
    """HubSpot date properties arrive as ms-epoch strings; ISO-8601 is accepted too."""
    if value is None or value == "":
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return epoch(value, field, milliseconds=True)
    return iso_datetime(value, field)
