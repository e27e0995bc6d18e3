"""Bounded parsing of collector batches into frozen value objects.

Every limit is a named constant; every refusal is a :class:`ValidationError` naming the field
(``events.3.url``). Nothing here touches the database, so the whole batch is checked before
anything of it is written. ``now`` is injected, never read from the clock here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tracker.errors import PayloadTooLarge, Unauthorized, ValidationError
from tracker.rules.channels import CLICK_ID_PARAMS, UTM_PARAMS
from tracker.validation import (
    EARLIEST_DATE,
    LATEST_DATE,
    RuleRefused,
    check_choice,
    check_json_values,
    check_text,
    load_json_object,
)

MAX_BODY_BYTES = 65_536
MAX_EVENTS = 100
MAX_URL_LENGTH = 2048
MAX_TITLE_LENGTH = 200
MAX_NAME_LENGTH = 100
MAX_PROPS = 20
MAX_PROPS_BYTES = 2048
MAX_PROP_KEY_LENGTH = 64
MAX_LANGUAGE_LENGTH = 35
MAX_TOUCH_VALUE_LENGTH = 500
MAX_SCREEN = 20_000
# Events may be retried from storage days later, but never from before the retention a
# session could still absorb them, nor meaningfully from the future.
MAX_EVENT_AGE = dt.timedelta(days=30)
MAX_CLOCK_AHEAD = dt.timedelta(minutes=10)

EVENT_TYPES = frozenset({"pageview", "custom", "form_submit", "identify"})
_EARLIEST_MS = 0
LATEST_MS = int(dt.datetime.combine(LATEST_DATE, dt.time.max, dt.UTC).timestamp() * 1000)
_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_LANGUAGE = re.compile(r"^[A-Za-z0-9-]{1,35}$")
_BATCH_KEYS = frozenset({"k", "vid", "sent_at", "consent", "events"})
_EVENT_KEYS = frozenset(
    {"id", "type", "ts", "url", "ref", "title", "sw", "sh", "lang", "name", "props", "touch"}
)
_TOUCH_KEYS = frozenset({*UTM_PARAMS, "click_id_kind", "click_id", "seen_at", "ref", "url"})


@dataclass(frozen=True, slots=True)
class LandingTouch:
    """The landing touch the snippet captured (UTMs, click id, first-seen time)."""

    utm: Mapping[str, str]
    click_id_kind: str | None
    click_id: str | None
    seen_at: dt.datetime | None
    referrer: str | None
    url: str | None


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    id: str
    type: str
    occurred_at: dt.datetime
    url: str | None
    referrer: str | None
    title: str | None
    screen_width: int | None
    screen_height: int | None
    language: str | None
    name: str | None
    props: Mapping[str, Any]
    touch: LandingTouch | None


@dataclass(frozen=True, slots=True)
class Batch:
    write_key: str
    visitor_id: str
    consent: bool | None
    events: tuple[IncomingEvent, ...]
    received_at: dt.datetime = field(compare=False)


def decode_body(body: bytes, max_bytes: int = MAX_BODY_BYTES) -> Mapping[str, Any]:
    """JSON object from a raw body (text/plain from sendBeacon is JSON too), under the shared
    rules of :mod:`tracker.validation` (depth, storable text, finite numbers)."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"body is {len(body)} bytes; the limit is {max_bytes}", field="body")
    return load_json_object(body)


def _unknown_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ValidationError("unknown field", field=f"{where}{key}")


