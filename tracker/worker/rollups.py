"""Rollups (temporary: arrive with the rollups branch)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy.orm import Session

from tracker.models import Site


def refresh_traffic(session: Session, site: Site, utc_days: Collection[dt.date]) -> None:
    return None


def refresh_credit_days(session: Session, site: Site, utc_days: Collection[dt.date]) -> None:
    return None
