"""The calls report: calls by channel, source, campaign, keyword or tracking number in a date
range (the site's days), answered and missed, talk time, and the leads they made. One
aggregate query in the database; kept apart from tracker/reports/ (the read side of web
attribution) so calls join the reports without touching their rollups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, case, func, select
from sqlalchemy.orm import Session

from tracker.errors import ValidationError
from tracker.localtime import local_midnight
from tracker.models import Call, Site
from tracker.sites.settings import site_settings
from tracker.validation import RuleRefused, check_parameters, parse_date

GROUPS = {"channel": Call.channel, "source": Call.source, "campaign": Call.campaign,
          "keyword": Call.term, "number": Call.called}
MAX_DAYS = 3660


@dataclass(frozen=True, slots=True)
class CallsQuery:
    start: dt.date
    end: dt.date
    group_by: str = "channel"

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> CallsQuery:
        check_parameters(args, ("start", "end", "group_by"))
        today = dt.datetime.now(dt.UTC).date()
        end = parse_date(args["end"], "end") if "end" in args else today
        start = parse_date(args["start"], "start") if "start" in args else end - dt.timedelta(
            days=29)
        if start > end or (end - start).days > MAX_DAYS:
            raise RuleRefused(f"expected a start on or before end, within "
                                       f"{MAX_DAYS} days", field="start")
        group_by = args.get("group_by", "channel")
        if group_by not in GROUPS:
            raise ValidationError(f"expected one of {', '.join(GROUPS)}", field="group_by")
        return cls(start=start, end=end, group_by=group_by)


def calls_report(session: Session, site_id: int, query: CallsQuery) -> dict[str, Any]:
    site = session.get(Site, site_id)
    assert site is not None
    timezone = site_settings(site).timezone
    start_at = local_midnight(query.start, timezone)
    end_at = local_midnight(query.end + dt.timedelta(days=1), timezone)
    group = GROUPS[query.group_by]
    answered = func.sum(case((Call.answered, 1), else_=0)).cast(Integer)
    figures = (func.count().label("calls"), answered.label("answered"),
               func.coalesce(func.sum(Call.duration_s), 0).label("duration_s"),
               func.count(func.distinct(Call.lead_id)).label("leads"))
    in_range = (Call.site_id == site_id, Call.started_at >= start_at, Call.started_at < end_at)
    rows = session.execute(
        select(group.label("group"), *figures).where(*in_range)
        .group_by(group).order_by(func.count().desc(), group)
    ).all()
    # Totals are their own aggregate: a lead who called two channels' numbers is one lead.
    total = session.execute(select(*figures).where(*in_range)).one()
    return {
        "start": query.start.isoformat(), "end": query.end.isoformat(),
        "group_by": query.group_by,
        "rows": [{query.group_by: row.group, **_figures(row)} for row in rows],
        "totals": _figures(total),
    }


def _figures(row: Any) -> dict[str, Any]:
    answered = row.answered or 0
    return {
        "calls": row.calls,
        "answered": answered,
        "missed": row.calls - answered,
        "duration_s": row.duration_s,
        # Talk time per answered call; null when none was answered (never a fake 0).
        "average_duration_s": round(row.duration_s / answered, 1) if answered else None,
        "leads": row.leads,
    }
