"""``leadtrail demo``: fill the demo site with a year of realistic data (idempotent)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.accounts.users import create_user
from tracker.cli.common import in_transaction, server_url
from tracker.cli.sites import ensure_demo_site
from tracker.db import get_engine
from tracker.demo.data import fill_demo_site
from tracker.models import User, VisitSession

# A demo login with a published password: it is granted the demo site only.
DEMO_LOGIN = "demo@leadtrail.local"
DEMO_PASSWORD = "leadtrail-demo"


@click.command("demo")
@with_appcontext
@click.option("--visitors", default=6_000, show_default=True, help="Visitors over the period.")
@click.option("--days", default=365, show_default=True, help="Length of the period.")
@click.option("--seed", default=2026, show_default=True, help="Same seed, same data.")
@click.option("--force", is_flag=True, help="Fill even when the demo site already has data.")
def demo_command(visitors: int, days: int, seed: int, force: bool) -> None:
    """Create the demo site if needed and fill it through the collector, identity, CRM
    webhook and cost-import code paths, then rebuild its credits and traffic rollups."""
    with in_transaction() as session:
        site = ensure_demo_site(session)
        site_id = site.id
        _ensure_demo_login(session, site_id)
        sessions = session.scalar(
            select(func.count()).select_from(VisitSession).where(VisitSession.site_id == site_id)
        )
    if sessions and not force:
        click.echo(f"the demo site already has {sessions:,} sessions; --force fills it again")
        return
    summary = fill_demo_site(
        get_engine(), site_id, visitors=visitors, days=days, seed=seed,
        progress=lambda step: click.echo(f"demo: {step} ..."),
    )
    click.echo(
        f"demo site filled: {summary.visitors:,} visitors, {summary.sessions:,} sessions, "
        f"{summary.events:,} events, {summary.leads:,} leads, {summary.deals:,} deals "
        f"({summary.won:,} won), {summary.costs:,} cost rows"
    )
    if summary.crm_failures:
        click.echo(f"{len(summary.crm_failures)} CRM events failed to apply", err=True)
    _rebuild_derived(site_id)


def _ensure_demo_login(session: Session, site_id: int) -> None:
    """A login that sees only the demo site, so ``make run`` opens onto the dashboard."""
    if session.scalars(select(User.id).where(User.email == DEMO_LOGIN)).first() is None:
        create_user(session, DEMO_LOGIN, DEMO_PASSWORD, site_ids=[site_id])
    click.echo(f"dashboard: {server_url()}/dashboard/ (log in as {DEMO_LOGIN} / {DEMO_PASSWORD})")


def _rebuild_derived(site_id: int) -> None:
    """Credits and traffic rollups at once, so the first page view reads them (the worker
    would get there too, a batch at a time)."""
    from tracker.credits.journeys import CONVERSIONS
    from tracker.credits.store import rebuild_site
    from tracker.models import Site
    from tracker.rollups.credits import rebuild_credits
    from tracker.rollups.traffic import rebuild_traffic
    from tracker.sites.settings import site_settings

    with in_transaction() as session:
        site = session.get(Site, site_id)
        assert site is not None
        steps = len(site_settings(site).attribution_models) * len(CONVERSIONS)
        with click.progressbar(length=steps, label="attribution") as bar:
            rebuild_site(session, site, None, bar.update)
        rebuild_traffic(session, site)
        rebuild_credits(session, site)
