"""``leadtrail sites create|list|configure`` and ``leadtrail keys create|revoke|list``."""

from __future__ import annotations

import json
import secrets

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.cli.common import in_transaction
from tracker.models import Site
from tracker.sites.keys import create_api_key, list_api_keys, revoke_api_key
from tracker.sites.service import create_site, find_site, script_tag, update_site_settings
from tracker.sites.settings import site_settings

sites_group = AppGroup("sites", help="Tracked websites (tenants).")
keys_group = AppGroup("keys", help="Secret API keys of a site.")


def _parse_setting(raw: str) -> tuple[str, object]:
    if "=" not in raw:
        raise click.BadParameter(f"{raw!r}: expected key=value", param_hint="--set")
    key, value = raw.split("=", 1)
    try:
        parsed: object = json.loads(value)
    except ValueError:
        parsed = value
    return key.strip(), parsed


@sites_group.command("create")
@click.argument("name")
@click.option(
    "--domain", "domains", multiple=True, required=True, help="A domain of the site (repeatable)."
)
@click.option(
    "--set", "settings", multiple=True, help="A setting as key=value (JSON value), repeatable."
)
@click.option(
    "--collector-url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Where t.js is served.",
)
def create(
    name: str, domains: tuple[str, ...], settings: tuple[str, ...], collector_url: str
) -> None:
    """Add a site; print its write key, its secret API key (shown once) and the script tag."""
    values = dict(_parse_setting(raw) for raw in settings)
    with in_transaction() as session:
        created = create_site(session, name=name, domains=list(domains), settings=values)
        site_id = created.site.id
        typed = site_settings(created.site)
    click.echo(f"site:        {name} (id {site_id})")
    click.echo(f"write key:   {created.write_key}")
    click.echo(f"secret key:  {created.api_key}   (shown once: store it now)")
    click.echo("script tag:")
    click.echo(f"  {script_tag(collector_url, created.write_key, typed)}")


@sites_group.command("list")
def list_sites() -> None:
    """List sites with their domains and write keys."""
    from sqlalchemy import select

    from tracker.models import Site

    with in_transaction() as session:
        for site in session.scalars(select(Site).order_by(Site.id)):
            click.echo(f"{site.id}\t{site.name}\t{','.join(site.domains)}\t{site.write_key}")


@sites_group.command("configure")
@click.argument("site")
@click.option(
    "--set", "settings", multiple=True, required=True, help="key=value (JSON value), repeatable."
)
def configure(site: str, settings: tuple[str, ...]) -> None:
    """Change settings of SITE (id or name) and print them all (secrets as fingerprints)."""
    changes = dict(_parse_setting(raw) for raw in settings)
    with in_transaction() as session:
        typed = update_site_settings(session, find_site(session, site), changes)
    click.echo(json.dumps(typed.redacted_json(), indent=2))


@keys_group.command("create")
@click.argument("site")
@click.option("--name", default="cli", show_default=True)
def create_key(site: str, name: str) -> None:
    """Create a secret API key for SITE and print it once."""
    with in_transaction() as session:
        created = create_api_key(session, find_site(session, site), name=name)
    click.echo(f"key id:     {created.key.id}")
    click.echo(f"secret key: {created.plain}   (shown once: store it now)")


@keys_group.command("revoke")
@click.argument("site")
@click.argument("key_id")
def revoke_key(site: str, key_id: str) -> None:
    """Revoke KEY_ID of SITE; requests with it are refused from now on."""
    with in_transaction() as session:
        revoke_api_key(session, find_site(session, site), key_id)
    click.echo(f"revoked {key_id}")


@keys_group.command("list")
@click.argument("site")
def list_keys(site: str) -> None:
    """List the keys of SITE (ids and state; secrets are never shown again)."""
    with in_transaction() as session:
        for key in list_api_keys(session, find_site(session, site)):
            state = "revoked" if key.revoked_at else "active"
            click.echo(f"{key.id}\t{key.name}\t{state}\t{key.created_at:%Y-%m-%d}")


DEMO_SITE_NAME = "Demo site"


def ensure_demo_site(session: Session) -> Site:
    """The demo site, created on first use (its secret API key is printed once then)."""
    site = session.scalars(select(Site).where(Site.name == DEMO_SITE_NAME)).first()
    if site is None:
        # The demo's deals arrive as generic signed webhooks would, so the site has a
        # generic webhook secret: its CRM page shows the provider configured beside them.
        created = create_site(
            session, name=DEMO_SITE_NAME, domains=["localhost", "127.0.0.1"],
            settings={"generic_secrets": [f"whsec_demo_{secrets.token_urlsafe(24)}"]},
        )
        site = created.site
        click.echo(f"created the demo site; its secret API key: {created.api_key}")
    return site


@sites_group.command("demo")
@click.option(
    "--collector-url", default=None, help="Where t.js is served (default: LEADTRAIL_HOST:PORT)."
)
def demo(collector_url: str | None) -> None:
    """Make sure the demo site exists (idempotent) and print its script tag and page."""
    from flask import current_app

    settings = current_app.config["LEADTRAIL_SETTINGS"]
    origin = collector_url or f"http://{settings.host}:{settings.port}"
    with in_transaction() as session:
        site = ensure_demo_site(session)
        tag = script_tag(origin, site.write_key, site_settings(site))
    click.echo(f"demo site:  {DEMO_SITE_NAME} (write key {site.write_key})")
    click.echo(f"script tag: {tag}")
    click.echo(
        f"demo page:  {origin}/demo/?utm_source=newsletter&utm_medium=email&utm_campaign=launch"
    )
