"""The durable CRM inbox: deliveries stored as received (``crm_events``), applied to deals
afterwards, and re-applied on demand when applying failed.

A delivery is verified and parsed by ``crm_sync`` before it is stored, so the inbox holds
only authentic, readable bodies; applying re-parses the stored body with the site's current
settings. Deals pulled from a CRM's API (``tracker.crm.pull``) take the same path, one row
per deal version with ``source = pull``. Applying is idempotent and order-independent
(``tracker.crm.deals``), so a redelivery, a replay or a race between the two changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crm_sync.errors import CrmSyncError
from crm_sync.events import ContactEvent, DealEvent, delivery_key
from crm_sync.http import RetryPolicy
from crm_sync.ports import apply_events
from crm_sync.providers import generic, hubspot, pipedrive, salesforce
from crm_sync.stages import map_stage
from tracker import changes
from tracker.crm.deals import ContactUpdate, DealUpdate, apply_contact_update, apply_deal_update
from tracker.db import describe_failure, insert_ignore, transaction
from tracker.errors import NotFound, ValidationError
from tracker.models import CrmContact, CrmEvent, Lead, Site
from tracker.models.base import utcnow
from tracker.sites.settings import SiteSettings, site_settings

logger = logging.getLogger(__name__)

# Inbox row states: stored and not yet applied, applied, or applying failed (kept, replayable).
RECEIVED, APPLIED, FAILED = "received", "applied", "failed"
# How a row came in: a webhook body, or one deal record from the provider's API.
WEBHOOK, PULL = "webhook", "pull"
REPLAY_BATCH = 500
# Looking a Pipedrive person up while its webhook is applied: one short try (Pipedrive gives
# up on a webhook after 10 s). A person not found now is found on a replay, when we push the
# lead into it, or when a person webhook reports it.
LOOKUP_TIMEOUT_SECONDS = 4.0
LOOKUP_POLICY = RetryPolicy(max_attempts=1)


def parse_delivery(
    provider: str,
    settings: SiteSettings,
    body: bytes,
    received_at: dt.datetime,
    source: str = WEBHOOK,
) -> list[DealEvent]:
    """The deal events of a verified delivery (or of a pulled record, ``source=PULL``).
    Raises ``crm_sync`` errors for a body that is not the provider's format (and, for
    HubSpot, for another portal's events)."""
    maps = settings.crm_stage_maps
    if source == PULL:
        return _parse_pulled(provider, settings, body)
    if provider == "hubspot":
        return hubspot.parse(
            body, stage_map=maps.get("hubspot"), portal_id=settings.hubspot_portal_id
        )
    if provider == "pipedrive":
        return pipedrive.parse(body)
    if provider == "salesforce":
        return salesforce.parse(
            body,
            now=received_at,
            stage_map=maps.get("salesforce"),
            fields=opportunity_fields(settings),
        )
    if provider == "generic":
        return generic.parse(body)
    raise NotFound(f"no CRM provider {provider!r}", field="provider")


def opportunity_fields(settings: SiteSettings) -> salesforce.OpportunityFields:
    """Where the site's Opportunities keep the contact's email and phone and our lead id
    (``salesforce_fields``, checked when the setting is written)."""
    return salesforce.OpportunityFields.named(settings.salesforce_fields)


def parse_contacts(
    provider: str, body: bytes, received_at: dt.datetime, source: str = WEBHOOK
) -> list[ContactEvent]:
    """The CRM person records a verified delivery reports (Pipedrive person webhooks,
    Salesforce Lead notifications); ``[]`` for every other delivery."""
    if source == PULL:
        return []
    if provider == "pipedrive":
        return pipedrive.parse_contacts(body)
    if provider == "salesforce":
        return salesforce.parse_contacts(body, now=received_at)
    return []


