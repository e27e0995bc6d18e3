"""Pipedrive webhooks: HTTP Basic credentials and the v1 and v2 deal payloads.

Pipedrive signs nothing; the only proof of origin is the ``http_auth_user`` /
``http_auth_password`` pair set on the webhook, sent as ``Authorization: Basic``
(pipedrive.readme.io/docs/guide-for-webhooks-v2). v1 bodies carry ``current``/``previous``
and ``meta.timestamp`` in Unix seconds; v2 bodies carry ``data``/``previous`` and
``meta.action`` (create, change, delete) with ISO-8601 times. Both carry the full deal, so
every field present in it is set.

The REST API (``x-api-token: <API token>``, pipedrive.readme.io core-api-concepts-
authentication): :class:`DealList` pulls ``GET /api/v2/deals`` by ``update_time`` with each
deal's person (``GET /api/v2/persons?ids=``), and :func:`upsert_person` writes a lead onto its
person. Imports the standard library, ``requests`` (through :mod:`crm_sync.http`) and this
package.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from dataclasses import replace

from crm_sync.errors import ApiError, PayloadInvalid, SignatureInvalid, SignatureReason
from crm_sync.events import (
    MAX_CONTACT_EMAILS,
    MAX_EVENT_ID_LENGTH,
    ContactEvent,
    DealDraft,
    DealEvent,
    DealStatus,
)
from crm_sync.http import ApiClient, JsonObject, RetryPolicy, Sleep
from crm_sync.providers import same_secret
from crm_sync.pull import Page, PulledDeal, pulled_event_id
from crm_sync.push import LeadContact
from crm_sync.values import (
    amount,
    as_object,
    currency,
    email,
    epoch,
    identifier,
    iso_datetime,
    join,
    load_json,
    optional_identifier,
    optional_iso_datetime,
    phone,
    text,
)

PROVIDER = "pipedrive"
AUTHORIZATION_HEADER = "Authorization"
_V1_ACTIONS = {"added": "create", "updated": "change", "merged": "change", "deleted": "delete"}


def verify(*, authorization: str | None, username: str, password: str) -> None:
    """Check the Basic credentials of a delivery against the site's configured pair.

    Both halves are always compared, in constant time. Raises :class:`SignatureInvalid`:
    ``missing_signature`` (no header), ``malformed`` (not Basic, not base64, no colon),
    ``bad_credentials`` (wrong user or password, or none configured).
    """
    if not authorization:
        raise SignatureInvalid(SignatureReason.MISSING_SIGNATURE, "no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise SignatureInvalid(SignatureReason.MALFORMED, "expected HTTP Basic credentials")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise SignatureInvalid(SignatureReason.MALFORMED, "credentials are not base64") from None
    given_user, colon, given_password = decoded.partition(":")
    if not colon:
        raise SignatureInvalid(SignatureReason.MALFORMED, "credentials have no colon")
    user_ok = same_secret(given_user, username)
    password_ok = same_secret(given_password, password)
    if not (username and password and user_ok and password_ok):
        raise SignatureInvalid(SignatureReason.BAD_CREDENTIALS, "wrong user or password")


def parse(body: bytes) -> list[DealEvent]:
    """The deal event of one delivery (v1 or v2 shape); ``[]`` for other objects.

    Raises :class:`PayloadInvalid` naming the field for a body in neither shape.
    """
    document = as_object(load_json(body), "body")
    meta = as_object(document.get("meta"), "meta")
    if "data" in document or meta.get("version") == "2.0":
        return _parse_v2(document, meta)
    if "current" in document or "v" in document or "v" in meta:
        return _parse_v1(document, meta)
    raise PayloadInvalid("expected a Pipedrive v1 or v2 webhook body", field="body")


def parse_contacts(body: bytes) -> list[ContactEvent]:
    """The person of a person webhook (v2 ``create``/``change``, v1 ``added``/``updated``):
    its emails and phone, for deals that name it by ``person_id`` only. ``[]`` for other
    objects and for deletions. Raises :class:`PayloadInvalid` naming the field."""
    document = as_object(load_json(body), "body")
    meta = as_object(document.get("meta"), "meta")
    if "data" in document or meta.get("version") == "2.0":
        if meta.get("entity") != "person" or meta.get("action") not in {"create", "change"}:
            return []
        person = as_object(document.get("data"), "data")
        event_id = identifier(meta.get("id"), "meta.id", MAX_EVENT_ID_LENGTH)
        occurred_at = iso_datetime(meta.get("timestamp"), "meta.timestamp")
        return [person_contact(person, "data", event_id, occurred_at)]
    if meta.get("object") != "person" or meta.get("action") not in {"added", "updated"}:
        return []
    person = as_object(document.get("current"), "current")
    occurred_at = epoch(meta.get("timestamp"), "meta.timestamp", milliseconds=False)
    stamp = meta.get("timestamp_micro", meta.get("timestamp"))
    person_id = identifier(person.get("id"), "current.id")
    event_id = f"v1:person:{person_id}:{stamp}"[:MAX_EVENT_ID_LENGTH]
    return [person_contact(person, "current", event_id, occurred_at)]


def person_contact(
    person: Mapping[str, object], prefix: str, event_id: str, occurred_at: dt.datetime
) -> ContactEvent:
    """A person (v1 ``email``/``phone`` or v2 ``emails``/``phones`` lists, primary first)."""
    emails = _emails(person.get("emails", person.get("email")))
    phones = person.get("phones", person.get("phone"))
    number = None
    if isinstance(phones, list):
        number = next(
            (found for found in (phone(_primary_value(p)) for p in _primary_first(phones))
             if found), None)
    return ContactEvent(
        provider=PROVIDER,
        external_contact_id=identifier(person.get("id"), join(prefix, "id")),
        provider_event_id=event_id,
        occurred_at=occurred_at,
        contact_emails=emails,
        contact_phone=number,
    )


def _parse_v2(document: Mapping[str, object], meta: Mapping[str, object]) -> list[DealEvent]:
    if meta.get("entity") != "deal":
        return []
    action = meta.get("action")
    if action not in {"create", "change", "delete"}:
        raise PayloadInvalid("expected create, change or delete", field="meta.action")
    event_id = identifier(meta.get("id"), "meta.id", MAX_EVENT_ID_LENGTH)
    occurred_at = iso_datetime(meta.get("timestamp"), "meta.timestamp")
    if action == "delete":
        previous = document.get("previous")
        deal_id = meta.get("entity_id")
        if deal_id is None and isinstance(previous, dict):
            deal_id = previous.get("id")
        base = DealEvent(PROVIDER, identifier(deal_id, "meta.entity_id"), event_id, occurred_at)
        return [replace(base, fields=frozenset({"deleted"}), deleted=True)]
    data = as_object(document.get("data"), "data")
    deal_id = identifier(data.get("id", meta.get("entity_id")), "data.id")
    draft = _deal_state(data, "data", owner_key="owner_id")
    return [draft.event(PROVIDER, deal_id, event_id, occurred_at)]


def _parse_v1(document: Mapping[str, object], meta: Mapping[str, object]) -> list[DealEvent]:
    if meta.get("object") != "deal":
        return []
    action = _V1_ACTIONS.get(str(meta.get("action")))
    if action is None:
        raise PayloadInvalid("expected added, updated, merged or deleted", field="meta.action")
    micros = meta.get("timestamp_micro")
    if isinstance(micros, int) and not isinstance(micros, bool):
        seconds, rest = divmod(micros, 1_000_000)
        occurred_at = epoch(seconds, "meta.timestamp_micro", milliseconds=False)
        occurred_at += dt.timedelta(microseconds=rest)
    else:
        occurred_at = epoch(meta.get("timestamp"), "meta.timestamp", milliseconds=False)
    current = document.get("current")
    previous = document.get("previous")
    source = current if isinstance(current, dict) else previous
    deal_id = identifier(
        meta.get("id", source.get("id") if isinstance(source, dict) else None), "meta.id"
    )
    # v1 has no event id; one UI edit may fire several identical webhooks, which share the
    # deal, the action and the microsecond timestamp.
    stamp = meta.get("timestamp_micro", meta.get("timestamp"))
    event_id = f"v1:{deal_id}:{action}:{stamp}"[:MAX_EVENT_ID_LENGTH]
    if action == "delete":
        base = DealEvent(PROVIDER, deal_id, event_id, occurred_at)
        return [replace(base, fields=frozenset({"deleted"}), deleted=True)]
    draft = _deal_state(as_object(current, "current"), "current", owner_key="user_id")
    return [draft.event(PROVIDER, deal_id, event_id, occurred_at)]


def _deal_state(deal: Mapping[str, object], prefix: str, *, owner_key: str) -> DealDraft:
    """Every deal field present in ``deal`` (a full v1 or v2 deal), as a draft event."""
    draft = DealDraft()
    if "title" in deal:
        draft.name = text(deal["title"], join(prefix, "title"))
    if "value" in deal:
        draft.amount = amount(deal["value"], join(prefix, "value"))
    if "currency" in deal:
        draft.currency = currency(deal["currency"], join(prefix, "currency"))
    if "stage_id" in deal:
        draft.stage = optional_identifier(deal["stage_id"], join(prefix, "stage_id"))
    if "add_time" in deal:
        draft.created_at = _time(deal["add_time"], join(prefix, "add_time"))
    if owner_key in deal:
        owner = deal[owner_key]
        if isinstance(owner, dict):  # v1 REST-shaped objects embed the user
            owner = owner.get("id")
        draft.owner = optional_identifier(owner, join(prefix, owner_key))
    if "status" in deal:
        _read_status(draft, deal, prefix)
    person = deal.get("person_id")
    if isinstance(person, dict):  # v1 REST shape: {"value": 17, "email": [...], ...}
        _read_person(draft, person, join(prefix, "person_id"))
    elif "person_id" in deal:
        draft.external_contact_id = optional_identifier(person, join(prefix, "person_id"))
    emails = _emails(deal.get("person_email"))
    if emails:
        draft.contact_emails = emails
    return draft


def _read_status(draft: DealDraft, deal: Mapping[str, object], prefix: str) -> None:
    raw = deal["status"]
    if raw == "deleted":  # v1 shows soft-deleted deals this way
        draft.deleted = True
        return
    if raw not in {"open", "won", "lost"}:
        raise PayloadInvalid("expected open, won, lost or deleted", field=join(prefix, "status"))
    status: DealStatus = "won" if raw == "won" else "lost" if raw == "lost" else "open"
    draft.status = status
    draft.deleted = False
    if status == "open":
        draft.closed_at = None  # reopened: no longer closed
        return
    key = "won_time" if status == "won" else "lost_time"
    draft.closed_at = _time(deal.get(key) or deal.get("close_time"), join(prefix, key))


def _read_person(draft: DealDraft, person: Mapping[str, object], prefix: str) -> None:
    draft.external_contact_id = optional_identifier(person.get("value"), join(prefix, "value"))
    emails = _emails(person.get("email"))
    if emails:
        draft.contact_emails = emails
    phones = person.get("phone")
    if isinstance(phones, list):
        numbers = [phone(_primary_value(item)) for item in _primary_first(phones)]
        found = next((number for number in numbers if number), None)
        if found:
            draft.contact_phone = found


def _primary_first(items: list[object]) -> list[object]:
    return sorted(items, key=lambda item: not (isinstance(item, dict) and item.get("primary")))


def _emails(value: object) -> tuple[str, ...]:
    """Addresses from a string or Pipedrive's ``[{"value", "primary"}]`` list, primary first."""
    items: list[object] = value if isinstance(value, list) else [value]
    found: list[str] = []
    for item in _primary_first(items):
        address = email(_primary_value(item))
        if address and address not in found:
            found.append(address)
    return tuple(found[:MAX_CONTACT_EMAILS])


