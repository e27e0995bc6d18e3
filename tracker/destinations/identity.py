"""Who a conversion is about, as the platforms match it: the lead's email and phone, its ad
clicks oldest first (the original click is the one click-based uploads use), the browser ids
the snippet saw (``_ga`` client id, ``_fbp``, ``_fbc``), and consent.

Consent: on a site in consent mode the snippet tracks nobody before they grant it, so a lead
with tracked sessions granted it and one without (a CRM-only lead) did not."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.destinations.formats.conversion import Click
from tracker.leads.identity import reachable_email
from tracker.models import Lead, LeadVisitor, Site, VisitSession
from tracker.sites.settings import site_settings


@dataclass(frozen=True, slots=True)
class LeadIdentity:
    email: str | None
    phone: str | None
    clicks: tuple[Click, ...]
    ga_client_id: str | None
    fbp: str | None
    fbc: str | None
    consent: bool | None


def load_identity(session: Session, site: Site, lead_id: uuid.UUID) -> LeadIdentity | None:
    """``None`` when the lead is gone (erased)."""
    lead = session.get(Lead, (site.id, lead_id))
    if lead is None:
        return None
    rows = session.execute(
        select(VisitSession.click_id_kind, VisitSession.click_id,
               VisitSession.click_seen_at, VisitSession.started_at)
        .join(LeadVisitor, (LeadVisitor.site_id == VisitSession.site_id)
              & (LeadVisitor.visitor_id == VisitSession.visitor_id))
        .where(VisitSession.site_id == site.id, LeadVisitor.lead_id == lead_id)
        .order_by(VisitSession.started_at)
    ).all()
    clicks = tuple(Click(kind, value, seen or started) for kind, value, seen, started in rows
                   if kind and value)
    consent = None if site_settings(site).consent_mode == "off" else bool(rows)
    ids = lead.ad_ids or {}
    return LeadIdentity(
        email=reachable_email(lead.email), phone=lead.phone, clicks=clicks,
        ga_client_id=ids.get("ga_client_id"), fbp=ids.get("fbp"), fbc=ids.get("fbc"),
        consent=consent,
    )
