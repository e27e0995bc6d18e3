"""The plain deal event every provider's parser produces, and the limits its values obey.

A :class:`DealEvent` says which deal fields it carries (``fields``): a HubSpot property change
of ``amount`` carries only ``amount``, so applying it cannot overwrite the deal's stage. The
limits match the columns tracker stores them in. Pure: standard library only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

DealStatus = Literal["open", "won", "lost"]
STATUSES: frozenset[str] = frozenset({"open", "won", "lost"})
PROVIDERS: tuple[str, ...] = ("hubspot", "pipedrive", "salesforce", "generic")

# Fields a deal event may carry and a store may overwrite. ``lead_id`` and
# ``converted_from_lead_id`` are links, not deal state: they are applied whenever present.
DEAL_FIELDS: frozenset[str] = frozenset(
    {
        "name",
        "stage",
        "status",
        "amount",
        "currency",
        "created_at",
        "closed_at",
        "owner",
        "deleted",
        "contact_emails",
        "contact_phone",
        "external_contact_id",
    }
)

# Column sizes on tracker's side (deals, crm_events); ids longer than these are refused,
# free text (names, stages, owners) is cut.
MAX_ID_LENGTH = 64
MAX_EVENT_ID_LENGTH = 128
MAX_TEXT_LENGTH = 200
MAX_EMAIL_LENGTH = 254
MAX_PHONE_LENGTH = 40
MAX_CONTACT_EMAILS = 10
# Numeric(16, 4): twelve digits before the point.
MAX_ABS_AMOUNT = Decimal(10) ** 12


@dataclass(frozen=True, slots=True)
class DealEvent:
    """One change to one CRM deal, as the CRM reported it.

    ``occurred_at`` is the CRM's own (timezone-aware) time of the change, used to order
    events; ``provider_event_id`` identifies the event for deduplication and breaks ties.
    ``fields`` names the members of :data:`DEAL_FIELDS` this event sets; a member named there
    with ``None`` clears that field, and a member not named must keep its default.
    ``contact_emails`` are lower-cased; ``amount`` may be negative (a refund adjustment).

    Raises ``ValueError`` when these invariants do not hold; parsers check input first and
    raise :class:`~crm_sync.errors.PayloadInvalid` naming the field instead.
    """

    provider: str
    external_deal_id: str
    provider_event_id: str
    occurred_at: dt.datetime
    fields: frozenset[str] = frozenset()
    lead_id: str | None = None
    contact_emails: tuple[str, ...] = ()
    external_contact_id: str | None = None
    contact_phone: str | None = None
    name: str | None = None
    stage: str | None = None
    status: DealStatus | None = None
    amount: Decimal | None = None
    currency: str | None = None
    created_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    owner: str | None = None
    deleted: bool = False
    converted_from_lead_id: str | None = None

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"unknown provider {self.provider!r}")
        _check_id("external_deal_id", self.external_deal_id, MAX_ID_LENGTH)
        _check_id("provider_event_id", self.provider_event_id, MAX_EVENT_ID_LENGTH)
        for name in ("occurred_at", "created_at", "closed_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")
        unknown = self.fields - DEAL_FIELDS
        if unknown:
            raise ValueError(f"unknown deal fields {sorted(unknown)}")
        for name in DEAL_FIELDS - self.fields:
            if getattr(self, name) != _DEFAULTS[name]:
                raise ValueError(f"{name} is set but not named in fields")
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if "status" in self.fields and self.status is None:
            raise ValueError("status named in fields must not be None")
        if self.amount is not None and (
            not self.amount.is_finite() or abs(self.amount) >= MAX_ABS_AMOUNT
        ):
            raise ValueError("amount out of range")
        if self.currency is not None and not (
            len(self.currency) == 3 and self.currency.isascii() and self.currency.isupper()
        ):
            raise ValueError("currency must be a three-letter upper-case code")
        if len(self.contact_emails) > MAX_CONTACT_EMAILS:
            raise ValueError("too many contact emails")
        for email in self.contact_emails:
            if email != email.lower() or "@" not in email or len(email) > MAX_EMAIL_LENGTH:
                raise ValueError("contact emails must be lower-case addresses")
        for name in ("lead_id", "external_contact_id", "converted_from_lead_id"):
            value = getattr(self, name)
            if value is not None:
                _check_id(name, value, MAX_ID_LENGTH)
        if self.contact_phone is not None and len(self.contact_phone) > MAX_PHONE_LENGTH:
            raise ValueError("contact_phone too long")
        for name in ("name", "stage", "owner"):
            value = getattr(self, name)
            if value is not None and len(value) > MAX_TEXT_LENGTH:
                raise ValueError(f"{name} too long")

    def values(self) -> Mapping[str, object]:
        """The deal fields this event carries, by name (``None`` meaning cleared)."""
        return {name: getattr(self, name) for name in sorted(self.fields)}


@dataclass(frozen=True, slots=True)
class ContactEvent:
    """What a CRM said about one of its person records (a Pipedrive person, a Salesforce
    lead) at ``occurred_at``: its emails, phone, and our lead id when the record carries one.

    Deals name their person by the CRM's id only (Pipedrive v2's ``person_id``, Salesforce's
    ``ConvertedOpportunityId`` on the lead); this is how such a deal finds its lead. Raises
    ``ValueError`` when the invariants of :class:`DealEvent`'s matching fields do not hold.
    """

    provider: str
    external_contact_id: str
    provider_event_id: str
    occurred_at: dt.datetime
    contact_emails: tuple[str, ...] = ()
    contact_phone: str | None = None
    lead_id: str | None = None

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"unknown provider {self.provider!r}")
        _check_id("external_contact_id", self.external_contact_id, MAX_ID_LENGTH)
        _check_id("provider_event_id", self.provider_event_id, MAX_EVENT_ID_LENGTH)
        if self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware")
        if len(self.contact_emails) > MAX_CONTACT_EMAILS:
            raise ValueError("too many contact emails")
        for email in self.contact_emails:
            if email != email.lower() or "@" not in email or len(email) > MAX_EMAIL_LENGTH:
                raise ValueError("contact emails must be lower-case addresses")
        if self.contact_phone is not None and len(self.contact_phone) > MAX_PHONE_LENGTH:
            raise ValueError("contact_phone too long")
        if self.lead_id is not None:
            _check_id("lead_id", self.lead_id, MAX_ID_LENGTH)


_DEFAULTS: Mapping[str, object] = {
    "name": None,
    "stage": None,
    "status": None,
    "amount": None,
    "currency": None,
    "created_at": None,
    "closed_at": None,
    "owner": None,
    "deleted": False,
    "contact_emails": (),
    "contact_phone": None,
    "external_contact_id": None,
}


def _check_id(name: str, value: str, limit: int) -> None:
    if not value or len(value) > limit or not value.isprintable():
        raise ValueError(f"{name} must be 1 to {limit} printable characters")


def delivery_key(events: Sequence[DealEvent]) -> str | None:
    """A key identifying one delivery by the events it holds, for the inbox's deduplication.

    One event: its ``provider_event_id``. Several (a HubSpot batch, a Salesforce message):
    a hash of their sorted ids, so a retry of the batch (whose body differs, e.g. HubSpot's
    ``attemptNumber``) is recognised. ``None`` when there are no events; the caller then
    keys the delivery by its body.
    """
    if not events:
        return None
    ids = sorted({event.provider_event_id for event in events})
    if len(ids) == 1 and len(ids[0]) <= MAX_EVENT_ID_LENGTH - 4:
        return f"evt:{ids[0]}"
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return f"batch:{digest}"


class DealDraft:
    """The deal fields of one event while a parser collects them: every field assigned is
    carried (named in the event's ``fields``), every field left alone is not."""

    name: str | None
    stage: str | None
    status: DealStatus | None
    amount: Decimal | None
    currency: str | None
    created_at: dt.datetime | None
    closed_at: dt.datetime | None
    owner: str | None
    deleted: bool
    contact_emails: tuple[str, ...]
    contact_phone: str | None
    external_contact_id: str | None
    carried: set[str]

    def __init__(self) -> None:
        object.__setattr__(self, "carried", set())
        for name, default in _DEFAULTS.items():
            object.__setattr__(self, name, default)

    def __setattr__(self, name: str, value: object) -> None:
        if name not in DEAL_FIELDS:
            raise AttributeError(f"{name!r} is not a deal field")
        self.carried.add(name)
        object.__setattr__(self, name, value)

    def event(
        self,
        provider: str,
        external_deal_id: str,
        provider_event_id: str,
        occurred_at: dt.datetime,
        *,
        lead_id: str | None = None,
        converted_from_lead_id: str | None = None,
    ) -> DealEvent:
        return DealEvent(
            provider=provider,
            external_deal_id=external_deal_id,
            provider_event_id=provider_event_id,
            occurred_at=occurred_at,
            fields=frozenset(self.carried),
            lead_id=lead_id,
            contact_emails=self.contact_emails,
            external_contact_id=self.external_contact_id,
            contact_phone=self.contact_phone,
            name=self.name,
            stage=self.stage,
            status=self.status,
            amount=self.amount,
            currency=self.currency,
            created_at=self.created_at,
            closed_at=self.closed_at,
            owner=self.owner,
            deleted=self.deleted,
            converted_from_lead_id=converted_from_lead_id,
        )
