"""``leadtrail costs import FILE`` and ``leadtrail costs rate``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from tracker.cli.common import in_transaction
from tracker.costs import service as costs
from tracker.models.base import utcnow
from tracker.sites.service import find_site
from tracker.sites.settings import site_settings

costs_group = AppGroup("costs", help="Ad spend.")


@costs_group.command("import")
@click.option("--site", required=True, help="Site id or name.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(site: str, file: Path) -> None:
    """Import ad spend from a CSV FILE (date, channel, source, medium, campaign, keyword,
    amount, currency, exchange_rate). Re-importing replaces; an error imports nothing."""
    with in_transaction() as session:
        found = find_site(session, site)
        currency = site_settings(found).currency
        rows = costs.parse_cost_csv(file.read_text(encoding="utf-8-sig"), currency)
        done = costs.import_costs(session, found.id, currency, rows, utcnow(), file.name)
    click.echo(f"imported {done.rows} cost rows, {done.total_site_currency} {currency}")


@costs_group.command("rate")
@click.option("--site", required=True)
@click.option("--currency", required=True)
@click.option(
    "--from", "valid_from", required=True, help="First day the rate applies (YYYY-MM-DD)."
)
@click.option("--rate", required=True, help="Site-currency units for one unit of CURRENCY.")
def rate_command(site: str, currency: str, valid_from: str, rate: str) -> None:
    """Set an exchange rate used to convert imported spend."""
    with in_transaction() as session:
        found = find_site(session, site)
        record = costs.set_exchange_rate(
            session, found.id, {"currency": currency, "valid_from": valid_from, "rate": rate}
        )
    click.echo(
        f"1 {record.currency} = {record.rate} {site_settings(found).currency} "
        f"from {record.valid_from}"
    )

