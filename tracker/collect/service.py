"""Collector domain logic: turn a parsed batch into rows, and store many batches at once.

``prepare_batch`` runs in the request thread (validation against the site, classification,
device and privacy work). ``store_batches`` runs inside one transaction for a whole group of
batches and issues a fixed handful of set-based statements whatever the group's size: load the
visitors' nearby sessions, sessionize in Python, then bulk upsert visitors, insert sessions,
update sessions, insert-or-ignore events and count bot hits.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, Table, bindparam, select
from sqlalchemy.engine import Connection

from tracker.changes import LEAD, TRAFFIC, traffic_key, utc_day
from tracker.collect.devices import Device
from tracker.collect.parsing import Batch, IncomingEvent
from tracker.collect.rows import RowWriter
from tracker.collect.sessions import OpenSession, TimedEvent, assign_sessions, source_key
from tracker.db import core_transaction
from tracker.errors import Forbidden, ValidationError
from tracker.models import LeadVisitor, VisitSession
from tracker.rules.channels import (
    CLICK_ID_PARAMS,
    ChannelRule,
    Classification,
    TouchInput,
    classify_channel,
    parse_touch,
)
from tracker.rules.privacy import scrub_url, truncate_ip
from tracker.sites.settings import SiteSettings
from tracker.worker.queue import enqueue

_sessions: Table = VisitSession.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """What the collector needs of a site, cached in memory between requests."""

    id: int
    domains: tuple[str, ...]
    settings: SiteSettings
    # (url, referrer) → (referrer host, classification): campaign landing URLs repeat, and
    # classifying them is the costliest step of preparing a batch. Lives as long as this
    # SiteInfo (the directory's TTL), so settings changes reach it.
    touch_cache: dict[tuple[str | None, str | None], tuple[str | None, Classification | None]] = (
        field(default_factory=dict, compare=False, repr=False)
    )

    @property
    def timeout(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.settings.session_timeout_minutes)

    def owns_host(self, host: str) -> bool:
        """True for one of the site's domains or a subdomain of one."""
        return matching_domain(self.domains, host) is not None


def matching_domain(domains: Sequence[str], host: str) -> str | None:
    host = host.lower().rstrip(".")
    for domain in domains:
        if host == domain or host.endswith("." + domain):
            return domain
    return None


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    event: IncomingEvent
    url: str | None
    referrer: str | None
    referrer_host: str | None
    classification: Classification | None  # None: the event brings no new source


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    site: SiteInfo
    visitor_id: str
    events: tuple[PreparedEvent, ...]
    device: Device
    ip_prefix: str | None
    received_at: dt.datetime


def accepts_origin(site: SiteInfo, origin: str) -> bool:
    """True when ``origin`` is one of the site's own or linked domains, or a subdomain.

    ``Origin: null`` (a sandboxed frame, a ``file:`` page, some cross-site redirects) names no
    site, so it is never accepted: its events are refused and it is never echoed back.
    """
    if origin == "null":
        return False
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    domains = (*site.domains, *site.settings.linked_domains)
    return bool(host) and matching_domain(domains, host or "") is not None


def check_origin(site: SiteInfo, origin: str | None) -> None:
    """The CORS rule: a browser's ``Origin`` must be one of the site's own or linked domains."""
    if origin is None:
        return  # server-to-server senders have no Origin
    if not accepts_origin(site, origin):
        raise Forbidden("this write key does not accept events from that origin", field="origin")


def check_consent(site: SiteInfo, batch: Batch) -> None:
    if site.settings.consent_mode == "required" and batch.consent is not True:
        raise ValidationError("this site requires consent before tracking", field="consent")


def _touch_for(event: IncomingEvent, site: SiteInfo) -> TouchInput:
    landing = event.touch
    url = (landing.url if landing and landing.url else None) or event.url
    referrer = (landing.referrer if landing and landing.referrer else None) or event.referrer
    touch = parse_touch(url, referrer, site.domains, site.settings.referral_exclusions)
    if landing is None or (not landing.utm and landing.click_id is None):
        return touch
    overrides: dict[str, Any] = dict(landing.utm)
    if landing.click_id is not None:
        overrides["click_id_kind"] = landing.click_id_kind
        overrides["click_id"] = landing.click_id
    fields = {name: getattr(touch, name) for name in TouchInput.__slots__}
    fields.update(overrides)
    return TouchInput(**fields)


