"""``leadtrail destinations add|list|test|enable|disable|push|replay``: conversions pushed to
ad platforms (docs/destinations.md). Secrets go in by file or option and are never printed back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from tracker.cli.common import (
    echo_error,
    in_transaction,
    load_credentials_file,
    parse_pairs,
)
from tracker.db import get_engine
from tracker.destinations import check, sender, service
from tracker.destinations.outbox import SENT
from tracker.destinations.settings import MILESTONES, PLATFORMS
from tracker.errors import LeadTrailError
from tracker.sites.service import find_site

destinations_group = AppGroup("destinations", help="Conversions pushed out to ad platforms.")



def _milestones(values: tuple[str, ...]) -> dict[str, Any] | None:
    """``won=purchase``, ``sql=qualify_lead:fixed:50``, ``sql=X:expected:8000:0.2``."""
    if not values:
        return None
    found: dict[str, Any] = {}
    for milestone, text in parse_pairs(values, "--milestone").items():
        name, _, rule = text.partition(":")
        parts = rule.split(":") if rule else []
        value: dict[str, Any] = {"rule": parts[0]} if parts else {}
        if len(parts) > 1:
            value["amount"] = parts[1]
        if len(parts) > 2:
            value["probability"] = parts[2]
        found[milestone] = {"name": name, **({"value": value} if value else {})}
    return found


@destinations_group.command("add")
@click.argument("site")
@click.argument("name")
@click.argument("platform", type=click.Choice(PLATFORMS))
@click.option("--setting", "setting", multiple=True, metavar="KEY=VALUE",
              help="measurement_id, pixel_id, customer_id, account_id, currency, "
                   "test_event_code, api_url …; repeatable.")
@click.option("--milestone", "milestone", multiple=True, metavar="MILESTONE=NAME[:RULE[:AMOUNT]]",
              help=f"Map one of {', '.join(MILESTONES)} to the platform's conversion; "
                   "RULE is none, fixed, deal or expected.")
@click.option("--credential", "credential", multiple=True, metavar="KEY=VALUE")
@click.option("--credentials-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A JSON object of credentials (keeps secrets off the command line).")
@click.option("--ad-account", help="Borrow the OAuth tokens of this connected ad account.")
def add_command(site: str, name: str, platform: str, setting: tuple[str, ...],
                milestone: tuple[str, ...], credential: tuple[str, ...],
                credentials_file: Path | None, ad_account: str | None) -> None:
    """Add (or replace) destination NAME of SITE sending to PLATFORM."""
    secrets = load_credentials_file(credentials_file)
    secrets.update(parse_pairs(credential, "--credential"))
    settings: dict[str, Any] = dict(parse_pairs(setting, "--setting"))
    mapped = _milestones(milestone)
    if mapped is not None:
        settings["milestones"] = mapped
    with in_transaction() as session:
        found = find_site(session, site)
        destination = service.add_destination(session, found.id, name, platform, settings,
                                              secrets, ad_account=ad_account)
        shown = service.describe(session, destination)
    click.echo(json.dumps(shown, indent=2, sort_keys=True))


@destinations_group.command("list")
@click.argument("site")
def list_command(site: str) -> None:
    """Each destination of SITE: settings, secret fingerprints, rows per status."""
    with in_transaction() as session:
        found = find_site(session, site)
        shown = [service.describe(session, d)
                 for d in service.list_destinations(session, found.id)]
    click.echo(json.dumps(shown, indent=2, sort_keys=True))


@destinations_group.command("test")
@click.argument("site")
@click.argument("name")
def test_command(site: str, name: str) -> None:
    """Send a sample conversion in the platform's validation mode; exit 1 when refused."""
    try:
        with in_transaction() as session:
            destination = service.find_destination(session, find_site(session, site).id, name)
            outcomes = check.validate_destination(get_engine(), session, destination)
    except LeadTrailError as error:
        echo_error(error)
        raise click.exceptions.Exit(2) from None
    refused = [o for o in outcomes.values() if o.status != SENT]
    for outcome in outcomes.values():
        click.echo(f"{outcome.status}: {outcome.error or 'accepted by the platform'}")
    if refused:
        raise click.exceptions.Exit(1)


def _set_enabled(site: str, name: str, enabled: bool) -> None:
    with in_transaction() as session:
        destination = service.set_enabled(session, find_site(session, site).id, name, enabled)
        counts = service.describe(session, destination)["counts"]
    state = "enabled" if enabled else "disabled"
    click.echo(f"{name}: {state}; {counts.get('pending', 0)} conversions pending")


@destinations_group.command("disable")
@click.argument("site")
@click.argument("name")
def disable_command(site: str, name: str) -> None:
    """Stop sending to destination NAME; its queued conversions wait until it is enabled."""
    _set_enabled(site, name, False)


@destinations_group.command("enable")
@click.argument("site")
@click.argument("name")
def enable_command(site: str, name: str) -> None:
    """Send to destination NAME again, starting with what queued while it was disabled."""
    _set_enabled(site, name, True)


@destinations_group.command("push")
@click.option("--site", "site", help="Only this site's rows.")
@click.option("--limit", type=click.IntRange(1), default=5000, show_default=True)
def push_command(site: str | None, limit: int) -> None:
    """Send the conversions that are due now (the worker does this continuously)."""
    site_id = None
    if site is not None:
        with in_transaction() as session:
            site_id = find_site(session, site).id
    done = sender.drain(get_engine(), site_id=site_id, limit=limit)
    click.echo(f"sent {done.sent}, retrying {done.retrying}, dead {done.dead}")
    if done.dead:
        raise click.exceptions.Exit(1)


@destinations_group.command("replay")
@click.argument("site")
@click.argument("name", required=False)
def replay_command(site: str, name: str | None) -> None:
    """Put SITE's dead conversions (of destination NAME) back in the queue."""
    with in_transaction() as session:
        site_id = find_site(session, site).id
        destination_id = service.find_destination(session, site_id, name).id if name else None
        count = sender.replay(session, site_id, destination_id)
    click.echo(f"requeued {count} conversions")
