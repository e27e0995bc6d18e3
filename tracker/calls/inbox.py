"""The durable call inbox: a webhook's call is committed as ``received`` before the provider
gets its answer, then applied in a transaction of its own. An apply that fails rolls back,
leaves the call ``failed`` with its error and is replayed on demand (``leadtrail calls
replay``, ``POST /api/v1/calls/replay``); a provider's redelivery of a call not yet applied
applies it too. Applying is idempotent, so a replay racing a redelivery changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tracker.calls.providers import CallReport
from tracker.calls.service import APPLIED, FAILED, RECEIVED, apply_call, store_call
from tracker.crm.inbox import Replayed
from tracker.db import describe_failure, transaction
from tracker.models import Call, Site
from tracker.models.base import utcnow
from tracker.sites.settings import site_settings

logger = logging.getLogger(__name__)

REPLAY_BATCH = 500
CallKey = tuple[int, str, str]  # site id, provider, provider's call id


@dataclass(frozen=True, slots=True)
class Received:
    call: Call
    created: bool  # False: a redelivery of a call already stored


def receive_call(engine: Engine, site_id: int, report: CallReport) -> Received:
    """Store ``report`` (committed), then apply it unless it was applied before; the call as
    it stands afterwards. A failed apply is kept on the row, never raised."""
    with transaction(engine) as session:
        stored = store_call(session, site_id, report, utcnow())
    if stored.status != APPLIED:
        apply_stored_call(engine, (site_id, report.provider, report.call_id))
    with Session(engine, expire_on_commit=False) as session:
        call = session.get(Call, (site_id, report.provider, report.call_id))
        assert call is not None
        session.expunge(call)
    return Received(call=call, created=stored.created)


def apply_stored_call(engine: Engine, key: CallKey) -> str:
    """Apply one stored call in its own transaction; :data:`APPLIED` or :data:`FAILED`."""
    try:
        with transaction(engine) as session:
            call = session.get(Call, key, with_for_update=True)
            site = session.get(Site, key[0])
            if call is None or site is None:
                return FAILED
            if call.status != APPLIED:  # a concurrent redelivery may have applied it
                apply_call(session, key[0], site_settings(site), call, utcnow())
        return APPLIED
    except Exception as error:  # noqa: BLE001 - any failure is kept on the row for replay
        _record_failure(engine, key, error)
        return FAILED


def _record_failure(engine: Engine, key: CallKey, error: Exception) -> None:
    description = describe_failure(error)
    logger.warning("call not applied", extra={"site_id": key[0], "provider": key[1],
                                              "call_id": key[2], "error": description})
    with transaction(engine) as session:
        call = session.get(Call, key, with_for_update=True)
        if call is not None and call.status != APPLIED:
            call.status = FAILED
            call.attempts += 1
            call.error = description


def pending_calls(session: Session, site_id: int | None = None, limit: int = REPLAY_BATCH,
                  older_than: dt.datetime | None = None) -> list[CallKey]:
    """Calls not applied yet (failed, or stored and never applied), oldest first;
    ``older_than`` leaves out calls a webhook may be applying right now."""
    query = select(Call.site_id, Call.provider, Call.call_id).where(
        Call.status.in_((FAILED, RECEIVED)))
    if site_id is not None:
        query = query.where(Call.site_id == site_id)
    if older_than is not None:
        query = query.where(Call.received_at < older_than)
    query = query.order_by(Call.received_at, Call.call_id).limit(limit)
    return [(row.site_id, row.provider, row.call_id) for row in session.execute(query)]


def replay_calls(engine: Engine, keys: Sequence[CallKey]) -> Replayed:
    """Apply each stored call again; how many now applied and how many failed again."""
    outcomes = [apply_stored_call(engine, key) for key in keys]
    return Replayed(applied=outcomes.count(APPLIED), failed=outcomes.count(FAILED))


def call_summary(call: Call) -> dict[str, Any]:
    """A call as the inbox API lists it (the caller's number stays on the lead)."""
    return {
        "provider": call.provider, "call_id": call.call_id, "called": call.called,
        "started_at": call.started_at.isoformat(), "duration_s": call.duration_s,
        "answered": call.answered, "status": call.status, "attempts": call.attempts,
        "error": call.error, "lead_id": str(call.lead_id) if call.lead_id else None,
        "channel": call.channel, "campaign": call.campaign,
        "received_at": call.received_at.isoformat(),
        "applied_at": call.applied_at.isoformat() if call.applied_at else None,
    }
