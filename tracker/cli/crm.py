"""``leadtrail crm secret|retire|show|replay|connect|sync|push``: CRM webhook secrets of a
site, replaying the inbox, API connections, pulling deals and pushing leads. Secrets are
printed once, when generated, and never again (only fingerprints); API tokens are never
printed at all."""

from __future__ import annotations

import datetime as dt
import secrets as random_secrets

import click
from flask.cli import AppGroup

from crm_sync.errors import ApiError
from crm_sync.events import PROVIDERS
from tracker.cli.common import echo_error, in_transaction, server_url
from tracker.crm import inbox, pull, push
from tracker.crm.clients import API_PROVIDERS
from tracker.db import get_engine
from tracker.errors import LeadTrailError, ValidationError
from tracker.models.base import utcnow
from tracker.sites.service import find_site, update_site_settings
from tracker.sites.settings import (
    MAX_ACTIVE_SECRETS,
    PUSH_PROVIDERS,
    secret_fingerprint,
    site_settings,
)
from tracker.validation import parse_datetime

crm_group = AppGroup(
    "crm", help="CRM sync: webhook secrets, the inbox, API pull of deals, push of leads."
)

PROVIDER = click.Choice(PROVIDERS)
# Providers that verify with a list of secrets (HMAC keys), where rotation keeps the old one.
ROTATING = {"hubspot": "hubspot_secrets", "generic": "generic_secrets"}


def _new_secret(provider: str) -> str:
    prefix = "whsec_" if provider == "generic" else ""
    return prefix + random_secrets.token_urlsafe(32)


def _webhook_url(base_url: str, provider: str, site_id: int) -> str:
    return f"{base_url.rstrip('/')}/webhooks/{provider}/{site_id}"


def _default_base_url() -> str:
    return server_url()


@crm_group.command("secret")
@click.argument("site")
@click.argument("provider", type=PROVIDER)
@click.option(
    "--value", help="Use this secret (HubSpot: the app's client secret) instead of a new one."
)
@click.option(
    "--keep-old/--replace",
    default=False,
    help="Keep the current secret active too while senders switch over (hubspot, generic).",
)
@click.option("--username", default="leadtrail", show_default=True, help="Pipedrive: Basic user.")
def set_secret(site: str, provider: str, value: str | None, keep_old: bool, username: str) -> None:
    """Set or rotate PROVIDER's webhook secret on SITE; a generated one is printed once."""
    if provider == "hubspot" and not value:
        raise click.UsageError("HubSpot signs with your app's client secret: pass --value")
    secret = value or _new_secret(provider)
    with in_transaction() as session:
        found = find_site(session, site)
        current = site_settings(found)
        if provider in ROTATING:
            key = ROTATING[provider]
            kept = list(getattr(current, key))[: MAX_ACTIVE_SECRETS - 1] if keep_old else []
            changes: dict[str, object] = {key: [secret, *kept]}
        elif provider == "pipedrive":
            changes = {"pipedrive_username": username, "pipedrive_password": secret}
        else:
            changes = {"salesforce_token": secret}
        typed = update_site_settings(session, found, changes)
        site_id = found.id
    if not value:
        click.echo(f"secret:      {secret}   (shown once: store it in the sender now)")
    click.echo(f"fingerprint: {secret_fingerprint(secret)}")
    if provider in ROTATING:
        active = getattr(typed, ROTATING[provider])
        click.echo(f"active:      {len(active)} secret(s), newest first")
    url = _webhook_url(_default_base_url(), provider, site_id)
    if provider == "pipedrive":
        click.echo(f"pipedrive:   HTTP auth user {username!r}, password = the secret above")
    if provider == "salesforce":
        url += "?token=<the secret above>"
        if typed.salesforce_org_id is None:
            click.echo("also set:    leadtrail sites configure SITE --set salesforce_org_id=00D…")
    click.echo(f"webhook URL: {url}")


@crm_group.command("retire")
@click.argument("site")
@click.argument("provider", type=click.Choice(sorted(ROTATING)))
def retire(site: str, provider: str) -> None:
    """End a rotation: keep only PROVIDER's newest secret on SITE."""
    key = ROTATING[provider]
    with in_transaction() as session:
        found = find_site(session, site)
        active = list(getattr(site_settings(found), key))
        if not active:
            raise ValidationError(f"no {provider} secret is set", field=key)
        update_site_settings(session, found, {key: active[:1]})
    click.echo(
        f"retired {len(active) - 1} old secret(s); active: {secret_fingerprint(active[0])}"
    )


