"""Call tracking over HTTP: the number a visitor is shown (``POST /calls/number``, public
write key), the swap script (``GET /calls.js``), the configuration (``PUT|GET
/api/v1/calls/config``, secret key), provider webhooks (``POST /calls/webhooks/<provider>/
<site>``) and the calls report (``GET /api/v1/reports/calls``). Handlers are parse → service
→ render; a webhook is answered only once its call is committed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy.orm import Session

from tracker.auth import site_from_api_key
from tracker.calls import providers
from tracker.calls.assign import show_number
from tracker.calls.config import config_json, parse_config, save_config
from tracker.calls.providers import CallReport
from tracker.calls.report import CallsQuery, calls_report
from tracker.calls.service import record_call
from tracker.collect import http
from tracker.collect.parsing import parse_visitor_id, require_text
from tracker.collect.runtime import Collector
from tracker.collect.service import check_origin
from tracker.db import get_engine, write_session
from tracker.errors import NotFound
from tracker.models import CallSettings, Site
from tracker.models.base import utcnow
from tracker.sites import site_settings
from tracker.validation import load_json_object

bp = Blueprint("calls", __name__)
SCRIPT = Path(__file__).parents[2] / "static" / "calls.js"
SCRIPT_MAX_AGE_S = 3600


def _collector() -> Collector:
    collector: Collector = current_app.extensions["leadtrail.collector"]
    return collector


@bp.get("/calls.js")
def script() -> Response:
    response = Response(SCRIPT.read_bytes(), mimetype="application/javascript")
    response.cache_control.public = True
    response.cache_control.max_age = SCRIPT_MAX_AGE_S
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


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
    data = load_json_object(request.get_data())
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
    config = parse_config(load_json_object(request.get_data()))
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
            raise NotFound("no call tracking configured for this site", "site_id")
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
    with write_session() as session:
        recorded = record_call(session, site.id, site_settings(site), report, utcnow())
        body: dict[str, Any] = {
            "received": True, "stored": recorded.created,
            "lead_id": str(recorded.call.lead_id) if recorded.call.lead_id else None,
            "channel": recorded.call.channel,
        }
    return jsonify(body), 200


@bp.get("/api/v1/reports/calls")
def report() -> Response:
    site = site_from_api_key()
    query = CallsQuery.from_args(request.args)
    with Session(get_engine()) as session:
        return jsonify(calls_report(session, site.id, query))