def _primary_value(item: object) -> object:
    return item.get("value") if isinstance(item, dict) else item


def _time(value: object, field: str) -> dt.datetime | None:
    """v1 writes ``2023-11-14 22:13:20`` (UTC, no offset); v2 writes ISO-8601 with ``Z``."""
    return optional_iso_datetime(value, field, naive_is_utc=True)


# --- REST API ------------------------------------------------------------------------------

API_URL = "https://api.pipedrive.com"
DEALS_PATH = "/api/v2/deals"
PERSONS_PATH = "/api/v2/persons"
DEALS_PAGE_SIZE = 500  # the v2 maximum
PERSON_IDS_PER_REQUEST = 100  # ``ids`` takes at most 100
# Where a pulled record keeps its person (our addition to Pipedrive's deal).
PERSON_KEY = "leadtrail_person"


def api_client(
    token: str,
    base_url: str = API_URL,
    *,
    sleep: Sleep,
    timeout: float = 30.0,
    policy: RetryPolicy | None = None,
) -> ApiClient:
    """A client for a user's API token (``https://<company>.pipedrive.com`` or the default)."""
    return ApiClient(
        base_url, {"x-api-token": token}, sleep=sleep, timeout=timeout, policy=policy
    )


def _data(answer: JsonObject) -> list[JsonObject]:
    data = answer.get("data")
    if not isinstance(data, list):
        raise ApiError(None, "the answer has no 'data' list", retryable=False)
    return [item for item in data if isinstance(item, dict)]


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class DealList:
    """:class:`~crm_sync.pull.DealSource` over ``GET /api/v2/deals``, oldest update first.

    Deleted deals are not listed by default; their deletion arrives by webhook.
    """

    provider = PROVIDER

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def fetch(self, since: dt.datetime | None, cursor: str | None) -> Page:
        params: dict[str, str | int] = {
            "sort_by": "update_time",
            "sort_direction": "asc",
            "limit": DEALS_PAGE_SIZE,
        }
        if since is not None:
            # RFC 3339 has no fractions here; flooring keeps the bound inclusive.
            params["updated_since"] = rfc3339(since)
        if cursor is not None:
            params["cursor"] = cursor
        answer = self.client.request("GET", DEALS_PATH, params=params)
        records = _data(answer)
        people = self.persons([record.get("person_id") for record in records])
        deals = tuple(
            pulled_deal({**record, PERSON_KEY: people.get(str(record.get("person_id")))})
            for record in records
        )
        extra = answer.get("additional_data")
        following = extra.get("next_cursor") if isinstance(extra, dict) else None
        return Page(deals=deals, cursor=str(following) if following else None)

    def persons(self, person_ids: list[object]) -> dict[str, JsonObject]:
        """The persons of these ids (an id no longer visible is left out), by id."""
        wanted = sorted({str(pid) for pid in person_ids if isinstance(pid, int | str) and pid})
        found: dict[str, JsonObject] = {}
        for start in range(0, len(wanted), PERSON_IDS_PER_REQUEST):
            chunk = wanted[start : start + PERSON_IDS_PER_REQUEST]
            params: dict[str, str | int] = {"ids": ",".join(chunk), "limit": len(chunk)}
            for person in _data(self.client.request("GET", PERSONS_PATH, params=params)):
                found[str(person.get("id"))] = person
        return found