def _parse_pulled(provider: str, settings: SiteSettings, body: bytes) -> list[DealEvent]:
    maps = settings.crm_stage_maps
    if provider == "hubspot":
        return hubspot.parse_record(body, stage_map=maps.get("hubspot"))
    if provider == "pipedrive":
        return pipedrive.parse_record(body)
    if provider == "salesforce":
        return salesforce.parse_record(
            body, stage_map=maps.get("salesforce"), field_names=settings.salesforce_fields
        )
    raise NotFound(f"no CRM API for {provider!r}", field="provider")


def to_update(event: DealEvent, stage_maps: Mapping[str, Mapping[str, str]]) -> DealUpdate:
    """Tracker's view of a deal event. Raises :class:`ValidationError` for a ``lead_id`` that
    is not a LeadTrail lead id (a UUID)."""
    values: dict[str, object] = {}
    for name, value in event.values().items():
        if name == "contact_emails":
            values["contact_email"] = event.contact_emails[0] if event.contact_emails else None
        else:
            values[name] = value
    lead_id = _lead_uuid(event.lead_id, "lead_id")
    mapped = None
    if {"stage", "status"} & event.fields:
        mapped = map_stage(
            event.provider,
            event.stage,
            status=event.status,
            overrides=stage_maps.get(event.provider),
        )
    return DealUpdate(
        provider=event.provider,
        external_id=event.external_deal_id,
        occurred_at=event.occurred_at,
        update_id=event.provider_event_id,
        values=values,
        lead_id=lead_id,
        mapped_stage=mapped,
        converted_from=event.converted_from_lead_id,
    )


def _lead_uuid(raw: str | None, field: str) -> uuid.UUID | None:
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationError("expected a LeadTrail lead id (a UUID)", field=field) from None


def to_contact_update(event: ContactEvent) -> ContactUpdate:
    """Tracker's view of a contact event. Raises :class:`ValidationError` for a ``lead_id``
    that is not a LeadTrail lead id (a UUID)."""
    return ContactUpdate(
        provider=event.provider,
        external_id=event.external_contact_id,
        occurred_at=event.occurred_at.astimezone(dt.UTC),
        update_id=event.provider_event_id,
        email=event.contact_emails[0] if event.contact_emails else None,
        phone=event.contact_phone,
        lead_id=_lead_uuid(event.lead_id, "lead_id"),
    )


class SiteDealStore:
    """``crm_sync.ports.DealStore`` for one site, inside the caller's transaction."""

    def __init__(self, session: Session, site_id: int, settings: SiteSettings) -> None:
        self.session = session
        self.site_id = site_id
        self.stage_maps = settings.crm_stage_maps

    def apply(self, event: DealEvent) -> Sequence[str]:
        update = to_update(event, self.stage_maps)
        if (
            update.lead_id is not None
            and self.session.get(Lead, (self.site_id, update.lead_id)) is None
        ):
            # Not one of this site's leads (erased, or another tenant's id): match by contact.
            update = replace(update, lead_id=None)
        return apply_deal_update(self.session, self.site_id, update).changed

    def apply_contact(self, event: ContactEvent) -> int:
        """Record a CRM person record; the number of waiting deals it linked."""
        update = to_contact_update(event)
        if (
            update.lead_id is not None
            and self.session.get(Lead, (self.site_id, update.lead_id)) is None
        ):
            update = replace(update, lead_id=None)
        return apply_contact_update(self.session, self.site_id, update)


