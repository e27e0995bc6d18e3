"""``leadtrail crm secret|retire|show|replay``: CRM webhook secrets of a site, and replaying
the inbox. Secrets are printed once, when generated, and never again (only fingerprints)."""

from __future__ import annotations

import secrets as random_secrets

import click
from flask import current_app
from flask.cli import AppGroup

from tracker import inbox, sites
from tracker.cli.common import echo_error, in_transaction
from tracker.db import get_engine
from tracker.errors import LeadTrailError, ValidationError

crm_group = AppGroup("crm", help="CRM webhooks: secrets, set-up and the inbox.")

PROVIDER = click.Choice(inbox.PROVIDERS)
# Providers that verify with a list of secrets (HMAC keys), where rotation keeps the old one.
ROTATING = {"hubspot": "hubspot_secrets", "generic": "generic_secrets"}


def _new_secret(provider: str) -> str:
    prefix = "whsec_" if provider == "generic" else ""
    return prefix + random_secrets.token_urlsafe(32)


def _webhook_url(base_url: str, provider: str, site_id: int) -> str:
    return f"{base_url.rstrip('/')}/webhooks/{provider}/{site_id}"


def _default_base_url() -> str:
    settings = current_app.config["LEADTRAIL_SETTINGS"]
    return f"http://{settings.host}:{settings.port}"


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
        found = sites.find_site(session, site)
        current = sites.site_settings(found)
        if provider in ROTATING:
            key = ROTATING[provider]
            kept = list(getattr(current, key))[: sites.MAX_ACTIVE_SECRETS - 1] if keep_old else []
            changes: dict[str, object] = {key: [secret, *kept]}
        elif provider == "pipedrive":
            changes = {"pipedrive_username": username, "pipedrive_password": secret}
        else:
            changes = {"salesforce_token": secret}
        typed = sites.update_site_settings(session, found, changes)
        site_id = found.id
    if not value:
        click.echo(f"secret:      {secret}   (shown once: store it in the sender now)")
    click.echo(f"fingerprint: {sites.secret_fingerprint(secret)}")
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
        found = sites.find_site(session, site)
        active = list(getattr(sites.site_settings(found), key))
        if not active:
            raise ValidationError(key, f"no {provider} secret is set")
        sites.update_site_settings(session, found, {key: active[:1]})
    click.echo(
        f"retired {len(active) - 1} old secret(s); active: {sites.secret_fingerprint(active[0])}"
    )


@crm_group.command("show")
@click.argument("site")
@click.option("--base-url", help="The public URL LeadTrail is reached at (default: host:port).")
def show(site: str, base_url: str | None) -> None:
    """Print SITE's webhook URLs and what each provider checks (fingerprints, never secrets)."""
    with in_transaction() as session:
        found = sites.find_site(session, site)
        settings = sites.site_settings(found)
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
    for provider in inbox.PROVIDERS:
        click.echo(f"{provider:<11} {_webhook_url(base, provider, site_id)}")
        click.echo(f"{'':<11} {lines[provider]}")


@crm_group.command("replay")
@click.option("--site", help="Only this site (id or name); default: every site.")
@click.option("--limit", default=inbox.REPLAY_BATCH, show_default=True, type=click.IntRange(1))
def replay(site: str | None, limit: int) -> None:
    """Apply again the deliveries that failed (or were stored and never applied)."""
    with in_transaction() as session:
        site_id = sites.find_site(session, site).id if site else None
        targets = inbox.pending_events(session, site_id, limit)
    try:
        result = inbox.replay(get_engine(), targets)
    except LeadTrailError as error:  # pragma: no cover - a row deleted meanwhile
        echo_error(error)
        raise click.exceptions.Exit(2) from None
    click.echo(f"replayed {len(targets)}: {result.applied} applied, {result.failed} failed")
    if result.failed:
        raise click.exceptions.Exit(1)
