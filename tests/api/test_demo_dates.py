"""The demo's data ends at ``now``: nothing it writes is dated in the future, so the demo
page's latest sessions and the snippet check show the visitor's own visit first."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.factories import SiteMaker
from tracker.demo.data import fill_demo_site
from tracker.models import Deal, Event, Lead, VisitSession

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)


def test_nothing_the_demo_writes_is_dated_after_now(engine: Engine, sites: SiteMaker) -> None:
    site = sites.make(domains=["localhost"])

    fill_demo_site(engine, site.site.id, visitors=600, days=60, seed=11, now=NOW)

    columns = (VisitSession.started_at, VisitSession.ended_at, Event.occurred_at,
               Event.received_at, Lead.created_at, Deal.last_event_at)
    with Session(engine) as session:
        latest = {
            f"{column.class_.__name__}.{column.key}": _aware(session.scalar(
                select(func.max(column)).where(column.class_.site_id == site.site.id)))
            for column in columns
        }
        future = session.scalar(select(func.count()).select_from(VisitSession).where(
            VisitSession.site_id == site.site.id, VisitSession.started_at > NOW))
    assert future == 0
    assert all(moment is not None for moment in latest.values()), latest
    assert {name: moment for name, moment in latest.items() if moment > NOW} == {}  # type: ignore[operator]
