"""What a write changed, noted on its SQLAlchemy session for the worker.

Writers (identify, the CRM's deal updates, offline touches, stage changes, settings, erasure)
do not recompute derived data. They note here what became stale — a lead whose credits must
be recomputed, a day whose traffic or credit rollups must be rebuilt, a site whose settings
changed, a lead the CRM must hear of — and one before-commit hook (``tracker.worker.queue``)
turns the notes into ``refresh_queue`` and ``crm_outbox`` rows in the same transaction: the
facts and the note that they must be processed commit together or not at all.

This module imports nothing of tracker, so every writer can use it without import circles.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Where the notes live: ``Session.info`` (or ``Connection.info``), per transaction.
INFO_KEY = "leadtrail.changes"

# Queue kinds (the ``kind`` column of ``refresh_queue``).
LEAD = "lead"  # key: the lead id; its credits (and their rollups) are stale
TRAFFIC = "traffic"  # key: a UTC day[@writer]; sessions started that day were added or changed
CREDITS = "credits"  # key: a UTC day; its credit rollups are stale (credits deleted by cascade)
SETTINGS = "settings"  # key: ""; the site's attribution or rollup settings changed
# key: a local day of the site whose credit rollups are rebuilt whole; queued by workers before
# the rollups followed credit rows one by one (migration 0013), still drained after an upgrade
ROLLUP_DAY = "rollup_day"
# key: a stored CRM delivery's id (hex) whose Pipedrive deals name a person by id only; the
# worker looks the person up in the site's Pipedrive API (the network, never in a request)
CRM_PERSONS = "crm_persons"
# What the refresh batch recomputes inside one transaction; CRM_PERSONS goes alone (its
# network call outside any transaction) and is not in this list.
KINDS = (SETTINGS, LEAD, TRAFFIC, CREDITS, ROLLUP_DAY)


@dataclass
class Changes:
    """Stale things per site: ``{(site_id, kind, key)}``; and leads to push to the site's
    CRMs, ``[(site_id, lead_id, reason)]`` (``tracker.crm.outbox`` writes those rows)."""

    items: set[tuple[int, str, str]] = field(default_factory=set)
    pushes: list[tuple[int, uuid.UUID, str]] = field(default_factory=list)
    # Conversions owed to the site's ad-platform destinations (``tracker.destinations.outbox``
    # writes those rows): lead milestones ``(site_id, lead_id, milestone, at)`` and deals whose
    # won/lost state or amount may have changed ``(site_id, deal_id)``.
    milestones: list[tuple[int, uuid.UUID, str, dt.datetime]] = field(default_factory=list)
    deals: set[tuple[int, uuid.UUID]] = field(default_factory=set)

    def add(self, site_id: int, kind: str, key: str) -> None:
        self.items.add((site_id, kind, key))

    def __bool__(self) -> bool:
        return bool(self.items or self.pushes or self.milestones or self.deals)


def _notes(holder: Any) -> Changes:
    """The notes kept on ``holder`` (a Session or a Connection), created on first use."""
    info: dict[str, Any] = holder.info
    found = info.get(INFO_KEY)
    if found is None:
        found = info[INFO_KEY] = Changes()
    return found


def take(holder: Any) -> Changes:
    """Remove and return the notes of ``holder`` (the hook calls this once per commit)."""
    info: dict[str, Any] = holder.info
    found: Changes | None = info.pop(INFO_KEY, None)
    return found or Changes()


def forget(holder: Any) -> None:
    """Drop the notes of a transaction that rolled back."""
    holder.info.pop(INFO_KEY, None)


def lead_changed(holder: Any, site_id: int, *lead_ids: uuid.UUID | None) -> None:
    """A lead was created, staged, re-linked to visitors or deals, or got a touch."""
    notes = _notes(holder)
    for lead_id in lead_ids:
        if lead_id is not None:
            notes.add(site_id, LEAD, lead_id.hex)


def crm_persons_wanted(holder: Any, site_id: int, crm_event_id: uuid.UUID) -> None:
    """A stored CRM delivery names persons by id only: look them up (the worker)."""
    _notes(holder).add(site_id, CRM_PERSONS, crm_event_id.hex)


def traffic_changed(holder: Any, site_id: int, moments: Iterable[dt.datetime | dt.date]) -> None:
    """Sessions starting at ``moments`` (UTC) were added, re-tagged or removed."""
    notes = _notes(holder)
    for moment in moments:
        notes.add(site_id, TRAFFIC, utc_day(moment).isoformat())


def credit_days_stale(holder: Any, site_id: int, moments: Iterable[dt.datetime]) -> None:
    """What the credit rollups hold for the days of ``moments`` changed in a way the worker
    cannot see from the leads it refreshes: stored credits deleted with their lead (a deal's
    moved closing needs no note: its lead is refreshed, and its credit rows carry the
    closing)."""
    notes = _notes(holder)
    for moment in moments:
        notes.add(site_id, CREDITS, utc_day(moment).isoformat())


def crm_push_due(holder: Any, site_id: int, lead_id: uuid.UUID, reason: str) -> None:
    """A lead was created or changed stage: the CRMs the site pushes to must hear of it."""
    _notes(holder).pushes.append((site_id, lead_id, reason))


def milestone_reached(
    holder: Any, site_id: int, lead_id: uuid.UUID, milestone: str, at: dt.datetime
) -> None:
    """A lead was created or reached a funnel stage at ``at``: destinations may owe a
    conversion for it."""
    _notes(holder).milestones.append((site_id, lead_id, milestone, at))


def deal_state_changed(holder: Any, site_id: int, deal_id: uuid.UUID) -> None:
    """A linked deal was written: destinations may owe a won conversion, a restatement of
    its value, or a retraction."""
    _notes(holder).deals.add((site_id, deal_id))


def settings_changed(holder: Any, site_id: int) -> None:
    _notes(holder).add(site_id, SETTINGS, "")


def traffic_key(day: dt.date, writer: str | None = None) -> str:
    """A traffic item's key. The collector adds its writing thread (``writer``: host,
    process, thread): each writer then notes rows of its own, and concurrent write
    transactions never wait for each other on one hot queue row."""
    return f"{day.isoformat()}@{writer}" if writer else day.isoformat()


def day_of_traffic_key(key: str) -> dt.date:
    return dt.date.fromisoformat(key.partition("@")[0])


def utc_day(moment: dt.datetime | dt.date) -> dt.date:
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC)
        return moment.date()
    return moment
