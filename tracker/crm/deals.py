"""Deals: applying CRM updates so that order and duplication never change the outcome.

Every deal field keeps the time of the update that set it. An update writes a field only when
it is newer than what set the field (ties broken by the update's id), so the final state is
the same whatever order the updates arrive in and however often: the newest value of each
field wins. Amount changes, refunds (negative adjustments arrive as a new amount), reopening a
won deal, and deletions are all just fields. Revenue is read from the state, never summed
from events.

A deal is matched to a lead by LeadTrail lead id (when we pushed it into the CRM), else by the
CRM person record it names (``crm_contacts``: a Pipedrive ``person_id``, the Salesforce lead
it was converted from), else by contact email, else by phone. The link is ordered by CRM time
like the fields: it follows the newest update that names a person, so a reordered delivery
never leaves the deal on an older lead. An update naming someone who is not a lead (yet)
leaves the deal waiting for them; one naming only a CRM record we know nothing of yet leaves
the link as it is until the record is known, and the deal then follows it. A deal that
matches no lead is linked when its lead appears (``tracker.leads.deal_links``) or when its CRM
person becomes known (``apply_contact_update``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_sync.events import STATUSES
from tracker import changes
from tracker.db import insert_ignore
from tracker.leads.deal_links import advance_lead_from_deal
from tracker.models import CrmContact, Deal, Lead
from tracker.models.base import utcnow

DEAL_NAMESPACE = uuid.UUID("a3f7c9d2-1e4b-4c6a-8f0d-2b5e7a9c1d34")
# Deal fields an update may set, in the order they are applied.
FIELDS = (
    "name",
    "amount",
    "currency",
    "stage",
    "status",
    "owner",
    "created_at",
    "closed_at",
    "deleted",
    "contact_email",
    "contact_phone",
    "external_contact_id",
)


@dataclass(frozen=True, slots=True)
class DealUpdate:
    """One CRM change to one deal, in tracker's terms. ``values`` holds only the fields the
    update actually carries; ``occurred_at`` is the CRM's own time of the change."""

    provider: str
    external_id: str
    occurred_at: dt.datetime
    update_id: str
    values: Mapping[str, Any] = field(default_factory=dict)
    lead_id: uuid.UUID | None = None
    mapped_stage: str | None = None  # our stage (sql, opportunity, customer, lost) if any
    # The CRM's lead record this deal was converted from (a Salesforce lead id).
    converted_from: str | None = None


@dataclass(frozen=True, slots=True)
class ContactUpdate:
    """What a CRM reported about one of its person records at ``occurred_at``."""

    provider: str
    external_id: str
    occurred_at: dt.datetime
    update_id: str
    email: str | None = None
    phone: str | None = None
    lead_id: uuid.UUID | None = None


# field_times key of the lead link: the CRM time of the newest update that named a person,
# marked UNRESOLVED while that person is a CRM record we know nothing of yet (the link then
# follows the record as soon as it is known: ``apply_contact_update``).
LEAD_LINK = "lead_link"
UNRESOLVED = "unresolved"
_CONTACT_FIELDS = ("contact_email", "contact_phone", "external_contact_id")


def deal_id_for(site_id: int, provider: str, external_id: str) -> uuid.UUID:
    return uuid.uuid5(DEAL_NAMESPACE, f"{site_id}/{provider}/{external_id}")


def _newer(update: DealUpdate | ContactUpdate, previous: Any) -> bool:
    if previous is None:
        return True
    at, update_id = previous[:2]
    stamp = update.occurred_at.isoformat()
    return (stamp, update.update_id) > (at, update_id)


def _lead_by_contact(
    session: Session, site_id: int, email: str | None, phone: str | None
) -> uuid.UUID | None:
    if email:
        found = session.scalars(
            select(Lead.id).where(Lead.site_id == site_id, Lead.email == email.lower())
        ).first()
        if found:
            return found
    if phone:
        return session.scalars(
            select(Lead.id).where(Lead.site_id == site_id, Lead.phone == phone)
        ).first()
    return None


def _lead_of_record(session: Session, contact: CrmContact) -> uuid.UUID | None:
    """The lead of a CRM person record: its lead id when that lead exists, else by contact."""
    linked = session.get(Lead, (contact.site_id, contact.lead_id)) if contact.lead_id else None
    if linked is not None:
        return linked.id
    return _lead_by_contact(session, contact.site_id, contact.email, contact.phone)


def _records(
    session: Session, site_id: int, provider: str, ids: tuple[str | None, ...]
) -> list[CrmContact]:
    wanted = [record_id for record_id in ids if record_id]
    if not wanted:
        return []
    return list(session.scalars(
        select(CrmContact).where(
            CrmContact.site_id == site_id,
            CrmContact.provider == provider,
            CrmContact.external_id.in_(wanted),
        ).order_by(CrmContact.external_id)
    ))


def _match_lead(session: Session, site_id: int, deal: Deal) -> uuid.UUID | None:
    """The lead of a deal's current state: its CRM person records, then email, then phone."""
    ids = (deal.external_contact_id, deal.converted_from_id)
    for record in _records(session, site_id, deal.provider, ids):
        found = _lead_of_record(session, record)
        if found:
            return found
    return _lead_by_contact(session, site_id, deal.contact_email, deal.contact_phone)


def _claimed_lead(
    session: Session, site_id: int, update: DealUpdate
) -> tuple[bool, uuid.UUID | None]:
    """Whom ``update`` names: ``(known, lead)``. ``known`` is false when it names only CRM
    records we know nothing of (its person cannot be told yet)."""
    if update.lead_id is not None:
        return True, update.lead_id
    email = update.values.get("contact_email")
    phone = update.values.get("contact_phone")
    ids = (update.values.get("external_contact_id"), update.converted_from)
    records = _records(session, site_id, update.provider, ids)
    for record in records:
        found = _lead_of_record(session, record)
        if found:
            return True, found
    found = _lead_by_contact(session, site_id, email, phone)
    known = bool(email or phone or any(r.email or r.phone for r in records))
    return known or found is not None, found


