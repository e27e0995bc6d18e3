"""Our own deal-event format, for any CRM, billing system or automation tool, signed the way
Stripe signs its webhooks.

``LeadTrail-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` keyed with
the site's secret as UTF-8 (the scheme of ``stripe/_webhook.py`` in stripe/stripe-python):
several ``v1`` values may be sent and several secrets may be active while one is rotated, and
``t`` must be within 5 minutes of now, either way. The body is one event or
``{"events": [...]}``; unknown keys are refused (docs/crm.md documents the format).
Standard library only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from crm_sync.errors import PayloadInvalid, SignatureInvalid, SignatureReason
from crm_sync.events import MAX_EVENT_ID_LENGTH, DealDraft, DealEvent
from crm_sync.providers import TOLERANCE_SECONDS, same_secret
from crm_sync.values import (
    amount,
    as_object,
    boolean,
    currency,
    email,
    identifier,
    iso_datetime,
    join,
    load_json,
    optional_identifier,
    optional_iso_datetime,
    phone,
    text,
)

PROVIDER = "generic"
SIGNATURE_HEADER = "LeadTrail-Signature"
MAX_EVENTS = 100
EVENT_TYPES = (
    "deal.created",
    "deal.updated",
    "deal.won",
    "deal.lost",
    "deal.reopened",
    "deal.deleted",
)
EVENT_KEYS = frozenset({"id", "type", "occurred_at", "deal"})
DEAL_KEYS = frozenset(
    {
        "id",
        "lead_id",
        "email",
        "phone",
        "contact_id",
        "name",
        "stage",
        "status",
        "amount",
        "currency",
        "created_at",
        "closed_at",
        "owner",
        "deleted",
    }
)
# The status each type sets; a ``deal.status`` that contradicts it is refused.
_TYPE_STATUS = {"deal.won": "won", "deal.lost": "lost", "deal.reopened": "open"}


def signature(body: bytes, secret: str, t: int) -> str:
    """The lower-case hex ``v1`` value for ``body`` signed at Unix time ``t``."""
    message = str(t).encode() + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, t: int) -> str:
    """The whole ``LeadTrail-Signature`` header value a sender puts on ``body``."""
    return f"t={t},v1={signature(body, secret, t)}"


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamps: list[str] = []
    candidates: list[str] = []
    for item in header.split(","):
        key, equals, value = item.strip().partition("=")
        if not equals:
            raise SignatureInvalid(SignatureReason.MALFORMED, "expected t=<unix>,v1=<hex>")
        if key == "t":
            timestamps.append(value.strip())
        elif key == "v1":
            candidates.append(value.strip())
        # Other schemes (v0, future ones) are ignored, as Stripe does.
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise SignatureInvalid(SignatureReason.MALFORMED, "expected exactly one numeric t=")
    if not candidates or len(timestamps[0]) > 12:
        raise SignatureInvalid(SignatureReason.MALFORMED, "expected at least one v1=")
    return int(timestamps[0]), candidates


def verify(
    body: bytes,
    header: str | None,
    *,
    secrets: Sequence[str],
    now: dt.datetime,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> None:
    """Accept ``body`` when any ``v1`` in ``header`` is the signature under any of
    ``secrets`` and its ``t`` is within ``tolerance_seconds`` of ``now``.

    Raises :class:`SignatureInvalid`: ``missing_signature`` (no header), ``malformed``
    (not ``t=…,v1=…``), ``bad_signature`` (no match, or no secret configured),
    ``stale_timestamp`` (authentic but too old or too far ahead: a replay or a bad clock).
    """
    if not header or not header.strip():
        raise SignatureInvalid(SignatureReason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} header")
    t, candidates = _parse_header(header)
    expected = [signature(body, secret, t) for secret in secrets if secret]
    # Every pair is compared, so the time taken does not depend on where a match is.
    matches = [same_secret(given, wanted) for given in candidates for wanted in expected]
    if not any(matches):
        raise SignatureInvalid(SignatureReason.BAD_SIGNATURE, "no v1 matches an active secret")
    if abs(now.timestamp() - t) > tolerance_seconds:
        raise SignatureInvalid(
            SignatureReason.STALE_TIMESTAMP, f"t is {now.timestamp() - t:.0f} s away from now"
        )


def parse(body: bytes) -> list[DealEvent]:
    """The events of one delivery: a single event object, or ``{"events": [...]}`` with at
    most :data:`MAX_EVENTS`. Raises :class:`PayloadInvalid` naming the first bad field,
    including any key the format does not define."""
    document = as_object(load_json(body), "body")
    if "events" in document:
        if set(document) != {"events"}:
            extra = sorted(set(document) - {"events"})[0]
            raise PayloadInvalid("unknown key (a batch holds only 'events')", field=extra)
        items = document["events"]
        if not isinstance(items, list) or not items:
            raise PayloadInvalid("expected a non-empty list of events", field="events")
        if len(items) > MAX_EVENTS:
            raise PayloadInvalid(f"more than {MAX_EVENTS} events", field="events")
        return [
            _parse_event(as_object(raw, f"events.{i}"), f"events.{i}")
            for i, raw in enumerate(items)
        ]
    return [_parse_event(document, "")]


def _refuse_unknown(item: Mapping[str, object], known: frozenset[str], prefix: str) -> None:
    for key in item:
        if key not in known:
            raise PayloadInvalid("unknown key", field=join(prefix, key))


def _parse_event(item: Mapping[str, object], prefix: str) -> DealEvent:
    _refuse_unknown(item, EVENT_KEYS, prefix)
    event_id = identifier(item.get("id"), join(prefix, "id"), MAX_EVENT_ID_LENGTH)
    kind = item.get("type")
    if kind not in EVENT_TYPES:
        raise PayloadInvalid(
            f"expected one of {', '.join(EVENT_TYPES)}", field=join(prefix, "type")
        )
    occurred_at = iso_datetime(item.get("occurred_at"), join(prefix, "occurred_at"))
    deal_prefix = join(prefix, "deal")
    deal = as_object(item.get("deal"), deal_prefix)
    _refuse_unknown(deal, DEAL_KEYS, deal_prefix)
    deal_id = identifier(deal.get("id"), join(deal_prefix, "id"))
    draft = _read_deal(deal, deal_prefix)
    _apply_type(draft, str(kind), deal, deal_prefix, occurred_at)
    return draft.event(
        PROVIDER,
        deal_id,
        event_id,
        occurred_at,
        lead_id=optional_identifier(deal.get("lead_id"), join(deal_prefix, "lead_id")),
    )


def _read_deal(deal: Mapping[str, object], prefix: str) -> DealDraft:
    draft = DealDraft()
    if "email" in deal:
        address = email(deal["email"])
        if deal["email"] is not None and address is None:
            raise PayloadInvalid("expected an email address", field=join(prefix, "email"))
        draft.contact_emails = (address,) if address else ()
    if "phone" in deal:
        draft.contact_phone = phone(deal["phone"])
    if "contact_id" in deal:
        draft.external_contact_id = optional_identifier(
            deal["contact_id"], join(prefix, "contact_id")
        )
    if "name" in deal:
        draft.name = text(deal["name"], join(prefix, "name"))
    if "stage" in deal:
        draft.stage = text(deal["stage"], join(prefix, "stage"))
    if "status" in deal:
        status = deal["status"]
        if status not in ("open", "won", "lost"):
            raise PayloadInvalid("expected open, won or lost", field=join(prefix, "status"))
        draft.status = "won" if status == "won" else "lost" if status == "lost" else "open"
    if "amount" in deal:
        draft.amount = amount(deal["amount"], join(prefix, "amount"))
    if "currency" in deal:
        draft.currency = currency(deal["currency"], join(prefix, "currency"))
    if "created_at" in deal:
        draft.created_at = optional_iso_datetime(deal["created_at"], join(prefix, "created_at"))
    if "closed_at" in deal:
        draft.closed_at = optional_iso_datetime(deal["closed_at"], join(prefix, "closed_at"))
    if "owner" in deal:
        draft.owner = text(deal["owner"], join(prefix, "owner"))
    if "deleted" in deal:
        draft.deleted = boolean(deal["deleted"], join(prefix, "deleted"))
    return draft


def _apply_type(
    draft: DealDraft,
    kind: str,
    deal: Mapping[str, object],
    prefix: str,
    occurred_at: dt.datetime,
) -> None:
    """What the event type implies beyond the deal's own keys."""
    implied = _TYPE_STATUS.get(kind)
    if implied is not None:
        if "status" in deal and deal["status"] != implied:
            raise PayloadInvalid(f"contradicts type {kind}", field=join(prefix, "status"))
        draft.status = "won" if implied == "won" else "lost" if implied == "lost" else "open"
        draft.deleted = False
        if implied == "open":
            if deal.get("closed_at") is not None:
                raise PayloadInvalid(
                    "a reopened deal is not closed", field=join(prefix, "closed_at")
                )
            draft.closed_at = None
        elif "closed_at" not in deal:
            draft.closed_at = occurred_at
    elif kind == "deal.created":
        if "created_at" not in deal:
            draft.created_at = occurred_at
        if "status" not in deal:
            draft.status = "open"
    elif kind == "deal.deleted":
        if "deleted" in deal and deal["deleted"] is not True:
            raise PayloadInvalid(f"contradicts type {kind}", field=join(prefix, "deleted"))
        draft.deleted = True
