"""Stored credits, the write side (temporary home: tracker.reports.storage until the move)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from attribution.registry import model_names
from tracker.models import AttributionCredit, AttributionFit, Site
from tracker.reports.storage import model_specs, rebuild_site
from tracker.reports.storage import refresh_leads as _refresh_leads
from tracker.sites import site_settings

__all__ = ["apply_settings", "rebuild_site", "refit_due", "refresh_leads"]


def refresh_leads(session: Session, site: Site, lead_ids: Collection[uuid.UUID]) -> int:
    return _refresh_leads(session, site.id, lead_ids)


def apply_settings(session: Session, site: Site) -> list[str]:
    specs = model_specs(site_settings(site))
    stored = dict(
        session.execute(
            select(AttributionFit.model, AttributionFit.fingerprint).where(
                AttributionFit.site_id == site.id
            )
        ).all()
    )
    changed = [spec.name for spec in specs if stored.get(spec.name) != spec.fingerprint]
    present = set(stored) | {
        name for name in model_names()
        if session.scalar(
            select(AttributionCredit.model)
            .where(AttributionCredit.site_id == site.id, AttributionCredit.model == name)
            .limit(1)
        )
    }
    dropped = present - {spec.name for spec in specs}
    if dropped:
        for table in (AttributionCredit, AttributionFit):
            session.execute(
                delete(table).where(table.site_id == site.id, table.model.in_(dropped))
            )
    if changed:
        rebuild_site(session, site, changed)
    return changed


def refit_due(session: Session, site: Site, now: dt.datetime) -> list[str]:
    return []
