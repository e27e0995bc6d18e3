"""GDPR erasure: remove a person everywhere.

The lead, its contact details, its stage and score history, its offline touches, every
session and event of the visitors (devices) it owned, and those visitors themselves go. A
visitor that later became another lead keeps the sessions that belong to that other lead
(and so its id); sessions it had as the erased person go. Revenue that must stay in totals
(CRM deals, once they exist) stays without any link to the person.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from tracker import changes
from tracker.models import (
    AttributionCredit,
    Call,
    ConversionOutbox,
    CrmContact,
    CrmOutbox,
    Event,
    Lead,
    LeadVisitor,
    OfflineTouch,
    ScoreChange,
    SegmentUser,
    StageChange,
    Visitor,
    VisitSession,
)


@dataclass(frozen=True, slots=True)
class Erased:
    leads: int
    visitors: int
    sessions: int
    events: int


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def erase_person(session: Session, lead: Lead) -> Erased:
    """Delete everything that identifies ``lead``'s person; the caller commits."""
    site_id = lead.site_id
    links = session.scalars(
        select(LeadVisitor).where(LeadVisitor.site_id == site_id, LeadVisitor.lead_id == lead.id)
    ).all()
    sessions_erased = events_erased = visitors_erased = 0
    for link in links:
        conditions = [VisitSession.site_id == site_id, VisitSession.visitor_id == link.visitor_id]
        if link.valid_from is not None:
            conditions.append(VisitSession.started_at >= link.valid_from)
        if link.valid_to is not None:
            conditions.append(VisitSession.started_at < link.valid_to)
        owned = and_(*conditions)
        changes.traffic_changed(
            session, site_id, session.scalars(select(VisitSession.started_at).where(owned))
        )
        session_ids = select(VisitSession.id).where(owned).scalar_subquery()
        events_erased += _count(
            session.execute(
                delete(Event).where(Event.site_id == site_id, Event.session_id.in_(session_ids))
            )
        )
        sessions_erased += _count(session.execute(delete(VisitSession).where(owned)))
    # Queued CRM pushes carry no contact details, but would re-create the person in the CRM;
    # queued conversions would send the person's hashed email to ad platforms.
    for model in (OfflineTouch, StageChange, ScoreChange, LeadVisitor, CrmOutbox,
                  ConversionOutbox):
        session.execute(delete(model).where(model.site_id == site_id, model.lead_id == lead.id))
    # What CRMs told us of the person's records (email, phone, the link to the lead).
    session.execute(delete(CrmContact).where(
        CrmContact.site_id == site_id,
        or_(CrmContact.lead_id == lead.id, CrmContact.email == lead.email),
    ))
    # Their tracked calls stay in the call counts, without the caller's number or the link.
    session.execute(update(Call).where(Call.site_id == site_id, Call.lead_id == lead.id)
                    .values(caller=None, lead_id=None, visitor_id=None))
    # Segment userIds name the person too (tracker.segment): their links to these visitors go.
    session.execute(delete(SegmentUser).where(
        SegmentUser.site_id == site_id,
        SegmentUser.visitor_id.in_({link.visitor_id for link in links}),
    ))
    for visitor_id in {link.visitor_id for link in links}:
        other_owner = session.scalar(
            select(func.count())
            .select_from(LeadVisitor)
            .where(LeadVisitor.site_id == site_id, LeadVisitor.visitor_id == visitor_id)
        )
        if other_owner:
            continue
        session.execute(
            delete(Event).where(Event.site_id == site_id, Event.visitor_id == visitor_id)
        )
        visits = and_(VisitSession.site_id == site_id, VisitSession.visitor_id == visitor_id)
        changes.traffic_changed(
            session, site_id, session.scalars(select(VisitSession.started_at).where(visits))
        )
        session.execute(delete(VisitSession).where(visits))
        visitors_erased += _count(
            session.execute(
                delete(Visitor).where(Visitor.site_id == site_id, Visitor.id == visitor_id)
            )
        )
    # The lead's stored credits go with it (ON DELETE CASCADE): the rollups of the days they
    # count on (their conversions' and their deals' closings) are stale.
    credit_days = session.execute(
        select(AttributionCredit.converted_at, AttributionCredit.deal_closed_at)
        .where(AttributionCredit.site_id == site_id, AttributionCredit.lead_id == lead.id)
        .distinct()
    ).all()
    changes.credit_days_stale(
        session, site_id, {moment for row in credit_days for moment in row if moment is not None}
    )
    changes.lead_changed(session, site_id, lead.id)
    session.execute(delete(Lead).where(Lead.site_id == site_id, Lead.id == lead.id))
    session.flush()
    return Erased(leads=1, visitors=visitors_erased, sessions=sessions_erased, events=events_erased)
