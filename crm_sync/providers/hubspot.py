"""HubSpot webhooks: request signature v3 and batched ``deal.*`` events.

Signature v3 (developers.hubspot.com/docs/api/webhooks/validating-requests, and
``hubspot/utils/signature.py`` in HubSpot/hubspot-api-python): Base64 of HMAC-SHA256, keyed
with the app's client secret, over ``method + uri + body + timestamp``, where ``uri`` is the
full URL HubSpot called with a fixed set of percent-escapes decoded, and the timestamp
(``X-HubSpot-Request-Timestamp``, ms) must be within 5 minutes. Each delivery is a JSON
array of up to 100 events in no particular order.

The CRM API (``Authorization: Bearer <private app token>``): :class:`DealSearch` pulls deals
by ``hs_lastmodifieddate`` through ``POST /crm/v3/objects/deals/search`` with their contacts'
emails (v4 association batch read, then a contact batch read), and :func:`upsert_contact`
writes a lead onto its contact. Imports the standard library, ``requests`` (through
:mod:`crm_sync.http`) and this package.
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

from crm_sync.errors import ApiError, PayloadInvalid, SignatureInvalid, SignatureReason
from crm_sync.events import MAX_EVENT_ID_LENGTH, DealDraft, DealEvent, DealStatus
from crm_sync.http import ApiClient, JsonObject, Sleep
from crm_sync.providers import TOLERANCE_SECONDS, same_secret
from crm_sync.pull import Page, PulledDeal, pulled_event_id
from crm_sync.push import LeadContact
from crm_sync.stages import status_for_stage
from crm_sync.values import (
    amount,
    as_object,
    boolean,
    currency,
    email,
    epoch,
    identifier,
    iso_datetime,
    join,
    load_json,
    optional_identifier,
    phone,
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
        raise PayloadInvalid("expected a JSON array of HubSpot events", field="body")
    if len(document) > MAX_EVENTS:
        raise PayloadInvalid(f"more than {MAX_EVENTS} events", field="body")
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
        raise PayloadInvalid("expected a string", field=join(prefix, "subscriptionType"))
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
        raise PayloadInvalid("expected a string", field=join(prefix, "propertyName"))
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
        raise PayloadInvalid("expected a string", field=field)
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


# --- CRM API -------------------------------------------------------------------------------

API_URL = "https://api.hubapi.com"
SEARCH_PATH = "/crm/v3/objects/deals/search"
CONTACTS_PATH = "/crm/v3/objects/contacts"
ASSOCIATIONS_PATH = "/crm/v4/associations/deals/contacts/batch/read"
SEARCH_PAGE_SIZE = 200  # the search API's maximum
BATCH_SIZE = 100  # batch read inputs per request
MAX_SEARCH_RESULTS = 10_000  # paging a search past this answers 400
MODIFIED_PROPERTY = "hs_lastmodifieddate"
DEAL_PROPERTIES: tuple[str, ...] = (
    "dealname",
    "amount",
    "deal_currency_code",
    "dealstage",
    "pipeline",
    "closedate",
    "createdate",
    "hs_is_closed",
    "hs_is_closed_won",
    "hubspot_owner_id",
    MODIFIED_PROPERTY,
    LEAD_ID_PROPERTY,
)
# Where a pulled record keeps its contacts (our addition to HubSpot's record).
CONTACTS_KEY = "leadtrail_contacts"
# The contact properties LeadTrail writes: ``leadtrail_`` + each of crm_sync.push.PUSH_FIELDS.
PROPERTY_PREFIX = "leadtrail_"
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


def api_client(
    token: str, base_url: str = API_URL, *, sleep: Sleep, timeout: float = 30.0
) -> ApiClient:
    """A client for a private app's access token (or an OAuth access token)."""
    return ApiClient(base_url, {"Authorization": f"Bearer {token}"}, sleep=sleep, timeout=timeout)


def _objects(document: JsonObject, key: str = "results") -> list[JsonObject]:
    items = document.get(key)
    if not isinstance(items, list):
        raise ApiError(None, f"the answer has no {key!r} list", retryable=False)
    return [item for item in items if isinstance(item, dict)]


