"""Delivering the conversion outbox, per site and destination, in the platforms' batches.

Rows are claimed in a short transaction (an attempt counted, leased for :data:`LEASE` so a
second worker skips them and a crashed one's come back), sent with no transaction open, and
settled in another: ``sent``; ``failed`` and retried after a growing delay, or after the
platform's ``Retry-After``, when it may accept later (429, 5xx, no answer); ``dead`` with the
platform's reason when it refused the row (a per-row error, a rule broken before sending, a
refused token) or after :data:`MAX_ATTEMPTS`. ``replay`` puts dead rows back. Idempotency
keys travel as the platforms' event / order ids, so a retry after a lost answer never counts
twice. An adjustment waits until the conversion it adjusts was sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from crm_sync.errors import ApiError
from crm_sync.http import Sleep
from tracker.crm.outbox import retry_delay
from tracker.db import transaction, write_engine
from tracker.destinations import clients
from tracker.destinations.formats import ga4, google_ads, linkedin, meta, microsoft_ads
from tracker.destinations.formats.conversion import Conversion, Prepared, Request
from tracker.destinations.identity import load_identity
from tracker.destinations.outbox import CONVERSION, DEAD, FAILED, PENDING, SENT
from tracker.destinations.settings import milestone_map
from tracker.metrics import metrics
from tracker.models import ConversionOutbox, Destination, Site
from tracker.models.base import utcnow
from tracker.outboxes import drain_site_by_site
from tracker.periodic import start_periodic

logger = logging.getLogger(__name__)

FORMATS: Mapping[str, ModuleType] = {
    "ga4": ga4, "meta": meta, "google_ads": google_ads, "microsoft_ads": microsoft_ads,
    "linkedin": linkedin,
}
LEASE = dt.timedelta(minutes=5)
CLAIM_BATCH = 500
MAX_ATTEMPTS = 12
MAX_ERROR_LENGTH = 500
# An adjustment whose conversion is not sent yet looks again after this long.
ADJUSTMENT_WAIT = dt.timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Drained:
    sent: int = 0
    retrying: int = 0
    dead: int = 0

    def __add__(self, other: Drained) -> Drained:
        return Drained(self.sent + other.sent, self.retrying + other.retrying,
                       self.dead + other.dead)


@dataclass(frozen=True, slots=True)
class Batch:
    """Claimed rows of one destination, formatted, with what is needed to send them."""

    site_id: int
    destination_id: uuid.UUID
    platform: str
    settings: Mapping[str, Any]
    credentials: Mapping[str, Any]
    conversions: tuple[Conversion, ...]
    row_ids: Mapping[str, uuid.UUID]  # idempotency key → outbox row
    waiting: tuple[uuid.UUID, ...]  # adjustments whose conversion is not sent yet
    gone: tuple[tuple[uuid.UUID, str], ...]  # rows that can never be sent, and why


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    error: str | None = None
    retry_after: float | None = None


def drain(
    engine: Engine, *, site_id: int | None = None, limit: int = 5000,
    now: dt.datetime | None = None, sleep: Sleep = time.sleep,
) -> Drained:
    """Send up to ``limit`` due rows (every site's, or ``site_id``'s)."""
    moment = now or utcnow()
    sites = [site_id] if site_id is not None else _sites_with_due_rows(engine, moment)
    return drain_site_by_site(
        sites, limit, CLAIM_BATCH,
        claim=lambda site, size: claim_due(engine, site, moment, size),
        rows_of=lambda batch: len(batch.row_ids) + len(batch.waiting) + len(batch.gone),
        settle=lambda batch: record_outcomes(engine, batch, send_batch(engine, batch, sleep),
                                             moment),
        total=Drained(),
    )


def _due(now: dt.datetime) -> Any:
    return (ConversionOutbox.status.in_((PENDING, FAILED))
            & (ConversionOutbox.next_attempt_at <= now))


def _sites_with_due_rows(engine: Engine, now: dt.datetime) -> list[int]:
    with Session(engine) as session:
        return list(session.scalars(select(ConversionOutbox.site_id).where(_due(now))
                                    .distinct().order_by(ConversionOutbox.site_id)))


def _original(session: Session, row: ConversionOutbox) -> ConversionOutbox | None:
    return session.scalars(select(ConversionOutbox).where(
        ConversionOutbox.site_id == row.site_id,
        ConversionOutbox.destination_id == row.destination_id,
        ConversionOutbox.idempotency_key == f"won:{row.deal_id}",
    )).first()


def claim_due(engine: Engine, site_id: int, now: dt.datetime, limit: int) -> list[Batch]:
    """Lease up to ``limit`` due rows of one site, formatted per destination."""
    query = (
        select(ConversionOutbox)
        .where(ConversionOutbox.site_id == site_id, _due(now))
        .order_by(ConversionOutbox.next_attempt_at, ConversionOutbox.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with transaction(engine) as session:
        site = session.get(Site, site_id)
        assert site is not None  # rows cascade with their site
        grouped: dict[uuid.UUID, list[ConversionOutbox]] = {}
        for row in session.scalars(query):
            row.attempts += 1
            row.next_attempt_at = now + LEASE
            grouped.setdefault(row.destination_id, []).append(row)
        batches = []
        for destination_id, rows in grouped.items():
            destination = session.get(Destination, (site_id, destination_id))
            if destination is None or not destination.enabled:
                for row in rows:  # paused: look again later, no attempt spent
                    row.attempts -= 1
                    row.next_attempt_at = now + ADJUSTMENT_WAIT
                continue
            batches.append(_batch(session, site, destination, rows))
    return batches


def _batch(session: Session, site: Site, destination: Destination,
           rows: Sequence[ConversionOutbox]) -> Batch:
    names = milestone_map(destination.settings)
    conversions, row_ids, waiting, gone = [], {}, [], []
    identities: dict[uuid.UUID, Any] = {}
    for row in rows:
        original = None
        if row.kind != CONVERSION:
            original = _original(session, row)
            if original is not None and original.status == DEAD:
                gone.append((row.id, "the conversion it adjusts was never delivered"))
                continue
            if original is None or original.status != SENT:
                row.attempts -= 1
                waiting.append(row.id)
                continue
        if row.lead_id not in identities:
            identities[row.lead_id] = load_identity(session, site, row.lead_id)
        identity = identities[row.lead_id]
        mapping = names.get(row.milestone)
        if identity is None or mapping is None:
            gone.append((row.id, "the lead was erased" if identity is None
                         else f"no mapping for milestone {row.milestone!r}"))
            continue
        conversions.append(Conversion(
            key=row.idempotency_key, kind=row.kind, milestone=row.milestone,
            name=mapping.name, occurred_at=row.occurred_at, value=row.value,
            currency=row.currency, order_id=row.order_id, lead_id=str(row.lead_id),
            email=identity.email, phone=identity.phone, clicks=identity.clicks,
            ga_client_id=identity.ga_client_id, fbp=identity.fbp, fbc=identity.fbc,
            consent=identity.consent,
            original_at=original.occurred_at if original is not None else None,
        ))
        row_ids[row.idempotency_key] = row.id
    return Batch(
        site_id=site.id, destination_id=destination.id, platform=destination.platform,
        settings=dict(destination.settings),
        credentials=clients.destination_credentials(session, destination),
        conversions=tuple(conversions), row_ids=row_ids, waiting=tuple(waiting),
        gone=tuple(gone),
    )


def prepare(batch: Batch, now: dt.datetime, validate: bool = False) -> Prepared:
    settings = {**batch.settings, "validate": validate or batch.settings.get("validate")}
    prepared: Prepared = FORMATS[batch.platform].prepare(
        batch.conversions, settings, batch.credentials, now)
    return prepared


def send_batch(
    engine: Engine | None, batch: Batch, sleep: Sleep = time.sleep,
    now: dt.datetime | None = None, validate: bool = False,
) -> dict[str, Outcome]:
    """Each conversion's outcome; never raises for the platform's sake. With ``validate`` the
    platform only checks (GA4 debug endpoint, Meta test_event_code, Google Ads validateOnly)."""
    now = now or utcnow()
    prepared = prepare(batch, now, validate)
    outcomes = {key: Outcome(DEAD, reason) for key, reason in prepared.refused.items()}
    if not prepared.requests:
        return outcomes
    save: Callable[[Mapping[str, str]], None] | None = None
    if engine is not None:
        with Session(engine) as session:
            destination = session.get(Destination, (batch.site_id, batch.destination_id))
            if destination is not None:
                save = clients.destination_saver(write_engine(engine), destination)
    client = clients.build_client(batch.platform, batch.settings, batch.credentials,
                                  save=save, sleep=sleep)
    for request in prepared.requests:
        outcomes.update(_send(client, batch.platform, request))
    return outcomes


def _send(client: Any, platform: str, request: Request) -> dict[str, Outcome]:
    try:
        response = client.send("POST", request.path, params=request.params or None,
                               body=request.body, authorized=clients.authorized(platform))
    except ApiError as error:
        status = FAILED if error.retryable else DEAD
        return {key: Outcome(status, str(error), error.retry_after) for key in request.keys}
    try:
        document = response.json() if response.content else {}
    except ValueError:
        document = {}
    answers = FORMATS[platform].read_answer(request, document if isinstance(document, dict)
                                            else {})
    return {key: Outcome(SENT) if reason is None else Outcome(DEAD, reason)
            for key, reason in answers.items()}


def record_outcomes(engine: Engine, batch: Batch, outcomes: Mapping[str, Outcome],
                    now: dt.datetime) -> Drained:
    """Settle the batch's rows and the destination's last delivery."""
    sent = retrying = dead = 0
    with transaction(engine) as session:
        for row_id in batch.waiting:
            session.execute(update(ConversionOutbox).where(
                ConversionOutbox.site_id == batch.site_id, ConversionOutbox.id == row_id,
            ).values(next_attempt_at=now + ADJUSTMENT_WAIT))
        settled = [(row_id, Outcome(DEAD, reason)) for row_id, reason in batch.gone]
        settled += [(batch.row_ids[key], outcome) for key, outcome in outcomes.items()]
        errors = []
        for row_id, outcome in settled:
            row = session.get(ConversionOutbox, (batch.site_id, row_id), with_for_update=True)
            if row is None:
                continue
            status = outcome.status
            if status == FAILED and row.attempts >= MAX_ATTEMPTS:
                status = DEAD
            row.status = status
            row.error = outcome.error[:MAX_ERROR_LENGTH] if outcome.error else None
            if status == SENT:
                row.sent_at = now
                sent += 1
            elif status == FAILED:
                wait = retry_delay(row.attempts)
                if outcome.retry_after is not None:
                    wait = max(wait, dt.timedelta(seconds=outcome.retry_after))
                row.next_attempt_at = now + wait
                retrying += 1
            else:
                dead += 1
            if outcome.error:
                errors.append(outcome.error)
        destination = session.get(Destination, (batch.site_id, batch.destination_id))
        if destination is not None and settled:
            destination.last_delivery_at = now
            destination.last_error = errors[-1][:MAX_ERROR_LENGTH] if errors else None
    for outcome_name, count in (("sent", sent), ("retrying", retrying), ("dead", dead)):
        if count:
            metrics().conversions.labels(batch.platform, outcome_name).inc(count)
    logger.info("destination delivery", extra={
        "site_id": batch.site_id, "destination_id": str(batch.destination_id),
        "platform": batch.platform, "sent": sent, "retrying": retrying, "dead": dead})
    return Drained(sent, retrying, dead)


def replay(session: Session, site_id: int, destination_id: uuid.UUID | None = None,
           now: dt.datetime | None = None) -> int:
    """Put dead rows back in the queue, due now (after fixing a mapping or a token)."""
    statement = (update(ConversionOutbox)
                 .where(ConversionOutbox.site_id == site_id, ConversionOutbox.status == DEAD)
                 .values(status=PENDING, attempts=0, error=None,
                         next_attempt_at=now or utcnow()))
    if destination_id is not None:
        statement = statement.where(ConversionOutbox.destination_id == destination_id)
    return int(getattr(session.execute(statement), "rowcount", 0) or 0)


def outbox_counts(session: Session, site_id: int,
                  destination_id: uuid.UUID | None = None) -> dict[str, int]:
    query = (select(ConversionOutbox.status, func.count())
             .where(ConversionOutbox.site_id == site_id).group_by(ConversionOutbox.status))
    if destination_id is not None:
        query = query.where(ConversionOutbox.destination_id == destination_id)
    return {str(status): int(count) for status, count in session.execute(query)}


CHECK_EVERY_SECONDS = 30.0


def start_thread(engine: Engine, stop: threading.Event | None = None) -> threading.Event:
    """Drain the outbox every half minute in a thread of its own (a platform that answers
    slowly must not hold up derived data); set the returned event to stop it."""
    return start_periodic(lambda: drain(engine), CHECK_EVERY_SECONDS, "destination delivery",
                          stop)
