"""Call tracking over HTTP: the number a visitor is shown (``POST /calls/number``, public
write key), the swap script (``GET /calls.js``), the configuration (``PUT|GET
/api/v1/calls/config``, secret key), provider webhooks (``POST /calls/webhooks/<provider>/
<site>``), the call inbox (``GET /api/v1/calls``, ``POST /api/v1/calls/replay``) and the calls
report (``GET /api/v1/reports/calls``). Handlers are parse → service → render; a webhook is
answered only once its call is committed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.auth import site_from_api_key
from tracker.calls import providers
from tracker.calls.assign import show_number
from tracker.calls.config import config_json, parse_config, save_config
from tracker.calls.inbox import call_summary, pending_calls, receive_call, replay_calls
from tracker.calls.providers import CallReport
from tracker.calls.report import CallsQuery, calls_report
from tracker.calls.service import APPLIED, FAILED, RECEIVED
from tracker.collect import http
from tracker.collect.parsing import parse_visitor_id, require_text
from tracker.collect.runtime import Collector
from tracker.collect.service import check_origin
from tracker.db import get_engine, write_session
from tracker.errors import NotFound, ValidationError
from tracker.guards import json_object_body
from tracker.models import Call, CallSettings, Site
from tracker.models.base import utcnow
from tracker.validation import check_parameters

bp = Blueprint("calls", __name__)
SCRIPT = Path(__file__).parents[2] / "static" / "calls.js"
SCRIPT_MAX_AGE_S = 3600
MAX_LISTED = 500


def _collector() -> Collector:
    collector: Collector = current_app.extensions["leadtrail.collector"]
    return collector


@bp.get("/calls.js")
def script() -> Response:
    response = Response(SCRIPT.read_bytes(), mimetype="application/javascript")
    return http.serve_to_every_site(response, SCRIPT_MAX_AGE_S)


@bp.after_request
def add_cors_headers(response: Response) -> Response:
    if request.path == "/calls/number":
        http.allow_origin(response, request.origin, g.get("collect_site"))
    return response


@bp.route("/calls/number", methods=["OPTIONS"])
def number_preflight() -> Response:
    return Response(status=204)


@bp.post("/calls/number")
def number() -> Response:
    data = json_object_body()
    site = _collector().sites.by_write_key(require_text(data, "k"))
    g.collect_site = site
    check_origin(site, request.origin)
    visitor_id = parse_visitor_id(data.get("vid"))
    with write_session() as session:
        shown = show_number(session, site.id, visitor_id, utcnow())
        settings = session.get(CallSettings, site.id)
        default_number = settings.default_number if settings else None
        default_display = settings.default_display if settings else None
    return jsonify(number=shown.number, display=shown.display, pool=shown.pool,
                   held_until=shown.held_until.isoformat() if shown.held_until else None,
                   exhausted=shown.exhausted, default_number=default_number,
                   default_display=default_display)


@bp.put("/api/v1/calls/config")
def put_config() -> Response:
    site = site_from_api_key()
    config = parse_config(json_object_body())
    with write_session() as session:
        save_config(session, site.id, config)
        body = config_json(session, site.id)
    return jsonify(body)


@bp.get("/api/v1/calls/config")
def get_config() -> Response:
    site = site_from_api_key()
    with Session(get_engine()) as session:
        return jsonify(config_json(session, site.id))


def _webhook_site(site_id: int) -> tuple[Site, CallSettings]:
    with Session(get_engine(), expire_on_commit=False) as session:
        site = session.get(Site, site_id)
        settings = session.get(CallSettings, site_id)
        if site is None or settings is None:
            raise NotFound("no call tracking configured for this site", field="site_id")
        session.expunge_all()
    return site, settings


def _report(provider: str, settings: CallSettings) -> CallReport | None:
    now = utcnow()
    body = request.get_data()
    if provider == "twilio":
        # Twilio signs the URL it was given: behind a proxy, LEADTRAIL_TRUSTED_PROXIES makes
        # request.url the public one.
        form = [(name, value) for name, values in request.form.lists() for value in values]
        return providers.parse_twilio(request.url, form,
                                      request.headers.get("X-Twilio-Signature"),
                                      settings.twilio_auth_tokens, now)
    if provider == "callrail":
        return providers.parse_callrail(body, request.headers.get("Signature"),
                                        settings.callrail_signing_keys, now)
    return providers.parse_generic(body, request.headers.get("LeadTrail-Signature"),
                                   settings.generic_secrets, now)


@bp.post("/calls/webhooks/<any(twilio, callrail, generic):provider>/<int:site_id>")
def webhook(provider: str, site_id: int) -> tuple[Response, int]:
    site, settings = _webhook_site(site_id)
    report = _report(provider, settings)
    if report is None:  # a call still ringing or in progress: its final callback counts
        return jsonify(received=True, stored=False), 200
    received = receive_call(get_engine(), site.id, report)
    call = received.call
    # Stored is acknowledged: a call whose apply failed waits in the inbox for a replay, and
    # the provider must not send it again.
    body: dict[str, Any] = {
        "received": True, "stored": received.created, "status": call.status,
        "lead_id": str(call.lead_id) if call.lead_id else None, "channel": call.channel,
    }
    return jsonify(body), 200


@bp.get("/api/v1/calls")
def list_calls() -> Response:
    """The site's calls, newest first; ``?status=failed`` for what needs a replay."""
    site = site_from_api_key()
    check_parameters(request.args, ("status",))
    status = request.args.get("status")
    if status is not None and status not in (RECEIVED, APPLIED, FAILED):
        raise ValidationError("expected received, applied or failed", field="status")
    query = select(Call).where(Call.site_id == site.id)
    if status is not None:
        query = query.where(Call.status == status)
    with Session(get_engine()) as session:
        calls = session.scalars(query.order_by(Call.received_at.desc()).limit(MAX_LISTED))
        return jsonify(calls=[call_summary(call) for call in calls])


@bp.post("/api/v1/calls/replay")
def replay() -> Response:
    """Apply again every call of the site that failed or was never applied."""
    site = site_from_api_key()
    with Session(get_engine()) as session:
        keys = pending_calls(session, site.id)
    result = replay_calls(get_engine(), keys)
    return jsonify(applied=result.applied, failed=result.failed)


@bp.get("/api/v1/reports/calls")
def report() -> Response:
    site = site_from_api_key()
    query = CallsQuery.from_args(request.args)
    with Session(get_engine()) as session:
        return jsonify(calls_report(session, site.id, query))
