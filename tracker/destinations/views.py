"""The destinations API (secret key): connect an ad platform, list destinations with their
delivery counts, read the delivery log, validate, replay dead conversions. Secrets go in and
never come back out (fingerprints only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from tracker.accounts.auth import site_from_api_key
from tracker.db import get_engine, get_session, write_session
from tracker.destinations import check, daily, sender, service
from tracker.destinations.outbox import SENT, STATUSES
from tracker.errors import ValidationError
from tracker.guards import json_object_body
from tracker.models import ConversionOutbox
from tracker.models.base import utcnow
from tracker.sites.settings import site_settings

bp = Blueprint("destinations", __name__, url_prefix="/api/v1")
MAX_LOG_ROWS = 500
BODY_KEYS = frozenset({"name", "platform", "settings", "credentials", "ad_account"})


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ValidationError("expected an object", field=key)
    return value


@bp.post("/destinations")
def add_destination() -> tuple[Response, int]:
    site = site_from_api_key()
    data = json_object_body()
    for key in data:
        if key not in BODY_KEYS:
            raise ValidationError("unknown field", field=key)
    with write_session() as session:
        found = service.add_destination(
            session, site.id, str(data.get("name") or ""), str(data.get("platform") or ""),
            _object(data, "settings"), _object(data, "credentials"),
            ad_account=data.get("ad_account"))
        shown = service.describe(session, found)
    return jsonify(shown), 201


@bp.get("/destinations")
def list_destinations() -> Response:
    site = site_from_api_key()
    session = get_session()
    return jsonify(destinations=[service.describe(session, d)
                                 for d in service.list_destinations(session, site.id)])


@bp.patch("/destinations/<reference>")
def change_destination(reference: str) -> Response:
    """Pause (``{"enabled": false}``) or resume a destination; its queue is kept."""
    site = site_from_api_key()
    data = json_object_body()
    for key in data:
        if key != "enabled":
            raise ValidationError("unknown field", field=key)
    if not isinstance(data.get("enabled"), bool):
        raise ValidationError("expected true or false", field="enabled")
    with write_session() as session:
        found = service.set_enabled(session, site.id, reference, data["enabled"])
        shown = service.describe(session, found)
    return jsonify(shown)


@bp.get("/destinations/<reference>/deliveries")
def deliveries(reference: str) -> Response:
    """The delivery log, newest first: one row per conversion, with the platform's reason."""
    site = site_from_api_key()
    session = get_session()
    destination = service.find_destination(session, site.id, reference)
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationError(f"expected one of {', '.join(STATUSES)}", field="status")
    query = (select(ConversionOutbox)
             .where(ConversionOutbox.site_id == site.id,
                    ConversionOutbox.destination_id == destination.id)
             .order_by(ConversionOutbox.created_at.desc()).limit(MAX_LOG_ROWS))
    if status is not None:
        query = query.where(ConversionOutbox.status == status)
    return jsonify(deliveries=[{
        "key": row.idempotency_key, "milestone": row.milestone, "kind": row.kind,
        "status": row.status, "attempts": row.attempts, "error": row.error,
        "occurred_at": row.occurred_at.isoformat(),
        "value": str(row.value) if row.value is not None else None, "currency": row.currency,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    } for row in session.scalars(query)])


@bp.get("/destinations/<reference>/days")
def days(reference: str) -> Response:
    """Conversions per site-local day queued (``days``, default 14), by their status now,
    with the last delivery and the last success."""
    site = site_from_api_key()
    session = get_session()
    destination = service.find_destination(session, site.id, reference)
    count = daily.parse_days(request.args.get("days"))
    timezone = site_settings(site).timezone
    found = daily.daily_counts(session, site.id, [destination.id], timezone, count, utcnow())
    success = service.last_success(session, destination)
    return jsonify(
        timezone=timezone,
        last_delivery_at=(destination.last_delivery_at.isoformat()
                          if destination.last_delivery_at else None),
        last_success_at=success.isoformat() if success else None,
        days=[d.to_json() for d in found[destination.id]])


@bp.post("/destinations/<reference>/replay")
def replay(reference: str) -> Response:
    site = site_from_api_key()
    with write_session() as session:
        destination = service.find_destination(session, site.id, reference)
        count = sender.replay(session, site.id, destination.id)
    return jsonify(requeued=count)


@bp.post("/destinations/<reference>/test")
def validate(reference: str) -> Response:
    """A sample conversion in the platform's validation mode; nothing is recorded there."""
    site = site_from_api_key()
    session = get_session()
    destination = service.find_destination(session, site.id, reference)
    outcomes = check.validate_destination(get_engine(), session, destination)
    return jsonify(accepted=all(o.status == SENT for o in outcomes.values()),
                   messages=[o.error for o in outcomes.values() if o.error])