def fetch_person_contacts(
    client: ApiClient, person_ids: list[str], now: dt.datetime
) -> list[ContactEvent]:
    """The persons of ``person_ids`` from the API (one request per 100), as contacts at their
    ``update_time`` (else ``now``); a person no longer visible is left out. Raises
    :class:`ApiError` (and :class:`PayloadInvalid` for a person the API describes badly)."""
    contacts = []
    for person_id, person in sorted(DealList(client).persons(list(person_ids)).items()):
        updated = _time(person.get("update_time"), "update_time") or now
        event_id = f"api:person:{person_id}:{rfc3339(updated)}"[:MAX_EVENT_ID_LENGTH]
        contacts.append(person_contact(person, "data", event_id, updated))
    return contacts


def pulled_deal(record: Mapping[str, object]) -> PulledDeal:
    """A v2 deal (with :data:`PERSON_KEY` added) as the full state of the deal at its
    ``update_time``. Raises :class:`PayloadInvalid` naming the field."""
    deal_id = identifier(record.get("id"), "id")
    modified_at = _time(record.get("update_time"), "update_time")
    if modified_at is None:
        raise PayloadInvalid("missing", field="update_time")
    deal = {key: value for key, value in record.items() if key != PERSON_KEY}
    draft = _deal_state(deal, "", owner_key="owner_id")
    if deal.get("is_deleted") is True:
        draft.deleted = True
    elif "deleted" not in draft.carried:
        draft.deleted = False
    person = record.get(PERSON_KEY)
    if isinstance(person, dict):
        emails = _emails(person.get("emails"))
        if emails:
            draft.contact_emails = emails
        phones = person.get("phones")
        if isinstance(phones, list):
            found = next((phone(_primary_value(p)) for p in _primary_first(phones)), None)
            if found:
                draft.contact_phone = found
    event = draft.event(PROVIDER, deal_id, pulled_event_id(deal_id, modified_at), modified_at)
    return PulledDeal(record=record, event=event, modified_at=modified_at)


