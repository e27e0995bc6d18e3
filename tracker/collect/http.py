"""HTTP details of the collector kept out of the views: CORS headers, the server-set visitor
cookie, the client address and the 1×1 GIF."""

from __future__ import annotations

import base64
import ipaddress

from flask import Request, Response

from tracker.collect.service import SiteInfo, accepts_origin, matching_domain

VISITOR_COOKIE = "_lt_vid"
VISITOR_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
TRANSPARENT_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def allow_origin(response: Response, origin: str | None, site: SiteInfo | None) -> Response:
    """CORS headers echoing ``origin`` only when it is one of ``site``'s own or linked
    domains: credentials (the ``_lt_vid`` cookie) are never shared with another origin, with
    ``null``, or when the site is unknown."""
    if origin and site is not None and accepts_origin(site, origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    response.vary.add("Origin")
    return response


def serve_to_every_site(response: Response, max_age_s: int) -> Response:
    """A script every site embeds: cached publicly for ``max_age_s`` and readable from any
    origin (it holds nothing of a site)."""
    response.cache_control.public = True
    response.cache_control.max_age = max_age_s
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _is_ip_or_local(domain: str) -> bool:
    if domain == "localhost":
        return True
    try:
        ipaddress.ip_address(domain)
    except ValueError:
        return False
    return True


def set_visitor_cookie(
    response: Response, request: Request, site: SiteInfo, visitor_id: str
) -> None:
    """When the collector answers under one of the site's own domains, set ``_lt_vid`` from the
    server: a server-set cookie is not subject to Safari's 7-day cap on script-written ones."""
    domain = matching_domain(site.domains, request.host.split(":")[0])
    if domain is None:
        return
    response.set_cookie(
        VISITOR_COOKIE,
        visitor_id,
        max_age=VISITOR_COOKIE_MAX_AGE,
        domain=None if _is_ip_or_local(domain) else domain,
        path="/",
        secure=request.is_secure,
        samesite="Lax",
    )
