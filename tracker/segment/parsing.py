"""Bounded parsing of Segment HTTP Tracking API requests into frozen value objects.

The wire format is Segment's (../shared/research/protocols.md §7): one message per request on
``/v1/{track,page,identify,alias,screen,group}`` (and analytics.js's one-letter paths), or
``{"batch": [...]}`` on ``/v1/batch`` and ``/v1/b``; the write key as the basic-auth user or
``writeKey`` in the body; gzip bodies; 32 KB per message and 500 KB per request.

Everything is checked before anything is written: a refusal is a :class:`ValidationError`
naming the field (``batch.3.timestamp``). Nothing here touches the database; ``now`` is
injected. Imports only the ground floor (errors, validation, identity's pure parsers).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# URL, touch and property-key lengths and the event time window are /collect's: a session
# can still absorb events that old, and later ones are a wrong clock.
from tracker.collect.parsing import (
    MAX_CLOCK_AHEAD,
    MAX_EVENT_AGE,
    MAX_PROP_KEY_LENGTH,
    MAX_TOUCH_VALUE_LENGTH,
    MAX_URL_LENGTH,
)
from tracker.errors import Unauthorized, ValidationError
from tracker.leads.identity import Identity, clean_text, normalise_phone
from tracker.validation import (
    RuleRefused,
    check_text,
    load_json_object,
    normalise_email,
    parse_datetime,
)

# Segment's limits: a request over them is a 400, as Segment answers.
MAX_MESSAGE_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
MAX_ID_LENGTH = 256
MAX_EVENT_NAME_LENGTH = 100
MAX_TITLE_LENGTH = 200
MAX_PROPS = 20
MAX_PROP_TEXT_LENGTH = 500
# A skew under a few seconds is network delay, not a wrong clock (as for /collect).
SKEW_IGNORED = dt.timedelta(seconds=5)

# The paths analytics.js uses are the first letter of the type.
PATH_TYPES = {
    "track": "track", "t": "track",
    "page": "page", "p": "page",
    "identify": "identify", "i": "identify",
    "alias": "alias", "a": "alias",
    "screen": "screen", "s": "screen",
    "group": "group", "g": "group",
}
MESSAGE_TYPES = frozenset(PATH_TYPES.values())
# The message fields of Segment's spec and of its libraries' envelopes; anything else is
# refused by name. context, properties and traits are free-form by the spec.
_MESSAGE_KEYS = frozenset({
    "type", "messageId", "anonymousId", "userId", "context", "integrations", "timestamp",
    "originalTimestamp", "sentAt", "receivedAt", "event", "properties", "traits", "name",
    "category", "previousId", "groupId", "writeKey", "_metadata", "channel", "version",
    "options",
})
_BATCH_KEYS = frozenset({"batch", "writeKey", "sentAt", "context", "integrations",
                         "_metadata", "metadata"})
# The visitor of a message naming only a userId, until one of that user's browsers is known.
USER_ONLY_PREFIX = "su-"
_OUR_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_WRITE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CAMPAIGN_UTM = {
    "source": "utm_source", "medium": "utm_medium", "name": "utm_campaign",
    "term": "utm_term", "content": "utm_content",
}


@dataclass(frozen=True, slots=True)
class PageContext:
    url: str | None
    referrer: str | None
    title: str | None


@dataclass(frozen=True, slots=True)
class SegmentMessage:
    """One Segment message, reduced to what LeadTrail stores."""

    index: int
    type: str
    event_id: str  # the messageId, or a digest of it that fits our event ids
    visitor_id: str  # the anonymousId (or a digest), else a digest of the userId
    user_id: str | None
    occurred_at: dt.datetime
    page: PageContext
    utm: Mapping[str, str]
    name: str | None  # the track event, or the page's name
    props: Mapping[str, str | int | float | bool | None]
    identity: Identity | None  # an identify naming an email
    previous_visitor_id: str | None  # alias
    user_agent: str | None
    ip: str | None
    consent: bool | None


@dataclass(frozen=True, slots=True)
class SegmentRequest:
    write_key: str
    messages: tuple[SegmentMessage, ...]


def decode_body(raw: bytes, content_encoding: str | None) -> dict[str, Any]:
    """The JSON object of a request body, gunzipped when sent with ``Content-Encoding: gzip``;
    at most :data:`MAX_REQUEST_BYTES` once decompressed (a gzip bomb is refused, not expanded).
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(raw, MAX_REQUEST_BYTES + 1)
        except zlib.error:
            raise ValidationError("not valid gzip", field="body") from None
        if len(body) > MAX_REQUEST_BYTES or inflater.unconsumed_tail:
            raise ValidationError(
                f"larger than {MAX_REQUEST_BYTES} bytes decompressed", field="body"
            )
        if not inflater.eof:
            raise ValidationError("truncated gzip", field="body")
    elif encoding == "identity":
        body = raw
    else:
        raise ValidationError("expected gzip or none", field="Content-Encoding")
    if len(body) > MAX_REQUEST_BYTES:
        raise ValidationError(f"larger than {MAX_REQUEST_BYTES} bytes", field="body")
    return load_json_object(body)


