"""Collector endpoints. Each handler is parse → service → render."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy.exc import OperationalError

from tracker.collect import crossdomain, http
from tracker.collect.devices import describe_user_agent
from tracker.collect.identify import parse_identify, store_identify
from tracker.collect.parsing import decode_body, parse_batch, parse_visitor_id, require_text
from tracker.collect.pixel import pixel_batch
from tracker.collect.runtime import Collector
from tracker.collect.service import SiteInfo, check_origin
from tracker.collect.snippet import load_snippet
from tracker.config import Settings
from tracker.db import get_engine
from tracker.errors import LeadTrailError
from tracker.guards import limit_body
from tracker.metrics import count_rejection, count_stored
from tracker.models.base import utcnow

bp = Blueprint("collect", __name__)
SNIPPET_MAX_AGE_S = 3600
CORS_PATHS = frozenset({"/collect", "/identify", "/xd/sign", "/xd/adopt"})
_WRITE_KEY_IN_BODY = re.compile(rb'"k"\s*:\s*"([A-Za-z0-9_.-]{1,64})"')


def _collector_limit(settings: Settings) -> int:
    return settings.max_body_bytes


def _collector() -> Collector:
    collector: Collector = current_app.extensions["leadtrail.collector"]
    return collector


@bp.get("/t.js")
def snippet() -> Response:
    served = load_snippet()
    if request.if_none_match.contains(served.etag):
        response = Response(status=304)
    elif "gzip" in request.headers.get("Accept-Encoding", ""):
        response = Response(served.gzipped, mimetype="application/javascript")
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(served.body, mimetype="application/javascript")
    response.set_etag(served.etag)
    response.vary.add("Accept-Encoding")
    return http.serve_to_every_site(response, SNIPPET_MAX_AGE_S)


@bp.after_request
def add_cors_headers(response: Response) -> Response:
    # Errors carry CORS headers too, so the snippet can tell a refusal (drop) from a network
    # failure (retry): the site comes from the handler or, when it failed before finding it,
    # from the write key in the query or the body.
    if request.path in CORS_PATHS:
        http.allow_origin(response, request.origin, g.get("collect_site") or _named_site())
    return response


def _named_site() -> SiteInfo | None:
    length = request.content_length
    # Only a body the guard let through (an oversized one stays unread).
    readable = length is not None and length <= _collector().max_body_bytes
    found = _WRITE_KEY_IN_BODY.search(request.get_data()) if readable else None
    key = request.args.get("k") or (found.group(1).decode() if found else None)
    if not key:
        return None
    try:
        return _collector().sites.by_write_key(key)
    except LeadTrailError:
        return None
    except OperationalError:  # the database is away: the answer is already a 503 to retry
        return None


def _site_of(write_key: str) -> SiteInfo:
    """The write key's site, whose ``Origin`` rule is checked (and remembered for CORS)."""
    site = _collector().sites.by_write_key(write_key)
    g.collect_site = site
    check_origin(site, request.origin)
    return site


@bp.route("/collect", methods=["OPTIONS"])
@bp.route("/identify", methods=["OPTIONS"])
@bp.route("/xd/sign", methods=["OPTIONS"])
@bp.route("/xd/adopt", methods=["OPTIONS"])
def collect_preflight() -> Response:
    return Response(status=204)


@bp.post("/collect")
@limit_body(_collector_limit)
def collect() -> tuple[Response, int]:
    collector = _collector()
    data = decode_body(request.get_data(), collector.max_body_bytes)
    batch = parse_batch(data, utcnow(), request.args.get("k"))
    site = _site_of(batch.write_key)
    gpc = request.headers.get("Sec-GPC") == "1"
    user_agent = request.headers.get("User-Agent")
    stored = collector.accept(batch, site, user_agent, request.remote_addr, gpc)
    response = jsonify(stored=stored)
    if stored and collector.server_cookie and not describe_user_agent(user_agent).is_bot:
        http.set_visitor_cookie(response, request, site, batch.visitor_id)
    return response, 200


@bp.post("/identify")
@limit_body(_collector_limit)
def identify() -> tuple[Response, int]:
    collector = _collector()
    now = utcnow()
    data = decode_body(request.get_data(), collector.max_body_bytes)
    parsed = parse_identify(data, now, request.args.get("k"))
    site = _site_of(parsed.batch.write_key)
    gpc = request.headers.get("Sec-GPC") == "1"
    user_agent = request.headers.get("User-Agent")
    prepared = collector.prepare(parsed.batch, site, user_agent, request.remote_addr, gpc)
    if prepared is None:
        return jsonify(stored=0), 200
    store_identify(get_engine(), prepared, parsed, now, collector.keep_bots)
    count_stored(1, prepared.device.is_bot)
    return jsonify(stored=1), 200


def _site_request() -> tuple[dict[str, Any], SiteInfo]:
    """Body and site of a small snippet request keyed by ``k``, origin checked."""
    collector = _collector()
    data = dict(decode_body(request.get_data(), collector.max_body_bytes))
    site = _site_of(require_text(data, "k"))
    return data, site


@bp.post("/xd/sign")
@limit_body(_collector_limit)
def sign_cross_domain() -> Response:
    data, site = _site_request()
    visitor_id = parse_visitor_id(data.get("vid"))
    token = crossdomain.sign_visitor(
        current_app.config["SECRET_KEY"], site.id, visitor_id, utcnow()
    )
    return jsonify(token=token, parameter=crossdomain.QUERY_PARAMETER)


@bp.post("/xd/adopt")
@limit_body(_collector_limit)
def adopt_cross_domain() -> Response:
    data, site = _site_request()
    secret = current_app.config["SECRET_KEY"]
    return jsonify(vid=crossdomain.verify_token(secret, site.id, data.get("token"), utcnow()))


@bp.get("/collect.gif")
def collect_pixel() -> Response:
    collector = _collector()
    response = Response(http.TRANSPARENT_GIF, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store"
    try:
        batch = pixel_batch(request.args, request.cookies.get(http.VISITOR_COOKIE), utcnow())
        site = collector.sites.by_write_key(batch.write_key)
        user_agent = request.headers.get("User-Agent")
        gpc = request.headers.get("Sec-GPC") == "1"
        stored = collector.accept(batch, site, user_agent, request.remote_addr, gpc)
    except LeadTrailError as error:
        count_rejection(error)
        response.headers["X-LeadTrail-Error"] = f"{error.field}: {error.message}"
        return response
    if stored and not describe_user_agent(user_agent).is_bot:
        http.set_visitor_cookie(response, request, site, batch.visitor_id)
    return response
