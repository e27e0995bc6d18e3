"""Journeys from the database: every conversion of a site (or of a few leads) with the touches
inside its lookback window, packed as :class:`attribution.JourneyBatch` per conversion type.

Set-based: a fixed number of queries whatever the number of leads (leads, deals, the owned
sessions of all their visitors within each link's validity window, offline touches, exchange
rates); the windows are cut in Python with binary search. Conversions (DESIGN section 1):

- ``lead``: the lead's creation, worth nothing; keyed by the lead id.
- ``opportunity``: a deal of the lead was opened (its CRM ``created_at``), worth its amount
  while the deal is open (the open pipeline); keyed by the deal id.
- ``won``: a deal was won (``closed_at``), worth its amount in the site's currency; the
  lead's first won deal makes it a new customer.

Milestones (attribution/journeys.py): ``lead`` is the session in which the lead was created
(else the last touch before the lead's creation), ``opportunity`` the last touch before the
deal was opened, ``close`` the last touch of a won journey.
"""

from __future__ import annotations

import bisect
import datetime as dt
import decimal
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from attribution import JourneyBatch
from tracker.costs.service import load_exchange_rates, rate_on
from tracker.leads.stages import FUNNEL
from tracker.models import Deal, Lead, LeadVisitor, OfflineTouch, StageChange, VisitSession

CONVERSIONS = ("lead", "opportunity", "won")
UNATTRIBUTED = "(unattributed)"
DAY_SECONDS = 86_400.0


def landing_page(url: str | None) -> str | None:
    """A landing URL without its query string and fragment (the SQL twin is in queries.py)."""
    if not url:
        return None
    return url.split("#", 1)[0].split("?", 1)[0]


@dataclass(frozen=True, slots=True)
class TouchRecord:
    """A session (``kind='session'``) or an offline touch seen as a marketing touch."""

    at: dt.datetime
    kind: str
    id: str
    channel: str
    source: str | None
    medium: str | None
    campaign: str | None
    keyword: str | None
    landing_page: str | None


@dataclass(slots=True)
class LeadHistory:
    """One lead's touches in time order, and what its milestones need."""

    created_at: dt.datetime
    creation_session_id: str | None
    stage_rank: int = 0  # the furthest funnel stage reached (tracker.leads.stages.FUNNEL index)
    touches: list[TouchRecord] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ConversionRecord:
    kind: str
    id: uuid.UUID
    lead_id: uuid.UUID
    at: dt.datetime
    value: float
    lead_created_at: dt.datetime
    opened_at: dt.datetime | None = None  # won deals: when the opportunity was opened
    new_customer: bool = False
    # What the credit rollups need beside the credit (stored with each credit row): the
    # lead's furthest stage (lead conversions), the deal's status and reported closing
    # (opportunity conversions).
    stage_rank: int | None = None
    deal_status: str | None = None
    deal_closed_at: dt.datetime | None = None


@dataclass(frozen=True, eq=False)
class ConversionJourneys:
    """The journeys of one conversion type: ``touches[offsets[j]:offsets[j + 1]]`` belong to
    ``conversions[j]``, and ``batch`` holds the same journeys for the attribution engine."""

    kind: str
    conversions: list[ConversionRecord]
    touches: list[TouchRecord]
    offsets: list[int]
    batch: JourneyBatch


def _in(column, values: Collection[uuid.UUID] | None):  # type: ignore[no-untyped-def]
    return True if values is None else column.in_(list(values))


