"""One lead's journey for the dashboard: ``tracker.leads.service.lead_journey`` (sessions,
offline touches, stage history) merged into one timeline with the lead's deals, and each
touch's credit under the chosen model from the reports' journey (``queries.lead_journey``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.dashboard.formatting import UNKNOWN, format_money
from tracker.leads.service import lead_journey
from tracker.localtime import iso_utc, utc_moment
from tracker.models import Deal, Lead, Site
from tracker.reports import queries
from tracker.sites.settings import site_settings

CONVERSION_LABELS = {"lead": "Lead", "opportunity": "Opportunity", "won": "Won deal"}


@dataclass(slots=True)
class TimelineItem:
    at: str
    kind: str  # session, offline, call, stage, deal
    title: str
    detail: dict[str, Any]
    # conversion type → this touch's share (0..1) under the model, when it is a touch.
    credit: dict[str, float] = field(default_factory=dict)
    # Why a touch holds no credit (None when it holds some, or is not a touch).
    uncredited: str | None = None


NO_CONVERSION = "no credit (no conversion of this lead is credited yet)"
AFTER_CONVERSION = "no credit (after the last conversion of this lead: touches count before it)"
OUTSIDE_LOOKBACK = "no credit (earlier than the lookback window of every conversion)"


def uncredited_reason(touch_at: str, last_conversion: dt.datetime | None) -> str:
    """Why a touch holds no credit: no conversion yet, it came after the last one, or it
    came too early for any conversion's lookback window."""
    if last_conversion is None:
        return NO_CONVERSION
    return AFTER_CONVERSION if utc_moment(touch_at) > last_conversion else OUTSIDE_LOOKBACK


def touch_credits(
    session: Session, site: Site, lead_id: str, model: str
) -> tuple[dict[str, dict[str, float]], dt.datetime | None]:
    """touch id → conversion type → the touch's share under ``model``, from the reports'
    journey (a touch credited by two won deals shows the mean of its two shares), and the
    moment of the lead's last credited conversion."""
    report = queries.lead_journey(session, site, lead_id)
    sums: dict[str, dict[str, float]] = {}
    conversions: dict[str, set[str]] = {}
    last: dt.datetime | None = None
    for row in report.rows:
        if row["model"] != model:
            continue
        moment = utc_moment(row["converted_at"])
        last = moment if last is None or moment > last else last
        conversions.setdefault(row["conversion"], set()).add(row["conversion_id"])
        if row["touch_id"] is None:
            continue
        entry = sums.setdefault(str(row["touch_id"]), {})
        entry[row["conversion"]] = entry.get(row["conversion"], 0.0) + float(row["credit"])
    for entry in sums.values():
        for conversion in entry:
            entry[conversion] /= max(1, len(conversions.get(conversion, ())))
    return sums, last


def _deal_items(session: Session, lead: Lead, currency: str) -> list[TimelineItem]:
    """The lead's deals, each amount in its own currency (the site's when the CRM sent
    none), written as the rest of the dashboard writes money."""
    items = []
    for deal in session.scalars(
        select(Deal).where(
            Deal.site_id == lead.site_id, Deal.lead_id == lead.id, Deal.deleted.is_(False)
        )
    ):
        amount = (format_money(float(deal.amount), deal.currency or currency)
                  if deal.amount is not None else UNKNOWN)
        moment = deal.closed_at or deal.created_at or deal.last_event_at
        items.append(
            TimelineItem(
                iso_utc(moment),
                "deal",
                f"Deal {deal.name or deal.external_id}: {deal.status}",
                {"amount": amount, "stage": deal.stage, "owner": deal.owner,
                 "provider": deal.provider},
            )
        )
    return items


def journey_timeline(
    session: Session, site: Site, lead: Lead, model: str, mql_threshold: int
) -> tuple[dict[str, Any], list[TimelineItem]]:
    """The lead's summary and its timeline, oldest first."""
    journey = lead_journey(session, lead, mql_threshold)
    credits, last_conversion = touch_credits(session, site, str(lead.id), model)
    items: list[TimelineItem] = []
    for visit in journey["sessions"]:
        items.append(
            TimelineItem(
                visit["started_at"],
                "session",
                f"Visit from {visit['channel']}",
                {
                    "source": visit["source"],
                    "medium": visit["medium"],
                    "campaign": visit["campaign"],
                    "keyword": visit["term"],
                    "landing": visit["landing_url"],
                    "events": visit["events"],
                },
                credits.get(visit["id"], {}),
            )
        )
    for touch in journey["offline_touches"]:
        items.append(
            TimelineItem(
                touch["occurred_at"],
                "offline",
                f"Offline {touch['kind']} ({touch['channel']})",
                {"source": touch["source"], "campaign": touch["campaign"], "note": touch["note"]},
                credits.get(str(touch["id"]), {}),
            )
        )
    for call in journey["calls"]:
        answered = "answered" if call["answered"] else "missed"
        items.append(
            TimelineItem(
                call["started_at"],
                "call",
                f"Phone call to {call['tracking_number']} ({answered}, {call['duration_s']} s)",
                {"channel": call["channel"], "source": call["source"],
                 "campaign": call["campaign"], "keyword": call["term"]},
            )
        )
    for change in journey["stage_history"]:
        items.append(
            TimelineItem(
                change["at"],
                "stage",
                f"Stage {change['from'] or '—'} → {change['to']}",
                {"cause": change["cause"], "detail": change["detail"]},
            )
        )
    for item in items:
        if item.kind in ("session", "offline") and not item.credit:
            item.uncredited = uncredited_reason(item.at, last_conversion)
    items.extend(_deal_items(session, lead, site_settings(site).currency))
    items.sort(key=lambda item: item.at)
    return journey["lead"], items
