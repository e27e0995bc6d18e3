"""Adding, finding and describing a site's destinations (for the CLI and the API). Services
take the session first and never commit. Secrets are never returned: fingerprints only."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.destinations.outbox import SENT
from tracker.destinations.sender import outbox_counts
from tracker.destinations.settings import (
    PLATFORMS,
    SECRET_KEYS,
    clean_credentials,
    clean_settings,
)
from tracker.errors import Conflict, NotFound, ValidationError
from tracker.models import AdAccount, ConversionOutbox, Destination
from tracker.models.base import utcnow
from tracker.sites.settings import secret_fingerprint
from tracker.validation import RuleRefused

MAX_NAME_LENGTH = 80


def add_destination(
    session: Session, site_id: int, name: str, platform: str, settings: Mapping[str, Any],
    credentials: Mapping[str, Any], *, ad_account: str | None = None,
    now: dt.datetime | None = None,
) -> Destination:
    """Add the destination, or replace the settings and credentials of the one so named."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"expected 1 to {MAX_NAME_LENGTH} characters", field="name")
    if platform not in PLATFORMS:
        raise ValidationError(f"expected one of {', '.join(PLATFORMS)}", field="platform")
    account_uuid = None
    if ad_account:
        account = session.scalars(select(AdAccount).where(
            AdAccount.site_id == site_id, AdAccount.platform == platform,
            AdAccount.account_id == ad_account)).first()
        if account is None:
            raise RuleRefused(f"no {platform} ad account {ad_account!r} "
                                            "connected to this site", field="ad_account")
        account_uuid = account.id
    clean = clean_settings(platform, settings)
    secrets = clean_credentials(platform, credentials, borrowed=account_uuid is not None)
    found = session.scalars(select(Destination).where(
        Destination.site_id == site_id, Destination.name == name)).first()
    if found is None:
        found = Destination(site_id=site_id, id=uuid.uuid4(), name=name, platform=platform,
                            enabled=True, created_at=now or utcnow())
        session.add(found)
    elif found.platform != platform:
        raise Conflict(f"{name!r} already sends to {found.platform}", field="name")
    found.settings = clean
    found.credentials = secrets
    found.ad_account_id = account_uuid
    session.flush()
    return found


def find_destination(session: Session, site_id: int, reference: str) -> Destination:
    """A destination by name or id."""
    statement = select(Destination).where(Destination.site_id == site_id)
    try:
        statement = statement.where(Destination.id == uuid.UUID(reference))
    except ValueError:
        statement = statement.where(Destination.name == reference)
    found = session.scalars(statement).first()
    if found is None:
        raise NotFound(f"no destination {reference!r} on this site", field="destination")
    return found


def set_enabled(session: Session, site_id: int, reference: str, enabled: bool) -> Destination:
    """Pause or resume sending. A paused destination keeps its queue: the sender leaves its
    rows pending (no attempt spent) and sends them once it is enabled again."""
    found = find_destination(session, site_id, reference)
    found.enabled = enabled
    session.flush()
    return found


def last_success(session: Session, destination: Destination) -> dt.datetime | None:
    """When the platform last accepted a conversion of this destination."""
    return session.scalars(
        select(func.max(ConversionOutbox.sent_at))
        .where(ConversionOutbox.site_id == destination.site_id,
               ConversionOutbox.destination_id == destination.id,
               ConversionOutbox.status == SENT)).first()


def list_destinations(session: Session, site_id: int) -> list[Destination]:
    return list(session.scalars(select(Destination).where(Destination.site_id == site_id)
                                .order_by(Destination.name)))


def describe(session: Session, destination: Destination) -> dict[str, Any]:
    """What the CLI and API show: settings, secrets as fingerprints, delivery counts."""
    return {
        "id": str(destination.id),
        "name": destination.name,
        "platform": destination.platform,
        "enabled": destination.enabled,
        "settings": destination.settings,
        "credentials": {key: secret_fingerprint(str(value)) if key in SECRET_KEYS else value
                        for key, value in (destination.credentials or {}).items()},
        "borrows_ad_account": destination.ad_account_id is not None,
        "last_delivery_at": (destination.last_delivery_at.isoformat()
                             if destination.last_delivery_at else None),
        "last_error": destination.last_error,
        "last_success_at": (success.isoformat()
                            if (success := last_success(session, destination)) else None),
        "counts": outbox_counts(session, destination.site_id, destination.id),
    }
