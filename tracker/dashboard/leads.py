"""The dashboard's leads list: leads created in the page's date range (local days of the
site), narrowed by stage, score label, first channel, deal owner and whether a deal exists,
a page at a time, with each lead's deal value and the revenue credited to its touches under
the chosen model (from the stored credits; nothing is fitted here). The CSV download has
the same rows, every page of them."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from tracker.csv_export import write_csv
from tracker.dashboard.filters import Filters
from tracker.errors import ValidationError
from tracker.leads.stages import check_stage
from tracker.localtime import iso_utc, local_midnight
from tracker.models import AttributionCredit, Deal, Lead, VisitSession
from tracker.rules.score_rules import label_for
from tracker.validation import parse_whole

PAGE_SIZE = 50
# A CSV holds at most this many leads (a year of a busy site); narrow the filters for more.
CSV_LIMIT = 50_000
LABELS = ("hot", "warm", "cold")

@dataclass(frozen=True, slots=True)
class LeadQuery:
    search: str | None = None
    stage: str | None = None
    label: str | None = None
    channel: str | None = None
    owner: str | None = None
    has_deal: bool | None = None
    page: int = 1

    def args(self, **changes: Any) -> dict[str, str]:
        """The query string of these filters (for paging and CSV links)."""
        values: dict[str, Any] = {
            "q": self.search, "stage": self.stage, "label": self.label,
            "channel": self.channel, "owner": self.owner,
            "deal": None if self.has_deal is None else ("yes" if self.has_deal else "no"),
            "page": self.page if self.page > 1 else None,
        }
        values.update(changes)
        return {key: str(value) for key, value in values.items() if value not in (None, "")}


def parse_lead_query(args: Mapping[str, str]) -> LeadQuery:
    """The list's own filters from the URL; :class:`ValidationError` names a bad one."""
    label = args.get("label") or None
    if label is not None and label not in LABELS:
        raise ValidationError(f"expected one of {', '.join(LABELS)}", field="label")
    deal = args.get("deal") or None
    if deal not in (None, "yes", "no"):
        raise ValidationError("expected yes or no", field="deal")
    page = parse_whole(args.get("page") or "1", "page", 1, 100_000)
    stage = args.get("stage") or None
    return LeadQuery(
        search=(args.get("q") or "").strip() or None,
        stage=check_stage(stage) if stage else None,
        label=label,
        channel=args.get("channel") or None,
        owner=args.get("owner") or None,
        has_deal=None if deal is None else deal == "yes",
        page=page,
    )


@dataclass(frozen=True, slots=True)
class LeadRow:
    id: uuid.UUID
    email: str
    phone: str | None
    name: str | None
    company: str | None
    stage: str
    score: int
    label: str
    first_channel: str | None
    created_at: dt.datetime
    deals: int
    deal_value: float | None
    attributed_revenue: float | None
    owners: str | None


@dataclass(frozen=True, slots=True)
class LeadPage:
    rows: list[LeadRow]
    total: int
    page: int
    pages: int
    owners: list[str]
    channels: list[str]


def _label_condition(label: str, threshold: int) -> Any:
    # label_for's rule in SQL: hot ≥ threshold, warm from half of it, cold below.
    if label == "hot":
        return Lead.score >= threshold
    if label == "warm":
        return and_(Lead.score < threshold, Lead.score * 2 >= threshold)
    return Lead.score * 2 < threshold


