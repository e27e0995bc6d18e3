"""The per-site lock that serialises everything writing a site's derived data (the worker's
batches, ``leadtrail attribution rebuild``, ``leadtrail rollups rebuild``): a
transaction-scoped PostgreSQL advisory lock, released at commit or rollback. SQLite has one
writer at a time already, so there it is a no-op."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# Advisory lock namespace (the first key of pg_advisory_xact_lock(int, int)).
LOCK_CLASS = 0x4C54  # "LT"


def try_lock_site(session: Session, site_id: int) -> bool:
    """Take the site's lock if it is free; False when another transaction holds it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    got = session.execute(
        text("SELECT pg_try_advisory_xact_lock(:class, :site)"),
        {"class": LOCK_CLASS, "site": site_id},
    ).scalar()
    return bool(got)


def lock_site(session: Session, site_id: int) -> None:
    """Wait for the site's lock (a rebuild waits for the worker's batch to finish)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:class, :site)"),
            {"class": LOCK_CLASS, "site": site_id},
        )
