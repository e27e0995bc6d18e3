"""Readers for the scalar values CRM payloads carry (ids, amounts, currencies, emails, the
several time formats), each raising :class:`PayloadInvalid` with the field's dotted path.

Shared by the provider parsers; standard library only.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import NoReturn, cast

from crm_sync.errors import PayloadInvalid
from crm_sync.events import (
    MAX_ABS_AMOUNT,
    MAX_EMAIL_LENGTH,
    MAX_ID_LENGTH,
    MAX_PHONE_LENGTH,
    MAX_TEXT_LENGTH,
)

# Deliveries bigger than this are refused before parsing (HubSpot batches 100 events, and
# Salesforce messages hold 100 notifications; both stay far below).
MAX_BODY_BYTES = 1_048_576

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Plausible epoch bounds (2000-01-01 .. 2100-01-01), to tell seconds from milliseconds
# mistakes early instead of storing a deal closed in 1970 or in 55,000 AD.
_MIN_EPOCH_S = 946_684_800
_MAX_EPOCH_S = 4_102_444_800


def _refuse_constant(name: str) -> NoReturn:
    raise PayloadInvalid(f"{name} is not a number JSON allows", field="body")


def load_json(body: bytes) -> object:
    """Parse a JSON body; floats become :class:`Decimal` so amounts keep their digits."""
    check_size(body)
    try:
        text_body = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadInvalid("expected UTF-8 text", field="body") from None
    try:
        return cast(
            object, json.loads(text_body, parse_float=Decimal, parse_constant=_refuse_constant)
        )
    except json.JSONDecodeError as exc:
        raise PayloadInvalid(
            f"invalid JSON at line {exc.lineno} column {exc.colno}", field="body"
        ) from None
    except RecursionError:
        raise PayloadInvalid("JSON nested too deeply", field="body") from None


def check_size(body: bytes) -> None:
    if len(body) > MAX_BODY_BYTES:
        raise PayloadInvalid(f"larger than {MAX_BODY_BYTES} bytes", field="body")


def join(prefix: str, name: str | int) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


def as_object(value: object, field: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise PayloadInvalid("expected an object", field=field)
    return cast(Mapping[str, object], value)


def identifier(value: object, field: str, limit: int = MAX_ID_LENGTH) -> str:
    """An id given as a string or an integer (CRMs use both), 1 to ``limit`` characters."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadInvalid("expected an id (string or integer)", field=field)
    text_value = str(value).strip()
    if not text_value or len(text_value) > limit or not text_value.isprintable():
        raise PayloadInvalid(f"expected an id of 1 to {limit} printable characters", field=field)
    return text_value


def optional_identifier(value: object, field: str, limit: int = MAX_ID_LENGTH) -> str | None:
    if value is None or value == "":
        return None
    return identifier(value, field, limit)


def storable(value: str) -> bool:
    """Whether ``value`` can be stored as text: no NUL (PostgreSQL refuses it in text) and no
    lone UTF-16 surrogate (JSON's ``\\ud800`` escapes decode to one; no database encodes it).
    A delivery holding such a value could never be applied, so it is refused before it is
    acknowledged."""
    return "\x00" not in value and not _SURROGATE.search(value)


def text(value: object, field: str, limit: int = MAX_TEXT_LENGTH) -> str | None:
    """Free text (a deal name, a stage label, an owner); empty is ``None``, long is cut (by
    code point). Raises :class:`PayloadInvalid` for text that cannot be stored."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadInvalid("expected a string", field=field)
    text_value = str(value).strip()
    if not storable(text_value):
        raise PayloadInvalid("holds a NUL character or a lone UTF-16 surrogate", field=field)
    return text_value[:limit] or None


def amount(value: object, field: str) -> Decimal | None:
    """A money amount from a number or a numeric string; empty is ``None``. Negative amounts
    (refund adjustments) are allowed, NaN, infinities and absurd sizes are not."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
        raise PayloadInvalid("expected a number", field=field)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise PayloadInvalid("expected a number", field=field) from None
    if not number.is_finite() or abs(number) >= MAX_ABS_AMOUNT:
        raise PayloadInvalid("expected a finite amount below 10^12", field=field)
    return number


def currency(value: object, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _CURRENCY.match(value.strip()):
        raise PayloadInvalid("expected a three-letter ISO 4217 code such as EUR", field=field)
    return value.strip().upper()


def email(value: object) -> str | None:
    """A lower-cased email address, or ``None`` when ``value`` is not one. CRMs hold
    hand-typed contact data; a bad address must not block the deal, so it is dropped."""
    if not isinstance(value, str):
        return None
    address = value.strip().lower()
    if len(address) > MAX_EMAIL_LENGTH or not _EMAIL.match(address) or not storable(address):
        return None
    return address


def phone(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    number = str(value).strip()
    if not storable(number):
        return None
    return number[:MAX_PHONE_LENGTH] or None


def boolean(value: object, field: str) -> bool:
    """A boolean, also from the strings ``"true"``/``"false"`` that SOAP and HubSpot send."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise PayloadInvalid("expected true or false", field=field)


def epoch(value: object, field: str, *, milliseconds: bool) -> dt.datetime:
    """A Unix time in seconds or milliseconds (integer or digit string) as aware UTC."""
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise PayloadInvalid("expected a Unix time", field=field)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise PayloadInvalid("expected a Unix time", field=field) from None
    seconds = number / 1000 if milliseconds else number
    if not number.is_finite() or not _MIN_EPOCH_S <= seconds <= _MAX_EPOCH_S:
        unit = "milliseconds" if milliseconds else "seconds"
        raise PayloadInvalid(f"expected a Unix time in {unit} between 2000 and 2100", field=field)
    whole = int(seconds)
    micros = int((seconds - whole) * 1_000_000)
    return dt.datetime.fromtimestamp(whole, dt.UTC) + dt.timedelta(microseconds=micros)


def iso_datetime(value: object, field: str, *, naive_is_utc: bool = False) -> dt.datetime:
    """An ISO-8601 date-time (``Z`` allowed). Without an offset it is refused, unless the
    provider documents its naive times as UTC (``naive_is_utc``). A bare date is midnight UTC."""
    if not isinstance(value, str) or not value.strip():
        raise PayloadInvalid("expected an ISO-8601 date-time", field=field)
    raw = value.strip()
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise PayloadInvalid("expected an ISO-8601 date-time", field=field) from None
    if parsed.utcoffset() is None:
        if not naive_is_utc:
            raise PayloadInvalid("expected a date-time with a time zone offset", field=field)
        parsed = parsed.replace(tzinfo=dt.UTC)
    if not 2000 <= parsed.year < 2100:
        raise PayloadInvalid("expected a date-time between 2000 and 2100", field=field)
    return parsed.astimezone(dt.UTC)


def optional_iso_datetime(
    value: object, field: str, *, naive_is_utc: bool = False
) -> dt.datetime | None:
    if value is None or value == "":
        return None
    return iso_datetime(value, field, naive_is_utc=naive_is_utc)
