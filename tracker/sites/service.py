"""Creating a site, changing its settings, finding it by id or write key, its script tag."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.changes import settings_changed as noted_settings_change
from tracker.db import has_extension
from tracker.errors import NotFound, ValidationError
from tracker.models import Site
from tracker.models.base import utcnow
from tracker.sites.keys import WRITE_KEY_PREFIX, create_api_key
from tracker.sites.settings import SiteSettings, normalise_domain, site_settings, store_settings


@dataclass(frozen=True, slots=True)
class CreatedSite:
    site: Site
    write_key: str
    api_key: str


def create_site(
    session: Session,
    *,
    name: str,
    domains: Sequence[str],
    settings: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> CreatedSite:
    """Add a site with a fresh write key and a first secret API key."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError("expected a name of 1 to 200 characters", field="name")
    if not domains:
        raise ValidationError("give at least one domain", field="domains")
    clean_domains = []
    for index, domain in enumerate(domains):
        host = normalise_domain(domain, f"domains.{index}")
        if host not in clean_domains:
            clean_domains.append(host)
    typed = SiteSettings.from_mapping(settings or {})
    _check_database_supports(session, typed)
    now = now or utcnow()
    site = Site(
        name=name,
        domains=clean_domains,
        write_key=WRITE_KEY_PREFIX + secrets.token_urlsafe(18),
        created_at=now,
    )
    store_settings(site, typed)
    session.add(site)
    session.flush()
    created = create_api_key(session, site, name="default", now=now)
    return CreatedSite(site=site, write_key=site.write_key, api_key=created.plain)


def _check_database_supports(session: Session, settings: SiteSettings) -> None:
    if settings.unique_visitors == "approximate" and not has_extension(session, "hll"):
        raise ValidationError(
            "approximate counting needs PostgreSQL with the hll extension installed in the "
            "database (CREATE EXTENSION hll; docs/reports.md)",
            field="settings.unique_visitors",
        )


def update_site_settings(session: Session, site: Site, changes: Mapping[str, Any]) -> SiteSettings:
    """Validate and store ``changes``; the worker then recomputes the stored attribution of
    every model whose parameters or lookback window changed (and the rollups, when the time
    zone did)."""
    typed = site_settings(site).updated(changes)
    _check_database_supports(session, typed)
    store_settings(site, typed)
    session.flush()
    noted_settings_change(session, site.id)
    return typed


def find_site(session: Session, reference: str | int) -> Site:
    """A site by id or by exact name (for the CLI)."""
    text = str(reference)
    site = session.get(Site, int(text)) if text.isdigit() else None
    if site is None:
        site = session.scalars(select(Site).where(Site.name == text)).first()
    if site is None:
        raise NotFound(f"no site {reference!r}", field="site")
    return site


def site_by_write_key(session: Session, write_key: str) -> Site | None:
    return session.scalars(select(Site).where(Site.write_key == write_key)).first()


def script_tag(collector_origin: str, write_key: str, settings: SiteSettings) -> str:
    """The exact tag to paste into the site's pages."""
    extras = ""
    if settings.consent_mode == "required":
        extras += ' data-consent="required"'
    if settings.honor_gpc:
        extras += ' data-gpc="honor"'
    if settings.linked_domains:
        extras += f' data-linked="{",".join(settings.linked_domains)}"'
    origin = collector_origin.rstrip("/")
    return f'<script async src="{origin}/t.js" data-key="{write_key}"{extras}></script>'
