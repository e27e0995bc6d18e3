"""A lead and its CRM deals: deals that arrived before their lead are linked when it appears
(matched by email, phone or a CRM person record), and a linked deal moves its lead along the
funnel. Here, not in crm/, because creating a lead links them: leads must not import crm/."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from tracker import changes
from tracker.leads.stages import FUNNEL, change_stage
from tracker.models import CrmContact, Deal, Lead


def advance_lead_from_deal(session: Session, deal: Deal, times: Mapping[str, Any]) -> None:
    """Move the deal's lead forward along the funnel (never backwards) from the deal's state,
    and note the deal for the ad-platform destinations (won, restated or retracted)."""
    if deal.lead_id is not None:
        changes.deal_state_changed(session, deal.site_id, deal.id)
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
    """Link deals that arrived before their lead existed (matched by email or phone, or by
    a CRM person record with that email, phone or lead id)."""
    conditions = [Deal.contact_email == lead.email]
    record_conditions = [CrmContact.email == lead.email, CrmContact.lead_id == lead.id]
    if lead.phone:
        conditions.append(Deal.contact_phone == lead.phone)
        record_conditions.append(CrmContact.phone == lead.phone)
    records = session.execute(
        select(CrmContact.provider, CrmContact.external_id).where(
            CrmContact.site_id == lead.site_id, or_(*record_conditions)
        )
    ).all()
    conditions += [
        and_(
            Deal.provider == provider,
            or_(Deal.external_contact_id == record_id, Deal.converted_from_id == record_id),
        )
        for provider, record_id in records
    ]
    deals = session.scalars(
        select(Deal).where(Deal.site_id == lead.site_id, Deal.lead_id.is_(None), or_(*conditions))
    ).all()
    return link_deals_to_lead(session, lead.site_id, lead.id, deals)


def link_deals_to_lead(
    session: Session, site_id: int, lead_id: uuid.UUID, deals: Sequence[Deal]
) -> int:
    """Link ``deals`` to the lead and move it along the funnel; how many were linked."""
    for deal in deals:
        deal.lead_id = lead_id
        changes.lead_changed(session, site_id, lead_id)
        session.flush()
        advance_lead_from_deal(session, deal, deal.field_times or {})
    return len(deals)
