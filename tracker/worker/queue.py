"""The refresh queue: writers add rows in their own transaction, the worker takes them.

Adding: ``INSERT … ON CONFLICT DO UPDATE SET version = version + 1``. Noting the same thing
twice leaves one row (the queue coalesces), and the version tells a worker that read an item
at version v whether something noted it again while it was working: it deletes the row only
``WHERE version = v``, so a fact committed during the work is never lost, only processed
once more. No row is locked for longer than the worker's final delete, so a writer never
waits for a computation.

Notes made through :mod:`tracker.changes` on an ORM session become rows in the
``before_commit`` hook installed here; the collector, which writes through a Core
connection, calls :func:`enqueue` itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    Table,
    delete,
    event,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from tracker import changes
from tracker.crm.outbox import enqueue_lead_push
from tracker.db import dialect_insert, dialect_name
from tracker.destinations.outbox import enqueue_deals, enqueue_milestones
from tracker.models import RefreshItem
from tracker.models.base import utcnow

QUEUE: Table = RefreshItem.__table__  # type: ignore[assignment]
# Failed items wait 2^attempts seconds, at most an hour, before they are tried again.
MAX_BACKOFF_S = 3600
# Queue rows one completing DELETE names at most (bounded statement size).
COMPLETE_CHUNK = 1_000


@dataclass(frozen=True, slots=True)
class Item:
    """A queue row as a worker read it."""

    site_id: int
    kind: str
    key: str
    version: int
    attempts: int = 0


def enqueue(
    bind: Session | Connection,
    items: Iterable[tuple[int, str, str]],
    now: dt.datetime | None = None,
    delay: dt.timedelta = dt.timedelta(0),
) -> int:
    """Add ``(site_id, kind, key)`` rows, or bump their version when they are already queued.
    A new row waits ``delay`` before a worker takes it, so that a stream of notes of the same
    thing (today's traffic, while visitors browse) is processed once per ``delay``.

    Rows go in key order so two writers noting the same things lock them in the same order.
    """
    rows = sorted(set(items))
    if not rows:
        return 0
    now = now or utcnow()
    statement = dialect_insert(bind, QUEUE)
    statement = statement.on_conflict_do_update(
        index_elements=["site_id", "kind", "key"],
        set_={"version": QUEUE.c.version + 1},
    )
    bind.execute(
        statement,
        [
            {"site_id": site_id, "kind": kind, "key": key, "version": 1, "enqueued_at": now,
             "available_at": now + delay, "attempts": 0}
            for site_id, kind, key in rows
        ],
    )
    return len(rows)


def _enqueue_noted(session: Session) -> None:
    noted = changes.take(session)
    if noted.items:
        enqueue(session, noted.items)
    for site_id, lead_id, reason in noted.pushes:
        enqueue_lead_push(session, site_id, lead_id, reason)
    if noted.milestones:
        enqueue_milestones(session, noted.milestones)
    if noted.deals:
        enqueue_deals(session, noted.deals)


def _forget_noted(session: Session) -> None:
    changes.forget(session)


def install_hooks() -> None:
    """Turn every session's notes into queue rows just before it commits (idempotent)."""
    if not event.contains(Session, "before_commit", _enqueue_noted):
        event.listen(Session, "before_commit", _enqueue_noted)
        event.listen(Session, "after_rollback", _forget_noted)


def due_sites(bind: Session | Connection, now: dt.datetime) -> list[int]:
    """Sites with at least one item ready to process."""
    return list(
        bind.execute(
            select(QUEUE.c.site_id).where(QUEUE.c.available_at <= now).distinct()
        ).scalars()
    )


def due_items(
    bind: Session | Connection,
    site_id: int,
    now: dt.datetime,
    limit: int,
    kinds: Sequence[str] | None = None,
) -> list[Item]:
    """Up to ``limit`` ready items of ``kinds`` of one site, settings first, then the
    oldest. Without ``kinds``: every kind but the CRM lookups, which go alone (an unknown kind
    is taken, so that it fails loudly instead of waiting forever).

    A ready traffic item brings its day's other traffic items along, ready or not (see
    :func:`_same_days_traffic`)."""
    wanted = QUEUE.c.kind.in_(kinds) if kinds else QUEUE.c.kind != changes.CRM_PERSONS
    first = func.coalesce(func.nullif(QUEUE.c.kind, changes.SETTINGS), "")  # "" sorts first
    rows = bind.execute(
        _ITEM_COLUMNS
        .where(QUEUE.c.site_id == site_id, QUEUE.c.available_at <= now, wanted)
        .order_by(first, QUEUE.c.enqueued_at, QUEUE.c.kind, QUEUE.c.key)
        .limit(limit)
    )
    items = [Item(*row) for row in rows]
    return items + _same_days_traffic(bind, site_id, items)


_ITEM_COLUMNS = select(
    QUEUE.c.site_id, QUEUE.c.kind, QUEUE.c.key, QUEUE.c.version, QUEUE.c.attempts)


def _same_days_traffic(bind: Session | Connection, site_id: int, items: Sequence[Item]
                       ) -> list[Item]:
    """The traffic items of the days of ``items``' traffic items that ``items`` lack.

    Each collecting thread notes a day's traffic under a key of its own (``day@writer``), and
    each key waits its own delay, so with many threads some key of today was nearly always
    ready: the worker rebuilt today's traffic in almost every batch (in ``bench/worker.py``
    at 120 identifies a second, 28% of the worker's time) instead of once per delay. A
    rebuild of a day reads every session committed before it, which covers every note
    already queued for that day; one still made while it runs keeps its row (the version
    check in :func:`complete`)."""
    days = sorted({item.key.partition("@")[0] for item in items
                   if item.kind == changes.TRAFFIC})
    if not days:
        return []
    taken = {(item.kind, item.key) for item in items}
    rows = bind.execute(
        _ITEM_COLUMNS.where(
            QUEUE.c.site_id == site_id, QUEUE.c.kind == changes.TRAFFIC,
            or_(QUEUE.c.key.in_(days), *(QUEUE.c.key.startswith(f"{day}@") for day in days)))
        .order_by(QUEUE.c.key)
    )
    return [item for item in (Item(*row) for row in rows)
            if (item.kind, item.key) not in taken]


def complete(
    bind: Session | Connection,
    items: Sequence[Item],
    started: dt.datetime,
    hold: Mapping[str, dt.timedelta] | None = None,
) -> int:
    """Delete the items nobody noted again since they were read; the others stay queued, as
    noted at ``started`` (their new note came while the work ran), and wait ``hold[kind]``
    more before a worker takes them again. Returns rows deleted.

    One DELETE per site and chunk (a statement per item was most of a batch's queue time)."""
    done = 0
    by_site: dict[int, list[Item]] = {}
    for item in sorted(items, key=lambda i: (i.site_id, i.kind, i.key)):
        by_site.setdefault(item.site_id, []).append(item)
    for site_id, site_items in by_site.items():
        for start in range(0, len(site_items), COMPLETE_CHUNK):
            chunk = site_items[start:start + COMPLETE_CHUNK]
            deleted = _delete_unchanged(bind, site_id, chunk)
            done += len(deleted)
            noted_again: dict[dt.datetime, list[tuple[str, str]]] = {}
            for item in chunk:
                if (item.kind, item.key) not in deleted:
                    available = started + (hold or {}).get(item.kind, dt.timedelta(0))
                    noted_again.setdefault(available, []).append((item.kind, item.key))
            for available, keys in noted_again.items():
                bind.execute(
                    update(QUEUE)
                    .where(
                        QUEUE.c.site_id == site_id,
                        tuple_(QUEUE.c.kind, QUEUE.c.key).in_(keys),
                    )
                    .values(enqueued_at=started, available_at=available, attempts=0,
                            last_error=None)
                )
    return done


# PostgreSQL: the chunk as three arrays joined to the queue. A list of row values
# (``(kind, key, version) IN (...)``) was compared with every queued row of the site: with
# 20,000 leads queued, each batch's DELETE took 100 ms, a third of the batch.
_DELETE_UNCHANGED = text(
    "DELETE FROM refresh_queue AS q USING unnest(CAST(:kinds AS varchar[]), "
    "CAST(:keys AS varchar[]), CAST(:versions AS integer[])) AS d(kind, key, version) "
    "WHERE q.site_id = :site_id AND q.kind = d.kind AND q.key = d.key "
    "AND q.version = d.version RETURNING q.kind, q.key"
)


def _delete_unchanged(bind: Session | Connection, site_id: int, items: Sequence[Item]
                      ) -> set[tuple[str, str]]:
    """Delete the queue rows of ``items`` still at the version read; their (kind, key)."""
    if dialect_name(bind) == "postgresql":
        rows = bind.execute(_DELETE_UNCHANGED, {
            "site_id": site_id, "kinds": [item.kind for item in items],
            "keys": [item.key for item in items],
            "versions": [item.version for item in items]})
    else:
        rows = bind.execute(
            delete(QUEUE)
            .where(QUEUE.c.site_id == site_id,
                   tuple_(QUEUE.c.kind, QUEUE.c.key, QUEUE.c.version).in_(
                       [(item.kind, item.key, item.version) for item in items]))
            .returning(QUEUE.c.kind, QUEUE.c.key))
    return {(kind, key) for kind, key in rows}


def record_failure(bind: Session | Connection, item: Item, error: str, now: dt.datetime) -> None:
    """Keep a failing item with its error; it is tried again after a growing delay."""
    delay = min(2 ** min(item.attempts + 1, 12), MAX_BACKOFF_S)
    bind.execute(
        update(QUEUE)
        .where(QUEUE.c.site_id == item.site_id, QUEUE.c.kind == item.kind,
               QUEUE.c.key == item.key)
        .values(
            attempts=QUEUE.c.attempts + 1,
            available_at=now + dt.timedelta(seconds=delay),
            last_error=error[:2000],
        )
    )


@dataclass(frozen=True, slots=True)
class QueueStats:
    """What ``/metrics`` and the dashboard show of the queue."""

    depth: int
    failing: int
    oldest: dt.datetime | None

    def lag_seconds(self, now: dt.datetime) -> float:
        return max(0.0, (now - self.oldest).total_seconds()) if self.oldest else 0.0


def queue_stats(bind: Session | Connection, site_id: int | None = None) -> QueueStats:
    statement = select(
        func.count(), func.count().filter(QUEUE.c.attempts > 0), func.min(QUEUE.c.enqueued_at)
    )
    if site_id is not None:
        statement = statement.where(QUEUE.c.site_id == site_id)
    depth, failing, oldest = bind.execute(statement).one()
    if isinstance(oldest, str):  # SQLite's min() returns the stored text
        oldest = dt.datetime.fromisoformat(oldest).replace(tzinfo=dt.UTC)
    elif oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return QueueStats(int(depth or 0), int(failing or 0), oldest)