def _string(value: Any, field_name: str, max_length: int, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise ValidationError("required", field=field_name)
        return None
    if not isinstance(value, str):
        raise ValidationError("expected a string", field=field_name)
    if len(value) > max_length:
        raise ValidationError(f"longer than {max_length} characters", field=field_name)
    return check_text(value, field_name)  # the pixel's query strings come here undecoded


def _identifier(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise ValidationError("expected 8 to 64 characters of A-Z a-z 0-9 . _ -", field=field_name)
    return value


def parse_visitor_id(value: Any) -> str:
    return _identifier(value, "vid")


def require_text(data: Mapping[str, Any], key: str, max_length: int = 64) -> str:
    text = _string(data.get(key), key, max_length, required=True)
    assert text is not None
    return text


def _url(value: Any, field_name: str, required: bool = False) -> str | None:
    text = _string(value, field_name, MAX_URL_LENGTH, required)
    if text is None:
        return None
    if not text.startswith(("http://", "https://")) or len(text) < 10:
        raise ValidationError("expected an absolute http(s) URL", field=field_name)
    return text


def _millis(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("expected Unix time in milliseconds", field=field_name)
    # Inside the shared date window, so adding a clock skew can never overflow a datetime.
    if not _EARLIEST_MS < value < LATEST_MS:
        raise ValidationError(
            f"expected Unix time in milliseconds from {EARLIEST_DATE} to {LATEST_DATE}",
            field=field_name,
        )
    return int(value)


def _screen(value: Any, field_name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():  # 1920.0 is a JSON integer too
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SCREEN:
        raise ValidationError(f"expected a whole number from 0 to {MAX_SCREEN}", field=field_name)
    return value


def _props(value: Any, field_name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("expected an object", field=field_name)
    if len(value) > MAX_PROPS:
        raise ValidationError(f"more than {MAX_PROPS} properties", field=field_name)
    for key, item in value.items():
        if len(key) > MAX_PROP_KEY_LENGTH:
            raise ValidationError("property name too long", field=f"{field_name}.{key[:20]}")
        if item is not None and not isinstance(item, str | int | float | bool):
            raise ValidationError(
                "expected a string, number or boolean", field=f"{field_name}.{key}"
            )
    check_json_values(value, field_name)
    if len(json.dumps(value)) > MAX_PROPS_BYTES:
        raise RuleRefused(f"larger than {MAX_PROPS_BYTES} bytes", field=field_name)
    return dict(value)


def _touch(value: Any, field_name: str, skew: dt.timedelta) -> LandingTouch | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("expected an object", field=field_name)
    _unknown_keys(value, _TOUCH_KEYS, f"{field_name}.")
    utm = {}
    for param in UTM_PARAMS:
        text = _string(value.get(param), f"{field_name}.{param}", MAX_TOUCH_VALUE_LENGTH)
        if text is not None:
            utm[param] = text
    kind = _string(value.get("click_id_kind"), f"{field_name}.click_id_kind", 16)
    if kind is not None and kind not in CLICK_ID_PARAMS:
        raise ValidationError("not a known click id parameter", field=f"{field_name}.click_id_kind")
    click_id = _string(value.get("click_id"), f"{field_name}.click_id", MAX_TOUCH_VALUE_LENGTH)
    if (kind is None) != (click_id is None):
        raise ValidationError(
            "click_id and click_id_kind go together", field=f"{field_name}.click_id"
        )
    seen_at = None
    if value.get("seen_at") is not None:
        seen_at = _from_millis(_millis(value["seen_at"], f"{field_name}.seen_at")) + skew
    return LandingTouch(
        utm=utm,
        click_id_kind=kind,
        click_id=click_id,
        seen_at=seen_at,
        referrer=_url(value.get("ref"), f"{field_name}.ref"),
        url=_url(value.get("url"), f"{field_name}.url"),
    )


def _from_millis(millis: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)


def _event(data: Any, index: int, now: dt.datetime, skew: dt.timedelta) -> IncomingEvent:
    where = f"events.{index}"
    if not isinstance(data, dict):
        raise ValidationError("expected an object", field=where)
    _unknown_keys(data, _EVENT_KEYS, f"{where}.")
    event_type = check_choice(data.get("type"), EVENT_TYPES, f"{where}.type")
    occurred_at = _from_millis(_millis(data.get("ts"), f"{where}.ts")) + skew
    if occurred_at < now - MAX_EVENT_AGE:
        raise RuleRefused("older than 30 days", field=f"{where}.ts")
    if occurred_at > now + MAX_CLOCK_AHEAD:
        raise RuleRefused("in the future", field=f"{where}.ts")
    name = _string(data.get("name"), f"{where}.name", MAX_NAME_LENGTH, event_type == "custom")
    language = _string(data.get("lang"), f"{where}.lang", MAX_LANGUAGE_LENGTH)
    if language is not None and not _LANGUAGE.match(language):
        raise ValidationError("expected a language tag such as en-GB", field=f"{where}.lang")
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        raise ValidationError("expected a string", field=f"{where}.title")
    if title:
        check_text(title, f"{where}.title")
    return IncomingEvent(
        id=_identifier(data.get("id"), f"{where}.id"),
        type=event_type,
        occurred_at=occurred_at,
        url=_url(data.get("url"), f"{where}.url", required=event_type == "pageview"),
        referrer=_url(data.get("ref"), f"{where}.ref"),
        title=title[:MAX_TITLE_LENGTH] if title else None,
        screen_width=_screen(data.get("sw"), f"{where}.sw"),
        screen_height=_screen(data.get("sh"), f"{where}.sh"),
        language=language,
        name=name,
        props=_props(data.get("props"), f"{where}.props"),
        touch=_touch(data.get("touch"), f"{where}.touch", skew),
    )


def parse_batch(
    data: Mapping[str, Any], now: dt.datetime, query_write_key: str | None = None
) -> Batch:
    """Validate a decoded ``/collect`` body; see docs/collect-protocol.md."""
    _unknown_keys(data, _BATCH_KEYS, "")
    write_key = _string(data.get("k") or query_write_key, "k", 64)
    if write_key is None:
        raise Unauthorized("a write key is required: k in the body or the query", field="k")
    visitor_id = _identifier(data.get("vid"), "vid")
    consent = data.get("consent")
    if consent is not None and not isinstance(consent, bool):
        raise ValidationError("expected true or false", field="consent")
    skew = dt.timedelta(0)
    if data.get("sent_at") is not None:
        sent_at = _from_millis(_millis(data["sent_at"], "sent_at"))
        skew = now - sent_at
        # A skew under a few seconds is network delay, not a wrong clock.
        if abs(skew) < dt.timedelta(seconds=5):
            skew = dt.timedelta(0)
    events = data.get("events")
    if not isinstance(events, list) or not events:
        raise ValidationError("expected a non-empty list", field="events")
    if len(events) > MAX_EVENTS:
        raise ValidationError(f"more than {MAX_EVENTS} events in one batch", field="events")
    parsed = tuple(_event(item, index, now, skew) for index, item in enumerate(events))
    if len({event.id for event in parsed}) != len(parsed):
        raise RuleRefused("the same event id twice in one batch", field="events")
    return Batch(
        write_key=write_key, visitor_id=visitor_id, consent=consent, events=parsed, received_at=now
    )
