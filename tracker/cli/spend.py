"""``leadtrail spend authorize|connect|sync|status``: ad accounts pulled into the costs
(docs/spend.md).
Credentials go in by file or option and are never printed back (fingerprints only)."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from crm_sync.errors import ApiError
from tracker.cli.common import (
    echo_error,
    in_transaction,
    load_credentials_file,
    parse_pairs,
)
from tracker.costs.adspend import accounts, oauth, pull, status
from tracker.costs.adspend.mapping import PLATFORMS, account_mapping
from tracker.db import get_engine
from tracker.errors import LeadTrailError
from tracker.localtime import local_today
from tracker.models import AdAccount
from tracker.models.base import utcnow
from tracker.sites.service import find_site
from tracker.sites.settings import site_settings

spend_group = AppGroup("spend", help="Ad spend pulled from Google Ads, Meta, Microsoft, LinkedIn.")



@spend_group.command("connect")
@click.argument("site")
@click.argument("platform", type=click.Choice(PLATFORMS))
@click.argument("account_id")
@click.option("--credentials-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A JSON object of credentials (keeps secrets off the command line).")
@click.option("--credential", "credential", multiple=True, metavar="KEY=VALUE",
              help="One credential, e.g. client_id=...; repeatable.")
@click.option("--map", "mapping", multiple=True, metavar="KEY=VALUE",
              help="Override the mapping: source, medium, campaign_from, keyword_from.")
@click.option("--start", "start_day", type=click.DateTime(["%Y-%m-%d"]),
              help="First day to pull (default: 90 days ago).")
@click.option("--auth-code", help="The code of `spend authorize`'s consent (instead of a "
                                  "refresh_token credential).")
@click.option("--redirect-uri", help="With --auth-code: the redirect URI it was issued for.")
def connect_command(site: str, platform: str, account_id: str, credentials_file: Path | None,
                    credential: tuple[str, ...], mapping: tuple[str, ...],
                    start_day: dt.datetime | None, auth_code: str | None,
                    redirect_uri: str | None) -> None:
    """Connect PLATFORM's ACCOUNT_ID to SITE; the worker pulls it next (or `spend sync`)."""
    given: dict[str, object] = load_credentials_file(credentials_file)
    given.update(parse_pairs(credential, "--credential"))
    if auth_code:
        if not redirect_uri:
            raise click.UsageError("--auth-code needs the --redirect-uri it was issued for")
        try:
            given.update(oauth.exchange_code(
                platform, {k: str(v) for k, v in given.items()}, auth_code, redirect_uri))
        except ApiError as error:
            click.echo(f"error: {error}", err=True)
            raise click.exceptions.Exit(2) from None
        except LeadTrailError as error:
            echo_error(error)
            raise click.exceptions.Exit(2) from None
    now = utcnow()
    with in_transaction() as session:
        found = find_site(session, site)
        first = start_day.date() if start_day else local_today(
            site_settings(found).timezone, now) - dt.timedelta(days=90)
        account = accounts.connect_account(
            session, found, platform, account_id, credentials=given,
            mapping=parse_pairs(mapping, "--map"), start_day=first, now=now)
        rules = account_mapping(platform, account.mapping).to_json()
    click.echo(f"connected {platform}:{account.account_id} to site {found.name}, from {first}")
    click.echo("mapping: " + ", ".join(f"{k}={v}" for k, v in rules.items()))


@spend_group.command("authorize")
@click.argument("platform", type=click.Choice(sorted(oauth.AUTHORIZE)))
@click.option("--client-id", required=True, help="Your OAuth app's client id.")
@click.option("--redirect-uri", required=True, help="A redirect URI registered on the app.")
def authorize_command(platform: str, client_id: str, redirect_uri: str) -> None:
    """Print PLATFORM's consent URL; after consent, pass the code the redirect carries to
    `spend connect --auth-code`."""
    state = secrets.token_urlsafe(16)
    click.echo(oauth.authorization_url(platform, client_id, redirect_uri, state))
    click.echo(f"check that the redirect carries state={state}, then run `leadtrail spend "
               f"connect SITE {platform} ACCOUNT_ID --auth-code CODE --redirect-uri "
               f"{redirect_uri} ...`")


