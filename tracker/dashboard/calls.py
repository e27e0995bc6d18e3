"""The dashboard's Calls page: the calls report (``/api/v1/reports/calls``) for the page's
dates split by the chosen dimension, the latest calls with the lead each became, and the
call inbox's failures with a replay. Whether call tracking is set up at all decides what the
page says when there is nothing to show."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.calls.inbox import call_summary
from tracker.calls.report import GROUPS, CallsQuery, calls_report
from tracker.calls.service import APPLIED
from tracker.dashboard.filters import Filters
from tracker.dashboard.formatting import SiteFormatter
from tracker.dashboard.overview import chart_series
from tracker.errors import ValidationError
from tracker.localtime import local_midnight
from tracker.models import Call, CallPool, CallSettings

RECENT_CALLS = 50
GROUP_NAMES = {"channel": "Channel", "source": "Source", "campaign": "Campaign",
               "keyword": "Keyword", "number": "Tracking number"}


@dataclass(frozen=True, slots=True)
class CallsPage:
    query: CallsQuery
    report: dict[str, Any]
    recent: list[dict[str, Any]]
    waiting: list[dict[str, Any]]  # failed, or stored and never applied: replayable
    configured: bool
    pools: int


def calls_query(filters: Filters, args: Mapping[str, str]) -> CallsQuery:
    """The page's dates (``to`` is inclusive in the report) and ``by`` (default channel)."""
    group_by = args.get("by") or "channel"
    if group_by not in GROUPS:
        raise ValidationError(f"expected one of {', '.join(GROUPS)}", field="by")
    return CallsQuery(start=filters.start, end=filters.end - dt.timedelta(days=1),
                      group_by=group_by)


def calls_page(session: Session, site_id: int, timezone: str, query: CallsQuery) -> CallsPage:
    start_at = local_midnight(query.start, timezone)
    end_at = local_midnight(query.end + dt.timedelta(days=1), timezone)
    recent = session.scalars(
        select(Call).where(Call.site_id == site_id, Call.started_at >= start_at,
                           Call.started_at < end_at)
        .order_by(Call.started_at.desc(), Call.call_id).limit(RECENT_CALLS))
    waiting = session.scalars(
        select(Call).where(Call.site_id == site_id, Call.status != APPLIED)
        .order_by(Call.received_at, Call.call_id).limit(RECENT_CALLS))
    pools = session.scalars(select(CallPool.id).where(CallPool.site_id == site_id)).all()
    return CallsPage(
        query=query,
        report=calls_report(session, site_id, query),
        recent=[_with_term(call) for call in recent],
        waiting=[call_summary(call) for call in waiting],
        configured=session.get(CallSettings, site_id) is not None,
        pools=len(pools),
    )


def _with_term(call: Call) -> dict[str, Any]:
    return {**call_summary(call), "term": call.term}


def chart(page: CallsPage, fmt: SiteFormatter) -> dict[str, Any]:
    """Answered and missed calls per group, stacked."""
    rows = page.report["rows"]
    name = page.query.group_by
    return {
        "type": "bar", "stacked": True,
        "labels": [row[name] if row[name] is not None else "(none)" for row in rows],
        "datasets": [chart_series("Answered", [row["answered"] for row in rows], "integer", fmt),
                     chart_series("Missed", [row["missed"] for row in rows], "integer", fmt)],
    }
