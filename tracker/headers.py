"""Security headers on every answer: a strict Content-Security-Policy (scripts and styles
only from this server, nothing inline, never framed), ``nosniff``, a same-origin referrer,
``no-store`` unless a view chose its own caching, and HSTS over https.

Pages are built for this policy: no inline script, handler or style anywhere in
``tracker/templates`` (chart data travels in ``<script type="application/json">`` blocks,
which are data, not script); the vendored Chart.js draws on canvas without ``eval``.
"""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
HSTS_MAX_AGE_S = 365 * 24 * 3600


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for older browsers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Dashboard URLs carry filters and lead ids: other origins get no referrer at all.
    headers.setdefault("Referrer-Policy", "same-origin")
    if "Cache-Control" not in headers:
        # Pages and answers show leads, keys and revenue: no shared or browser cache keeps
        # them. Views that may be cached (the snippet, dashboard assets) say so themselves.
        headers["Cache-Control"] = "no-store"
    if request.is_secure:  # https as the client saw it (ProxyFix reads X-Forwarded-Proto)
        headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_MAX_AGE_S}")
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
