"""The CRM inbox API: list the stored deliveries of a site and apply failed ones again
(``leadtrail crm replay`` does the same from the command line)."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.auth import site_from_api_key
from tracker.crm import inbox
from tracker.db import get_engine, get_session
from tracker.errors import ValidationError
from tracker.models import CrmEvent
from tracker.validation import check_parameters

api_bp = Blueprint("crm", __name__, url_prefix="/api/v1/crm")
MAX_LISTED = 500


@api_bp.get("/events")
def list_events() -> Response:
    """The site's inbox, newest first; ``?status=failed`` for what needs a replay."""
    site = site_from_api_key()
    check_parameters(request.args, ("status",))
    status = request.args.get("status")
    if status is not None and status not in (inbox.RECEIVED, inbox.APPLIED, inbox.FAILED):
        raise ValidationError("expected received, applied or failed", field="status")
    query = select(CrmEvent).where(CrmEvent.site_id == site.id)
    if status is not None:
        query = query.where(CrmEvent.status == status)
    rows = get_session().scalars(query.order_by(CrmEvent.received_at.desc()).limit(MAX_LISTED))
    return jsonify(events=[inbox.event_summary(row) for row in rows])


@api_bp.post("/events/replay")
def replay_events() -> Response:
    """Apply again every delivery of the site that failed or was never applied."""
    site = site_from_api_key()
    with Session(get_engine()) as session:
        targets = inbox.pending_events(session, site.id)
    result = inbox.replay(get_engine(), targets)
    return jsonify(applied=result.applied, failed=result.failed)


@api_bp.post("/events/<uuid:event_id>/replay")
def replay_event(event_id: uuid.UUID) -> Response:
    """Apply one stored delivery again (idempotent, also for one already applied)."""
    site = site_from_api_key()
    inbox.apply_stored(get_engine(), site.id, event_id)
    with Session(get_engine()) as session:
        row = session.get(CrmEvent, (site.id, event_id))
        assert row is not None  # apply_stored raised NotFound otherwise
        return jsonify(event=inbox.event_summary(row))