_MARKETING_PARAMETER = re.compile(
    r"[?&#](?:utm_[a-z]+|" + "|".join(CLICK_ID_PARAMS) + r")=", re.IGNORECASE
)


def _may_bring_source(event: IncomingEvent, site: SiteInfo) -> bool:
    """Cheap pre-check: most page views (every one after the landing) carry no UTM or click
    id and come from the site itself, so they skip URL parsing and classification."""
    if event.touch is not None:
        return True
    if event.url and _MARKETING_PARAMETER.search(event.url):
        return True
    if not event.referrer:
        return False
    host = urlsplit(event.referrer).hostname
    return host is not None and not site.owns_host(host)


TOUCH_CACHE_SIZE = 4096


def _classify(event: IncomingEvent, site: SiteInfo) -> tuple[str | None, Classification | None]:
    """The external referrer host and the classification of the source ``event`` brings."""
    if not _may_bring_source(event, site):
        return None, None
    key = (event.url, event.referrer)
    if event.touch is None and key in site.touch_cache:
        return site.touch_cache[key]
    touch = _touch_for(event, site)
    result = (
        touch.referrer_host,
        classify_channel(touch, site.settings.channel_rules) if touch.has_source else None,
    )
    if event.touch is None:
        if len(site.touch_cache) >= TOUCH_CACHE_SIZE:
            site.touch_cache.clear()
        site.touch_cache[key] = result
    return result


def prepare_batch(
    batch: Batch, site: SiteInfo, device: Device, client_ip: str | None
) -> PreparedBatch:
    """Classify each event's touch and scrub what will be stored. No I/O."""
    prepared = []
    for event in batch.events:
        referrer_host, classification = _classify(event, site)
        prepared.append(
            PreparedEvent(
                event=event,
                url=scrub_url(event.url),
                referrer=scrub_url(event.referrer),
                referrer_host=referrer_host,
                classification=classification,
            )
        )
    return PreparedBatch(
        site=site,
        visitor_id=batch.visitor_id,
        events=tuple(prepared),
        device=device,
        ip_prefix=truncate_ip(client_ip),
        received_at=batch.received_at,
    )


@lru_cache(maxsize=1024)
def _direct(rules: tuple[ChannelRule, ...]) -> Classification:
    return classify_channel(TouchInput(), rules)


def _key_of(classification: Classification | None) -> tuple[Any, ...] | None:
    if classification is None:
        return None
    c = classification
    return source_key(c.source, c.medium, c.campaign, c.click_id)


def _session_touch_columns(prepared: PreparedEvent, batch: PreparedBatch) -> dict[str, Any]:
    c = prepared.classification or _direct(batch.site.settings.channel_rules)
    landing = prepared.event.touch
    return {
        "landing_url": prepared.url,
        "referrer": prepared.referrer,
        "referrer_host": prepared.referrer_host,
        "channel": c.channel,
        "source": c.source,
        "medium": c.medium,
        "campaign": c.campaign,
        "term": c.term,
        "content": c.content,
        "click_id_kind": c.click_id_kind,
        "click_id": c.click_id,
        "click_seen_at": landing.seen_at if landing and c.click_id else None,
        "channel_rules_version": c.rules_version,
    }


# Built once: this runs for every write group, and building and hashing the expression each
# time cost more than the query itself.
_OPEN_SESSIONS = (
    select(
        _sessions.c.visitor_id,
        _sessions.c.id,
        _sessions.c.started_at,
        _sessions.c.ended_at,
        _sessions.c.source,
        _sessions.c.medium,
        _sessions.c.campaign,
        _sessions.c.click_id,
    )
    .where(
        _sessions.c.site_id == bindparam("site_id"),
        _sessions.c.visitor_id.in_(bindparam("visitor_ids", expanding=True)),
        _sessions.c.ended_at >= bindparam("low"),
        _sessions.c.started_at <= bindparam("high"),
    )
    .order_by(_sessions.c.visitor_id, _sessions.c.id)
)


