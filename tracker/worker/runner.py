"""The worker: drains the refresh queue, one site's batch per transaction.

Crash safety comes from doing each batch — the derived writes and the deletion of the queue
rows it handled — in one transaction: killed in the middle, nothing of the batch is kept and
its rows are still queued, so the next run does the same work again from the same facts.

Several workers may run at once (``leadtrail worker`` processes, among them the one each
``leadtrail serve`` starts): on PostgreSQL a worker takes a transaction-scoped advisory lock
per site and skips a site another worker holds, so one site's derived data has one writer
at a time while different sites proceed in parallel; on SQLite the database's single write
lock serialises them. Claims are per site (every statement filters on one ``site_id``), as
Citus needs.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tracker import changes
from tracker.config import Settings
from tracker.credits import RefitPolicy
from tracker.crm.inbox import resolve_persons
from tracker.db import transaction, write_engine
from tracker.metrics import metrics
from tracker.models import Site
from tracker.models.base import utcnow
from tracker.worker.locks import try_lock_site
from tracker.worker.queue import Item, complete, due_items, due_sites, record_failure
from tracker.worker.tasks import Done, process

logger = logging.getLogger(__name__)


# A traffic day noted again while the worker rebuilt it (visitors keep browsing) waits this
# many times the rebuild's duration, at most TRAFFIC_HOLD_MAX: a day of a few thousand
# sessions is still rebuilt every few seconds, while on a site taking thousands of events a
# second the worker spends at most about a tenth of its time re-reading today.
TRAFFIC_DUTY = 10.0
TRAFFIC_HOLD_MAX = dt.timedelta(seconds=60)


def requeue_hold(done: Done) -> dict[str, dt.timedelta]:
    wait = dt.timedelta(seconds=TRAFFIC_DUTY * done.traffic_seconds)
    return {changes.TRAFFIC: min(wait, TRAFFIC_HOLD_MAX)}


@dataclass
class Progress:
    """What a run did."""

    batches: int = 0
    items: int = 0
    failures: int = 0
    leads: int = 0
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)


class Worker:
    """Processes queue items of every site until none is due."""

    def __init__(
        self,
        engine: Engine,
        *,
        batch_size: int = 500,
        clock: Callable[[], dt.datetime] = utcnow,
        lookahead: dt.timedelta = dt.timedelta(0),
        refit: RefitPolicy | None = None,
    ) -> None:
        self.engine = write_engine(engine)
        self.batch_size = batch_size
        self.refit = refit or RefitPolicy()
        self.clock = clock
        # Also take items not due for this long yet (tests, which must not wait for the
        # collector's note delay).
        self.lookahead = lookahead

    @classmethod
    def from_settings(
        cls, engine: Engine, settings: Settings, batch_size: int | None = None
    ) -> Worker:
        """A worker configured by ``LEADTRAIL_WORKER_*`` and ``LEADTRAIL_REFIT_*``."""
        refit = RefitPolicy(
            min_new_conversions=settings.refit_min_conversions,
            growth=settings.refit_growth,
            max_age=dt.timedelta(hours=settings.refit_max_age_hours),
        )
        return cls(engine, batch_size=batch_size or settings.worker_batch_size, refit=refit)

    def run_once(self, max_seconds: float | None = None) -> Progress:
        """Drain every due item (what was due when each site's turn came), or stop after
        ``max_seconds``. Items that fail stay queued with a growing delay."""
        progress = Progress()
        started = time.monotonic()
        with Session(self.engine) as session:
            sites = due_sites(session, self.clock() + self.lookahead)
        for site_id in sites:
            while max_seconds is None or time.monotonic() - started < max_seconds:
                if not self._site_batch(site_id, progress):
                    break
        progress.seconds = time.monotonic() - started
        return progress

    def _site_batch(self, site_id: int, progress: Progress) -> bool:
        """Process one batch of ``site_id``; False when there was none to take."""
        self._resolve_persons(site_id, progress)
        started = self.clock()
        try:
            with transaction(self.engine) as session:
                if not try_lock_site(session, site_id):
                    return False
                items = due_items(session, site_id, started + self.lookahead, self.batch_size)
                site = session.get(Site, site_id)
                if not items or site is None:
                    return False
                done = self._timed(session, site, items, started)
                complete(session, items, started, requeue_hold(done))
        except Exception:  # retried one by one, the failing ones kept
            logger.exception("refresh batch of site %s failed; retrying its items alone", site_id)
            self._one_by_one(site_id, progress)
            return True
        self._count(progress, items, done)
        return True

    def _resolve_persons(self, site_id: int, progress: Progress) -> None:
        """CRM persons named by id only, looked up in the CRM's API one delivery at a time,
        each outside any transaction (the network may be slow; no lock waits on it). A
        failure keeps the item queued with a growing delay; the deal waits meanwhile."""
        started = self.clock()
        with Session(self.engine) as session:
            items = due_items(session, site_id, started + self.lookahead, self.batch_size,
                              kinds=(changes.CRM_PERSONS,))
        for item in items:
            try:
                resolve_persons(self.engine, site_id, uuid.UUID(hex=item.key))
                with transaction(self.engine) as session:
                    complete(session, [item], started)
            except Exception as exc:  # noqa: BLE001 - kept in the queue with its error
                logger.warning("crm persons of delivery %s of site %s not resolved: %s",
                               item.key, site_id, type(exc).__name__)
                self._keep_failed(item, exc, progress)
                continue
            progress.items += 1
            metrics().refresh_items.labels(item.kind).inc()

    def _timed(self, session: Session, site: Site, items: Sequence[Item], now: dt.datetime
               ) -> Done:
        with metrics().refresh_batch_seconds.time():
            return process(session, site, items, now, self.refit)

    def _count(self, progress: Progress, items: Sequence[Item], done: Done) -> None:
        progress.batches += 1
        progress.items += len(items)
        progress.leads += done.leads
        for item in items:
            metrics().refresh_items.labels(item.kind).inc()

    def _one_by_one(self, site_id: int, progress: Progress) -> None:
        started = self.clock()
        with Session(self.engine) as session:
            items = due_items(session, site_id, started + self.lookahead, self.batch_size)
        for item in items:
            try:
                with transaction(self.engine) as session:
                    if not try_lock_site(session, site_id):
                        return
                    site = session.get(Site, site_id)
                    if site is None:
                        return
                    done = self._timed(session, site, [item], started)
                    complete(session, [item], started)
            except Exception as exc:  # kept in the queue with its error
                logger.exception("refresh item %s/%s of site %s failed", item.kind, item.key,
                                 site_id)
                self._keep_failed(item, exc, progress)
                continue
            self._count(progress, [item], done)

    def _keep_failed(self, item: Item, error: Exception, progress: Progress) -> None:
        """The item stays queued with its error and a growing delay."""
        with transaction(self.engine) as session:
            record_failure(session, item, f"{type(error).__name__}: {error}", self.clock())
        progress.failures += 1
        progress.failed.append(f"{item.kind}:{item.key}")
        metrics().refresh_failures.labels(item.kind).inc()

    def run_forever(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        """Drain, sleep while idle, repeat until ``stop`` is set. A failure to reach the
        database is logged and retried; it never ends the loop."""
        while not stop.is_set():
            try:
                progress = self.run_once(max_seconds=30.0)
            except Exception:  # the database may be restarting
                logger.exception("refresh worker pass failed")
                stop.wait(min(poll_seconds * 10, 5.0))
                continue
            if progress.items:
                logger.debug("refreshed %d items in %.2fs", progress.items, progress.seconds)
            else:
                stop.wait(poll_seconds)

