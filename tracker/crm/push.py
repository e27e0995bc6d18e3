"""``crm push``: deliver the outbox — upsert each queued lead onto its CRM contact.

Rows are claimed in a short transaction (their attempt counted, and leased for
:data:`LEASE` so a second drainer skips them and a crashed one's rows come back), delivered
with no transaction open, and their outcome recorded in another: ``sent`` with the contact's
id (kept on the lead as ``crm_ids[provider]``, so later pushes update it directly), back to
``pending`` with an exponential delay when the CRM may accept later (``429``, ``5xx``, no
answer), or ``failed`` when it needs an operator (a wrong token, a missing property), kept
for ``crm push --retry-failed``. Rows of one lead are one upsert of its current state.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from crm_sync.errors import ApiError
from crm_sync.http import Sleep
from crm_sync.providers import hubspot, pipedrive
from crm_sync.push import LeadContact
from tracker.crm.clients import api_client
from tracker.crm.deals import ContactUpdate, apply_contact_update
from tracker.crm.outbox import FAILED, PENDING, SENT, retry_delay
from tracker.db import transaction
from tracker.errors import ValidationError
from tracker.leads.identity import reachable_email
from tracker.models import CrmOutbox, Lead, Site, VisitSession
from tracker.models.base import utcnow
from tracker.outboxes import drain_site_by_site
from tracker.sites.settings import SiteSettings, site_settings

logger = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)
CLAIM_BATCH = 100
MAX_ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Delivery:
    """One lead to upsert into one CRM, and the outbox rows it settles."""

    site_id: int
    provider: str
    lead_id: uuid.UUID
    row_ids: tuple[uuid.UUID, ...]
    contact: LeadContact | None  # None: the lead is gone (erased)
    known_id: str | None
    settings: SiteSettings


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    external_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Drained:
    """Rows settled by one drain: delivered, to be retried later, failed for good."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def __add__(self, other: Drained) -> Drained:
        return Drained(
            self.sent + other.sent, self.retrying + other.retrying, self.failed + other.failed
        )


def lead_contact(session: Session, lead: Lead) -> LeadContact:
    """What LeadTrail knows of ``lead`` that its CRM contact should carry."""
    first = creation = None
    if lead.first_session_id is not None:
        first = session.get(VisitSession, (lead.site_id, lead.first_session_id))
    if lead.creation_session_id is not None:
        creation = session.get(VisitSession, (lead.site_id, lead.creation_session_id))
    return LeadContact(
        lead_id=str(lead.id),
        email=reachable_email(lead.email),
        stage=lead.stage,
        score=lead.score,
        name=lead.name,
        phone=lead.phone,
        company=lead.company,
        first_channel=first.channel if first else None,
        first_source=first.source if first else None,
        first_campaign=first.campaign if first else None,
        first_keyword=first.term if first else None,
        lead_channel=creation.channel if creation else None,
        landing_page=first.landing_url if first else None,
    )


def drain_outbox(
    engine: Engine,
    *,
    site_id: int | None = None,
    limit: int = 1000,
    now: dt.datetime | None = None,
    sleep: Sleep = time.sleep,
) -> Drained:
    """Deliver up to ``limit`` due outbox rows (every site, or ``site_id``'s), claimed one site
    at a time: a locking claim across sites is a multi-shard ``FOR UPDATE`` that Citus
    refuses (docs/scaling.md)."""
    moment = now or utcnow()
    sites = [site_id] if site_id is not None else _sites_with_due_rows(engine, moment)
    return drain_site_by_site(
        sites, limit, CLAIM_BATCH,
        claim=lambda site, size: claim_due(engine, moment, site, size),
        rows_of=lambda delivery: len(delivery.row_ids),
        settle=lambda delivery: record_outcome(engine, delivery, deliver(delivery, sleep), moment),
        total=Drained(),
    )


def _sites_with_due_rows(engine: Engine, now: dt.datetime) -> list[int]:
    """Sites with pending rows due (a plain read: no lock, so any shard layout serves it)."""
    with Session(engine) as session:
        return list(session.scalars(
            select(CrmOutbox.site_id)
            .where(CrmOutbox.status == PENDING, CrmOutbox.next_attempt_at <= now)
            .distinct()
            .order_by(CrmOutbox.site_id)
        ))