def write_key_from_basic_auth(header: str | None) -> str | None:
    """The user of ``Authorization: Basic base64(writeKey:)``; None without a basic header."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValidationError("not valid basic credentials", field="Authorization") from None
    return decoded.partition(":")[0] or None


def _write_key(body_key: Any, auth_key: str | None) -> str:
    if body_key is not None and not isinstance(body_key, str):
        raise ValidationError("expected a string", field="writeKey")
    if body_key and auth_key and body_key != auth_key:
        raise ValidationError("differs from the basic-auth user", field="writeKey")
    key = body_key or auth_key
    if not key:
        raise Unauthorized("a write key is required: as the basic-auth user or in the body",
                           field="writeKey")
    if not _WRITE_KEY.match(key):
        raise ValidationError("not a write key", field="writeKey")
    return str(key)


def _text(value: Any, field: str, max_length: int, *, truncate: bool = False) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError("expected a string", field=field)
    if len(value) > max_length:
        if not truncate:
            raise ValidationError(f"longer than {max_length} characters", field=field)
        value = value[:max_length]
    return check_text(value, field)


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("expected an object", field=field)
    return value


def _identifier(value: Any, field: str) -> str | None:
    """Segment ids may be strings or numbers (libraries stringify them)."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():  # 42.0 is a JSON integer too
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError("expected a string", field=field)
    return _text(str(value), field, MAX_ID_LENGTH)


def _fitting_id(raw: str, kind: str) -> str:
    """``raw`` when it is already a valid event or visitor id of ours (analytics.js's UUIDs and
    ``ajs-next-…`` ids are), else a stable digest of it: retries still deduplicate."""
    if _OUR_ID.match(raw):
        return raw
    return f"{kind}-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _time(value: Any, field: str) -> dt.datetime | None:
    if value is None or value == "":
        return None
    # Segment reads no zone as UTC; the shared window (a 400) applies before any relative rule.
    return parse_datetime(value, field, naive_is_utc=True)


def _url(value: Any, field: str) -> str | None:
    """An absolute http(s) URL, or None: Segment sends app and relative referrers too
    (``android-app://…``), which name no web source."""
    text = _text(value, field, MAX_URL_LENGTH)
    if text is None or not text.startswith(("http://", "https://")) or len(text) < 10:
        return None
    return text


def _page(kind: str, properties: Mapping[str, Any], context: Mapping[str, Any],
          where: str) -> PageContext:
    page = _object(context.get("page"), f"{where}context.page")
    # A page call's own properties describe the page; other calls carry it in context.
    own = properties if kind == "page" else {}
    prefix = f"{where}properties" if kind == "page" else f"{where}context.page"

    def pick(key: str) -> tuple[Any, str]:
        if own.get(key) not in (None, ""):
            return own[key], f"{prefix}.{key}"
        return page.get(key), f"{where}context.page.{key}"

    return PageContext(
        url=_url(*pick("url")),
        referrer=_url(*pick("referrer")),
        title=_text(*pick("title"), MAX_TITLE_LENGTH, truncate=True),
    )