def _load_sessions(
    conn: Connection,
    site: SiteInfo,
    visitor_ids: Sequence[str],
    low: dt.datetime,
    high: dt.datetime,
) -> tuple[dict[str, list[OpenSession]], list[tuple[Any, ...]]]:
    """The visitors' sessions that could absorb events between ``low`` and ``high``, and the
    raw rows as a snapshot (to check later that nobody changed them meanwhile)."""
    rows = conn.execute(
        _OPEN_SESSIONS,
        {
            "site_id": site.id,
            "visitor_ids": list(visitor_ids),
            "low": low - site.timeout,
            "high": high + site.timeout,
        },
    ).all()
    found: dict[str, list[OpenSession]] = defaultdict(list)
    for row in rows:
        found[row.visitor_id].append(
            OpenSession(
                id=row.id,
                started_at=row.started_at,
                ended_at=row.ended_at,
                key=source_key(row.source, row.medium, row.campaign, row.click_id),
            )
        )
    return found, [tuple(row) for row in rows]


SESSION_TOUCH_COLUMNS = (
    "landing_url",
    "referrer",
    "referrer_host",
    "channel",
    "source",
    "medium",
    "campaign",
    "term",
    "content",
    "click_id_kind",
    "click_id",
    "click_seen_at",
    "channel_rules_version",
)
SESSION_COLUMNS = (
    "site_id",
    "id",
    "visitor_id",
    "started_at",
    "ended_at",
    *SESSION_TOUCH_COLUMNS,
    "device_type",
    "browser",
    "os",
    "ip_prefix",
    "screen_width",
    "language",
)


@dataclass(slots=True)
class _Rows:
    visitors: list[tuple[Any, ...]] = field(default_factory=list)
    new_sessions: list[tuple[Any, ...]] = field(default_factory=list)
    session_times: list[tuple[Any, ...]] = field(default_factory=list)
    session_tags: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    bot_hits: dict[tuple[int, dt.date, str], int] = field(default_factory=lambda: defaultdict(int))
    # What sessionization read: (site, (visitors, low, high), rows), re-checked before writing.
    snapshots: list[tuple[SiteInfo, tuple[Any, ...], list[tuple[Any, ...]]]] = field(
        default_factory=list
    )
    visitors_by_site: dict[int, set[str]] = field(default_factory=dict)
    # What the rows make stale (tracker.changes): the UTC days whose session starts change,
    # and the visitors whose sessions did (their leads' credits are recomputed).
    traffic_moments: dict[int, set[dt.datetime]] = field(
        default_factory=lambda: defaultdict(set)
    )
    changed_visitors: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))


def _note_session_change(
    rows: _Rows, site: SiteInfo, visitor_id: str, started_at: dt.datetime
) -> None:
    # A start moved earlier by at most the session timeout: its old day is covered too.
    rows.traffic_moments[site.id].update((started_at, started_at + site.timeout))
    rows.changed_visitors[site.id].add(visitor_id)


def _touch_values(writer: RowWriter, prepared: PreparedEvent, batch: PreparedBatch) -> list[Any]:
    columns = _session_touch_columns(prepared, batch)
    columns["click_seen_at"] = writer.time(columns["click_seen_at"])
    return [columns[name] for name in SESSION_TOUCH_COLUMNS]


