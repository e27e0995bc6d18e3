"""Store a parsed Segment request through the collector's own code paths.

Page, track and identify messages become the events ``/collect`` and ``/identify`` would have
stored (the same sessionizing, channel rules, privacy scrubbing and deduplication by event id);
``context.campaign`` is the landing touch the snippet would have captured. A ``userId`` keeps
the visitors it was seen with (``segment_users``): an identify naming an email stitches all of
them to the lead with :func:`tracker.leads.identity.stitch_visitor_to_lead`, as ``/identify`` does,
and a visitor later seen with a known user joins that user's lead. Everything of one request
is written in one transaction; the caller answers only after it is committed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tracker.collect.devices import Device, describe_user_agent
from tracker.collect.parsing import Batch, IncomingEvent, LandingTouch
from tracker.collect.runtime import Collector
from tracker.collect.service import (
    PreparedBatch,
    SiteInfo,
    check_consent,
    prepare_batch,
    store_batches,
)
from tracker.db import insert_ignore, transaction
from tracker.leads.identity import Identity, stitch_visitor_to_lead
from tracker.leads.scoring import rescore_active_leads, rescore_lead
from tracker.metrics import RejectionReason, count_rejection_reason, count_stored
from tracker.models import Lead, LeadVisitor, SegmentUser, Visitor
from tracker.segment.parsing import USER_ONLY_PREFIX, SegmentMessage, SegmentRequest

# Group and screen calls describe accounts and app screens, not web visits: acknowledged (as
# Segment does) and not stored.
STORED_TYPES = frozenset({"page", "track", "identify"})
# A server library's message without ``context.userAgent`` comes from the customer's backend
# about a known person, not from an unidentified client (which the collector takes for a bot).
SERVER_DEVICE = Device(browser=None, os=None, device_type="other", is_bot=False, bot_family=None)


@dataclass(frozen=True, slots=True)
class Stored:
    events: int
    ignored: int


def _event_of(message: SegmentMessage) -> IncomingEvent:
    page = message.page
    kind = {"page": "pageview", "track": "custom", "identify": "identify"}[message.type]
    name = message.name
    if kind == "pageview" and page.url is None:
        # A server-side page call without a URL (``analytics.page(user, "Pricing")``) has no
        # landing page to classify: kept as a named custom event.
        kind, name = "custom", f"page: {message.name or '(unnamed)'}"[:100]
    touch = None
    if message.utm:
        touch = LandingTouch(utm=dict(message.utm), click_id_kind=None, click_id=None,
                             seen_at=None, referrer=page.referrer, url=page.url)
    return IncomingEvent(
        id=message.event_id, type=kind, occurred_at=message.occurred_at, url=page.url,
        referrer=page.referrer, title=page.title, screen_width=None, screen_height=None,
        language=None, name=name if kind == "custom" else None, props=message.props,
        touch=touch,
    )


def build_batches(request: SegmentRequest, received_at: dt.datetime
                  ) -> list[tuple[Batch, str | None, str | None]]:
    """One collector batch per visitor and device (user agent, address), each with its user
    agent and address; a messageId repeated in the request is stored once."""
    grouped: dict[tuple[str, str | None, str | None, bool | None], list[IncomingEvent]] = (
        defaultdict(list))
    seen: set[str] = set()
    for message in request.messages:
        if message.type not in STORED_TYPES or message.event_id in seen:
            continue
        seen.add(message.event_id)
        key = (message.visitor_id, message.user_agent, message.ip, message.consent)
        grouped[key].append(_event_of(message))
    return [
        (Batch(write_key=request.write_key, visitor_id=visitor_id, consent=consent,
               events=tuple(events), received_at=received_at), user_agent, ip)
        for (visitor_id, user_agent, ip, consent), events in grouped.items()
    ]


@dataclass
class _Stitching:
    """The leads this request linked or took sessions from, rescored before commit."""

    leads: dict[uuid.UUID, Lead] = field(default_factory=dict)
    previous: set[uuid.UUID] = field(default_factory=set)


def _visitors_of(session: Session, site_id: int, user_id: str) -> list[str]:
    return list(session.scalars(
        select(SegmentUser.visitor_id)
        .where(SegmentUser.site_id == site_id, SegmentUser.user_id == user_id)
        .order_by(SegmentUser.first_seen_at, SegmentUser.visitor_id)
    ))


def _lead_of(session: Session, site_id: int, visitor_ids: Sequence[str]) -> Lead | None:
    """The lead one of the user's visitors currently belongs to (the latest linked)."""
    if not visitor_ids:
        return None
    lead_id = session.scalars(
        select(LeadVisitor.lead_id)
        .where(LeadVisitor.site_id == site_id, LeadVisitor.visitor_id.in_(visitor_ids),
               LeadVisitor.valid_to.is_(None))
        .order_by(LeadVisitor.linked_at.desc())
        .limit(1)
    ).first()
    return session.get(Lead, (site_id, lead_id)) if lead_id is not None else None


def _stitch(session: Session, site_id: int, visitors: Iterable[str], identity: Identity,
            at: dt.datetime, stitching: _Stitching) -> None:
    for visitor_id in visitors:
        if session.get(Visitor, (site_id, visitor_id)) is None:
            continue  # an alias's previousId that never sent an event: linked when it does
        stitched = stitch_visitor_to_lead(session, site_id, visitor_id, identity, at,
                                          cause="identify")
        stitching.leads[stitched.lead.id] = stitched.lead
        stitching.previous.update(stitched.previous_lead_ids)