def load_histories(
    session: Session, site_id: int, lead_ids: Collection[uuid.UUID] | None = None
) -> dict[uuid.UUID, LeadHistory]:
    """Every (or the given) lead's touches: sessions of its visitors inside each link's
    validity window, offline touches, and the furthest funnel stage of each. Four queries."""
    histories = {
        lead_id: LeadHistory(created_at, str(creation) if creation else None)
        for lead_id, created_at, creation in session.execute(
            select(Lead.id, Lead.created_at, Lead.creation_session_id).where(
                Lead.site_id == site_id, _in(Lead.id, lead_ids)
            )
        )
    }
    rank = case(*[(StageChange.to_stage == stage, i) for i, stage in enumerate(FUNNEL)], else_=0)
    for lead_id, found_rank in session.execute(
        select(StageChange.lead_id, func.max(rank))
        .where(StageChange.site_id == site_id, _in(StageChange.lead_id, lead_ids))
        .group_by(StageChange.lead_id)
    ):
        history = histories.get(lead_id)
        if history is not None:
            history.stage_rank = int(found_rank)
    owned = (
        select(
            LeadVisitor.lead_id,
            VisitSession.id,
            VisitSession.started_at,
            VisitSession.channel,
            VisitSession.source,
            VisitSession.medium,
            VisitSession.campaign,
            VisitSession.term,
            VisitSession.landing_url,
        )
        .join(
            LeadVisitor,
            and_(
                LeadVisitor.site_id == VisitSession.site_id,
                LeadVisitor.visitor_id == VisitSession.visitor_id,
                or_(
                    LeadVisitor.valid_from.is_(None),
                    VisitSession.started_at >= LeadVisitor.valid_from,
                ),
                or_(LeadVisitor.valid_to.is_(None), VisitSession.started_at < LeadVisitor.valid_to),
            ),
        )
        .where(VisitSession.site_id == site_id, _in(LeadVisitor.lead_id, lead_ids))
    )
    found: list[tuple[uuid.UUID, TouchRecord]] = []
    for lead_id, sid, at, channel, source, medium, campaign, term, url in session.execute(owned):
        touch = TouchRecord(
            at, "session", str(sid), channel, source, medium, campaign, term, landing_page(url)
        )
        found.append((lead_id, touch))
    offline = select(
        OfflineTouch.lead_id,
        OfflineTouch.id,
        OfflineTouch.occurred_at,
        OfflineTouch.channel,
        OfflineTouch.source,
        OfflineTouch.medium,
        OfflineTouch.campaign,
        OfflineTouch.term,
    ).where(OfflineTouch.site_id == site_id, _in(OfflineTouch.lead_id, lead_ids))
    for lead_id, tid, at, channel, source, medium, campaign, term in session.execute(offline):
        touch = TouchRecord(at, "offline", tid, channel, source, medium, campaign, term, None)
        found.append((lead_id, touch))
    found.sort(key=lambda pair: (pair[1].at, pair[1].kind == "offline", pair[1].id))
    for lead_id, touch in found:
        history = histories.get(lead_id)
        if history is not None:
            history.touches.append(touch)
            history.times.append(touch.at.timestamp())
    return histories


@dataclass(frozen=True, slots=True)
class DealRow:
    id: uuid.UUID
    lead_id: uuid.UUID
    status: str
    value: float
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    reported_closed_at: dt.datetime | None = None  # the CRM's own closing, when it gave one


def load_deals(
    session: Session,
    site_id: int,
    currency: str,
    lead_ids: Collection[uuid.UUID] | None = None,
) -> list[DealRow]:
    """The live deals linked to a lead, their amounts in the site's currency (with the
    exchange rate valid on the closing or opening day; an amount without a known rate is
    taken as it is)."""
    rates = load_exchange_rates(session, site_id)
    rows = []
    for deal in session.execute(
        select(
            Deal.id,
            Deal.lead_id,
            Deal.status,
            Deal.amount,
            Deal.currency,
            Deal.created_at,
            Deal.closed_at,
            Deal.last_event_at,
        ).where(
            Deal.site_id == site_id,
            Deal.lead_id.is_not(None),
            Deal.deleted.is_(False),
            _in(Deal.lead_id, lead_ids),
        )
    ):
        opened = deal.created_at or deal.closed_at or deal.last_event_at
        closed = deal.closed_at or deal.last_event_at if deal.status != "open" else None
        amount = deal.amount or decimal.Decimal(0)
        if deal.currency and deal.currency.upper() != currency:
            day = (closed or opened).date()
            amount *= rate_on(rates.get(deal.currency.upper(), []), day) or 1
        rows.append(DealRow(deal.id, deal.lead_id, deal.status, float(amount), opened, closed,
                            deal.closed_at))
    return rows


def build_conversions(
    histories: Mapping[uuid.UUID, LeadHistory], deals: Iterable[DealRow]
) -> dict[str, list[ConversionRecord]]:
    """Every conversion of the given leads, grouped by type, in a stable order."""
    result: dict[str, list[ConversionRecord]] = {kind: [] for kind in CONVERSIONS}
    for lead_id, history in histories.items():
        result["lead"].append(
            ConversionRecord("lead", lead_id, lead_id, history.created_at, 0.0, history.created_at,
                             stage_rank=history.stage_rank)
        )
    first_won: dict[uuid.UUID, tuple[dt.datetime, uuid.UUID]] = {}
    known = [deal for deal in deals if deal.lead_id in histories]
    for deal in known:
        if deal.status == "won" and deal.closed_at is not None:
            mark = (deal.closed_at, deal.id)
            first_won[deal.lead_id] = min(first_won.get(deal.lead_id, mark), mark)
    for deal in known:
        created = histories[deal.lead_id].created_at
        open_value = deal.value if deal.status == "open" else 0.0
        result["opportunity"].append(
            ConversionRecord("opportunity", deal.id, deal.lead_id, deal.opened_at, open_value,
                             created, deal_status=deal.status,
                             deal_closed_at=deal.reported_closed_at)
        )
        if deal.status == "won" and deal.closed_at is not None:
            result["won"].append(
                ConversionRecord(
                    "won",
                    deal.id,
                    deal.lead_id,
                    deal.closed_at,
                    deal.value,
                    created,
                    opened_at=deal.opened_at,
                    new_customer=first_won[deal.lead_id][1] == deal.id,
                )
            )
    for records in result.values():
        records.sort(key=lambda record: (record.at, str(record.id)))
    return result