def _names_a_person(update: DealUpdate) -> bool:
    return (
        update.lead_id is not None
        or update.converted_from is not None
        or any(update.values.get(name) for name in _CONTACT_FIELDS)
    )


@dataclass(frozen=True, slots=True)
class Applied:
    deal: Deal
    changed: tuple[str, ...]


def apply_deal_update(session: Session, site_id: int, update: DealUpdate) -> Applied:
    """Apply ``update`` to its deal (created on first sight). Idempotent, order-independent."""
    if "status" in update.values and update.values["status"] not in STATUSES:
        raise ValueError(f"unknown deal status {update.values['status']!r}")
    deal_id = deal_id_for(site_id, update.provider, update.external_id)
    now = utcnow()
    insert_ignore(
        session,
        Deal.__table__,  # type: ignore[arg-type]
        [
            {
                "site_id": site_id,
                "id": deal_id,
                "provider": update.provider,
                "external_id": update.external_id,
                "status": "open",
                "deleted": False,
                "field_times": {},
                "last_event_at": update.occurred_at,
                "updated_at": now,
            }
        ],
        ["site_id", "id"],
    )
    deal = session.get(Deal, (site_id, deal_id), populate_existing=True, with_for_update=True)
    assert deal is not None
    previous_lead = deal.lead_id
    times = dict(deal.field_times or {})
    changed = []
    values = dict(update.values)
    if update.mapped_stage is not None:
        values["mapped_stage"] = update.mapped_stage
    for name, value in values.items():
        if name not in FIELDS and name != "mapped_stage":
            raise ValueError(f"unknown deal field {name!r}")
        if not _newer(update, times.get(name)):
            continue
        times[name] = [update.occurred_at.isoformat(), update.update_id]
        if name == "mapped_stage":
            continue
        if name == "amount" and value is not None:
            value = decimal.Decimal(str(value))
        if getattr(deal, name) != value:
            setattr(deal, name, value)
            changed.append(name)
    if update.converted_from is not None and deal.converted_from_id != update.converted_from:
        deal.converted_from_id = update.converted_from
        changed.append("converted_from_id")
    if _names_a_person(update) and _newer(update, times.get(LEAD_LINK)):
        known, lead_id = _claimed_lead(session, site_id, update)
        times[LEAD_LINK] = [update.occurred_at.isoformat(), update.update_id]
        if not known:
            times[LEAD_LINK].append(UNRESOLVED)
        if known and deal.lead_id != lead_id:
            deal.lead_id = lead_id
            changed.append("lead_id")
    if deal.lead_id is None:
        deal.lead_id = _match_lead(session, site_id, deal)
    deal.field_times = times
    deal.last_event_at = max(deal.last_event_at, update.occurred_at)
    deal.updated_at = now
    session.flush()
    advance_lead_from_deal(session, deal, times)
    changes.lead_changed(session, site_id, previous_lead, deal.lead_id)
    return Applied(deal=deal, changed=tuple(changed))


def apply_contact_update(session: Session, site_id: int, update: ContactUpdate) -> int:
    """Record what the CRM said of one of its person records (newest report wins, by CRM
    time), then link the deals waiting on that record; how many were linked. Idempotent."""
    insert_ignore(
        session,
        CrmContact.__table__,  # type: ignore[arg-type]
        [
            {
                "site_id": site_id,
                "provider": update.provider,
                "external_id": update.external_id,
                "email": update.email,
                "phone": update.phone,
                "lead_id": update.lead_id,
                "reported_at": update.occurred_at,
                "report_id": update.update_id,
            }
        ],
        ["site_id", "provider", "external_id"],
    )
    record = session.get(
        CrmContact,
        (site_id, update.provider, update.external_id),
        populate_existing=True,
        with_for_update=True,
    )
    assert record is not None
    # A report names what it carries: a Salesforce conversion's message may leave the email
    # out, which does not make the record's email unknown. So the newest report's values win,
    # and an older one only fills in what no newer one carried.
    if _newer(update, [record.reported_at.isoformat(), record.report_id]):
        record.email = update.email or record.email
        record.phone = update.phone or record.phone
        record.lead_id = update.lead_id or record.lead_id
        record.reported_at = update.occurred_at
        record.report_id = update.update_id
    else:
        record.email = record.email or update.email
        record.phone = record.phone or update.phone
        record.lead_id = record.lead_id or update.lead_id
    session.flush()
    lead_id = _lead_of_record(session, record)
    if lead_id is None and not (record.email or record.phone):
        return 0  # still nobody we can tell
    naming = session.scalars(
        select(Deal).where(
            Deal.site_id == site_id,
            Deal.provider == update.provider,
            or_(
                Deal.external_contact_id == update.external_id,
                Deal.converted_from_id == update.external_id,
            ),
        ).order_by(Deal.id)
    ).all()
    linked = 0
    for deal in naming:
        times = dict(deal.field_times or {})
        link = list(times.get(LEAD_LINK) or [])
        unresolved = link[2:] == [UNRESOLVED]
        if not unresolved and deal.lead_id is not None:
            continue  # linked by a newer update that named someone we know
        if unresolved:
            times[LEAD_LINK] = link[:2]
            deal.field_times = times
        if deal.lead_id != lead_id:
            changes.lead_changed(session, site_id, deal.lead_id, lead_id)
            deal.lead_id = lead_id
            linked += lead_id is not None
        session.flush()
        advance_lead_from_deal(session, deal, times)
    return linked