def parse_record(body: bytes) -> list[DealEvent]:
    """The event of a pulled record as the inbox stored it (:meth:`PulledDeal.body`)."""
    return [pulled_deal(as_object(load_json(body), "body")).event]


def person_fields(contact: LeadContact, field_keys: Mapping[str, str]) -> dict[str, str]:
    """``contact``'s LeadTrail fields under the site's Pipedrive custom field keys (fields
    without a key are not sent)."""
    values = contact.fields()
    return {key: values[name] for name, key in field_keys.items() if name in values}


def upsert_person(
    client: ApiClient,
    contact: LeadContact,
    field_keys: Mapping[str, str],
    known_id: str | None = None,
) -> str:
    """Write ``contact``'s LeadTrail fields onto its Pipedrive person; the person's id.

    The person is ``known_id`` when it still exists, else the one with the lead's email
    (exact search), or, for a lead known only by phone, with that phone; else a new one with
    the lead's name, email and phone. Raises :class:`ApiError`.
    """
    custom = person_fields(contact, field_keys)
    if known_id is not None and _update(client, known_id, custom):
        return known_id
    found = _find_person(client, contact)
    if found is not None and _update(client, found, custom):
        return found
    person: dict[str, object] = {"name": contact.name or contact.email or contact.phone}
    if contact.email:
        person["emails"] = [{"value": contact.email, "primary": True, "label": "work"}]
    if contact.phone:
        person["phones"] = [{"value": contact.phone, "primary": True, "label": "work"}]
    if custom:
        person["custom_fields"] = custom
    answer = client.request("POST", PERSONS_PATH, body=person)
    data = answer.get("data")
    return identifier(data.get("id") if isinstance(data, dict) else None, "data.id")