def _campaign(context: Mapping[str, Any], where: str) -> dict[str, str]:
    campaign = _object(context.get("campaign"), f"{where}context.campaign")
    utm = {}
    for key, param in _CAMPAIGN_UTM.items():
        value = campaign.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        text = _text(value, f"{where}context.campaign.{key}", MAX_TOUCH_VALUE_LENGTH)
        if text is not None:
            utm[param] = text
    return utm


def _props(value: Any, field: str) -> dict[str, str | int | float | bool | None]:
    """The flat properties an event keeps (as /collect's): up to 20 scalars; nested values
    and the rest are Segment's to keep, not ours."""
    props: dict[str, str | int | float | bool | None] = {}
    for key, item in _object(value, field).items():
        if len(props) >= MAX_PROPS or len(key) > MAX_PROP_KEY_LENGTH:
            continue
        if isinstance(item, str):
            props[key] = item[:MAX_PROP_TEXT_LENGTH]
        elif item is None or isinstance(item, int | float | bool):
            props[key] = item
    return props


def _identity(traits: Mapping[str, Any], where: str) -> Identity | None:
    """Contact details from identify traits (Segment's reserved traits), when an email is
    among them: the lead's key, as for /identify."""
    if traits.get("email") in (None, ""):
        return None
    name = traits.get("name")
    if name in (None, "") and (traits.get("firstName") or traits.get("lastName")):
        first, last = traits.get("firstName") or "", traits.get("lastName") or ""
        if not isinstance(first, str) or not isinstance(last, str):
            raise ValidationError("expected a string", field=f"{where}traits.firstName")
        name = f"{first} {last}".strip()
    company = traits.get("company")
    if isinstance(company, dict):  # Segment's reserved company trait is an object
        company = company.get("name")
    return Identity(
        email=normalise_email(traits.get("email"), f"{where}traits.email"),
        name=clean_text(name, f"{where}traits.name"),
        phone=normalise_phone(traits.get("phone"), f"{where}traits.phone"),
        company=clean_text(company, f"{where}traits.company"),
    )


def _consent(context: Mapping[str, Any], where: str) -> bool | None:
    """Segment's consent object: granted when any category is; absent says nothing."""
    consent = _object(context.get("consent"), f"{where}context.consent")
    preferences = _object(
        consent.get("categoryPreferences"), f"{where}context.consent.categoryPreferences"
    )
    if not preferences:
        return None
    return any(value is True for value in preferences.values())


def _occurred_at(message: Mapping[str, Any], where: str, now: dt.datetime,
                 batch_sent_at: dt.datetime | None) -> dt.datetime:
    """Segment's rule: ``timestamp = receivedAt − (sentAt − originalTimestamp)``; a message
    with neither time happened when it was received."""
    moment = (_time(message.get("timestamp"), f"{where}timestamp")
              or _time(message.get("originalTimestamp"), f"{where}originalTimestamp"))
    sent_at = _time(message.get("sentAt"), f"{where}sentAt") or batch_sent_at
    if moment is None:
        return now
    if sent_at is not None and abs(now - sent_at) >= SKEW_IGNORED:
        moment += now - sent_at
    if moment < now - MAX_EVENT_AGE:
        raise RuleRefused("older than 30 days", field=f"{where}timestamp")
    if moment > now + MAX_CLOCK_AHEAD:
        raise RuleRefused("in the future", field=f"{where}timestamp")
    return moment