def _sessionize_site(
    writer: RowWriter, site: SiteInfo, batches: Sequence[PreparedBatch], rows: _Rows
) -> None:
    by_visitor: dict[str, list[tuple[PreparedEvent, PreparedBatch]]] = defaultdict(list)
    for batch in batches:
        for prepared in batch.events:
            by_visitor[batch.visitor_id].append((prepared, batch))
    times = [p.event.occurred_at for items in by_visitor.values() for p, _ in items]
    window = (list(by_visitor), min(times), max(times))
    existing, snapshot = _load_sessions(writer.conn, site, *window)
    rows.snapshots.append((site, window, snapshot))
    for visitor_id, items in by_visitor.items():
        lookup = {p.event.id: (p, b) for p, b in items}
        timed = [
            TimedEvent(p.event.id, p.event.occurred_at, _key_of(p.classification)) for p, _ in items
        ]
        assignment = assign_sessions(
            site.id, visitor_id, existing.get(visitor_id, []), timed, site.timeout
        )
        event_times = [p.event.occurred_at for p, _ in items]
        rows.visitors.append(
            (site.id, visitor_id, writer.time(min(event_times)), writer.time(max(event_times)))
        )
        for opened in assignment.sessions:
            if opened.is_new or opened.start_moved or opened.retagged:
                _note_session_change(rows, site, visitor_id, opened.started_at)
            if opened.is_new:
                prepared, batch = lookup[opened.opened_by]  # type: ignore[index]
                device = batch.device
                rows.new_sessions.append(
                    (
                        site.id,
                        writer.uuid(opened.id),
                        visitor_id,
                        writer.time(opened.started_at),
                        writer.time(opened.ended_at),
                        *_touch_values(writer, prepared, batch),
                        device.device_type,
                        device.browser,
                        device.os,
                        batch.ip_prefix,
                        prepared.event.screen_width,
                        prepared.event.language,
                    )
                )
                continue
            if opened.times_changed:
                rows.session_times.append(
                    (
                        writer.time(opened.started_at),
                        writer.time(opened.ended_at),
                        site.id,
                        writer.uuid(opened.id),
                    )
                )
            if opened.retagged and opened.opened_by in lookup:
                prepared, batch = lookup[opened.opened_by]
                rows.session_tags.append(
                    (*_touch_values(writer, prepared, batch), site.id, writer.uuid(opened.id))
                )
        received = {id(batch): writer.time(batch.received_at) for _, batch in items}
        for prepared, batch in items:
            event = prepared.event
            rows.events.append(
                (
                    site.id,
                    event.id,
                    writer.uuid(assignment.session_of_event[event.id]),
                    visitor_id,
                    event.type,
                    event.name,
                    prepared.url,
                    urlsplit(prepared.url).path[:2048] if prepared.url else None,
                    event.title,
                    prepared.referrer,
                    writer.time(event.occurred_at),
                    received[id(batch)],
                    writer.json(event.props),
                )
            )


_LEAD_LINKS = select(
    LeadVisitor.__table__.c.lead_id,
    LeadVisitor.__table__.c.visitor_id,
    LeadVisitor.__table__.c.valid_to.is_(None),
).where(
    LeadVisitor.__table__.c.site_id == bindparam("site_id"),
    LeadVisitor.__table__.c.visitor_id.in_(bindparam("visitor_ids", expanding=True)),
)


def _leads_of_visitors(
    conn: Connection, rows: _Rows
) -> tuple[dict[int, list[uuid.UUID]], list[tuple[int, str, str]]]:
    """One lookup of the group's visitors' lead links, for two uses: the leads whose visitors
    sent events (their current owners, rescored after the commit), and the stale leads
    (present or past owners of visitors whose sessions were added or re-tagged)."""
    active: dict[int, list[uuid.UUID]] = {}
    stale: list[tuple[int, str, str]] = []
    for site_id, visitors in rows.visitors_by_site.items():
        changed = rows.changed_visitors.get(site_id, set())
        current: set[uuid.UUID] = set()
        for lead_id, visitor_id, is_current in conn.execute(
            _LEAD_LINKS, {"site_id": site_id, "visitor_ids": sorted(visitors)}
        ):
            if is_current:
                current.add(lead_id)
            if visitor_id in changed:
                stale.append((site_id, LEAD, lead_id.hex))
        if current:
            active[site_id] = sorted(current)
    return active, stale


def plan_rows(conn: Connection, batches: Sequence[PreparedBatch], keep_bots: bool) -> _Rows:
    """Read what sessionization needs and build every row to write. Writes nothing."""
    writer = RowWriter(conn)
    rows = _Rows()
    by_site: dict[int, list[PreparedBatch]] = defaultdict(list)
    sites: dict[int, SiteInfo] = {}
    for batch in batches:
        if batch.device.is_bot and not keep_bots:
            key = (batch.site.id, batch.received_at.date(), batch.device.bot_family or "bot")
            rows.bot_hits[key] += len(batch.events)
            continue
        by_site[batch.site.id].append(batch)
        sites[batch.site.id] = batch.site
    for site_id, site_batches in by_site.items():
        _sessionize_site(writer, sites[site_id], site_batches, rows)
    rows.visitors_by_site = {site: {b.visitor_id for b in items} for site, items in by_site.items()}
    return rows


def plan_still_valid(conn: Connection, rows: _Rows) -> bool:
    """True when the sessions a plan was computed from are unchanged."""
    return all(
        _load_sessions(conn, site, *window)[1] == snapshot
        for site, window, snapshot in rows.snapshots
    )