def claim_due(engine: Engine, now: dt.datetime, site_id: int, limit: int) -> list[Delivery]:
    """Lease up to ``limit`` due rows of one site (counting an attempt), grouped by lead and
    CRM."""
    query = (
        select(CrmOutbox)
        .where(CrmOutbox.site_id == site_id, CrmOutbox.status == PENDING,
               CrmOutbox.next_attempt_at <= now)
        .order_by(CrmOutbox.next_attempt_at, CrmOutbox.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with transaction(engine) as session:
        groups: dict[tuple[int, str, uuid.UUID], list[CrmOutbox]] = {}
        for row in session.scalars(query):
            row.attempts += 1
            row.next_attempt_at = now + LEASE
            groups.setdefault((row.site_id, row.provider, row.lead_id), []).append(row)
        settings: dict[int, SiteSettings] = {}
        deliveries = []
        for (site, provider, lead_id), rows in groups.items():
            if site not in settings:
                found = session.get(Site, site)
                assert found is not None  # rows cascade with their site
                settings[site] = site_settings(found)
            lead = session.get(Lead, (site, lead_id))
            known = (lead.crm_ids or {}).get(provider) if lead is not None else None
            deliveries.append(
                Delivery(
                    site_id=site,
                    provider=provider,
                    lead_id=lead_id,
                    row_ids=tuple(row.id for row in rows),
                    contact=lead_contact(session, lead) if lead is not None else None,
                    known_id=str(known) if known else None,
                    settings=settings[site],
                )
            )
    return deliveries


def deliver(delivery: Delivery, sleep: Sleep) -> Outcome:
    """Upsert the contact; never raises for the CRM's or the settings' sake."""
    if delivery.contact is None:
        return Outcome(FAILED, error="the lead no longer exists")
    try:
        client = api_client(delivery.provider, delivery.settings, sleep=sleep)
        if delivery.provider == "hubspot":
            external = hubspot.upsert_contact(client, delivery.contact, delivery.known_id)
        else:
            fields = delivery.settings.pipedrive_person_fields
            external = pipedrive.upsert_person(client, delivery.contact, fields, delivery.known_id)
    except ApiError as error:
        return Outcome(PENDING if error.retryable else FAILED, error=str(error))
    except ValidationError as error:
        return Outcome(FAILED, error=error.message)
    return Outcome(SENT, external_id=external)


def record_outcome(
    engine: Engine, delivery: Delivery, outcome: Outcome, now: dt.datetime
) -> Drained:
    """Settle the delivery's rows; on success keep the contact id on the lead."""
    with transaction(engine) as session:
        for row_id in delivery.row_ids:
            row = session.get(CrmOutbox, (delivery.site_id, row_id), with_for_update=True)
            if row is None:  # erased meanwhile
                continue
            row.status = outcome.status
            row.error = outcome.error[:MAX_ERROR_LENGTH] if outcome.error else None
            if outcome.status == SENT:
                row.sent_at = now
                row.external_id = outcome.external_id
            elif outcome.status == PENDING:
                row.next_attempt_at = now + retry_delay(row.attempts)
        lead = session.get(Lead, (delivery.site_id, delivery.lead_id))
        if outcome.status == SENT and lead is not None and outcome.external_id is not None:
            lead.crm_ids = {**(lead.crm_ids or {}), delivery.provider: outcome.external_id}
            # The contact is now known to be this lead: deals naming it by id only link.
            apply_contact_update(session, delivery.site_id, ContactUpdate(
                provider=delivery.provider,
                external_id=outcome.external_id,
                occurred_at=now,
                update_id=f"push:{delivery.lead_id}",
                email=reachable_email(lead.email),
                phone=lead.phone,
                lead_id=lead.id,
            ))
    logger.info(
        "crm push",
        extra={
            "site_id": delivery.site_id,
            "provider": delivery.provider,
            "lead_id": str(delivery.lead_id),
            "status": outcome.status,
            "error": outcome.error,
        },
    )
    count = len(delivery.row_ids)
    return Drained(
        sent=count if outcome.status == SENT else 0,
        retrying=count if outcome.status == PENDING else 0,
        failed=count if outcome.status == FAILED else 0,
    )


def requeue_failed(session: Session, site_id: int | None, now: dt.datetime) -> int:
    """Put every ``failed`` row back in the queue, due now (after fixing a token)."""
    statement = (
        update(CrmOutbox)
        .where(CrmOutbox.status == FAILED)
        .values(status=PENDING, next_attempt_at=now)
    )
    if site_id is not None:
        statement = statement.where(CrmOutbox.site_id == site_id)
    return int(getattr(session.execute(statement), "rowcount", 0) or 0)


def outbox_counts(session: Session, site_id: int | None) -> dict[str, int]:
    """Rows per status (for ``crm push`` and ``crm show``)."""
    query = select(CrmOutbox.status, func.count()).group_by(CrmOutbox.status)
    if site_id is not None:
        query = query.where(CrmOutbox.site_id == site_id)
    return {str(status): int(count) for status, count in session.execute(query)}