def look_up_persons(
    engine: Engine,
    site_id: int,
    settings: SiteSettings,
    events: Sequence[DealEvent],
    now: dt.datetime,
) -> list[ContactEvent]:
    """The Pipedrive persons that ``events`` name by ``person_id`` only and that we know no
    email or phone of, from the site's Pipedrive API connection (none: ``[]``). Raises
    :class:`ApiError` or :class:`PayloadInvalid` when the API fails; the worker retries later
    and the deals wait for their person meanwhile."""
    if not settings.pipedrive_api_token:
        return []
    wanted = sorted({
        event.external_contact_id for event in events
        if event.provider == "pipedrive" and event.external_contact_id
        and not event.contact_emails and not event.contact_phone
    })
    if not wanted:
        return []
    with Session(engine) as session:
        known = set(session.scalars(
            select(CrmContact.external_id).where(
                CrmContact.site_id == site_id,
                CrmContact.provider == "pipedrive",
                CrmContact.external_id.in_(wanted),
                (CrmContact.email.is_not(None)) | (CrmContact.phone.is_not(None)),
            )
        ))
    missing = [person_id for person_id in wanted if person_id not in known]
    if not missing:
        return []
    client = pipedrive.api_client(
        settings.pipedrive_api_token,
        settings.pipedrive_api_url,
        sleep=time.sleep,
        timeout=LOOKUP_TIMEOUT_SECONDS,
        policy=LOOKUP_POLICY,
    )
    return pipedrive.fetch_person_contacts(client, missing, now)


@dataclass(frozen=True, slots=True)
class Stored:
    """A delivery in the inbox: its row id, and whether it was already there."""

    id: uuid.UUID
    status: str
    duplicate: bool


def store_delivery(
    session: Session,
    site_id: int,
    provider: str,
    body: bytes,
    events: Sequence[DealEvent],
    headers: Mapping[str, str],
    received_at: dt.datetime,
) -> Stored:
    """Store ``body`` once per delivery key (the events' ids, else the body's hash) with
    ``INSERT … ON CONFLICT DO NOTHING``; a redelivery finds the first row."""
    key = delivery_key(events) or "body:" + hashlib.sha256(body).hexdigest()
    row_id = uuid.uuid4()
    insert_ignore(
        session,
        CrmEvent.__table__,  # type: ignore[arg-type]
        [
            {
                "site_id": site_id,
                "id": row_id,
                "provider": provider,
                "delivery_key": key,
                "received_at": received_at,
                "headers": dict(headers),
                "body": body,
                "status": RECEIVED,
                "attempts": 0,
            }
        ],
        ["site_id", "provider", "delivery_key"],
    )
    row = session.execute(
        select(CrmEvent.id, CrmEvent.status).where(
            CrmEvent.site_id == site_id,
            CrmEvent.provider == provider,
            CrmEvent.delivery_key == key,
        )
    ).one()
    return Stored(id=row.id, status=row.status, duplicate=row.id != row_id)


def apply_stored(engine: Engine, site_id: int, event_id: uuid.UUID) -> str:
    """Apply one stored delivery in its own transaction; :data:`APPLIED` or :data:`FAILED`.

    A failure rolls the deals back, then records the error and one more attempt on the row,
    which stays replayable. Never raises for a failed apply.
    """
    try:
        with transaction(engine) as session:
            row = session.get(CrmEvent, (site_id, event_id), with_for_update=True)
            site = session.get(Site, site_id)
            if row is None or site is None:
                raise NotFound(f"no CRM event {event_id}", field="event_id")
            settings = site_settings(site)
            events = parse_delivery(row.provider, settings, row.body, row.received_at, row.source)
            contacts = parse_contacts(row.provider, row.body, row.received_at, row.source)
            store = SiteDealStore(session, site_id, settings)
            for contact in sorted(contacts, key=lambda c: (c.occurred_at, c.provider_event_id)):
                store.apply_contact(contact)
            apply_events(store, events)
            if row.source == WEBHOOK and _names_persons_only(row.provider, settings, events):
                changes.crm_persons_wanted(session, site_id, event_id)
            row.status = APPLIED
            row.attempts += 1
            row.error = None
            row.applied_at = utcnow()
        return APPLIED
    except NotFound:
        raise
    except Exception as error:  # noqa: BLE001 - any failure is kept on the row for replay
        _record_failure(engine, site_id, event_id, error)
        return FAILED


def _names_persons_only(
    provider: str, settings: SiteSettings, events: Sequence[DealEvent]
) -> bool:
    """Whether a Pipedrive delivery names a person by id only and the site can ask who."""
    return provider == "pipedrive" and bool(settings.pipedrive_api_token) and any(
        event.external_contact_id and not event.contact_emails and not event.contact_phone
        for event in events
    )


