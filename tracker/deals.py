"""Deals: applying CRM updates so that order and duplication never change the outcome.

Every deal field keeps the time of the update that set it. An update writes a field only when
it is newer than what set the field (ties broken by the update's id), so the final state is
the same whatever order the updates arrive in and however often: the newest value of each
field wins. Amount changes, refunds (negative adjustments arrive as a new amount), reopening a
won deal, and deletions are all just fields. Revenue is read from the state, never summed
from events.

A deal is matched to a lead by LeadTrail lead id (when we pushed it into the CRM), else by
contact email, else by phone; a deal that matches no lead yet is kept and linked when the lead
appears (``link_waiting_deals``).
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

from tracker import changes
from tracker.db import insert_ignore
from tracker.models import Deal, Lead
from tracker.models.base import utcnow
from tracker.stages import FUNNEL, change_stage

DEAL_NAMESPACE = uuid.UUID("a3f7c9d2-1e4b-4c6a-8f0d-2b5e7a9c1d34")
STATUSES = frozenset({"open", "won", "lost"})
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


def deal_id_for(site_id: int, provider: str, external_id: str) -> uuid.UUID:
    return uuid.uuid5(DEAL_NAMESPACE, f"{site_id}/{provider}/{external_id}")


def _newer(update: DealUpdate, previous: Any) -> bool:
    if previous is None:
        return True
    at, update_id = previous
    stamp = update.occurred_at.isoformat()
    return (stamp, update.update_id) > (at, update_id)


def _match_lead(session: Session, site_id: int, deal: Deal) -> uuid.UUID | None:
    if deal.contact_email:
        found = session.scalars(
            select(Lead.id).where(Lead.site_id == site_id, Lead.email == deal.contact_email.lower())
        ).first()
        if found:
            return found
    if deal.contact_phone:
        return session.scalars(
            select(Lead.id).where(Lead.site_id == site_id, Lead.phone == deal.contact_phone)
        ).first()
    return None


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
    closing = (deal.closed_at, deal.status, deal.deleted)
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
    if update.lead_id is not None and deal.lead_id != update.lead_id:
        deal.lead_id = update.lead_id
        changed.append("lead_id")
    if deal.lead_id is None:
        deal.lead_id = _match_lead(session, site_id, deal)
    deal.field_times = times
    deal.last_event_at = max(deal.last_event_at, update.occurred_at)
    deal.updated_at = now
    session.flush()
    _advance_lead(session, deal, times)
    changes.lead_changed(session, site_id, previous_lead, deal.lead_id)
    if closing[0] is not None and closing != (deal.closed_at, deal.status, deal.deleted):
        # The lead refresh sees the deal's new closing only; the old day's win-rate credit
        # must go too.
        changes.credit_days_stale(session, site_id, [closing[0]])
    return Applied(deal=deal, changed=tuple(changed))


def _advance_lead(session: Session, deal: Deal, times: Mapping[str, Any]) -> None:
    """Move the deal's lead forward along the funnel (never backwards) from the deal's state."""
    if deal.lead_id is None or deal.deleted:
        return
    lead = session.get(Lead, (deal.site_id, deal.lead_id))
    if lead is None:
        return
    target = {"won": "customer", "open": "opportunity"}.get(deal.status)
    if target is None:
        return
    if lead.stage in FUNNEL and FUNNEL.index(lead.stage) < FUNNEL.index(target):
        stamp = times.get("status") or times.get("stage")
        at = dt.datetime.fromisoformat(stamp[0]) if stamp else deal.last_event_at
        change_stage(
            session,
            lead,
            target,
            cause="crm",
            at=at,
            detail=f"{deal.provider} deal {deal.external_id}",
        )


def link_waiting_deals(session: Session, lead: Lead) -> int:
    """Link deals that arrived before their lead existed (matched by email or phone)."""
    conditions = [Deal.contact_email == lead.email]
    if lead.phone:
        conditions.append(Deal.contact_phone == lead.phone)
    deals = session.scalars(
        select(Deal).where(Deal.site_id == lead.site_id, Deal.lead_id.is_(None), or_(*conditions))
    ).all()
    for deal in deals:
        deal.lead_id = lead.id
        changes.lead_changed(session, lead.site_id, lead.id)
        session.flush()
        _advance_lead(session, deal, deal.field_times or {})
    return len(deals)


def deal_revenue(deal: Deal) -> decimal.Decimal:
    """What a deal contributes to revenue: its amount when won and not deleted, else 0."""
    if deal.deleted or deal.status != "won" or deal.amount is None:
        return decimal.Decimal(0)
    return deal.amount
