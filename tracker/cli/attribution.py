"""``leadtrail attribution rebuild [--site] [--model]``: recompute stored attribution."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from tracker.cli.common import in_transaction
from tracker.credits.journeys import CONVERSIONS
from tracker.credits.store import rebuild_site
from tracker.errors import ValidationError
from tracker.models import Site
from tracker.rollups.credits import rebuild_credits
from tracker.sites.service import find_site
from tracker.sites.settings import site_settings
from tracker.worker.locks import lock_site

attribution_group = AppGroup("attribution", help="Stored attribution.")


@attribution_group.command("rebuild")
@click.option("--site", "site_ref", help="Site id or name (default: every site).")
@click.option("--model", "models", multiple=True, help="Model name, repeatable (default: all).")
def rebuild_command(site_ref: str | None, models: tuple[str, ...]) -> None:
    """Recompute every stored credit (and refit data-driven models) and the credit rollups
    they feed, one site per transaction."""
    with in_transaction() as session:
        ids = (
            [find_site(session, site_ref).id]
            if site_ref
            else list(session.scalars(select(Site.id).order_by(Site.id)))
        )
    for site_id in ids:
        with in_transaction() as session:
            lock_site(session, site_id)
            site = session.get(Site, site_id)
            assert site is not None
            configured = site_settings(site).attribution_models
            for index, model in enumerate(models):
                if model not in configured:
                    raise ValidationError(
                        f"{model!r} is not stored for site {site.name!r}; "
                        f"expected one of {', '.join(configured)}", field=f"model.{index}"
                    )
            wanted = models or configured
            steps = len(wanted) * len(CONVERSIONS)
            with click.progressbar(length=steps, label=f"site {site.name}") as bar:
                written = rebuild_site(session, site, models or None, bar.update)
            rebuild_credits(session, site, models or None)
        click.echo(f"site {site.name}: {written} credit rows for {len(wanted)} models")
