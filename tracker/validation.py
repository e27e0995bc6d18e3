"""The input rules every endpoint shares: text the databases can store, finite numbers in
range, dates in a documented window, JSON bounded in depth before it is parsed, ids that fit
a BIGINT. Each refusal is a :class:`ValidationError` naming the field.

Ground floor: imports only ``tracker.errors``. Endpoint-specific rules (lengths, formats,
unknown keys) stay with each parser; these are the rules no parser may forget.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Collection, Iterable
from typing import Any, Protocol

from tracker.errors import NotFound, ValidationError

# PostgreSQL text cannot hold NUL, and neither database driver can encode a lone UTF-16
# surrogate (a JavaScript string cut inside an emoji): both fail in the database as a 500,
# after earlier statements of the request may already have run.
_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
# Deep enough for every body we accept (the deepest, a CRM webhook, nests 4 levels), shallow
# enough that no parser recurses anywhere near Python's recursion limit.
MAX_JSON_DEPTH = 32
# A string token (skipped: brackets inside strings do not nest) or one bracket.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.DOTALL)
_OPENERS = frozenset(b"[{")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,251}\.[a-z0-9-]{2,63}$")
# BIGINT, the type of every integer id column.
MAX_ID = 2**63 - 1
# The most rows one page of a list or report answers (``limit``).
MAX_PAGE = 500
# JSON integers beyond a signed 64-bit integer fit no column and no JavaScript number.
MAX_JSON_INTEGER = 2**63 - 1
# The dates any API accepts: marketing data older than the Unix epoch does not exist, and
# the ceiling leaves every date ± a few centuries of arithmetic (lookback windows, time-zone
# shifts, period comparisons) far from datetime's year-9999 overflow.
EARLIEST_DATE = dt.date(1970, 1, 1)
LATEST_DATE = dt.date(2199, 12, 31)


class RuleRefused(ValidationError):
    """Well-formed input that a rule the API document cannot state refuses (422): a time
    relative to now (an event older than 30 days), a relation between fields (a range longer
    than allowed), or a reference to something not set up. Everything the document can state
    (types, bounds, formats, patterns) is a 400."""

    status = 422


def check_text(value: str, field: str) -> str:
    """``value`` unchanged when both databases can store it; refuses NUL characters and lone
    surrogates."""
    found = _UNSTORABLE_TEXT.search(value)
    if found is not None:
        what = "a NUL character" if found.group() == "\x00" else "a lone UTF-16 surrogate"
        raise ValidationError(f"contains {what}", field=field)
    return value


def check_choice(value: object, choices: Collection[str], field: str) -> str:
    """``value`` when it is one of ``choices``. Anything else is a 400 naming ``field``, also a
    list or an object, on which a set's ``in`` would raise (unhashable) and answer 500."""
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(f"expected one of {', '.join(sorted(choices))}", field=field)
    return value