# What the collector notes waits this long for the worker: while visitors browse, today's
# traffic and their leads are recomputed once per interval, not once per write group.
NOTE_DELAY = dt.timedelta(seconds=5)
_HOST = socket.gethostname()[:30]
_THREADS = itertools.count()
_writers = threading.local()


def _writer() -> str:
    """This thread's part of a traffic key: host, process (after a fork too) and a number of
    the thread's own. Every write of one writer notes the same traffic row of a day, and a
    noted row stays locked until its transaction ends: ``/identify`` and Segment requests
    write on their request threads and go on working in the same transaction (stitching,
    scoring), so one row per process serialised a process's identifies."""
    if getattr(_writers, "pid", None) != os.getpid():
        _writers.pid = os.getpid()
        _writers.name = f"{_HOST}:{os.getpid()}.{next(_THREADS)}"
    return str(_writers.name)


def _queue_stale(conn: Connection, rows: _Rows, stale_leads: list[tuple[int, str, str]]
                 ) -> None:
    """Queue, in the write's transaction, what its sessions made stale: traffic days, and
    the leads (present or past owners) of visitors whose sessions were added or re-tagged —
    a late-arriving session reaches their stored credits through the worker."""
    writer = _writer()
    traffic = [(site_id, TRAFFIC, traffic_key(day, writer))
               for site_id, moments in rows.traffic_moments.items()
               for day in {utc_day(m) for m in moments}]
    enqueue(conn, [*stale_leads, *traffic], delay=NOTE_DELAY)


def write_rows(conn: Connection, rows: _Rows) -> dict[int, list[uuid.UUID]]:
    """Write a plan and queue what it made stale; return the leads (by site) whose visitors
    sent events."""
    writer = RowWriter(conn)
    # Rows go in key order: two workers writing the same visitors then take row locks in the
    # same order and wait for each other instead of deadlocking.
    writer.upsert_visitors(sorted(rows.visitors, key=lambda row: row[:2]))
    writer.insert_sessions(SESSION_COLUMNS, sorted(rows.new_sessions, key=lambda row: row[:2]))
    writer.widen_sessions(sorted(rows.session_times, key=lambda row: row[-2:]))
    writer.retag_sessions(
        SESSION_TOUCH_COLUMNS, sorted(rows.session_tags, key=lambda row: row[-2:])
    )
    writer.insert_events(sorted(rows.events, key=lambda row: row[:2]))
    writer.add_bot_hits(
        [
            (site_id, day if writer.postgres else day.isoformat(), family, hits)
            for (site_id, day, family), hits in rows.bot_hits.items()
        ]
    )
    active, stale_leads = _leads_of_visitors(conn, rows)
    _queue_stale(conn, rows, stale_leads)
    return active


def store_batches(
    conn: Connection, batches: Sequence[PreparedBatch], keep_bots: bool = False
) -> dict[int, list[uuid.UUID]]:
    """Write a group of prepared batches inside the caller's transaction; return the leads
    (by site) whose visitors sent events, for rescoring once the transaction is committed.

    Idempotent: replaying the same batches (same event ids) leaves the same rows, because
    events are inserted-or-ignored by id, session ids are derived from their opening event and
    session times only ever widen.
    """
    return write_rows(conn, plan_rows(conn, batches, keep_bots))


def store_group(
    engine: Engine, batches: Sequence[PreparedBatch], keep_bots: bool = False
) -> dict[int, list[uuid.UUID]]:
    """Store a group in its own transaction (the writer thread's unit of work).

    SQLite has one write lock for the whole database, shared by every worker process. Planning
    (the reads and all the Python work) happens before taking it; under the lock the plan's
    sessions are read again and, if another worker changed them meanwhile, the plan is made
    again. PostgreSQL locks rows, so it plans and writes in one transaction.
    """
    if engine.dialect.name != "sqlite":
        with core_transaction(engine) as conn:
            return store_batches(conn, batches, keep_bots)
    with core_transaction(engine, immediate=False) as conn:
        rows = plan_rows(conn, batches, keep_bots)
    with core_transaction(engine) as conn:
        if not plan_still_valid(conn, rows):
            rows = plan_rows(conn, batches, keep_bots)
        return write_rows(conn, rows)


def new_event_id() -> str:
    return uuid.uuid4().hex
