"""A reported call in two steps: store it as received (deduplicated by the provider's call
id), then apply it: resolve the number and time to whoever held the number and make it a
lead conversion through the same code as ``/api/v1/conversions``. Services take the session
first and never commit; tracker.calls.inbox runs each step in its own transaction.

A lead needs an email (tracker.leads.identity); a caller known only by phone becomes the lead of an
address under the reserved ``.invalid`` domain (RFC 2606) built from the number, so the same
caller is always the same lead. CRMs and ad platforms get such a lead by phone, never by that
placeholder (``tracker.leads.identity.reachable_email``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.calls.assign import assignment_at
from tracker.calls.providers import CallReport
from tracker.db import insert_ignore
from tracker.leads.identity import Identity, current_lead_of_visitor, phone_only_email
from tracker.leads.service import Conversion, OfflineTouchInput, record_conversion
from tracker.models import (
    Call,
    CallAssignment,
    CallPool,
    CallSettings,
    Lead,
    VisitSession,
)
from tracker.sites.settings import SiteSettings

RECEIVED, APPLIED, FAILED = "received", "applied", "failed"


@dataclass(frozen=True, slots=True)
class Stored:
    status: str
    created: bool  # False: a redelivery of a call already stored


def phone_identity(session: Session, site_id: int, caller: str) -> Identity:
    """The identity of an existing lead with this phone, else the caller's phone-only one."""
    lead = session.scalars(
        select(Lead).where(Lead.site_id == site_id, Lead.phone == caller)
        .order_by(Lead.created_at).limit(1)
    ).first()
    if lead is not None:
        return Identity(email=lead.email, phone=caller)
    return Identity(email=phone_only_email(caller), phone=caller)


def _source(session: Session, site_id: int, assignment: CallAssignment | None
            ) -> tuple[CallPool | None, VisitSession | None]:
    if assignment is None:
        return None, None
    pool = session.get(CallPool, (site_id, assignment.pool_id))
    visit = (session.get(VisitSession, (site_id, assignment.session_id))
             if assignment.session_id is not None else None)
    return pool, visit


def _source_fields(pool: CallPool | None, visit: VisitSession | None
                   ) -> dict[str, str | None]:
    """What the held number says of the call's source: everything of the visitor's session
    for a per-visitor number; of a shared number only what it stands for (the channel, or the
    campaign with its source and medium), as other visitors saw it too."""
    fields: dict[str, str | None] = dict.fromkeys(("channel", "source", "medium", "campaign",
                                                   "term"))
    if pool is None or visit is None:
        return fields
    fields["channel"] = visit.channel
    if pool.scope in {"campaign", "visitor"}:
        fields.update(source=visit.source, medium=visit.medium, campaign=visit.campaign)
    if pool.scope == "visitor":
        fields["term"] = visit.term
    return fields


def store_call(session: Session, site_id: int, report: CallReport, now: dt.datetime
               ) -> Stored:
    """Store ``report`` as received, once per provider call id (``INSERT … ON CONFLICT DO
    NOTHING``); a redelivery finds the first row and its state."""
    existing = session.get(Call, (site_id, report.provider, report.call_id))
    if existing is not None:
        return Stored(status=existing.status, created=False)
    insert_ignore(session, Call.__table__, [{  # type: ignore[arg-type]
        "site_id": site_id, "provider": report.provider, "call_id": report.call_id,
        "called": report.called, "caller": report.caller, "started_at": report.started_at,
        "duration_s": report.duration_s, "answered": report.answered,
        "payload": dict(report.payload), "received_at": now, "status": RECEIVED,
        "attempts": 0,
    }], ["site_id", "provider", "call_id"])
    status = session.scalars(select(Call.status).where(
        Call.site_id == site_id, Call.provider == report.provider,
        Call.call_id == report.call_id)).one()
    return Stored(status=status, created=True)


def apply_call(session: Session, site_id: int, settings: SiteSettings, call: Call,
               now: dt.datetime) -> None:
    """Resolve a stored call's number and time to whoever held the number, and make a long
    enough call with a caller id a conversion of that visitor's (or the caller's) lead.
    Idempotent: the conversion id is the provider's call id."""
    assignment = assignment_at(session, site_id, call.called, call.started_at)
    pool, visit = _source(session, site_id, assignment)
    per_visitor = pool is not None and pool.scope == "visitor"
    fields = _source_fields(pool, visit)
    visitor_id = assignment.visitor_id if assignment is not None and per_visitor else None
    call_settings = session.get(CallSettings, site_id)
    min_duration = call_settings.min_duration_s if call_settings else 0
    lead_id = None
    if call.caller is not None and call.duration_s >= min_duration:
        lead_id = _convert(session, site_id, settings, call, visitor_id, fields, now)
    call.assignment_id = assignment.id if assignment else None
    call.visitor_id = visitor_id
    call.lead_id = lead_id
    for name, value in fields.items():
        setattr(call, name, value)
    call.status = APPLIED
    call.attempts += 1
    call.error = None
    call.applied_at = now


def _convert(session: Session, site_id: int, settings: SiteSettings, call: Call,
             visitor_id: str | None, fields: dict[str, str | None], now: dt.datetime
             ) -> uuid.UUID:
    assert call.caller is not None
    known = current_lead_of_visitor(session, site_id, visitor_id) if visitor_id else None
    identity = (Identity(email=known.email, phone=call.caller) if known is not None
                else phone_identity(session, site_id, call.caller))
    conversion_id = f"call-{call.provider}-{call.call_id}"[:64]
    # The visitor's sessions are the call's touches; without one, the call is a touch itself.
    touch = None if visitor_id is not None else OfflineTouchInput(
        id=conversion_id, kind="call", occurred_at=call.started_at,
        channel=fields["channel"] or "Direct",
        fields={"source": fields["source"], "medium": fields["medium"],
                "campaign": fields["campaign"], "term": fields["term"], "content": None},
        note="answered" if call.answered else "missed")
    lead, _ = record_conversion(session, site_id, settings, Conversion(
        id=conversion_id, kind="call", occurred_at=call.started_at, identity=identity,
        visitor_id=visitor_id, touch=touch), now)
    if not lead.phone:
        lead.phone = call.caller
    return lead.id