def check_json_depth(body: bytes | str, field: str = "body", limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` before any parser recurses into it."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    depth = 0
    for token in _JSON_TOKEN.finditer(raw):
        first = token.group()[0]
        if first in _OPENERS:
            depth += 1
            if depth > limit:
                raise ValidationError(f"nested deeper than {limit} levels", field=field)
        elif first != ord('"'):
            depth -= 1


def check_json_values(value: Any, field: str) -> None:
    """Walk decoded JSON: every key and string storable, every number finite and in range."""
    stack: list[tuple[Any, str]] = [(value, field)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            check_text(item, where)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValidationError("expected a finite number", field=where)
        elif isinstance(item, int) and not isinstance(item, bool):
            if abs(item) > MAX_JSON_INTEGER:
                raise ValidationError("number out of range", field=where)
        elif isinstance(item, dict):
            for key, member in item.items():
                check_text(key, f"{where}.{key[:40]}" if where else key[:40])
                stack.append((member, f"{where}.{key}" if where else key))
        elif isinstance(item, list):
            stack.extend((member, f"{where}.{i}" if where else str(i)) for i, member in
                         enumerate(item))


def _keep_constant(name: str) -> float:
    # NaN and ±Infinity are not JSON; Python's parser allows them. Decoded here so the walk
    # can refuse them with the field's path.
    return float(name.replace("Infinity", "inf"))


def load_json(body: bytes, field: str = "body", *, check_values: bool = True) -> Any:
    """Decode a JSON body under the shared rules; :class:`ValidationError` names ``body`` for
    malformed or too deeply nested JSON, else the path of the offending value (``events.0.url``).
    ``check_values=False`` leaves the values to a parser that names them its own way (cost
    rows count from 1, as in a CSV file); it must then apply :func:`check_text` itself.
    """
    if not body:
        raise ValidationError("empty body; expected a JSON object", field=field)
    check_json_depth(body, field)
    try:
        data = json.loads(body, parse_constant=_keep_constant)
    except (UnicodeDecodeError, ValueError):
        raise ValidationError("not valid JSON", field=field) from None
    if check_values:
        check_json_values(data, "")
    return data


def load_json_object(body: bytes, field: str = "body") -> dict[str, Any]:
    data = load_json(body, field)
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object", field=field)
    return data


class MultiValued(Protocol):
    """A query string or form: each name with all its values (Werkzeug's ``MultiDict``)."""

    def lists(self) -> Iterable[tuple[str, list[str]]]: ...


def check_query(args: MultiValued) -> None:
    """Every name and value of a query string (or form) storable; the field is the name."""
    for name, values in args.lists():
        check_text(name, "query")
        for value in values:
            check_text(value, name)


def check_parameters(args: Iterable[str], allowed: Collection[str]) -> None:
    """A query string names only ``allowed`` parameters: an unknown one (a typo that would
    otherwise be ignored silently) is a 400 naming it."""
    for name in args:
        if name not in allowed:
            raise ValidationError(
                f"unknown parameter; expected {', '.join(sorted(allowed))}"
                if allowed else "unknown parameter; none is expected",
                field=name,
            )


def check_record(record: object) -> None:
    """Every text and date of a dataclass (a parsed CRM event) under the shared rules; the
    field is the attribute's name."""
    for spec in dataclasses.fields(record):  # type: ignore[arg-type]
        value = getattr(record, spec.name)
        for item in value if isinstance(value, tuple | frozenset) else (value,):
            if isinstance(item, str):
                check_text(item, spec.name)
            elif isinstance(item, dt.date):
                check_date(item, spec.name)


DATETIME_EXPECTED = "expected an ISO 8601 time such as 2026-11-02T10:00:00Z"


def check_date(value: dt.date, field: str) -> dt.date:
    """``value`` when it lies in [EARLIEST_DATE, LATEST_DATE]."""
    day = value.date() if isinstance(value, dt.datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValidationError(
            f"expected a date from {EARLIEST_DATE} to {LATEST_DATE}", field=field
        )
    return value


def parse_date(raw: str, field: str) -> dt.date:
    """``YYYY-MM-DD`` within the date window."""
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError("expected a date as YYYY-MM-DD", field=field) from None
    return check_date(day, field)


def parse_datetime(raw: object, field: str, *, naive_is_utc: bool = False) -> dt.datetime:
    """An ISO 8601 date-time (at most 40 characters) within the date window, as a UTC instant.
    One without a UTC offset is refused, or read as UTC when ``naive_is_utc`` (Segment's rule).
    """
    if not isinstance(raw, str) or len(raw) > 40:
        raise ValidationError(DATETIME_EXPECTED, field=field)
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(DATETIME_EXPECTED, field=field) from None
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise ValidationError("give a time zone (Z or +hh:mm)", field=field)
        moment = moment.replace(tzinfo=dt.UTC)
    check_date(moment, field)  # before the shift to UTC, which overflows near year 1 or 9999
    return moment.astimezone(dt.UTC)


def uuid_or_not_found(raw: str, what: str, field: str) -> uuid.UUID:
    """``raw`` as a UUID; other text names nothing that can exist, so it is
    :class:`NotFound` ("no such ``what``", naming ``field``), like an unknown id."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"no such {what}", field=field) from None


def parse_whole(raw: str, field: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` written in ASCII digits. The length is checked
    before converting: ``int()`` refuses more than 4,300 digits with a ValueError (a 500), and a
    query string can carry any number of them."""
    if (not raw.isascii() or not raw.isdigit() or len(raw) > len(str(high))
            or not low <= int(raw) <= high):
        raise ValidationError(f"expected a whole number from {low} to {high}", field=field)
    return int(raw)


def parse_id(raw: str, field: str) -> int:
    """A positive id that fits a BIGINT column, from its decimal text."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) <= MAX_ID:
        raise ValidationError(f"expected an id from 1 to {MAX_ID}", field=field)
    return int(raw)


def normalise_email(raw: object, field: str = "email") -> str:
    """Trim and lower-case; :class:`ValidationError` when it is not an address."""
    if not isinstance(raw, str):
        raise ValidationError("expected an email address", field=field)
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationError("not an email address", field=field)
    return email
