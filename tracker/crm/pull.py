"""``crm sync``: pull the deals a CRM changed since the site's checkpoint into the inbox.

Per page, in one transaction: every deal version goes into ``crm_events`` (``source = pull``,
keyed by ``pull:<deal id>:<modification time>``, so a version already stored is not stored
again) and the checkpoint moves to the newest modification on the page. Then the new rows are
applied like webhook deliveries (``tracker.crm.inbox``), which is what makes a deal seen by
webhook and by pull one deal with one amount. An interrupted run keeps every committed page;
the next run first applies what was stored but not applied, then continues from the
checkpoint.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crm_sync.events import delivery_key
from crm_sync.http import Sleep
from crm_sync.pull import Page, pull_pages
from tracker.crm import inbox
from tracker.crm.clients import deal_source
from tracker.db import insert_ignore, transaction
from tracker.errors import NotFound
from tracker.models import CrmCheckpoint, CrmEvent, Site
from tracker.models.base import utcnow
from tracker.sites.settings import site_settings


@dataclass(frozen=True, slots=True)
class PageSynced:
    """What one page did: its deals, how many were new to the inbox, how many rows were
    applied or failed, the API's total when it gives one, and the checkpoint after it."""

    deals: int
    stored: int
    applied: int
    failed: int
    total: int | None
    checkpoint: dt.datetime | None


def checkpoint(session: Session, site_id: int, provider: str) -> CrmCheckpoint | None:
    return session.get(CrmCheckpoint, (site_id, provider))


def sync_deals(
    engine: Engine,
    site_id: int,
    provider: str,
    *,
    since: dt.datetime | None = None,
    sleep: Sleep = time.sleep,
) -> Iterator[PageSynced]:
    """Pull ``provider``'s deals changed since ``since`` (default: the stored checkpoint;
    never-synced: all of them), one yielded :class:`PageSynced` per page.

    Raises :class:`~tracker.errors.ValidationError` when the CRM is not connected and
    :class:`crm_sync.errors.ApiError` when the API fails for good; the pages yielded before
    stay stored and checkpointed.
    """
    with Session(engine) as session:
        site = session.get(Site, site_id)
        if site is None:
            raise NotFound(f"no site {site_id}", field="site")
        settings = site_settings(site)
        stored = checkpoint(session, site_id, provider)
        start = since if since is not None else stored.since if stored else None
        leftovers = inbox.pending_events(session, site_id, provider=provider)
    source = deal_source(provider, settings, sleep=sleep)
    if leftovers:
        replayed = inbox.replay(engine, leftovers)
        yield PageSynced(0, 0, replayed.applied, replayed.failed, None, start)
    for page in pull_pages(source, start):
        new, targets, moved_to = store_page(engine, site_id, provider, page)
        result = inbox.replay(engine, [(site_id, row_id) for row_id in targets])
        yield PageSynced(len(page.deals), new, result.applied, result.failed, page.total, moved_to)


def store_page(
    engine: Engine, site_id: int, provider: str, page: Page
) -> tuple[int, list[uuid.UUID], dt.datetime | None]:
    """Store a page's deal versions and advance the checkpoint, in one transaction.

    Returns how many rows are new, the rows of the page not applied yet, and the checkpoint.
    """
    now = utcnow()
    rows: dict[str, dict[str, object]] = {}
    for deal in page.deals:
        key = delivery_key([deal.event])
        assert key is not None
        rows[key] = {
            "site_id": site_id,
            "id": uuid.uuid4(),
            "provider": provider,
            "source": inbox.PULL,
            "delivery_key": key,
            "received_at": now,
            "headers": {},
            "body": deal.body(),
            "status": inbox.RECEIVED,
            "attempts": 0,
        }
    with transaction(engine) as session:
        insert_ignore(
            session,
            CrmEvent.__table__,  # type: ignore[arg-type]
            list(rows.values()),
            ["site_id", "provider", "delivery_key"],
        )
        found = (
            session.execute(
                select(CrmEvent.id, CrmEvent.status).where(
                    CrmEvent.site_id == site_id,
                    CrmEvent.provider == provider,
                    CrmEvent.delivery_key.in_(list(rows)),
                )
            ).all()
            if rows
            else []
        )
        inserted = {row["id"] for row in rows.values()}
        new = sum(1 for row in found if row.id in inserted)
        targets = [row.id for row in found if row.status != inbox.APPLIED]
        moved_to = _advance(session, site_id, provider, page, now)
    return new, targets, moved_to


def _advance(
    session: Session, site_id: int, provider: str, page: Page, now: dt.datetime
) -> dt.datetime | None:
    """Move the checkpoint to the page's newest modification (never backwards)."""
    insert_ignore(
        session,
        CrmCheckpoint.__table__,  # type: ignore[arg-type]
        [
            {
                "site_id": site_id,
                "provider": provider,
                "since": None,
                "pages": 0,
                "deals": 0,
                "updated_at": now,
            }
        ],
        ["site_id", "provider"],
    )
    row = session.get(
        CrmCheckpoint, (site_id, provider), with_for_update=True, populate_existing=True
    )
    assert row is not None
    newest = page.newest
    if newest is not None and (row.since is None or newest > row.since):
        row.since = newest
    row.pages += 1
    row.deals += len(page.deals)
    row.updated_at = now
    return row.since
