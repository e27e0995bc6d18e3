"""The daily spend pull of one account, and the worker's schedule of them.

A pull asks for the days from its checkpoint on, starting ``RESTATE_DAYS`` back (platforms
restate recent days: late conversions, invalid-click credits), up to today in the account's
time zone, in chunks of the platform's size. Each chunk is stored in one transaction with
the checkpoint (``synced_through``), so an interrupted pull keeps every finished chunk and
the next one resumes after it. No pull runs inside an HTTP request: the worker (``leadtrail
worker``) takes accounts whose ``next_pull_at`` has come, or ``leadtrail spend sync`` runs one.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from crm_sync.http import Sleep
from tracker.costs.adspend.accounts import NEVER, build_source, token_saver
from tracker.costs.adspend.mapping import account_mapping
from tracker.costs.adspend.store import origin_of, replace_days
from tracker.db import transaction, write_engine
from tracker.errors import NotFound
from tracker.metrics import metrics
from tracker.models import AdAccount, Site
from tracker.models.base import utcnow
from tracker.periodic import start_periodic
from tracker.sites.settings import site_settings

logger = logging.getLogger(__name__)

# Days before the checkpoint pulled again each time (Google and Meta restate up to a few
# days back; a week covers invalid-click credits posted late).
RESTATE_DAYS = 7
# A pulled account is due again after this; a failed one after RETRY_AFTER.
PULL_EVERY = dt.timedelta(hours=6)
RETRY_AFTER = dt.timedelta(minutes=30)
# A worker that died mid-pull leaves its lease; another may take the account after this.
LEASE = dt.timedelta(hours=1)
# How often a running worker looks for accounts whose pull is due.
CHECK_EVERY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ChunkPulled:
    """One stored chunk: its days, the cost rows now stored for them, the checkpoint."""

    start: dt.date
    end: dt.date
    rows: int
    synced_through: dt.date


def _today(timezone: str | None, now: dt.datetime) -> dt.date:
    try:
        return now.astimezone(ZoneInfo(timezone or "UTC")).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.astimezone(dt.UTC).date()


def pull_range(account: AdAccount, today: dt.date, since: dt.date | None = None
               ) -> tuple[dt.date, dt.date]:
    """The days a pull asks for: from ``since`` (or the checkpoint less the restatement
    window, never before the account's first day) to ``today``."""
    if since is not None:
        return max(since, account.start_day), today
    if account.synced_through is None:
        return account.start_day, today
    start = min(account.synced_through + dt.timedelta(days=1),
                today - dt.timedelta(days=RESTATE_DAYS - 1))
    return max(start, account.start_day), today


def _chunks(start: dt.date, end: dt.date, size: int) -> Iterator[tuple[dt.date, dt.date]]:
    while start <= end:
        stop = min(start + dt.timedelta(days=size - 1), end)
        yield start, stop
        start = stop + dt.timedelta(days=1)


def pull_account(
    engine: Engine,
    site_id: int,
    account_uuid: uuid.UUID,
    *,
    since: dt.date | None = None,
    now: dt.datetime | None = None,
    sleep: Sleep = time.sleep,
) -> Iterator[ChunkPulled]:
    """Pull one account, yielding each stored chunk. The account's error is recorded and
    the exception raised again (:class:`crm_sync.errors.ApiError` from the platform,
    :class:`~tracker.errors.ValidationError` for a missing exchange rate)."""
    now = now or utcnow()
    reader, engine = engine, write_engine(engine)
    # A plain read: on SQLite a write engine's transaction would take the write lock.
    with Session(reader, expire_on_commit=False) as session:
        account = session.get(AdAccount, (site_id, account_uuid))
        site = session.get(Site, site_id)
        if account is None or site is None:
            raise NotFound(f"no ad account {account_uuid}", field="account")
        settings = site_settings(site)
    mapping = account_mapping(account.platform, account.mapping or {})
    rules = settings.channel_rules
    origin = origin_of(account.platform, account.account_id)
    try:
        source = build_source(account, save=token_saver(engine, site_id, account_uuid),
                              sleep=sleep)
        info = source.account()
        timezone = info.timezone or account.timezone or settings.timezone
        start, end = pull_range(account, _today(timezone, now), since)
        _update(engine, site_id, account_uuid, name=info.name or account.name,
                currency=info.currency or account.currency, timezone=timezone)
        for chunk_start, chunk_end in _chunks(start, end, source.chunk_days):
            rows = source.fetch(chunk_start, chunk_end)
            # Microsoft says the currency in the report rows, not before.
            currency = getattr(source, "seen_currency", None) or info.currency
            with transaction(engine) as session:
                stored = replace_days(
                    session, site_id, origin, chunk_start, chunk_end, rows,
                    account_currency=currency or account.currency,
                    site_currency=settings.currency, mapping=mapping, rules=rules, now=now)
                row = session.get(AdAccount, (site_id, account_uuid), with_for_update=True)
                assert row is not None
                if row.synced_through is None or chunk_end > row.synced_through:
                    row.synced_through = chunk_end
                if currency:
                    row.currency = currency
                row.last_rows = stored.rows
                through = row.synced_through
            metrics().spend_rows_pulled.labels(account.platform).inc(len(rows))
            yield ChunkPulled(chunk_start, chunk_end, stored.rows, through)
    except Exception as error:  # recorded on the account for status, then raised as it is
        _update(engine, site_id, account_uuid, last_error=str(error)[:2000],
                pull_started_at=None)
        _reschedule(engine, site_id, account_uuid, utcnow() + RETRY_AFTER)
        metrics().spend_pull_failures.labels(account.platform).inc()
        raise
    _update(engine, site_id, account_uuid, last_error=None, last_success_at=now,
            pull_started_at=None)
    _reschedule(engine, site_id, account_uuid, now + PULL_EVERY)


def _update(engine: Engine, site_id: int, account_uuid: uuid.UUID, **values: object) -> None:
    with transaction(engine) as session:
        session.execute(update(AdAccount).where(
            AdAccount.site_id == site_id, AdAccount.id == account_uuid).values(**values))


def _reschedule(engine: Engine, site_id: int, account_uuid: uuid.UUID, due: dt.datetime
                ) -> None:
    """The next pull, unless the account was paused meanwhile (paused: never due)."""
    with transaction(engine) as session:
        session.execute(update(AdAccount).where(
            AdAccount.site_id == site_id, AdAccount.id == account_uuid,
            AdAccount.next_pull_at < NEVER).values(next_pull_at=due))


def request_pull(session: Session, account: AdAccount, now: dt.datetime) -> None:
    """Queue the account for the worker's next pass (the dashboard's "pull now")."""
    account.next_pull_at = now
    session.flush()


def _claim(engine: Engine, account: AdAccount, now: dt.datetime) -> bool:
    """Take the account's lease; False when another worker holds it or pulled it already."""
    with transaction(engine) as session:
        result = session.execute(
            update(AdAccount)
            .where(
                AdAccount.site_id == account.site_id, AdAccount.id == account.id,
                AdAccount.next_pull_at <= now,
                or_(AdAccount.pull_started_at.is_(None), AdAccount.pull_started_at < now - LEASE),
            )
            .values(pull_started_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass
class DuePulls:
    accounts: int = 0
    rows: int = 0
    failures: int = 0


def pull_due(engine: Engine, now: dt.datetime | None = None, *, sleep: Sleep = time.sleep
             ) -> DuePulls:
    """Pull every account whose time has come (the worker's schedule). A failing account is
    logged, keeps its error and is tried again after ``RETRY_AFTER``; the others go on."""
    now = now or utcnow()
    done = DuePulls()
    with Session(engine, expire_on_commit=False) as session:
        due = list(session.scalars(
            select(AdAccount).where(AdAccount.next_pull_at <= now)
            .order_by(AdAccount.next_pull_at)))
    engine = write_engine(engine)
    for account in due:
        if not account.credentials or not _claim(engine, account, now):
            continue
        done.accounts += 1
        try:
            for chunk in pull_account(engine, account.site_id, account.id, now=now, sleep=sleep):
                done.rows += chunk.rows
        except Exception:  # one account's failure must not stop the others
            logger.warning("spend pull of %s:%s (site %s) failed; retried later",
                           account.platform, account.account_id, account.site_id, exc_info=True)
            done.failures += 1
    return done


def start_thread(engine: Engine, stop: threading.Event | None = None) -> threading.Event:
    """Pull what is due once a minute in a thread of its own beside the refresh worker (a
    pull waits on the platforms for minutes; derived data must not); set the returned event
    to stop it."""
    return start_periodic(lambda: pull_due(engine), CHECK_EVERY_SECONDS, "spend pull", stop)

