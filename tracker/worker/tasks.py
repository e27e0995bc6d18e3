"""What the worker does with one batch of one site's queue items, inside one transaction.

Order matters: a settings change first (it may rebuild every credit, which makes the lead
items of the same batch cheap no-ops; a new time zone rebuilds the traffic rollups), then the
leads' credits, whose replaced rows the credit rollups subtract and whose new rows they add,
then the traffic rollups of the noted days, then the data-driven refits that the new
conversions, new traffic (the non-converting paths Markov learns from) or erased leads made
due, and last the credit rollups that cannot follow row by row: every row of the rebuilt or
refitted models, or the days noted by erasures (their credits went by cascade).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import changes
from tracker.credits import RefitPolicy, apply_settings, refit_due, refresh_leads
from tracker.credits.store import unfitted_models
from tracker.models import Lead, Site
from tracker.rollups import credits as credit_rollups
from tracker.rollups import traffic as traffic_rollups
from tracker.worker.queue import Item


@dataclass(frozen=True, slots=True)
class Done:
    """What one batch did, for logs and metrics."""

    leads: int = 0
    traffic_days: int = 0
    credit_days: int = 0
    settings: bool = False
    refitted: tuple[str, ...] = ()
    traffic_seconds: float = 0.0  # spent rebuilding traffic days (the runner paces them)


def _lock_leads(session: Session, site_id: int, lead_ids: Sequence[uuid.UUID]) -> None:
    """Take the leads' row locks (in id order) so a second worker that got the same leads
    through another site's lock cannot interleave; a no-op on SQLite (one writer)."""
    if session.get_bind().dialect.name != "postgresql" or not lead_ids:
        return
    session.execute(
        select(Lead.id)
        .where(Lead.site_id == site_id, Lead.id.in_(sorted(lead_ids)))
        .order_by(Lead.id)
        .with_for_update()
    ).all()


def process(
    session: Session,
    site: Site,
    items: Sequence[Item],
    now: dt.datetime,
    refit: RefitPolicy | None = None,
) -> Done:
    """Recompute what ``items`` name. Idempotent: the same items again change nothing."""
    keys: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item.kind not in changes.KINDS:
            raise ValueError(f"unknown queue item kind {item.kind!r}")
        keys[item.kind].append(item.key)
    settings = bool(keys.get(changes.SETTINGS))
    rebuilt: list[str] = []
    if settings:
        rebuilt = apply_settings(session, site)
        traffic_rollups.apply_settings(session, site)
    lead_ids = sorted(uuid.UUID(hex=key) for key in keys.get(changes.LEAD, ()))
    if lead_ids:
        _lock_leads(session, site.id, lead_ids)
        rebuilt.extend(unfitted_models(session, site))  # refresh_leads fits them first
        credit_rollups.apply_recredited(session, site, refresh_leads(session, site, lead_ids))
    traffic = {changes.day_of_traffic_key(key) for key in keys.get(changes.TRAFFIC, ())}
    traffic_seconds = 0.0
    if traffic:
        began = time.monotonic()
        traffic_rollups.refresh_traffic(session, site, traffic)
        traffic_seconds = time.monotonic() - began
    credit_days = {dt.date.fromisoformat(key) for key in keys.get(changes.CREDITS, ())}
    refitted = refit_due(session, site, now, refit)
    # Items of this kind were queued by earlier versions (days rebuilt whole after a batch).
    rollup_days = {dt.date.fromisoformat(key) for key in keys.get(changes.ROLLUP_DAY, ())}
    if rebuilt or refitted:
        # Dropped models' rows go too: a whole rebuild when the model list changed.
        credit_rollups.rebuild_credits(session, site, None if settings else {*rebuilt, *refitted})
    elif rollup_days or credit_days or settings:
        credit_rollups.refresh_credits(session, site, credit_days, rollup_days)
    return Done(len(lead_ids), len(traffic), len(credit_days), settings, tuple(refitted),
                traffic_seconds)
