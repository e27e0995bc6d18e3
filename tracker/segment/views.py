"""Segment's HTTP Tracking API: ``POST /v1/{batch,b,track,t,page,p,identify,i,alias,a,screen,
s,group,g}``. Each handler is parse → service → render; the answer, Segment's
``{"success": true}``, comes only after the request is committed."""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, current_app, g, jsonify, request

from tracker.collect import http
from tracker.collect.runtime import Collector
from tracker.collect.service import SiteInfo, check_origin
from tracker.db import get_engine
from tracker.errors import LeadTrailError, Unauthorized
from tracker.guards import limit_body
from tracker.models.base import utcnow
from tracker.segment.parsing import (
    MAX_REQUEST_BYTES,
    PATH_TYPES,
    decode_body,
    parse_request,
    write_key_from_basic_auth,
)
from tracker.segment.service import accept_request

bp = Blueprint("segment", __name__, url_prefix="/v1")
BATCH_PATHS = frozenset({"batch", "b"})
_PATHS = ", ".join(f"'{path}'" for path in sorted({*BATCH_PATHS, *PATH_TYPES}))
_WRITE_KEY_IN_BODY = re.compile(rb'"writeKey"\s*:\s*"([A-Za-z0-9_.-]{1,64})"')


def _collector() -> Collector:
    collector: Collector = current_app.extensions["leadtrail.collector"]
    return collector


def _site_of(write_key: str) -> SiteInfo:
    try:
        site = _collector().sites.by_write_key(write_key)
    except Unauthorized:
        raise Unauthorized("unknown write key", field="writeKey") from None
    g.collect_site = site
    check_origin(site, request.origin)
    return site


def _named_site() -> SiteInfo | None:
    """The site a refused request named, for its CORS headers (the browser then sees the
    refusal instead of a network error to retry)."""
    length = request.content_length
    found = None
    if length is not None and length <= MAX_REQUEST_BYTES:
        found = _WRITE_KEY_IN_BODY.search(request.get_data())
    try:
        key = (found.group(1).decode() if found else
               write_key_from_basic_auth(request.headers.get("Authorization")))
        return _collector().sites.by_write_key(key) if key else None
    except LeadTrailError:
        return None


@bp.after_request
def segment_response(response: Response) -> Response:
    http.allow_origin(response, request.origin, g.get("collect_site") or _named_site())
    response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    if response.status_code >= 400 and response.is_json:
        body = response.get_json(silent=True)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(body, dict) and isinstance(error, dict):
            # Segment answers 400 to a request over its size limits, and its libraries read
            # ``code`` and ``message`` at the top level (a 4xx without them is retried).
            if response.status_code == 413:
                response.status_code = 400
            body.update(success=False, code=error.get("code"), message=error.get("message"))
            response.set_data(json.dumps(body))
    return response


@bp.route(f"/<any({_PATHS}):kind>", methods=["OPTIONS"])
def segment_preflight(kind: str) -> Response:
    return Response(status=204)


@bp.post(f"/<any({_PATHS}):kind>")
@limit_body(MAX_REQUEST_BYTES)
def intake(kind: str) -> Response:
    now = utcnow()
    body = decode_body(request.get_data(), request.headers.get("Content-Encoding"))
    auth_key = write_key_from_basic_auth(request.headers.get("Authorization"))
    parsed = parse_request(body, None if kind in BATCH_PATHS else PATH_TYPES[kind], auth_key, now)
    site = _site_of(parsed.write_key)
    # A browser's own address stands in for messages without context.ip; a server library's
    # is the server's, not the visitor's.
    client_ip = request.remote_addr if request.origin else None
    gpc = request.headers.get("Sec-GPC") == "1"
    accept_request(get_engine(), _collector(), site, parsed, client_ip, gpc, now)
    return jsonify(success=True)
