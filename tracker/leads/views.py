"""The leads API (secret key): conversions, offline touches, leads, journeys, stages, erasure.
Each handler is parse → service → render."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from tracker.accounts.auth import site_from_api_key
from tracker.db import get_session, write_session
from tracker.errors import ValidationError
from tracker.guards import json_object_body
from tracker.leads import service
from tracker.leads.erasure import erase_person
from tracker.models.base import utcnow
from tracker.sites.settings import site_settings

bp = Blueprint("leads", __name__, url_prefix="/api/v1")
MAX_BULK = 1000


@bp.post("/conversions")
def create_conversion() -> tuple[Response, int]:
    site = site_from_api_key()
    conversion = service.parse_conversion(json_object_body())
    with write_session() as session:
        lead, created = service.record_conversion(
            session, site.id, site_settings(site), conversion, utcnow()
        )
        body = {
            "lead_id": str(lead.id),
            "created": created,
            "stage": lead.stage,
            "score": lead.score,
        }
    return jsonify(body), 201 if created else 200


@bp.post("/offline-touches")
def create_offline_touch() -> tuple[Response, int]:
    site = site_from_api_key()
    data = json_object_body()
    touch = service.parse_offline_touch(data)
    with write_session() as session:
        lead = service.lead_for_email(session, site.id, data.get("email"))
        service.add_offline_touch(session, lead, touch, utcnow())
        body = {"lead_id": str(lead.id), "id": touch.id, "channel": touch.channel}
    return jsonify(body), 201


@bp.get("/leads")
def list_leads() -> Response:
    site = site_from_api_key()
    where = service.LeadFilter.from_args(request.args)
    threshold = site_settings(site).mql_threshold
    rows = service.list_leads(get_session(), site.id, where)
    return jsonify(
        leads=[service.lead_summary(lead, channel, threshold) for lead, channel in rows],
        limit=where.limit,
        offset=where.offset,
    )


@bp.get("/leads/<lead_id>")
def show_lead(lead_id: str) -> Response:
    site = site_from_api_key()
    session = get_session()
    lead = service.get_lead(session, site.id, lead_id)
    return jsonify(service.lead_journey(session, lead, site_settings(site).mql_threshold))


@bp.post("/leads/<lead_id>/stage")
def set_stage(lead_id: str) -> Response:
    site = site_from_api_key()
    change = service.parse_stage_request(json_object_body(), lead_id=lead_id)
    with write_session() as session:
        (lead,) = service.apply_stage_requests(session, site.id, [change], utcnow())
        body = {"lead_id": str(lead.id), "stage": lead.stage}
    return jsonify(body)


@bp.post("/leads/stages")
def set_stages() -> Response:
    site = site_from_api_key()
    changes = json_object_body().get("changes")
    if not isinstance(changes, list) or not 1 <= len(changes) <= MAX_BULK:
        raise ValidationError(f"expected a list of 1 to {MAX_BULK} changes", field="changes")
    parsed = [
        service.parse_stage_request(c if isinstance(c, dict) else {}, f"changes.{i}.")
        for i, c in enumerate(changes)
    ]
    with write_session() as session:
        leads = service.apply_stage_requests(session, site.id, parsed, utcnow())
        body = {"updated": [{"lead_id": str(lead.id), "stage": lead.stage} for lead in leads]}
    return jsonify(body)


@bp.post("/gdpr/erase")
def erase() -> Response:
    site = site_from_api_key()
    data = json_object_body()
    with write_session() as session:
        lead = service.lead_for_email(session, site.id, data.get("email"))
        erased = erase_person(session, lead)
    return jsonify(
        erased={
            "leads": erased.leads,
            "visitors": erased.visitors,
            "sessions": erased.sessions,
            "events": erased.events,
        }
    )