def resolve_persons(engine: Engine, site_id: int, event_id: uuid.UUID) -> int:
    """The worker's part of a Pipedrive delivery naming persons by id only: look them up in
    the site's Pipedrive API (no transaction is open over the network), then apply them as
    contact updates, which links the deals waiting for them. Idempotent (a contact update
    applied twice changes nothing); the number of persons found."""
    persons = _persons_to_look_up(engine, site_id, event_id)
    if not persons:
        return 0
    with transaction(engine) as session:
        site = session.get(Site, site_id)
        if site is None:
            return 0
        store = SiteDealStore(session, site_id, site_settings(site))
        for contact in sorted(persons, key=lambda c: (c.occurred_at, c.provider_event_id)):
            store.apply_contact(contact)
    return len(persons)


def _persons_to_look_up(engine: Engine, site_id: int, event_id: uuid.UUID) -> list[ContactEvent]:
    """The persons a stored Pipedrive delivery's deals name by id only, looked up in the
    site's Pipedrive API; read on a session closed before the network call."""
    with Session(engine) as session:
        row = session.get(CrmEvent, (site_id, event_id))
        site = session.get(Site, site_id)
        # A pulled deal came with its person already (crm_sync.providers.pipedrive.DealList).
        if row is None or site is None or row.provider != "pipedrive" or row.source != WEBHOOK:
            return []
        settings = site_settings(site)
        events = parse_delivery(row.provider, settings, row.body, row.received_at, row.source)
        received_at = row.received_at
    return look_up_persons(engine, site_id, settings, events, received_at)


def _record_failure(engine: Engine, site_id: int, event_id: uuid.UUID, error: Exception) -> None:
    description = describe_failure(error)
    kind = "invalid" if isinstance(error, CrmSyncError | ValidationError) else "error"
    logger.warning(
        "crm event not applied",
        extra={"site_id": site_id, "crm_event": str(event_id), "kind": kind, "error": description},
    )
    with transaction(engine) as session:
        row = session.get(CrmEvent, (site_id, event_id), with_for_update=True)
        if row is not None:
            row.status = FAILED
            row.attempts += 1
            row.error = description


@dataclass(frozen=True, slots=True)
class Replayed:
    applied: int
    failed: int


def pending_events(
    session: Session,
    site_id: int | None = None,
    limit: int = REPLAY_BATCH,
    provider: str | None = None,
) -> list[tuple[int, uuid.UUID]]:
    """``(site id, row id)`` of deliveries not applied yet (failed, or stored and never
    applied), oldest first."""
    query = select(CrmEvent.site_id, CrmEvent.id).where(CrmEvent.status.in_((FAILED, RECEIVED)))
    if site_id is not None:
        query = query.where(CrmEvent.site_id == site_id)
    if provider is not None:
        query = query.where(CrmEvent.provider == provider)
    query = query.order_by(CrmEvent.received_at, CrmEvent.id).limit(limit)
    return [(row.site_id, row.id) for row in session.execute(query)]


def replay(engine: Engine, targets: Sequence[tuple[int, uuid.UUID]]) -> Replayed:
    """Apply each stored delivery again; how many now applied and how many failed again."""
    outcomes = [apply_stored(engine, site_id, event_id) for site_id, event_id in targets]
    return Replayed(applied=outcomes.count(APPLIED), failed=outcomes.count(FAILED))


def event_summary(row: CrmEvent) -> dict[str, object]:
    """An inbox row for the API and CLI: no body, no headers (they hold contact details)."""
    return {
        "id": str(row.id),
        "provider": row.provider,
        "source": row.source,
        "status": row.status,
        "attempts": row.attempts,
        "error": row.error,
        "received_at": row.received_at.isoformat(),
        "applied_at": row.applied_at.isoformat() if row.applied_at else None,
    }
