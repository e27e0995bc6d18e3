"""The conversion outbox: rows owed to a site's destinations, written in the transaction of
the stage or deal change that caused them (by the commit hook of ``tracker.worker.queue``,
from notes made through ``tracker.changes``), so no change commits without its conversions.

A won row not yet tried follows the deal (its amount may arrive after its status).
Idempotency keys make writing state-based rather than event-based: ``<milestone>:<lead>`` for
a lead milestone, ``won:<deal>`` for revenue, ``restate:<deal>:<n>`` when a won deal's amount
differs from the last value sent, ``retract:<deal>`` when a won deal is lost or deleted. The
same webhook applied three times, in any order, leaves the same rows.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.db import insert_ignore
from tracker.destinations.settings import ADJUSTMENTS, milestone_map
from tracker.models import ConversionOutbox, Deal, Destination, Site
from tracker.models.base import utcnow
from tracker.sites.settings import site_settings

PENDING, SENT, FAILED, DEAD = "pending", "sent", "failed", "dead"
STATUSES = (PENDING, SENT, FAILED, DEAD)
CONVERSION, RESTATEMENT, RETRACTION = "conversion", "restatement", "retraction"
LEAD_MILESTONES = frozenset({"lead", "mql", "sql", "opportunity"})


def _destinations(session: Session, site_id: int) -> list[Destination]:
    return list(session.scalars(
        select(Destination)
        .where(Destination.site_id == site_id, Destination.enabled.is_(True))
        .order_by(Destination.name)
    ))


def _site_currency(session: Session, site_id: int) -> str | None:
    site = session.get(Site, site_id)
    return site_settings(site).currency if site is not None else None


def _row(destination: Destination, key: str, milestone: str, kind: str, lead_id: uuid.UUID,
         at: dt.datetime, value: decimal.Decimal | None, currency: str | None,
         now: dt.datetime, deal: Deal | None = None) -> dict[str, object]:
    return {
        "site_id": destination.site_id, "id": uuid.uuid4(), "destination_id": destination.id,
        "idempotency_key": key, "milestone": milestone, "kind": kind, "lead_id": lead_id,
        "deal_id": deal.id if deal is not None else None,
        "order_id": f"{deal.provider}-{deal.external_id}"[:80] if deal is not None else None,
        "occurred_at": at, "value": value, "currency": currency if value is not None else None,
        "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
    }


def enqueue_milestones(
    session: Session, milestones: Iterable[tuple[int, uuid.UUID, str, dt.datetime]],
    now: dt.datetime | None = None,
) -> int:
    """Rows for lead milestones (created, mql, sql, opportunity) the destinations map."""
    now = now or utcnow()
    rows = []
    found: dict[int, list[Destination]] = {}  # one read per site, however many notes
    for site_id, lead_id, milestone, at in milestones:
        if milestone not in LEAD_MILESTONES:
            continue
        if site_id not in found:
            found[site_id] = _destinations(session, site_id)
        currency = None
        for destination in found[site_id]:
            mapping = milestone_map(destination.settings).get(milestone)
            if mapping is None:
                continue
            value = mapping.value.value(None)
            currency = destination.settings.get("currency") or currency or _site_currency(
                session, site_id)
            rows.append(_row(destination, f"{milestone}:{lead_id}", milestone, CONVERSION,
                             lead_id, at, value, currency, now))
    _insert(session, rows)
    return len(rows)


def _won_at(deal: Deal) -> dt.datetime:
    """When the deal was won: its close date, else the CRM time of its status."""
    if deal.closed_at is not None:
        return deal.closed_at
    stamp = (deal.field_times or {}).get("status")
    return dt.datetime.fromisoformat(stamp[0]) if stamp else deal.last_event_at


def enqueue_deals(
    session: Session, deals: Iterable[tuple[int, uuid.UUID]], now: dt.datetime | None = None
) -> int:
    """Rows for deals' revenue: the won conversion, then restatements and a retraction as
    the deal's state departs from what was already queued."""
    now = now or utcnow()
    rows = []
    for site_id, deal_id in sorted(deals):
        deal = session.get(Deal, (site_id, deal_id))
        if deal is None or deal.lead_id is None:
            continue
        won = deal.status == "won" and not deal.deleted
        for destination in _destinations(session, site_id):
            mapping = milestone_map(destination.settings).get("won")
            if mapping is None:
                continue
            previous = list(session.scalars(
                select(ConversionOutbox)
                .where(ConversionOutbox.site_id == site_id,
                       ConversionOutbox.destination_id == destination.id,
                       ConversionOutbox.deal_id == deal.id)
                .order_by(ConversionOutbox.created_at, ConversionOutbox.idempotency_key)
            ))
            value = mapping.value.value(deal.amount)
            currency = (deal.currency or destination.settings.get("currency")
                        or _site_currency(session, site_id))
            adjusts = ADJUSTMENTS[destination.platform]
            retracted = any(row.kind == RETRACTION for row in previous)
            untouched = (len(previous) == 1 and previous[0].status == PENDING
                         and previous[0].attempts == 0)
            if won and not previous:
                rows.append(_row(destination, f"won:{deal.id}", "won", CONVERSION, deal.lead_id,
                                 _won_at(deal), value, currency, now, deal))
            elif untouched:
                # Nothing was told to the platform yet: the row follows the deal (an amount
                # arriving after the won status, a won deal lost again) instead of adjusting.
                if won:
                    previous[0].value, previous[0].currency = value, currency
                    previous[0].occurred_at = _won_at(deal)
                else:
                    session.delete(previous[0])
            elif won and previous and not retracted and RESTATEMENT in adjusts:
                if previous[-1].value != value and value is not None:
                    count = sum(row.kind == RESTATEMENT for row in previous)
                    rows.append(_row(destination, f"restate:{deal.id}:{count + 1}", "won",
                                     RESTATEMENT, deal.lead_id, deal.last_event_at, value,
                                     currency, now, deal))
            elif not won and previous and not retracted and RETRACTION in adjusts:
                rows.append(_row(destination, f"retract:{deal.id}", "won", RETRACTION,
                                 deal.lead_id, deal.last_event_at, previous[-1].value,
                                 previous[-1].currency, now, deal))
    _insert(session, rows)
    return len(rows)


def _insert(session: Session, rows: list[dict[str, object]]) -> None:
    insert_ignore(session, ConversionOutbox.__table__,  # type: ignore[arg-type]
                  rows, ["site_id", "destination_id", "idempotency_key"])