@crm_group.command("show")
@click.argument("site")
@click.option("--base-url", help="The public URL LeadTrail is reached at (default: host:port).")
def show(site: str, base_url: str | None) -> None:
    """Print SITE's webhook URLs and what each provider checks (fingerprints, never secrets)."""
    with in_transaction() as session:
        found = find_site(session, site)
        settings = site_settings(found)
        site_id = found.id
    redacted = settings.redacted_json()
    base = base_url or _default_base_url()
    lines = {
        "hubspot": f"secrets {redacted['hubspot_secrets'] or 'not set'}; "
        f"portal {settings.hubspot_portal_id or 'any'}",
        "pipedrive": f"user {settings.pipedrive_username or 'not set'}; "
        f"password {redacted['pipedrive_password'] or 'not set'}",
        "salesforce": f"org {settings.salesforce_org_id or 'not set'}; "
        f"token {redacted['salesforce_token'] or 'none'}",
        "generic": f"secrets {redacted['generic_secrets'] or 'not set'}",
    }
    for provider in PROVIDERS:
        click.echo(f"{provider:<11} {_webhook_url(base, provider, site_id)}")
        click.echo(f"{'':<11} {lines[provider]}")
    with in_transaction() as session:
        marks = {p: pull.checkpoint(session, site_id, p) for p in API_PROVIDERS}
    for provider in API_PROVIDERS:
        url_key, token_key = API_SETTINGS[provider]
        mark = marks[provider]
        synced = mark.since.isoformat() if mark is not None and mark.since else "never"
        click.echo(
            f"{provider + ' API':<15} {getattr(settings, url_key) or 'no URL'}; "
            f"token {redacted[token_key] or 'not set'}; synced up to {synced}; "
            f"push {'on' if provider in settings.crm_push else 'off'}"
        )


@crm_group.command("replay")
@click.option("--site", help="Only this site (id or name); default: every site.")
@click.option("--limit", default=inbox.REPLAY_BATCH, show_default=True, type=click.IntRange(1))
def replay(site: str | None, limit: int) -> None:
    """Apply again the deliveries that failed (or were stored and never applied)."""
    with in_transaction() as session:
        site_id = find_site(session, site).id if site else None
        targets = inbox.pending_events(session, site_id, limit)
    try:
        result = inbox.replay(get_engine(), targets)
    except LeadTrailError as error:  # pragma: no cover - a row deleted meanwhile
        echo_error(error)
        raise click.exceptions.Exit(2) from None
    click.echo(f"replayed {len(targets)}: {result.applied} applied, {result.failed} failed")
    if result.failed:
        raise click.exceptions.Exit(1)


# --- the CRMs' APIs: connect, pull deals, push leads ------------------------------------

# Per provider: the settings behind ``--url`` and the token.
API_SETTINGS = {
    "hubspot": ("hubspot_api_url", "hubspot_api_token"),
    "pipedrive": ("pipedrive_api_url", "pipedrive_api_token"),
    "salesforce": ("salesforce_instance_url", "salesforce_access_token"),
}


@crm_group.command("connect")
@click.argument("site")
@click.argument("provider", type=click.Choice(API_PROVIDERS))
@click.option(
    "--token",
    prompt="API token",
    hide_input=True,
    help="HubSpot private app token, Pipedrive API token or Salesforce access token. "
    "Asked for (hidden) when not given; a pipe works too.",
)
@click.option("--url", help="API base URL (Salesforce: the org's instance URL, required).")
@click.option("--api-version", help="Salesforce REST API version, e.g. v62.0.")
@click.option(
    "--push/--no-push",
    "push_on",
    default=None,
    help="Upsert every new lead and stage change onto this CRM's contacts (hubspot, pipedrive).",
)
def connect(
    site: str,
    provider: str,
    token: str,
    url: str | None,
    api_version: str | None,
    push_on: bool | None,
) -> None:
    """Store SITE's API URL and token for PROVIDER (for `crm sync` and `crm push`)."""
    url_key, token_key = API_SETTINGS[provider]
    changes: dict[str, object] = {token_key: token.strip()}
    if url:
        changes[url_key] = url
    if api_version:
        if provider != "salesforce":
            raise click.UsageError("--api-version is for Salesforce only")
        changes["salesforce_api_version"] = api_version
    if push_on is not None and provider not in PUSH_PROVIDERS:
        raise click.UsageError(f"pushing leads is for {', '.join(PUSH_PROVIDERS)} only")
    with in_transaction() as session:
        found = find_site(session, site)
        current = site_settings(found)
        if push_on is not None:
            kept = [name for name in current.crm_push if name != provider]
            changes["crm_push"] = kept + ([provider] if push_on else [])
        typed = update_site_settings(session, found, changes)
    click.echo(f"{provider} API: {getattr(typed, url_key) or 'no URL set'}")
    click.echo(f"token:       {secret_fingerprint(getattr(typed, token_key))}")
    click.echo(f"push leads:  {'on' if provider in typed.crm_push else 'off'}")


