"""Identity: turning a visitor into a lead and keeping a lead's devices together.

``stitch_visitor_to_lead`` is the one place a visitor becomes (part of) a lead. The rules:

* an email is trimmed and lower-cased; the same email is always the same lead of a site;
* identifying back-fills every earlier session of that visitor onto the lead;
* a lead may own many visitors (devices, browsers); all their sessions join its journey;
* when a visitor already owned by lead A identifies as lead B, its sessions up to the one in
  which it identified stay with A, and that session and later ones follow B;
* the lead's first touch is its earliest owned session, its lead-creation touch the session in
  which it first identified.

Services take the session first and never commit.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import changes
from tracker.db import dialect_insert
from tracker.errors import ValidationError
from tracker.leads.deal_links import link_waiting_deals
from tracker.models import Lead, LeadVisitor, StageChange, Visitor, VisitSession
from tracker.validation import RuleRefused, normalise_email

# A caller known only by phone is the lead of an address under this reserved domain (RFC
# 2606), built from the number, so the same caller is always the same lead. It is never
# shown or sent as an address: see :func:`reachable_email`.
PHONE_ONLY_DOMAIN = "phone.invalid"
LEAD_NAMESPACE = uuid.UUID("0b7e4e3c-5a8f-4d55-bf1c-8c1d3e6f2a90")
_PHONE_CHARS = re.compile(r"[^\d+]")
MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Identity:
    """Contact details from a form, an identify call or a backend conversion."""

    email: str
    name: str | None = None
    phone: str | None = None
    company: str | None = None


@dataclass(frozen=True, slots=True)
class Stitched:
    lead: Lead
    created: bool
    linked: bool
    # The leads the visitor's sessions were taken from, whose journeys (and scores) shrank.
    previous_lead_ids: tuple[uuid.UUID, ...] = ()
    # The lead's sessions after the stitch, in time order (its scoring reads them again).
    sessions: tuple[VisitSession, ...] = ()


def normalise_phone(raw: object, field: str = "phone") -> str | None:
    """Digits with an optional leading +; 7 to 15 digits (E.164's range)."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ValidationError("expected a phone number", field=field)
    compact = _PHONE_CHARS.sub("", raw.strip())
    digits = compact.lstrip("+")
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise ValidationError("expected a phone number of 7 to 15 digits", field=field)
    return ("+" if compact.startswith("+") else "") + digits


def phone_only_email(phone: str) -> str:
    """The lead address of a caller known only by ``phone`` (E.164)."""
    return f"{phone.lstrip('+')}@{PHONE_ONLY_DOMAIN}"


def reachable_email(email: str) -> str | None:
    """``email``, or None for a phone-only lead's placeholder: what CRMs, ad platforms and
    people are given as the lead's address."""
    return None if email.endswith("@" + PHONE_ONLY_DOMAIN) else email


def clean_text(raw: object, field: str, max_length: int = MAX_NAME_LENGTH) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ValidationError("expected a string", field=field)
    text = " ".join(raw.split())
    if len(text) > max_length:
        raise ValidationError(f"longer than {max_length} characters", field=field)
    return text or None


def parse_identity(data: dict[str, object], prefix: str = "") -> Identity:
    return Identity(
        email=normalise_email(data.get("email"), f"{prefix}email"),
        name=clean_text(data.get("name"), f"{prefix}name"),
        phone=normalise_phone(data.get("phone"), f"{prefix}phone"),
        company=clean_text(data.get("company"), f"{prefix}company"),
    )


def lead_id_for(site_id: int, email: str) -> uuid.UUID:
    """Deterministic: two racing first identifications of one email make one lead."""
    return uuid.uuid5(LEAD_NAMESPACE, f"{site_id}/{email}")


def current_lead_of_visitor(session: Session, site_id: int, visitor_id: str) -> Lead | None:
    """The lead that owns this browser now (its open ``LeadVisitor`` link), if any."""
    lead_id = session.scalars(
        select(LeadVisitor.lead_id).where(
            LeadVisitor.site_id == site_id,
            LeadVisitor.visitor_id == visitor_id,
            LeadVisitor.valid_to.is_(None),
        )
    ).first()
    return session.get(Lead, (site_id, lead_id)) if lead_id is not None else None


def session_at(
    session: Session, site_id: int, visitor_id: str, at: dt.datetime
) -> VisitSession | None:
    """The visitor's session that contains ``at`` (the latest one started by then)."""
    return session.scalars(
        select(VisitSession)
        .where(
            VisitSession.site_id == site_id,
            VisitSession.visitor_id == visitor_id,
            VisitSession.started_at <= at,
        )
        .order_by(VisitSession.started_at.desc())
        .limit(1)
    ).first()


def upsert_lead(
    session: Session, site_id: int, identity: Identity, at: dt.datetime, cause: str,
    creation_session_id: uuid.UUID | None = None,
) -> tuple[Lead, bool]:
    """The lead of ``identity.email``, created at ``at`` (in ``creation_session_id``) when
    new; contact fields filled in."""
    lead_id = lead_id_for(site_id, identity.email)
    lead = session.get(Lead, (site_id, lead_id))
    created = False
    if lead is None:
        # A new lead's contact fields and creation session go into its INSERT rather than
        # into UPDATEs of the row just written, and the row comes back from the INSERT
        # (RETURNING) instead of from a second read. No row back: a concurrent writer
        # created the lead first, and it is read like any existing lead.
        inserted = session.scalars(
            dialect_insert(session, Lead)  # type: ignore[arg-type]
            .values(site_id=site_id, id=lead_id, email=identity.email,
                    name=identity.name or None, phone=identity.phone or None,
                    company=identity.company or None, creation_session_id=creation_session_id,
                    created_at=at, updated_at=at, stage="lead", stage_changed_at=at, score=0,
                    source_of_creation=cause, crm_ids={})
            .on_conflict_do_nothing(index_elements=["site_id", "id"])
            .returning(Lead)
        ).first()
        created = inserted is not None
        lead = inserted or session.get(Lead, (site_id, lead_id), populate_existing=True)
    assert lead is not None
    if created:
        session.add(
            StageChange(
                site_id=site_id,
                id=uuid.uuid5(lead_id, "created"),
                lead_id=lead_id,
                from_stage=None,
                to_stage="lead",
                changed_at=at,
                cause=cause,
            )
        )
        session.flush()
        changes.lead_changed(session, site_id, lead.id)
        changes.crm_push_due(session, site_id, lead.id, "created")
        changes.milestone_reached(session, site_id, lead.id, "lead", lead.created_at)
        link_waiting_deals(session, lead)
    # A lead created later by a late-arriving earlier identification moves back in time.
    if at < lead.created_at:
        lead.created_at = at
        changes.lead_changed(session, site_id, lead.id)
    # Contact details from an identification older than the lead's last change (a retry, or a
    # delivery set aside by the snippet) do not overwrite newer ones.
    if at >= lead.updated_at:
        for field in ("name", "phone", "company"):
            value = getattr(identity, field)
            if value and value != getattr(lead, field):
                setattr(lead, field, value)
                lead.updated_at = at
    return lead, created


def _add_link(
    session: Session,
    site_id: int,
    lead_id: uuid.UUID,
    visitor_id: str,
    window: tuple[dt.datetime | None, dt.datetime | None],
    at: dt.datetime,
) -> LeadVisitor:
    """The visitor's sessions started in ``window`` (open ends unbounded) belong to the lead."""
    link = LeadVisitor(site_id=site_id, id=uuid.uuid4(), lead_id=lead_id, visitor_id=visitor_id,
                       valid_from=window[0], valid_to=window[1], linked_at=at)
    session.add(link)
    return link


def stitch_visitor_to_lead(
    session: Session,
    site_id: int,
    visitor_id: str,
    identity: Identity,
    at: dt.datetime,
    cause: str = "form",
    unlinked: bool = False,
) -> Stitched:
    """Make ``visitor_id`` part of the lead of ``identity``, as of ``at``.

    Idempotent for retries, and ordered by ``at``: an identification older than the visitor's
    current link (one the snippet set aside, delivered after a later one) takes the sessions
    it would have taken had it arrived in order, and leaves the current link alone; a retry of
    one already in effect changes nothing.

    ``unlinked``: True when the caller read, in this transaction, that the visitor has no
    current lead (the collector does, storing the identify's event); its link is not read
    again.
    """
    identifying = session_at(session, site_id, visitor_id, at)
    # A visitor with a session exists; only one without is looked up.
    if identifying is None and session.get(Visitor, (site_id, visitor_id)) is None:
        raise RuleRefused("unknown visitor: send a page view first", field="vid")
    lead, created = upsert_lead(session, site_id, identity, at, cause,
                                identifying.id if identifying is not None else None)
    current = None
    if not unlinked:
        current = session.scalars(
            select(LeadVisitor).where(
                LeadVisitor.site_id == site_id,
                LeadVisitor.visitor_id == visitor_id,
                LeadVisitor.valid_to.is_(None),
            )
        ).first()
    linked = False
    previous: tuple[uuid.UUID, ...] = ()
    added: LeadVisitor | None = None
    if current is not None and current.lead_id != lead.id and current.linked_at > at:
        previous, added = _link_late(session, site_id, visitor_id, lead, at, identifying)
        linked = added is not None
    elif current is None or current.lead_id != lead.id:
        valid_from = None
        if current is not None:
            switch_at = identifying.started_at if identifying is not None else at
            current.valid_to = switch_at
            valid_from = switch_at
        added = _add_link(session, site_id, lead.id, visitor_id, (valid_from, None), at)
        linked = True
        previous = (current.lead_id,) if current is not None else ()
        session.flush()
    if identifying is not None and (created or lead.creation_session_id is None):
        lead.creation_session_id = identifying.id
    # A lead this transaction created has no links but the one it just added (a concurrent
    # writer of the same lead waits for this commit): its links need no reading back.
    known_links = None
    if created:
        known_links = [added] if added is not None else []
    visits = refresh_first_touch(session, lead, known_links)
    if linked:
        changes.lead_changed(session, site_id, lead.id, *previous)
    return Stitched(lead=lead, created=created, linked=linked, previous_lead_ids=previous,
                    sessions=tuple(visits))


def _link_late(
    session: Session,
    site_id: int,
    visitor_id: str,
    lead: Lead,
    at: dt.datetime,
    identifying: VisitSession | None,
) -> tuple[tuple[uuid.UUID, ...], LeadVisitor | None]:
    """Insert ``lead``'s link among the visitor's links as if its identification (at ``at``,
    older than the current link) had arrived in order; the leads whose windows shrank, and
    the link added (none: nothing changed, as for a retry of an identification already in
    effect)."""
    links = session.scalars(
        select(LeadVisitor)
        .where(LeadVisitor.site_id == site_id, LeadVisitor.visitor_id == visitor_id)
        .order_by(LeadVisitor.linked_at, LeadVisitor.id)
    ).all()
    prior = next((link for link in reversed(links) if link.linked_at <= at), None)
    following = next(link for link in links if link.linked_at > at)
    if prior is not None and prior.lead_id == lead.id:
        return (), None
    start = None if prior is None else identifying.started_at if identifying else at
    end = following.valid_from
    shrunk = [prior.lead_id] if prior is not None else []
    if end is None:  # the following identification was the first: it back-filled everything
        took_over = session_at(session, site_id, visitor_id, following.linked_at)
        end = took_over.started_at if took_over is not None else following.linked_at
    if start is not None and start >= end:
        return (), None  # in order, the following identification took this very session too
    if following.valid_from is None:
        following.valid_from = end
        shrunk.append(following.lead_id)
    if prior is not None:
        prior.valid_to = start
    added = _add_link(session, site_id, lead.id, visitor_id, (start, end), at)
    session.flush()
    for shrunk_id in shrunk:
        shrunk_lead = session.get(Lead, (site_id, shrunk_id))
        if shrunk_lead is not None:
            refresh_first_touch(session, shrunk_lead)
    return tuple(dict.fromkeys(shrunk)), added


def _owns(link: LeadVisitor, started_at: dt.datetime) -> bool:
    return (link.valid_from is None or started_at >= link.valid_from) and (
        link.valid_to is None or started_at < link.valid_to
    )


def lead_sessions(session: Session, lead: Lead,
                  known_links: Sequence[LeadVisitor] | None = None) -> list[VisitSession]:
    """Every session of every visitor the lead owns (inside each link's validity window),
    in time order. ``known_links``: all the lead's links, when the caller knows them.

    Two indexed lookups — the lead's links, then those visitors' sessions — rather than one
    join: without fresh statistics SQLite would start the join from every session of the site.
    """
    if known_links is None:
        known_links = session.scalars(
            select(LeadVisitor).where(LeadVisitor.site_id == lead.site_id,
                                      LeadVisitor.lead_id == lead.id)
        ).all()
    links: dict[str, list[LeadVisitor]] = {}
    for link in known_links:
        links.setdefault(link.visitor_id, []).append(link)
    if not links:
        return []
    candidates = session.scalars(
        select(VisitSession)
        .where(VisitSession.site_id == lead.site_id, VisitSession.visitor_id.in_(list(links)))
        .order_by(VisitSession.started_at, VisitSession.id)
    )
    return [
        visit for visit in candidates
        if any(_owns(link, visit.started_at) for link in links[visit.visitor_id])
    ]


def refresh_first_touch(session: Session, lead: Lead,
                        known_links: Sequence[LeadVisitor] | None = None) -> list[VisitSession]:
    """Point the lead at its first session; the lead's sessions, in time order. (Not flushed:
    rescoring usually follows, and the lead's row is then updated once.)"""
    visits = lead_sessions(session, lead, known_links)
    lead.first_session_id = visits[0].id if visits else None
    return visits