def _statement(site_id: int, timezone: str, filters: Filters, query: LeadQuery, model: str,
               threshold: int) -> Select[Any]:
    first = aliased(VisitSession)
    live = and_(Deal.site_id == site_id, Deal.deleted.is_(False))
    deals = (
        select(
            Deal.lead_id.label("lead_id"),
            func.count().label("deals"),
            # Pipeline and won amounts; a lost deal is worth nothing to this lead any more.
            func.sum(case((Deal.status != "lost", Deal.amount), else_=0)).label("value"),
            func.max(Deal.owner).label("owner"),
        )
        .where(live, Deal.lead_id.is_not(None))
        .group_by(Deal.lead_id)
        .subquery()
    )
    C = AttributionCredit
    credited = (
        select(C.lead_id.label("lead_id"), func.sum(C.value).label("revenue"))
        .where(C.site_id == site_id, C.model == model, C.conversion == "won",
               C.touch_kind != "none")
        .group_by(C.lead_id)
        .subquery()
    )
    statement = (
        select(Lead, first.channel, deals.c.deals, deals.c.value, credited.c.revenue,
               deals.c.owner)
        .outerjoin(first, (first.site_id == Lead.site_id) & (first.id == Lead.first_session_id))
        .outerjoin(deals, deals.c.lead_id == Lead.id)
        .outerjoin(credited, credited.c.lead_id == Lead.id)
        .where(
            Lead.site_id == site_id,
            Lead.created_at >= local_midnight(filters.start, timezone),
            Lead.created_at < local_midnight(filters.end, timezone),
        )
    )
    if query.search:
        pattern = f"%{query.search.lower()}%"
        statement = statement.where(or_(Lead.email.like(pattern), Lead.name.ilike(pattern),
                                        Lead.company.ilike(pattern)))
    if query.stage:
        statement = statement.where(Lead.stage == query.stage)
    if query.label:
        statement = statement.where(_label_condition(query.label, threshold))
    if query.channel:
        statement = statement.where(first.channel == query.channel)
    if query.owner:
        statement = statement.where(exists().where(live, Deal.lead_id == Lead.id,
                                                   Deal.owner == query.owner))
    if query.has_deal is not None:
        has = deals.c.deals.is_not(None)
        statement = statement.where(has if query.has_deal else ~has)
    return statement


def _number(value: Decimal | float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _row(found: Any, threshold: int) -> LeadRow:
    lead, channel, deals, value, revenue, owner = found
    return LeadRow(lead.id, lead.email, lead.phone, lead.name, lead.company, lead.stage,
                   lead.score, label_for(lead.score, threshold), channel, lead.created_at,
                   deals or 0, _number(value), _number(revenue), owner)


def list_lead_rows(session: Session, site_id: int, timezone: str, filters: Filters,
                   query: LeadQuery, threshold: int, limit: int = PAGE_SIZE) -> LeadPage:
    """One page of the list (``query.page``), newest first, with the count of every match
    and the owners and first channels the filters can choose from."""
    statement = _statement(site_id, timezone, filters, query, filters.model, threshold)
    total = int(session.scalar(select(func.count()).select_from(statement.subquery())) or 0)
    rows = session.execute(
        statement.order_by(Lead.created_at.desc(), Lead.id)
        .limit(limit).offset((query.page - 1) * limit)
    ).all()
    owners = session.scalars(
        select(Deal.owner).where(Deal.site_id == site_id, Deal.owner.is_not(None),
                                 Deal.deleted.is_(False)).distinct().order_by(Deal.owner)
    )
    channels = session.scalars(
        select(VisitSession.channel).where(VisitSession.site_id == site_id)
        .distinct().order_by(VisitSession.channel)
    )
    return LeadPage([_row(found, threshold) for found in rows], total, query.page,
                    max(1, math.ceil(total / limit)), [o for o in owners if o], list(channels))


CSV_HEADER = ("id", "email", "name", "company", "stage", "score", "label", "first_channel",
              "created_at", "deals", "deal_value", "attributed_revenue", "owner")


def leads_csv(page: LeadPage) -> str:
    """The rows as CSV: raw values (ISO UTC times, plain numbers), for spreadsheets."""
    return write_csv(CSV_HEADER, (
        (str(row.id), row.email, row.name, row.company, row.stage, row.score, row.label,
         row.first_channel, iso_utc(row.created_at), row.deals,
         row.deal_value, row.attributed_revenue, row.owners)
        for row in page.rows
    ))