def _link_users(session: Session, site_id: int, messages: Sequence[SegmentMessage],
                skipped_visitors: set[str]) -> _Stitching:
    """Record each (userId, visitor) pair and stitch, in message time order: an identify
    with an email takes every visitor the user was seen with; a visitor seen with a user who
    already has a lead joins it."""
    stitching = _Stitching()
    settled: set[tuple[str | None, str]] = set()
    for message in sorted(messages, key=lambda m: (m.occurred_at, m.index)):
        if message.type not in {*STORED_TYPES, "alias"}:
            continue
        visitor_id = message.previous_visitor_id or message.visitor_id
        if visitor_id in skipped_visitors:
            continue  # a bot, or a browser that asked not to be tracked
        pair = (message.user_id, visitor_id)
        if message.identity is None and pair in settled:
            continue  # this request already linked them: a batch of one user's events
        settled.add(pair)
        visitors = [visitor_id]
        if message.user_id is not None:
            insert_ignore(session, SegmentUser.__table__,  # type: ignore[arg-type]
                          [{"site_id": site_id, "user_id": message.user_id,
                            "visitor_id": visitor_id, "first_seen_at": message.occurred_at}],
                          ["site_id", "user_id", "visitor_id"])
            visitors = _visitors_of(session, site_id, message.user_id)
        if message.identity is not None:
            _stitch(session, site_id, visitors, message.identity, message.occurred_at,
                    stitching)
        elif message.user_id is not None:
            lead = _lead_of(session, site_id, visitors)
            if lead is not None:
                _stitch(session, site_id, [visitor_id], Identity(email=lead.email),
                        message.occurred_at, stitching)
    return stitching


def store_request(engine: Engine, collector: Collector, site: SiteInfo,
                  prepared: Sequence[PreparedBatch], request: SegmentRequest,
                  skipped_visitors: set[str], now: dt.datetime) -> None:
    """Store the request's events, user links and stitching in one transaction, then rescore
    the leads whose visitors sent events (as the collector does after its commit)."""
    with transaction(engine) as session:
        bots = {batch.visitor_id for batch in prepared
                if batch.device.is_bot and not collector.keep_bots}
        active = (store_batches(session.connection(), prepared, collector.keep_bots)
                  if prepared else {})
        stitching = _link_users(session, site.id, request.messages, skipped_visitors | bots)
        rules = site.settings.scoring_rules
        rescored = [*stitching.leads, *sorted(stitching.previous)]
        for lead_id in rescored:
            lead = stitching.leads.get(lead_id) or session.get(Lead, (site.id, lead_id))
            if lead is not None:
                rescore_lead(session, lead, rules, site.settings.mql_threshold, now)
    rescore_active_leads(engine, prepared, active, rescored=set(rescored))


def attach_to_known_visitors(engine: Engine, site_id: int, request: SegmentRequest
                             ) -> SegmentRequest:
    """Messages naming only a userId (a backend's) go to the visitor that user was last seen
    with, in this request or before: they join that browser's session instead of opening a
    Direct session of a made-up visitor, which would count as a touch of its own."""
    seen: dict[str, str] = {}
    missing = {m.user_id for m in request.messages
               if m.user_id is not None and m.visitor_id.startswith(USER_ONLY_PREFIX)}
    if not missing:
        return request
    with Session(engine) as session:
        for user_id, visitor_id in session.execute(
            select(SegmentUser.user_id, SegmentUser.visitor_id)
            .where(SegmentUser.site_id == site_id, SegmentUser.user_id.in_(missing))
            .order_by(SegmentUser.first_seen_at, SegmentUser.visitor_id)
        ):
            seen[user_id] = visitor_id
    messages = []
    for message in sorted(request.messages, key=lambda m: (m.occurred_at, m.index)):
        if message.user_id is not None:
            if not message.visitor_id.startswith(USER_ONLY_PREFIX):
                seen[message.user_id] = message.visitor_id
            elif message.user_id in seen:
                message = replace(message, visitor_id=seen[message.user_id])
        messages.append(message)
    return replace(request, messages=tuple(sorted(messages, key=lambda m: m.index)))


def accept_request(engine: Engine, collector: Collector, site: SiteInfo,
                   request: SegmentRequest, client_ip: str | None, gpc: bool,
                   now: dt.datetime) -> Stored:
    """Prepare (consent, GPC, device, classification) and store ``request``; blocks until
    committed. ``client_ip`` stands in for messages without ``context.ip``."""
    request = attach_to_known_visitors(engine, site.id, request)
    prepared: list[PreparedBatch] = []
    skipped: set[str] = set()
    for batch, user_agent, ip in build_batches(request, now):
        check_consent(site, batch)
        if gpc and site.settings.honor_gpc:
            count_rejection_reason(RejectionReason.GPC)
            skipped.add(batch.visitor_id)
            continue
        device = describe_user_agent(user_agent) if user_agent else SERVER_DEVICE
        prepared.append(prepare_batch(batch, site, device, ip or client_ip))
    store_request(engine, collector, site, prepared, request, skipped, now)
    for ready in prepared:
        count_stored(len(ready.events), ready.device.is_bot)
    ignored = sum(1 for m in request.messages if m.type not in {*STORED_TYPES, "alias"})
    return Stored(events=sum(len(ready.events) for ready in prepared), ignored=ignored)
