"""Request guards every endpoint passes before its handler: the body size limit (with or
without ``Content-Length``) and storable text in the query string, the URL's variables and
dashboard forms.

Werkzeug enforces ``MAX_CONTENT_LENGTH`` only on a declared ``Content-Length``; a chunked
body is silently cut at the limit, and the cut body would be parsed and stored as if it were
whole. So the body is read here, at most one byte past the endpoint's limit, and refused
whole when it is larger; handlers then see an ordinary body of known length.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from werkzeug.datastructures import FileStorage
from werkzeug.routing import IntegerConverter, Map
from werkzeug.wsgi import get_input_stream

from tracker.config import Settings
from tracker.errors import PayloadTooLarge
from tracker.validation import MAX_ID, check_query, check_text, load_json_object

DEFAULT_MAX_BODY_BYTES = 1_048_576
# What a multipart body adds around an uploaded file (boundaries, part headers, other fields).
MULTIPART_ENVELOPE_BYTES = 65_536
_CHUNK = 65_536
# Handlers that answer every request in their own format (the pixel is always a GIF).
_OWN_QUERY_RULES = frozenset({"collect.collect_pixel"})

View = TypeVar("View", bound=Callable[..., object])
BodyLimit = int | Callable[[Settings], int]


def limit_body(limit: BodyLimit, *, upload_field: str | None = None) -> Callable[[View], View]:
    """Give a view its own body limit in bytes (or a function of the settings), instead of
    :data:`DEFAULT_MAX_BODY_BYTES`. With ``upload_field`` (the form field of a file upload)
    a multipart body may add :data:`MULTIPART_ENVELOPE_BYTES` around the file (which the view
    reads with :func:`read_upload`), and one over that is refused naming the field."""

    def mark(view: View) -> View:
        view.leadtrail_body_limit = limit  # type: ignore[attr-defined]
        view.leadtrail_upload_field = upload_field  # type: ignore[attr-defined]
        return view

    return mark


def _body_limit() -> tuple[int, str]:
    """This request's body limit in bytes, and the field a body over it is named by."""
    view = current_app.view_functions.get(request.endpoint or "")
    limit: BodyLimit = getattr(view, "leadtrail_body_limit", DEFAULT_MAX_BODY_BYTES)
    if callable(limit):
        limit = limit(current_app.config["LEADTRAIL_SETTINGS"])
    upload_field: str | None = getattr(view, "leadtrail_upload_field", None)
    if upload_field and request.mimetype == "multipart/form-data":
        return limit + MULTIPART_ENVELOPE_BYTES, upload_field
    return limit, "body"


def _too_large(limit: int, field: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"the body is larger than {limit} bytes", field=field)


def read_upload(upload: FileStorage, limit: int, field: str) -> bytes:
    """The uploaded file's bytes; one over ``limit`` is refused naming its form field (the
    body limit leaves room for the multipart envelope, so the file itself is checked here
    rather than silently cut)."""
    data: bytes = upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than {limit} bytes", field=field)
    return data


def enforce_body_limit() -> None:
    """Refuse a body over the endpoint's limit; buffer a body of unknown length (chunked) so
    the handler reads it with a known ``Content-Length``."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    limit, field = _body_limit()
    # Werkzeug's own check (on form parsing and get_data) then holds this endpoint's limit.
    request.max_content_length = limit
    declared = request.content_length
    if declared is not None:
        if declared > limit:
            raise _too_large(limit, field)
        return
    environ = request.environ
    if "wsgi.input_terminated" not in environ:
        return  # without it Werkzeug reads an unsized body as empty: nothing to cut
    stream = get_input_stream(environ, max_content_length=limit + 1)
    buffered = bytearray()
    while len(buffered) <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - len(buffered)))
        if not chunk:
            break
        buffered.extend(chunk)
    if len(buffered) > limit:
        raise _too_large(limit, field)
    environ["wsgi.input"] = io.BytesIO(bytes(buffered))
    environ["CONTENT_LENGTH"] = str(len(buffered))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    del environ["wsgi.input_terminated"]


def check_request_text() -> None:
    """NUL or a lone surrogate anywhere in the query string, the URL's variables or a
    dashboard form is refused naming the parameter, before any query runs with it."""
    if request.endpoint in _OWN_QUERY_RULES:
        return
    check_query(request.args)
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            check_text(value, name)
    if request.blueprint == "dashboard" and request.mimetype in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        check_query(request.form)


class BigIntConverter(IntegerConverter):
    """``<int:…>`` that fits a BIGINT: a larger id matches no route (404) instead of reaching
    the database as a number no column can hold."""

    def __init__(self, url_map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = MAX_ID, signed: bool = False) -> None:
        super().__init__(url_map, fixed_digits, min, max, signed)


def init_app(app: Flask) -> None:
    """Install the guards; call before registering blueprints (the converter binds then)."""
    app.url_map.converters["int"] = BigIntConverter
    # Werkzeug answers a path with "//" by redirecting (308) to the merged path; an id that
    # starts with "/" (%2F) did so on every operation, an answer no client expects. No route
    # has an empty segment, so such a path is simply not found.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = DEFAULT_MAX_BODY_BYTES
    app.before_request(enforce_body_limit)
    app.before_request(check_request_text)


def json_object_body() -> dict[str, Any]:
    """The request's body (already held to its limit here) as a JSON object; a
    ``ValidationError`` naming ``body`` otherwise."""
    return load_json_object(request.get_data())