@crm_group.command("sync")
@click.argument("provider", type=click.Choice(API_PROVIDERS))
@click.option("--site", "site_ref", required=True, help="The site (id or name).")
@click.option(
    "--since",
    help="Pull deals modified since this ISO 8601 time (default: the stored checkpoint; "
    "first run: every deal).",
)
def sync(provider: str, site_ref: str, since: str | None) -> None:
    """Pull PROVIDER's deals changed since the last sync into SITE's inbox and apply them.

    The checkpoint advances after every page: run it again after an interruption and it
    resumes. Exit code 1 if the API failed or a deal could not be applied.
    """
    start: dt.datetime | None = None
    try:
        start = parse_datetime(since, "since") if since is not None else None
    except ValidationError as error:
        echo_error(error)
        raise click.exceptions.Exit(2) from None
    with in_transaction() as session:
        site_id = find_site(session, site_ref).id
    totals = {"deals": 0, "stored": 0, "applied": 0, "failed": 0}
    checkpoint: dt.datetime | None = None
    problem: str | None = None
    with click.progressbar(length=0, label=f"{provider} deals", show_pos=True) as bar:
        try:
            for page in pull.sync_deals(get_engine(), site_id, provider, since=start):
                if page.total is not None:
                    bar.length = max(page.total, totals["deals"] + page.deals)
                bar.update(page.deals)
                for key in totals:
                    totals[key] += getattr(page, key)
                checkpoint = page.checkpoint
        except ApiError as error:
            problem = f"{provider} API: {error}"
        except LeadTrailError as error:
            echo_error(error)
            raise click.exceptions.Exit(2) from None
    click.echo(
        f"{totals['deals']} deals read, {totals['stored']} new, "
        f"{totals['applied']} applied, {totals['failed']} failed"
    )
    click.echo(f"checkpoint:  {checkpoint.isoformat() if checkpoint else 'none yet'}")
    if problem:
        click.echo(f"stopped: {problem}; run again to resume from the checkpoint", err=True)
    if problem or totals["failed"]:
        raise click.exceptions.Exit(1)


@crm_group.command("push")
@click.option("--site", "site_ref", help="Only this site (id or name); default: every site.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1))
@click.option(
    "--retry-failed", is_flag=True, help="First put rows that failed for good back in the queue."
)
def push_leads(site_ref: str | None, limit: int, retry_failed: bool) -> None:
    """Deliver the CRM outbox: upsert queued leads onto their CRM contacts.

    Run it from cron or a systemd timer (docs/crm.md). Rows the CRM may accept later stay
    queued with a growing delay; exit code 1 if any row failed for good.
    """
    now = utcnow()
    with in_transaction() as session:
        site_id = find_site(session, site_ref).id if site_ref else None
        requeued = push.requeue_failed(session, site_id, now) if retry_failed else 0
    result = push.drain_outbox(get_engine(), site_id=site_id, limit=limit, now=now)
    with in_transaction() as session:
        left = push.outbox_counts(session, site_id)
    if requeued:
        click.echo(f"requeued {requeued} failed row(s)")
    click.echo(
        f"pushed: {result.sent} sent, {result.retrying} to retry, {result.failed} failed; "
        f"outbox: {left.get('pending', 0)} pending, {left.get('failed', 0)} failed"
    )
    if result.failed:
        raise click.exceptions.Exit(1)
