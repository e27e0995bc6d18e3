"""Lead services behind the API and the CLI: conversions from backends, offline touches,
listing with filters, one lead's journey, and manual stage changes (single and bulk)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from tracker import changes
from tracker.db import insert_ignore
from tracker.errors import NotFound, ValidationError
from tracker.leads.identity import (
    Identity,
    clean_text,
    current_lead_of_visitor,
    lead_sessions,
    normalise_phone,
    parse_identity,
    stitch_visitor_to_lead,
    upsert_lead,
)
from tracker.leads.scoring import rescore_lead
from tracker.leads.stages import change_stage, check_stage
from tracker.localtime import iso_utc
from tracker.models import (
    Call,
    Deal,
    Event,
    Lead,
    LeadVisitor,
    OfflineTouch,
    ScoreChange,
    StageChange,
    VisitSession,
)
from tracker.rules.channels import TouchInput, classify_channel
from tracker.rules.score_rules import label_for
from tracker.sites.settings import SiteSettings
from tracker.validation import (
    MAX_PAGE,
    RuleRefused,
    check_choice,
    normalise_email,
    parse_datetime,
    parse_whole,
    uuid_or_not_found,
)

MAX_OFFSET = 10_000_000
OFFLINE_KINDS = frozenset(
    {
        "call",
        "chat",
        "meeting",
        "event",
        "trade_show",
        "webinar",
        "email",
        "crm_activity",
        "signup",
        "other",
    }
)
_TOUCH_FIELDS = ("source", "medium", "campaign", "term", "content")


def _check_keys(data: Mapping[str, Any], allowed: set[str], prefix: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise ValidationError("unknown field", field=f"{prefix}{key}")


def _external_id(raw: object, field: str = "id") -> str:
    if not isinstance(raw, str) or not 1 <= len(raw) <= 64:
        raise ValidationError(
            "expected an id of 1 to 64 characters (retries reuse it)", field=field
        )
    return raw


def _offline_channel(fields: Mapping[str, str | None], explicit: str | None) -> str:
    if explicit:
        return explicit
    touch = TouchInput(
        utm_source=fields.get("source"),
        utm_medium=fields.get("medium"),
        utm_campaign=fields.get("campaign"),
    )
    return classify_channel(touch).channel if touch.has_source else "Offline"


@dataclass(frozen=True, slots=True)
class OfflineTouchInput:
    id: str
    kind: str
    occurred_at: dt.datetime
    channel: str
    fields: Mapping[str, str | None]
    note: str | None


def parse_offline_touch(data: Mapping[str, Any], prefix: str = "") -> OfflineTouchInput:
    _check_keys(
        data, {"id", "kind", "occurred_at", "channel", "note", "email", *_TOUCH_FIELDS}, prefix
    )
    kind = check_choice(data.get("kind"), OFFLINE_KINDS, f"{prefix}kind")
    fields: dict[str, str | None] = {}
    for name in _TOUCH_FIELDS:
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > 200):
            raise ValidationError(
                "expected a string of at most 200 characters", field=f"{prefix}{name}"
            )
        fields[name] = value or None
    channel = data.get("channel")
    if channel is not None and (not isinstance(channel, str) or not 1 <= len(channel) <= 40):
        raise ValidationError(
            "expected a channel name of 1 to 40 characters", field=f"{prefix}channel"
        )
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 1000):
        raise ValidationError("expected a string of at most 1000 characters", field=f"{prefix}note")
    return OfflineTouchInput(
        id=_external_id(data.get("id"), f"{prefix}id"),
        kind=str(kind),
        occurred_at=parse_datetime(data.get("occurred_at"), f"{prefix}occurred_at"),
        channel=_offline_channel(fields, channel),
        fields=fields,
        note=note,
    )


def add_offline_touch(
    session: Session, lead: Lead, touch: OfflineTouchInput, now: dt.datetime
) -> None:
    """Attach ``touch`` to ``lead``; the same id again is ignored."""
    insert_ignore(
        session,
        OfflineTouch.__table__,  # type: ignore[arg-type]
        [
            {
                "site_id": lead.site_id,
                "id": touch.id,
                "lead_id": lead.id,
                "kind": touch.kind,
                "occurred_at": touch.occurred_at,
                "channel": touch.channel,
                **touch.fields,
                "note": touch.note,
                "created_at": now,
            }
        ],
        ["site_id", "id"],
    )
    changes.lead_changed(session, lead.site_id, lead.id)


@dataclass(frozen=True, slots=True)
class Conversion:
    id: str
    kind: str
    occurred_at: dt.datetime
    identity: Identity | None
    visitor_id: str | None
    touch: OfflineTouchInput | None


def parse_conversion(data: Mapping[str, Any]) -> Conversion:
    _check_keys(
        data,
        {"id", "kind", "occurred_at", "email", "name", "phone", "company", "visitor_id", "touch"},
    )
    identity = parse_identity(dict(data)) if data.get("email") is not None else None
    if identity is None:  # contact details without an email are not kept, but still checked
        normalise_phone(data.get("phone"))
        for name in ("name", "company"):
            clean_text(data.get(name), name)
    visitor_id = data.get("visitor_id")
    if visitor_id is not None and (
        not isinstance(visitor_id, str) or not 8 <= len(visitor_id) <= 64
    ):
        raise ValidationError("expected the visitor id from the _lt_vid cookie", field="visitor_id")
    if identity is None and visitor_id is None:
        raise ValidationError("give an email, a visitor_id, or both", field="email")
    kind = check_choice(data.get("kind"), OFFLINE_KINDS, "kind")
    touch_data = data.get("touch")
    touch = None
    if touch_data is not None:
        if not isinstance(touch_data, dict):
            raise ValidationError("expected an object", field="touch")
        touch = parse_offline_touch(
            {
                "id": data.get("id"),
                "kind": kind,
                "occurred_at": data.get("occurred_at"),
                **touch_data,
            },
            "touch.",
        )
    return Conversion(
        id=_external_id(data.get("id")),
        kind=str(kind),
        occurred_at=parse_datetime(data.get("occurred_at"), "occurred_at"),
        identity=identity,
        visitor_id=visitor_id,
        touch=touch,
    )


def record_conversion(
    session: Session, site_id: int, settings: SiteSettings, conversion: Conversion, now: dt.datetime
) -> tuple[Lead, bool]:
    """A backend conversion: find or create the lead, inherit the visitor's stored touches
    (when a visitor id is given), attach the optional offline touch, rescore."""
    if conversion.visitor_id is not None and conversion.identity is not None:
        stitched = stitch_visitor_to_lead(
            session,
            site_id,
            conversion.visitor_id,
            conversion.identity,
            conversion.occurred_at,
            cause="conversion",
        )
        lead, created = stitched.lead, stitched.created
    elif conversion.identity is not None:
        lead, created = upsert_lead(
            session, site_id, conversion.identity, conversion.occurred_at, "conversion"
        )
    else:
        assert conversion.visitor_id is not None
        found = current_lead_of_visitor(session, site_id, conversion.visitor_id)
        if found is None:
            raise RuleRefused("this visitor is not a lead yet: give an email too", field="email")
        lead, created = found, False
    if conversion.touch is not None:
        add_offline_touch(session, lead, conversion.touch, now)
    rescore_lead(
        session, lead, settings.scoring_rules, settings.mql_threshold, now
    )
    return lead, created


def lead_for_email(session: Session, site_id: int, email: object, field: str = "email") -> Lead:
    lead = session.scalars(
        select(Lead).where(Lead.site_id == site_id, Lead.email == normalise_email(email, field))
    ).first()
    if lead is None:
        raise NotFound("no lead with that email", field=field)
    return lead


def lead_by_reference(session: Session, site_id: int, reference: str) -> Lead:
    """A lead by email (anything with an @) or by id."""
    if "@" in reference:
        return lead_for_email(session, site_id, reference)
    return get_lead(session, site_id, reference)


def get_lead(session: Session, site_id: int, lead_id: str) -> Lead:
    lead = session.get(Lead, (site_id, uuid_or_not_found(lead_id, "lead", "lead_id")))
    if lead is None:
        raise NotFound("no such lead", field="lead_id")
    return lead


@dataclass(frozen=True, slots=True)
class LeadFilter:
    stage: str | None = None
    first_channel: str | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    search: str | None = None
    limit: int = 100
    offset: int = 0

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> LeadFilter:
        _check_keys(
            args, {"stage", "first_channel", "created_from", "created_to", "q", "limit", "offset"}
        )

        def number(name: str, default: int, high: int) -> int:
            raw = args.get(name)
            if raw is None:
                return default
            return parse_whole(raw, name, 0, high)

        return cls(
            stage=check_stage(args["stage"]) if "stage" in args else None,
            first_channel=args.get("first_channel") or None,
            created_from=parse_datetime(args["created_from"], "created_from")
            if "created_from" in args
            else None,
            created_to=parse_datetime(args["created_to"], "created_to")
            if "created_to" in args
            else None,
            search=(args.get("q") or "").strip().lower() or None,
            limit=max(1, number("limit", 100, MAX_PAGE)),
            offset=number("offset", 0, MAX_OFFSET),
        )


def list_leads(session: Session, site_id: int, where: LeadFilter) -> list[tuple[Lead, str | None]]:
    """Leads with their first-touch channel, newest first. One query."""
    first = aliased(VisitSession)
    query = (
        select(Lead, first.channel)
        .outerjoin(first, (first.site_id == Lead.site_id) & (first.id == Lead.first_session_id))
        .where(Lead.site_id == site_id)
    )
    if where.stage:
        query = query.where(Lead.stage == where.stage)
    if where.first_channel:
        query = query.where(first.channel == where.first_channel)
    if where.created_from:
        query = query.where(Lead.created_at >= where.created_from)
    if where.created_to:
        query = query.where(Lead.created_at < where.created_to)
    if where.search:
        pattern = f"%{where.search}%"
        query = query.where(
            Lead.email.like(pattern) | Lead.name.ilike(pattern) | Lead.company.ilike(pattern)
        )
    query = query.order_by(Lead.created_at.desc(), Lead.id).limit(where.limit).offset(where.offset)
    return [(row[0], row[1]) for row in session.execute(query)]


def _iso(value: dt.datetime | None) -> str | None:
    return iso_utc(value) if value else None


def lead_summary(lead: Lead, first_channel: str | None, mql_threshold: int) -> dict[str, Any]:
    return {
        "id": str(lead.id),
        "email": lead.email,
        "name": lead.name,
        "phone": lead.phone,
        "company": lead.company,
        "stage": lead.stage,
        "score": lead.score,
        "label": label_for(lead.score, mql_threshold),
        "created_at": _iso(lead.created_at),
        "first_channel": first_channel,
    }


def _session_view(visit: VisitSession, pages: Sequence[Event]) -> dict[str, Any]:
    return {
        "id": str(visit.id),
        "visitor_id": visit.visitor_id,
        "started_at": _iso(visit.started_at),
        "ended_at": _iso(visit.ended_at),
        "channel": visit.channel,
        "source": visit.source,
        "medium": visit.medium,
        "campaign": visit.campaign,
        "term": visit.term,
        "content": visit.content,
        "click_id_kind": visit.click_id_kind,
        "click_id": visit.click_id,
        "landing_url": visit.landing_url,
        "referrer": visit.referrer,
        "device_type": visit.device_type,
        "events": [
            {
                "id": e.id,
                "type": e.type,
                "name": e.name,
                "url": e.url,
                "title": e.title,
                "occurred_at": _iso(e.occurred_at),
                "props": e.props,
            }
            for e in pages
        ],
    }


_Row = TypeVar("_Row", OfflineTouch, StageChange, ScoreChange, Deal)


def _rows_of_lead(
    session: Session, model: type[_Row], lead: Lead, *order: Any, where: Any = True
) -> Sequence[_Row]:
    """``model``'s rows of ``lead`` (the table's ``site_id`` and ``lead_id``), in ``order``."""
    return session.scalars(
        select(model)
        .where(model.site_id == lead.site_id, model.lead_id == lead.id, where)
        .order_by(*order)
    ).all()


def lead_journey(session: Session, lead: Lead, mql_threshold: int) -> dict[str, Any]:
    """Everything known of one lead, in time order: sessions with their events, offline
    touches, stage and score history, and the first and lead-creation touches."""
    visits = lead_sessions(session, lead)
    ids = [v.id for v in visits]
    events_by_session: dict[uuid.UUID, list[Event]] = {i: [] for i in ids}
    if ids:
        for event in session.scalars(
            select(Event)
            .where(Event.site_id == lead.site_id, Event.session_id.in_(ids))
            .order_by(Event.occurred_at)
        ):
            events_by_session[event.session_id].append(event)
    touches = _rows_of_lead(session, OfflineTouch, lead, OfflineTouch.occurred_at)
    stages = _rows_of_lead(session, StageChange, lead, StageChange.changed_at)
    scores = _rows_of_lead(session, ScoreChange, lead, ScoreChange.scored_at)
    deals = _rows_of_lead(session, Deal, lead, Deal.created_at, Deal.id,
                          where=Deal.deleted.is_(False))
    visitors = sorted(
        {v.visitor_id for v in visits}
        | set(
            session.scalars(
                select(LeadVisitor.visitor_id).where(
                    LeadVisitor.site_id == lead.site_id, LeadVisitor.lead_id == lead.id
                )
            )
        )
    )
    first_channel = next((v.channel for v in visits if v.id == lead.first_session_id), None)
    return {
        "lead": lead_summary(lead, first_channel, mql_threshold),
        "visitors": visitors,
        "first_touch_session_id": str(lead.first_session_id) if lead.first_session_id else None,
        "lead_creation_session_id": str(lead.creation_session_id)
        if lead.creation_session_id
        else None,
        "sessions": [_session_view(v, events_by_session[v.id]) for v in visits],
        "offline_touches": [
            {
                "id": t.id,
                "kind": t.kind,
                "occurred_at": _iso(t.occurred_at),
                "channel": t.channel,
                "source": t.source,
                "medium": t.medium,
                "campaign": t.campaign,
                "term": t.term,
                "content": t.content,
                "note": t.note,
            }
            for t in touches
        ],
        # Tracked phone calls (tracker.calls) this lead made, with the source they resolved to.
        "calls": [
            {
                "provider": c.provider,
                "call_id": c.call_id,
                "started_at": _iso(c.started_at),
                "tracking_number": c.called,
                "duration_s": c.duration_s,
                "answered": c.answered,
                "channel": c.channel,
                "source": c.source,
                "campaign": c.campaign,
                "term": c.term,
            }
            for c in session.scalars(
                select(Call).where(Call.site_id == lead.site_id, Call.lead_id == lead.id)
                .order_by(Call.started_at)
            )
        ],
        "stage_history": [
            {
                "from": s.from_stage,
                "to": s.to_stage,
                "at": _iso(s.changed_at),
                "cause": s.cause,
                "detail": s.detail,
            }
            for s in stages
        ],
        "score_history": [
            {
                "rule": s.rule,
                "points": s.points,
                "score_after": s.score_after,
                "at": _iso(s.scored_at),
            }
            for s in scores
        ],
        "deals": [
            {
                "id": str(d.id),
                "provider": d.provider,
                "external_id": d.external_id,
                "name": d.name,
                "amount": None if d.amount is None else float(d.amount),
                "currency": d.currency,
                "stage": d.stage,
                "status": d.status,
                "owner": d.owner,
                "created_at": _iso(d.created_at),
                "closed_at": _iso(d.closed_at),
            }
            for d in deals
        ],
    }


@dataclass(frozen=True, slots=True)
class StageRequest:
    lead_id: str
    stage: str
    at: dt.datetime | None
    detail: str | None


def parse_stage_request(
    data: Mapping[str, Any], prefix: str = "", lead_id: str | None = None
) -> StageRequest:
    allowed = {"stage", "at", "detail"} | ({"lead_id"} if lead_id is None else set())
    _check_keys(data, allowed, prefix)
    target = lead_id if lead_id is not None else data.get("lead_id")
    if not isinstance(target, str):
        raise ValidationError("expected a lead id", field=f"{prefix}lead_id")
    detail = data.get("detail")
    if detail is not None and (not isinstance(detail, str) or len(detail) > 200):
        raise ValidationError(
            "expected a string of at most 200 characters", field=f"{prefix}detail"
        )
    return StageRequest(
        lead_id=target,
        stage=check_stage(data.get("stage"), f"{prefix}stage"),
        at=parse_datetime(data["at"], f"{prefix}at") if data.get("at") is not None else None,
        detail=detail,
    )


def apply_stage_requests(
    session: Session, site_id: int, requests: Sequence[StageRequest], now: dt.datetime
) -> list[Lead]:
    """Manual stage changes; all or nothing (the caller's transaction)."""
    leads = []
    for index, item in enumerate(requests):
        try:
            lead = get_lead(session, site_id, item.lead_id)
        except NotFound:
            raise NotFound(
                "no such lead", field=f"changes.{index}.lead_id" if len(requests) > 1 else "lead_id"
            ) from None
        change_stage(
            session, lead, item.stage, cause="manual", at=item.at or now, detail=item.detail
        )
        leads.append(lead)
    session.flush()
    return leads
