"""``leadtrail demo``'s data generator, on SQLite and PostgreSQL: every part of the product
gets data, through the real code paths, and a second run changes nothing."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskCliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.factories import SiteMaker
from tracker.demo_data import CHANNELS, fill_demo_site
from tracker.models import Cost, Deal, Event, Lead, LeadVisitor, VisitSession

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


def counts(engine: Engine, site_id: int) -> dict[str, int]:
    with Session(engine) as session:
        def count(model: type) -> int:
            query = select(func.count()).select_from(model).where(model.site_id == site_id)
            return int(session.scalar(query) or 0)

        return {model.__name__: count(model)
                for model in (VisitSession, Event, Lead, LeadVisitor, Deal, Cost)}


def test_a_demo_year_fills_every_part_and_is_repeatable(engine: Engine, sites: SiteMaker) -> None:
    site = sites.make(domains=["localhost"])

    summary = fill_demo_site(engine, site.site.id, visitors=400, days=120, seed=3, now=NOW)
    first = counts(engine, site.site.id)
    again = fill_demo_site(engine, site.site.id, visitors=400, days=120, seed=3, now=NOW)

    assert summary.crm_failures == [] and again.crm_failures == []
    assert counts(engine, site.site.id) == first
    assert first["VisitSession"] == summary.sessions
    assert first["Event"] > first["VisitSession"]
    assert first["Lead"] == summary.leads > 0
    assert first["LeadVisitor"] > first["Lead"]  # some leads came back on a second device
    assert first["Deal"] == summary.deals > 0
    assert first["Cost"] == summary.costs > 0
    with Session(engine) as session:
        channels = set(session.scalars(
            select(VisitSession.channel).where(VisitSession.site_id == site.site.id).distinct()
        ))
        won = session.scalar(select(func.count()).select_from(Deal).where(
            Deal.site_id == site.site.id, Deal.status == "won"))
    assert channels == {profile.name for profile in CHANNELS}
    assert won == summary.won > 0


def test_the_demo_command_fills_the_demo_site_once(runner: FlaskCliRunner) -> None:
    filled = runner.invoke(args=["demo", "--visitors", "150", "--days", "60"])
    second = runner.invoke(args=["demo"])

    assert filled.exit_code == 0, filled.output
    assert "demo site filled: 150 visitors" in filled.output
    assert second.exit_code == 0 and "already has" in second.output