@spend_group.command("sync")
@click.option("--site", required=True, help="Site id or name.")
@click.option("--account", "reference", help="platform:account_id (default: every account).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]),
              help="Pull again from this day (e.g. after changing the mapping).")
def sync_command(site: str, reference: str | None, since: dt.datetime | None) -> None:
    """Pull spend now: from the checkpoint (less the restatement window) to today."""
    with in_transaction() as session:
        found = find_site(session, site)
        if reference:
            chosen = [accounts.find_account(session, found.id, reference)]
        else:
            chosen = list(session.scalars(
                select(AdAccount).where(AdAccount.site_id == found.id)
                .order_by(AdAccount.platform, AdAccount.account_id)))
        for account in chosen:
            if not account.credentials:  # the demo's: fed, not pulled
                click.echo(f"{account.platform}:{account.account_id}: a demo account, "
                           "not pulled")
        targets = [(a.id, f"{a.platform}:{a.account_id}") for a in chosen if a.credentials]
    if not targets:
        click.echo("no ad account connected: run `leadtrail spend connect`")
        return
    failed = False
    for account_uuid, name in targets:
        rows = 0
        try:
            for chunk in pull.pull_account(get_engine(), found.id, account_uuid,
                                           since=since.date() if since else None):
                rows += chunk.rows
                click.echo(f"{name}: {chunk.start}..{chunk.end} stored {chunk.rows} rows "
                           f"(synced through {chunk.synced_through})")
        except ApiError as error:
            failed = True
            click.echo(f"{name}: failed: {error}", err=True)
            continue
        except LeadTrailError as error:
            failed = True
            click.echo(f"{name}: failed: ", err=True, nl=False)
            echo_error(error)
            continue
        click.echo(f"{name}: done, {rows} rows")
    if failed:
        raise click.exceptions.Exit(1)


@spend_group.command("status")
@click.option("--site", required=True)
@click.option("--days", type=click.IntRange(1, 730), default=30, show_default=True,
              help="Spend and unmatched spend over this many days up to today.")
def status_command(site: str, days: int) -> None:
    """Each account: checkpoint, last pull, rows and spend, and spend no session matches."""
    with in_transaction() as session:
        found = find_site(session, site)
        settings = site_settings(found)
        end = local_today(settings.timezone)
        start = end - dt.timedelta(days=days - 1)
        found_statuses = status.account_statuses(session, found.id, settings, start, end)
    if not found_statuses:
        click.echo("no ad account connected")
        return
    for item in found_statuses:
        a = item.account
        click.echo(f"{a.platform}:{a.account_id} {a.name!r} currency={a.currency or '?'} "
                   f"timezone={a.timezone or '?'}")
        if a.credentials:
            click.echo("  credentials: " + ", ".join(
                f"{k}={v}" for k, v in accounts.redacted_credentials(a).items()))
        if a.timezone and a.timezone != settings.timezone:
            click.echo(f"  note: its days are {a.timezone} days, the site's {settings.timezone}")
        click.echo(f"  synced through {a.synced_through or 'never'}; last success "
                   f"{a.last_success_at or 'never'}; next pull {a.next_pull_at}")
        if a.last_error:
            click.echo(f"  last error: {a.last_error}")
        click.echo(f"  {start}..{end}: {item.rows} rows, spend {item.spend:.2f} "
                   f"{settings.currency}, {item.impressions} impressions, {item.clicks} clicks")
        click.echo(f"  spend with no matching sessions: {item.unmatched_spend:.2f} "
                   f"{settings.currency}")
        for u in item.unmatched:
            click.echo(f"    {u.spend:.2f}  {u.source}/{u.medium} campaign={u.campaign!r} "
                       f"keyword={u.keyword!r}")