def _last_before(times: list[float], moment: float, start: int, stop: int) -> int:
    """Position (relative to ``start``) of the last touch at or before ``moment``, or -1."""
    index = bisect.bisect_right(times, moment, start, stop) - 1
    return index - start if index >= start else -1


def build_journeys(
    kind: str,
    conversions: list[ConversionRecord],
    histories: Mapping[uuid.UUID, LeadHistory],
    lookback_days: float,
) -> ConversionJourneys:
    """Cut each conversion's window out of its lead's touches and pack the batch."""
    lookback = lookback_days * DAY_SECONDS
    touches: list[TouchRecord] = []
    offsets = [0]
    lead_pos: list[int] = []
    opportunity_pos: list[int] = []
    close_pos: list[int] = []
    for conversion in conversions:
        history = histories[conversion.lead_id]
        at = conversion.at.timestamp()
        start = bisect.bisect_left(history.times, at - lookback)
        stop = bisect.bisect_right(history.times, at)
        window = history.touches[start:stop]
        touches.extend(window)
        offsets.append(len(touches))
        n = len(window)
        creation = next(
            (i for i, t in enumerate(window) if t.id == history.creation_session_id), None
        )
        if creation is None:
            creation = _last_before(history.times, history.created_at.timestamp(), start, stop)
        lead_pos.append(creation if n else -1)
        if kind == "won" and conversion.opened_at is not None:
            opened = _last_before(history.times, conversion.opened_at.timestamp(), start, stop)
            opportunity_pos.append(opened)
        else:
            opportunity_pos.append(n - 1 if kind == "opportunity" else -1)
        close_pos.append(n - 1 if kind == "won" else -1)
    codes: dict[str, int] = {}
    channel = np.fromiter(
        (codes.setdefault(t.channel, len(codes)) for t in touches), np.int64, len(touches)
    )
    count = len(conversions)
    batch = JourneyBatch(
        offsets=np.asarray(offsets, dtype=np.int64),
        channel=channel,
        time=np.fromiter((t.at.timestamp() for t in touches), np.float64, len(touches)),
        channels=tuple(codes),
        conversions=np.ones(count),
        nulls=np.zeros(count),
        value=np.fromiter((c.value for c in conversions), np.float64, count),
        conversion_time=np.fromiter((c.at.timestamp() for c in conversions), np.float64, count),
        lead_position=np.asarray(lead_pos, dtype=np.int64),
        opportunity_position=np.asarray(opportunity_pos, dtype=np.int64),
        close_position=np.asarray(close_pos, dtype=np.int64),
    )
    return ConversionJourneys(kind, conversions, touches, offsets, batch)


def load_journeys(
    session: Session,
    site_id: int,
    *,
    currency: str,
    lookback_days: float,
    lead_ids: Collection[uuid.UUID] | None = None,
) -> tuple[dict[str, ConversionJourneys], dict[uuid.UUID, LeadHistory]]:
    """All conversion journeys of the site (or of ``lead_ids``), by conversion type, and the
    lead histories they were cut from."""
    histories = load_histories(session, site_id, lead_ids)
    conversions = build_conversions(histories, load_deals(session, site_id, currency, lead_ids))
    journeys = {
        kind: build_journeys(kind, records, histories, lookback_days)
        for kind, records in conversions.items()
    }
    return journeys, histories


def anonymous_paths(session: Session, site_id: int) -> tuple[list[int], list[str]]:
    """Channel paths of visitors that never became a lead (the non-converting journeys the
    data-driven models learn the lead conversion from): lengths and flat channel names."""
    linked = select(LeadVisitor.visitor_id).where(
        LeadVisitor.site_id == site_id, LeadVisitor.visitor_id == VisitSession.visitor_id
    )
    lengths: list[int] = []
    channels: list[str] = []
    previous = None
    for visitor_id, channel in session.execute(
        select(VisitSession.visitor_id, VisitSession.channel)
        .where(VisitSession.site_id == site_id, ~linked.exists())
        .order_by(VisitSession.visitor_id, VisitSession.started_at)
    ):
        if visitor_id != previous:
            lengths.append(0)
            previous = visitor_id
        lengths[-1] += 1
        channels.append(channel)
    return lengths, channels


def unconverted_lead_paths(
    histories: Mapping[uuid.UUID, LeadHistory],
    converted: Collection[uuid.UUID],
    lookback_days: float,
) -> tuple[list[int], list[str]]:
    """Paths of the leads that have not reached a conversion (their touches over the lookback
    window up to their last touch): non-converting journeys for opportunity and won fits."""
    lookback = lookback_days * DAY_SECONDS
    lengths: list[int] = []
    channels: list[str] = []
    for lead_id, history in histories.items():
        if lead_id in converted or not history.touches:
            continue
        start = bisect.bisect_left(history.times, history.times[-1] - lookback)
        window = history.touches[start:]
        lengths.append(len(window))
        channels.extend(t.channel for t in window)
    return lengths, channels