def _message(raw: Any, index: int, path_type: str | None, now: dt.datetime,
             batch_sent_at: dt.datetime | None, shared: Mapping[str, Any]) -> SegmentMessage:
    # Fields are named by their path: ``batch.3.timestamp``, or ``timestamp`` alone.
    where = f"batch.{index}." if path_type is None else ""
    whole = where.rstrip(".") or "body"
    if not isinstance(raw, dict):
        raise ValidationError("expected an object", field=whole)
    if len(json.dumps(raw)) > MAX_MESSAGE_BYTES:
        raise ValidationError(f"larger than {MAX_MESSAGE_BYTES} bytes", field=whole)
    for key in raw:
        if key not in _MESSAGE_KEYS:
            raise ValidationError("unknown field", field=f"{where}{key}")
    kind = raw.get("type") or path_type
    if kind not in MESSAGE_TYPES:
        raise ValidationError(
            f"expected one of {', '.join(sorted(MESSAGE_TYPES))}", field=f"{where}type"
        )
    if path_type is not None and kind != path_type:  # /v1/t with a page message
        raise RuleRefused(f"this path takes {path_type} messages", field=f"{where}type")
    # Batch-level context is merged under each message's own (Segment's rule).
    context = {**_object(shared.get("context"), "context"),
               **_object(raw.get("context"), f"{where}context")}
    anonymous_id = _identifier(raw.get("anonymousId"), f"{where}anonymousId")
    user_id = _identifier(raw.get("userId"), f"{where}userId")
    if anonymous_id is None and user_id is None:
        raise ValidationError("anonymousId or userId is required", field=f"{where}anonymousId")
    visitor_id = (_fitting_id(anonymous_id, "sa") if anonymous_id is not None
                  else USER_ONLY_PREFIX + hashlib.sha256(f"{user_id}".encode()).hexdigest()[:40])
    message_id = _identifier(raw.get("messageId"), f"{where}messageId")
    if message_id is None:
        # Segment assigns one; ours is a digest of the message, so a retry keeps it.
        message_id = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    properties = _object(raw.get("properties"), f"{where}properties")
    traits = {**_object(context.get("traits"), f"{where}context.traits"),
              **_object(raw.get("traits"), f"{where}traits")}
    name = None
    if kind == "track":
        name = _text(raw.get("event"), f"{where}event", MAX_EVENT_NAME_LENGTH)
        if name is None:
            raise RuleRefused("required for a track call", field=f"{where}event")
    elif kind in {"page", "screen"}:
        name = _text(raw.get("name"), f"{where}name", MAX_EVENT_NAME_LENGTH, truncate=True)
    previous = None
    if kind == "alias":
        previous_id = _identifier(raw.get("previousId"), f"{where}previousId")
        if previous_id is None or user_id is None:
            raise RuleRefused("an alias needs previousId and userId", field=f"{where}previousId")
        previous = _fitting_id(previous_id, "sa")
    return SegmentMessage(
        index=index,
        type=kind,
        event_id=_fitting_id(message_id, "sm"),
        visitor_id=visitor_id,
        user_id=user_id,
        occurred_at=_occurred_at(raw, where, now, batch_sent_at),
        page=_page(kind, properties, context, where),
        utm=_campaign(context, where),
        name=name,
        props=_props(properties, f"{where}properties") if kind == "track" else {},
        identity=_identity(traits, where) if kind == "identify" else None,
        previous_visitor_id=previous,
        user_agent=_text(context.get("userAgent"), f"{where}context.userAgent", 1000,
                         truncate=True),
        ip=_text(context.get("ip"), f"{where}context.ip", 64),
        consent=_consent(context, where),
    )


def parse_request(body: Mapping[str, Any], path_type: str | None, auth_key: str | None,
                  now: dt.datetime) -> SegmentRequest:
    """A decoded body of ``/v1/batch`` (``path_type`` None) or of a one-message path."""
    write_key = _write_key(body.get("writeKey"), auth_key)
    # Which paths take a batch is a relation between the path and the body: a 422.
    if (path_type is None) != ("batch" in body):
        raise RuleRefused("a batch goes to /v1/batch or /v1/b, one message to the "
                                   "path of its type", field="batch")
    if path_type is None:
        for key in body:
            if key not in _BATCH_KEYS:
                raise ValidationError("unknown field", field=key)
        items = body.get("batch")
        if not isinstance(items, list) or not items:
            raise ValidationError("expected a non-empty list", field="batch")
        shared: Mapping[str, Any] = body
    else:
        items, shared = [body], {}
    sent_at = _time(body.get("sentAt"), "sentAt")
    messages = tuple(
        _message(item, index, path_type, now, sent_at, shared)
        for index, item in enumerate(items)
    )
    return SegmentRequest(write_key=write_key, messages=messages)
