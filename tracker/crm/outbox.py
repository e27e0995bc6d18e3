"""The durable CRM outbox: a row per lead to push into each CRM the site pushes to, written
in the transaction that created the lead or changed its stage (so a lead never exists
without its push, and a rolled-back change leaves none). ``tracker.crm.push`` delivers them.

Imports only the models. Identity and stage services do not call it: they note the push
(``tracker.changes.crm_push_due``) and the commit hook of ``tracker.worker.queue`` writes the
rows, so the lead services need not know the CRM package.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from tracker.models import CrmOutbox, Site
from tracker.models.base import utcnow
from tracker.sites.settings import site_settings

PENDING, SENT, FAILED = "pending", "sent", "failed"
REASONS = frozenset({"created", "stage"})
# Retries wait 1, 2, 4 … minutes, at most 6 hours: an outage of any length loses nothing
# and a CRM coming back is not flooded.
FIRST_RETRY = dt.timedelta(minutes=1)
MAX_RETRY = dt.timedelta(hours=6)


def push_providers(site: Site) -> list[str]:
    """The CRMs the site pushes leads to (its ``crm_push`` setting)."""
    return list(site_settings(site).crm_push)


def enqueue_lead_push(
    session: Session, site_id: int, lead_id: uuid.UUID, reason: str,
    now: dt.datetime | None = None,
) -> int:
    """Queue the lead for every CRM its site pushes to; how many rows were queued.

    Several rows for one lead are delivered as one upsert of its state at delivery time.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown push reason {reason!r}")
    site = session.get(Site, site_id)
    providers = push_providers(site) if site is not None else []
    now = now or utcnow()
    for provider in providers:
        session.add(
            CrmOutbox(
                site_id=site_id,
                id=uuid.uuid4(),
                provider=provider,
                lead_id=lead_id,
                reason=reason,
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return len(providers)


def retry_delay(attempts: int) -> dt.timedelta:
    """How long a row waits after its ``attempts``-th failed delivery."""
    doublings = min(max(attempts - 1, 0), 20)
    return min(FIRST_RETRY * (1 << doublings), MAX_RETRY)
