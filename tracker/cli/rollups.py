"""``leadtrail rollups rebuild|status [--site]``: the traffic and credit rollups the reports
read."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from tracker.cli.common import in_transaction
from tracker.models import CreditRollup, RollupState, Site, TrafficRollup
from tracker.rollups.credits import rebuild_credits
from tracker.rollups.traffic import rebuild_traffic
from tracker.sites.service import find_site
from tracker.worker.locks import lock_site

rollups_group = AppGroup(
    "rollups", help="Pre-aggregated traffic and attributed figures the reports read."
)


def _site_ids(site_ref: str | None) -> list[int]:
    with in_transaction() as session:
        if site_ref:
            return [find_site(session, site_ref).id]
        return list(session.scalars(select(Site.id).order_by(Site.id)))


@rollups_group.command("rebuild")
@click.option("--site", "site_ref", help="Site id or name (default: every site).")
def rebuild_command(site_ref: str | None) -> None:
    """Rebuild every rollup row from the sessions and stored credits, one site per
    transaction. The worker keeps them current afterwards; until a site's first build its
    reports scan the raw rows."""
    for site_id in _site_ids(site_ref):
        with in_transaction() as session:
            lock_site(session, site_id)
            site = session.get(Site, site_id)
            assert site is not None
            traffic = rebuild_traffic(session, site)
            credited = rebuild_credits(session, site)
        click.echo(f"site {site.name}: {traffic:,} traffic and {credited:,} credit rollup rows")


@rollups_group.command("status")
@click.option("--site", "site_ref", help="Site id or name (default: every site).")
def status_command(site_ref: str | None) -> None:
    """When each site's rollups were built, in which time zone, and what they hold."""
    ids = _site_ids(site_ref)
    with in_transaction() as session:
        for site_id in ids:
            site = session.get(Site, site_id)
            assert site is not None
            state = session.get(RollupState, site_id)
            if state is None:
                click.echo(f"site {site.name}: not built (reports scan the sessions)")
                continue
            rows, first, last = session.execute(
                select(func.count(), func.min(TrafficRollup.day), func.max(TrafficRollup.day))
                .where(TrafficRollup.site_id == site_id)
            ).one()
            span = f", days {first} to {last}" if rows else ""
            credited = session.scalar(
                select(func.count()).where(CreditRollup.site_id == site_id)
            )
            credits = (
                f"credits in {state.credits_timezone}, {credited:,} rows"
                if state.credits_timezone else "credits not built (reports read stored credits)"
            )
            click.echo(
                f"site {site.name}: built {state.built_at:%Y-%m-%d %H:%M} UTC in "
                f"{state.timezone}, {rows:,} traffic rows{span}; {credits}"
            )
