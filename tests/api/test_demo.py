"""``leadtrail demo``'s data generator, on SQLite and PostgreSQL: every part of the product
gets data, through the real code paths, and a second run changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.testing import FlaskCliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.factories import SiteMaker
from tracker.cli.sites import DEMO_SITE_NAME
from tracker.dashboard.setup import crm_connections
from tracker.db import get_engine
from tracker.demo.data import CHANNELS, fill_demo_site
from tracker.models import AdAccount, Cost, Deal, Event, Lead, LeadVisitor, Site, VisitSession
from tracker.sites.settings import site_settings

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


def test_demo_spend_lands_on_the_keywords_and_ads_that_bought_the_clicks(
    engine: Engine, sites: SiteMaker
) -> None:
    site = sites.make(domains=["localhost"])
    fill_demo_site(engine, site.site.id, visitors=400, days=60, seed=5, now=NOW)

    with Session(engine) as session:
        def pairs(campaign: Any, keyword: Any, source: Any, medium: Any, site_id: Any,
                  wanted: tuple[str, str]) -> set[tuple[str, str]]:
            return {(c or "", k or "") for c, k in session.execute(
                select(campaign, keyword).where(site_id == site.site.id, source == wanted[0],
                                                medium == wanted[1]).distinct())}

        def spend(wanted: tuple[str, str]) -> set[tuple[str, str]]:
            return pairs(Cost.campaign, Cost.keyword, Cost.source, Cost.medium, Cost.site_id,
                         wanted)

        def visits(wanted: tuple[str, str]) -> set[tuple[str, str]]:
            return pairs(VisitSession.campaign, VisitSession.term, VisitSession.source,
                         VisitSession.medium, VisitSession.site_id, wanted)

        search_spend, search_visits = spend(("google", "cpc")), visits(("google", "cpc"))
        social = ("facebook", "paid_social")
        social_spend, social_visits = spend(social), visits(social)
        delivery = session.execute(select(func.sum(Cost.impressions), func.sum(Cost.clicks))
                                   .where(Cost.site_id == site.site.id)).one()
        accounts = session.scalars(select(AdAccount.platform).where(
            AdAccount.site_id == site.site.id)).all()

    # Every keyword (Google) and ad (Meta) with spend is one the sessions carry: no spend
    # sits on a "(none)" keyword while the keywords that bought the clicks show none.
    assert ("", "") not in search_spend and len(search_spend) == 4
    assert search_spend <= search_visits
    assert len(social_spend) == 4 and social_spend <= social_visits
    assert delivery[0] > delivery[1] > 0  # impressions and clicks, as the platforms report
    assert sorted(accounts) == ["google_ads", "google_ads", "meta"]


def test_the_demo_command_fills_the_demo_site_once(runner: FlaskCliRunner) -> None:
    filled = runner.invoke(args=["demo", "--visitors", "150", "--days", "60"])
    second = runner.invoke(args=["demo"])

    assert filled.exit_code == 0, filled.output
    assert "demo site filled: 150 visitors" in filled.output
    assert second.exit_code == 0 and "already has" in second.output
    settings = runner.app.config["LEADTRAIL_SETTINGS"]
    # The full address to open, not a bare path.
    assert f"dashboard: http://{settings.host}:{settings.port}/dashboard/ " in second.output


def test_the_demo_sites_crm_page_shows_the_webhook_its_deals_came_by(
    runner: FlaskCliRunner,
) -> None:
    assert runner.invoke(args=["sites", "demo"]).exit_code == 0
    with Session(get_engine(runner.app)) as session:
        site = session.scalars(select(Site).where(Site.name == DEMO_SITE_NAME)).one()
        connections = {c.provider: c for c in crm_connections(
            site, site_settings(site), "http://127.0.0.1:8000")}

    # Not "not configured" beside the deliveries the demo's deals arrived as.
    assert connections["generic"].configured
    assert not connections["hubspot"].configured