def _chunks(ids: list[str], size: int = BATCH_SIZE) -> list[list[str]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


class DealSearch:
    """:class:`~crm_sync.pull.DealSource` over HubSpot's deal search, oldest change first."""

    provider = PROVIDER

    def __init__(self, client: ApiClient, stage_map: Mapping[str, str] | None = None) -> None:
        self.client = client
        self.stage_map = stage_map

    def fetch(self, since: dt.datetime | None, cursor: str | None) -> Page:
        body: dict[str, object] = {
            "sorts": [{"propertyName": MODIFIED_PROPERTY, "direction": "ASCENDING"}],
            "properties": list(DEAL_PROPERTIES),
            "limit": SEARCH_PAGE_SIZE,
        }
        if since is not None:
            millis = str(int(since.timestamp() * 1000))
            filters = [{"propertyName": MODIFIED_PROPERTY, "operator": "GTE", "value": millis}]
            body["filterGroups"] = [{"filters": filters}]
        if cursor is not None:
            body["after"] = cursor
        answer = self.client.request("POST", SEARCH_PATH, body=body)
        records = _objects(answer)
        contacts = self.contacts([str(record.get("id")) for record in records])
        deals = []
        for record in records:
            full = {**record, CONTACTS_KEY: contacts.get(str(record.get("id")), [])}
            deals.append(pulled_deal(full, self.stage_map))
        after = _next_after(answer)
        restart = after is not None and after.isdigit() and int(after) >= MAX_SEARCH_RESULTS
        total = answer.get("total")
        return Page(
            deals=tuple(deals),
            cursor=None if restart else after,
            restart=restart,
            total=total if isinstance(total, int) else None,
        )

    def contacts(self, deal_ids: list[str]) -> dict[str, list[dict[str, str | None]]]:
        """Each deal's associated contacts (``id``, ``email``, ``phone``), in HubSpot's order."""
        linked: dict[str, list[str]] = {}
        for chunk in _chunks(deal_ids):
            inputs = [{"id": deal_id} for deal_id in chunk]
            answer = self.client.request("POST", ASSOCIATIONS_PATH, body={"inputs": inputs})
            for result in _objects(answer):
                origin = result.get("from")
                targets = result.get("to")
                if not isinstance(origin, dict) or not isinstance(targets, list):
                    continue
                linked[str(origin.get("id"))] = [
                    str(target["toObjectId"])
                    for target in targets
                    if isinstance(target, dict) and "toObjectId" in target
                ]
        wanted = sorted({contact for ids in linked.values() for contact in ids})
        found: dict[str, dict[str, str | None]] = {}
        for chunk in _chunks(wanted):
            answer = self.client.request(
                "POST",
                f"{CONTACTS_PATH}/batch/read",
                body={"properties": ["email", "phone"], "inputs": [{"id": c} for c in chunk]},
            )
            for contact in _objects(answer):
                properties = contact.get("properties")
                values = properties if isinstance(properties, dict) else {}
                found[str(contact.get("id"))] = {
                    "id": str(contact.get("id")),
                    "email": email(values.get("email")),
                    "phone": phone(values.get("phone")),
                }
        return {
            deal_id: [found[contact] for contact in ids if contact in found]
            for deal_id, ids in linked.items()
        }


def _next_after(answer: JsonObject) -> str | None:
    paging = answer.get("paging")
    following = paging.get("next") if isinstance(paging, dict) else None
    after = following.get("after") if isinstance(following, dict) else None
    return None if after is None or after == "" else str(after)


def pulled_deal(record: Mapping[str, object], stage_map: Mapping[str, str] | None) -> PulledDeal:
    """A search result (with :data:`CONTACTS_KEY` added) as the full state of its deal at
    ``hs_lastmodifieddate``. Raises :class:`PayloadInvalid` naming the field."""
    deal_id = identifier(record.get("id"), "id")
    properties = as_object(record.get("properties"), "properties")
    field = join("properties", MODIFIED_PROPERTY)
    modified_at = _hubspot_time(properties.get(MODIFIED_PROPERTY) or record.get("updatedAt"), field)
    if modified_at is None:
        raise PayloadInvalid("missing", field=field)
    draft = DealDraft()
    draft.name = text(properties.get("dealname"), "properties.dealname")
    draft.stage = text(properties.get("dealstage"), "properties.dealstage")
    draft.amount = amount(properties.get("amount"), "properties.amount")
    if properties.get("deal_currency_code"):
        draft.currency = currency(properties["deal_currency_code"], "properties.deal_currency_code")
    draft.created_at = _hubspot_time(
        properties.get("createdate") or record.get("createdAt"), "properties.createdate"
    )
    draft.owner = text(properties.get("hubspot_owner_id"), "properties.hubspot_owner_id")
    draft.deleted = record.get("archived") is True
    status = _pulled_status(properties, draft.stage, stage_map)
    if status is not None:
        draft.status = status
        closing = properties.get("closedate")
        draft.closed_at = (
            None if status == "open" else _hubspot_time(closing, "properties.closedate")
        )
    contacts = record.get(CONTACTS_KEY)
    people = (
        [item for item in contacts if isinstance(item, dict)] if isinstance(contacts, list) else []
    )
    emails = tuple(dict.fromkeys(e for e in (email(p.get("email")) for p in people) if e))
    if emails:
        draft.contact_emails = emails[:10]
    if people:
        draft.external_contact_id = optional_identifier(people[0].get("id"), CONTACTS_KEY)
    lead_id = optional_identifier(
        properties.get(LEAD_ID_PROPERTY), join("properties", LEAD_ID_PROPERTY)
    )
    event = draft.event(
        PROVIDER, deal_id, pulled_event_id(deal_id, modified_at), modified_at, lead_id=lead_id
    )
    return PulledDeal(record=record, event=event, modified_at=modified_at)


def _pulled_status(
    properties: Mapping[str, object], stage: str | None, stage_map: Mapping[str, str] | None
) -> DealStatus | None:
    """``hs_is_closed_won`` / ``hs_is_closed`` when HubSpot computed them, else the stage's."""
    won = properties.get("hs_is_closed_won")
    closed = properties.get("hs_is_closed")
    if won not in (None, "") and boolean(won, "properties.hs_is_closed_won"):
        return "won"
    if closed not in (None, ""):
        return "lost" if boolean(closed, "properties.hs_is_closed") else "open"
    return status_for_stage(PROVIDER, stage, stage_map)


def parse_record(body: bytes, *, stage_map: Mapping[str, str] | None = None) -> list[DealEvent]:
    """The event of a pulled record as the inbox stored it (:meth:`PulledDeal.body`)."""
    return [pulled_deal(as_object(load_json(body), "body"), stage_map).event]


def contact_properties(contact: LeadContact) -> dict[str, str]:
    """The ``leadtrail_*`` contact properties for ``contact``."""
    return {PROPERTY_PREFIX + name: value for name, value in contact.fields().items()}


def upsert_contact(client: ApiClient, contact: LeadContact, known_id: str | None = None) -> str:
    """Write ``contact``'s LeadTrail properties onto its HubSpot contact; the contact's id.

    The contact is ``known_id`` when it still exists, else the one with the lead's email
    (searched, so the address travels in a body, never in a URL), or, for a lead known only
    by phone, the one with that phone; else a new one (which also gets the name, phone and
    company). A create that races another one (``409``, "Existing ID") updates the existing
    contact. Raises :class:`ApiError`.
    """
    properties = contact_properties(contact)
    if known_id is not None and _update(client, known_id, properties):
        return known_id
    found = _find_contact(client, contact)
    if found is not None and _update(client, found, properties):
        return found
    first, last = contact.first_and_last_name()
    details = {"email": contact.email, "firstname": first, "lastname": last,
               "phone": contact.phone, "company": contact.company}
    created = {**{k: v for k, v in details.items() if v}, **properties}
    try:
        answer = client.request("POST", CONTACTS_PATH, body={"properties": created})
    except ApiError as error:
        existing = _EXISTING_ID.search(error.message) if error.status == 409 else None
        if existing is None or not _update(client, existing.group(1), properties):
            raise
        return existing.group(1)
    return identifier(answer.get("id"), "id")


def _update(client: ApiClient, contact_id: str, properties: Mapping[str, str]) -> bool:
    """``False`` when the contact no longer exists (deleted or merged away)."""
    try:
        client.request("PATCH", f"{CONTACTS_PATH}/{contact_id}", body={"properties": properties})
    except ApiError as error:
        if error.status == 404:
            return False
        raise
    return True


def _find_contact(client: ApiClient, contact: LeadContact) -> str | None:
    """The contact with the lead's email; for a lead without one, with its phone."""
    if contact.email:
        return _search_contact(client, "email", contact.email)
    if contact.phone:
        return _search_contact(client, "phone", contact.phone)
    return None


def _search_contact(client: ApiClient, name: str, value: str) -> str | None:
    filters = [{"propertyName": name, "operator": "EQ", "value": value}]
    answer = client.request(
        "POST",
        f"{CONTACTS_PATH}/search",
        body={"filterGroups": [{"filters": filters}], "properties": [name], "limit": 1},
    )
    results = _objects(answer)
    return str(results[0]["id"]) if results and "id" in results[0] else None