def _update(client: ApiClient, person_id: str, custom: Mapping[str, str]) -> bool:
    """``False`` when the person no longer exists; nothing is sent when no field is mapped."""
    try:
        if custom:
            client.request("PATCH", f"{PERSONS_PATH}/{person_id}", body={"custom_fields": custom})
        else:
            client.request("GET", f"{PERSONS_PATH}/{person_id}")
    except ApiError as error:
        if error.status in (404, 410):
            return False
        raise
    return True


def _find_person(client: ApiClient, contact: LeadContact) -> str | None:
    """The person with the lead's email; for a lead without one, with its phone.

    Pipedrive's search is ``GET`` only, so the address is in the query string (HTTPS to
    Pipedrive; we never log URLs). The id is then kept on the lead, so it is searched once."""
    field, term = ("email", contact.email) if contact.email else ("phone", contact.phone)
    if not term:
        return None
    answer = client.request(
        "GET",
        f"{PERSONS_PATH}/search",
        params={"term": term, "fields": field, "exact_match": "true", "limit": 1},
    )
    data = answer.get("data")
    items = data.get("items") if isinstance(data, dict) else None
    for entry in items if isinstance(items, list) else []:
        item = entry.get("item") if isinstance(entry, dict) else None
        if isinstance(item, dict) and item.get("id") is not None:
            return str(item["id"])
    return None
