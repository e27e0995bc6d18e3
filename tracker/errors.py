"""Domain errors and their one JSON rendering.

Domain code raises these; only views (through the handlers registered here) turn them into
HTTP responses of the form ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

import logging
import uuid
from enum import Enum

from flask import Flask, Response, g, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from tracker.metrics import count_rejection

logger = logging.getLogger(__name__)


class LeadTrailError(Exception):
    """Base of every error the API reports to its caller; ``field`` (keyword-only in every
    subclass, so no call can swap it with the message) names the input at fault."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationError(LeadTrailError):
    """Input that breaks a rule; ``field`` names where (dotted path, e.g. ``events.3.url``)."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)


class PayloadTooLarge(LeadTrailError):
    status = 413
    code = "too_large"


class Unauthorized(LeadTrailError):
    status = 401
    code = "unauthorized"


class Forbidden(LeadTrailError):
    status = 403
    code = "forbidden"


class NotFound(LeadTrailError):
    status = 404
    code = "not_found"


class Conflict(LeadTrailError):
    status = 409
    code = "conflict"


class TooManyAttempts(LeadTrailError):
    """Sign-in refused before the password is checked: wait ``retry_after`` seconds."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: float, *, field: str = "password") -> None:
        seconds = max(1, round(retry_after + 0.5))
        super().__init__(f"too many failed sign-ins; try again in {seconds} s", field=field)
        self.retry_after = seconds


class ServiceUnavailable(LeadTrailError):
    """A service this request needs (Redis for sign-in throttling) cannot be reached."""

    status = 503
    code = "unavailable"


class SignatureInvalid(LeadTrailError):
    status = 401
    code = "signature_invalid"

    def __init__(self, reason: Enum | str) -> None:
        text = reason.value if isinstance(reason, Enum) else reason
        super().__init__(f"signature rejected: {text}")
        self.reason = text


def error_body(
    code: str, message: str, field: str | None = None, reason: str | None = None
) -> dict[str, object]:
    """The one error shape; ``reason`` (a rejection reason such as ``stale_timestamp``) only
    when the error has one."""
    error: dict[str, object] = {"code": code, "message": message, "field": field}
    if reason is not None:
        error["reason"] = reason
    return {"error": error}


def _render(error: LeadTrailError) -> tuple[Response, int]:
    count_rejection(error)
    reason = getattr(error, "reason", None)
    logger.info("refused", extra={"code": error.code, "field": error.field, "reason": reason})
    body = error_body(error.code, error.message, error.field, reason)
    problems = getattr(error, "problems", None)
    if problems:
        body["errors"] = [{"field": field, "message": message} for field, message in problems]
    return jsonify(body), error.status


def _render_http(error: HTTPException) -> Response:
    if isinstance(error, RequestEntityTooLarge):  # Werkzeug's own backstop on Content-Length
        response, status = _render(PayloadTooLarge("the body is too large", field="body"))
        response.status_code = status
        return response
    code = (error.name or "error").lower().replace(" ", "_")
    response = jsonify(error_body(code, error.description or error.name))
    response.status_code = error.code or 500
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)  # RFC 9110 §15.5.6
    return response


def _render_unexpected(error: Exception) -> tuple[Response, int]:
    request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
    logger.exception("unhandled error", extra={"request_id": request_id})
    body = error_body("internal", f"internal error; request id {request_id}")
    return jsonify(body), 500


# How long a client should wait before retrying while the database is away (a restart or a
# failover takes seconds).
DATABASE_RETRY_AFTER_SECONDS = 2


def _render_database_away(error: OperationalError) -> tuple[Response, int]:
    """The database cannot be reached (restarting, failing over, a busy SQLite file): a 503
    the snippet and any client retry, not a 500 that reads as a bug. Nothing was
    acknowledged, so a retry with the same ids stores everything once."""
    logger.warning("database unavailable", extra={"error": type(error.orig).__name__})
    body = error_body("unavailable", "the database is unavailable; retry shortly")
    response = jsonify(body)
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response, 503


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(LeadTrailError, _render)
    app.register_error_handler(OperationalError, _render_database_away)
    app.register_error_handler(HTTPException, _render_http)
    app.register_error_handler(Exception, _render_unexpected)
