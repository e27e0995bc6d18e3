"""The request bodies of ``/api/openapi.json`` (``components.schemas``), built from the parsers'
own limits so the document and the validation cannot drift apart. Imports parsers' constants
only; no route, no database.

A schema describes what a parser accepts; anything else is a 400 naming the field. The fuzzing
gate (tests/api/test_fuzz_openapi.py) sends bodies that fit and bodies that do not.
"""

from __future__ import annotations

from typing import Any

from crm_sync.providers import generic
from tracker.calls.config import MAX_NUMBERS, MAX_POOLS, MAX_SECRETS, SCOPES
from tracker.collect import parsing
from tracker.costs import service as costs
from tracker.destinations import settings as destinations
from tracker.leads.service import OFFLINE_KINDS
from tracker.leads.stages import STAGES
from tracker.rules.channels import CLICK_ID_PARAMS, UTM_PARAMS
from tracker.segment import parsing as segment
from tracker.segment.parsing import MESSAGE_TYPES
from tracker.validation import EARLIEST_DATE, LATEST_DATE, MAX_JSON_INTEGER

Schema = dict[str, Any]

# tracker/validation.py check_text: no text the API takes may hold NUL (nor a lone UTF-16
# surrogate, which UTF-8 JSON cannot carry). :func:`storable` puts this on every string.
STORABLE = "^[^\\u0000]*$"
NULL_TEXT: Schema = {"type": ["string", "null"]}
MILLIS: Schema = {
    "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": parsing.LATEST_MS,
    "description": f"Unix time in milliseconds, {EARLIEST_DATE} to {LATEST_DATE}",
}
# The date window (tracker/validation.py) as a pattern: a calendar date, 1970-01-01 to
# 2199-12-31. Days 29 to 31 are left out so the pattern never admits an impossible date.
_DAY = "(19[7-9][0-9]|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
# A time with its UTC offset, one day inside the window on either side (the offset moves it).
_TIME = ("(197[1-9]|19[89][0-9]|20[0-9]{2}|21[0-8][0-9]|219[0-8])-(0[1-9]|1[0-2])-"
         "(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?"
         "(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])")
TIME: Schema = {"type": "string", "pattern": f"^{_TIME}$",
                "description": "ISO 8601 with a zone (Z or +hh:mm), "
                               f"{EARLIEST_DATE} to {LATEST_DATE}"}
DAY: Schema = {"type": "string", "pattern": f"^{_DAY}$",
               "description": f"YYYY-MM-DD, {EARLIEST_DATE} to {LATEST_DATE}"}
IDENTIFIER: Schema = {"type": "string", "pattern": "^[A-Za-z0-9._-]{8,64}$"}
# tracker/collect/parsing.py _url: empty (none), or http(s):// and at least 10 characters.
URL: Schema = {"type": ["string", "null"], "maxLength": parsing.MAX_URL_LENGTH,
               "pattern": "^(https?://[^\\u0000]{3,})?$",
               "description": "an absolute http(s) URL"}
# tracker/validation.py normalise_email, on the address as sent.
# Python's \s also matches \x1c-\x1f and \x85, which the document's (ECMA) \s does not;
# İ lower-cases to two characters.
_EMAIL_CHARACTER = "[^@\\s\\u0000\\u001c-\\u001f\\u0085\\u0130]"
EMAIL_PATTERN = f"^{_EMAIL_CHARACTER}{{1,64}}@{_EMAIL_CHARACTER}{{1,64}}\\.[A-Za-z0-9-]{{2,63}}$"
# tracker/leads/identity.py normalise_phone: 7 to 15 digits among any other characters (spaces,
# dashes, brackets: dropped), with + only before the first digit; or nothing.
_PHONE_OTHER = "[^0-9+\\u0000]*"
PHONE_PATTERN = f"^({_PHONE_OTHER}(\\+{_PHONE_OTHER})*([0-9]{_PHONE_OTHER}){{7,15}})?$"
# Any JSON value the shared rules accept (tracker/validation.py check_json_values): storable
# text in keys and strings, integers that fit 64 bits; nested at most 32 levels.
JSON_VALUE: Schema = {"$ref": "#/components/schemas/JsonValue"}
_JSON_VALUE_DEFINITION: Schema = {"anyOf": [
    {"type": ["string", "boolean", "null"]},
    {"type": "integer", "minimum": -MAX_JSON_INTEGER, "maximum": MAX_JSON_INTEGER},
    {"type": "number", "not": {"type": "integer"}},
    {"type": "array", "items": JSON_VALUE},
    {"type": "object", "additionalProperties": JSON_VALUE},
]}
FREE_OBJECT: Schema = {"type": "object", "description": "free-form by the specification",
                       "additionalProperties": JSON_VALUE}


def _text(max_length: int, nullable: bool = True) -> Schema:
    return {"type": ["string", "null"] if nullable else "string", "maxLength": max_length}


def _object(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    """A closed object: the parsers refuse unknown keys by name."""
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


_TOUCH = {
    **_object({
        **{param: _text(parsing.MAX_TOUCH_VALUE_LENGTH) for param in UTM_PARAMS},
        "click_id_kind": {"enum": [*sorted(CLICK_ID_PARAMS), None]},
        "click_id": _text(parsing.MAX_TOUCH_VALUE_LENGTH),
        "seen_at": {**MILLIS, "type": ["number", "null"]},
        "ref": URL,
        "url": URL,
    }),
    # A click id comes with its kind, or neither is sent.
    "anyOf": [
        {"properties": {"click_id_kind": {"type": "null"}, "click_id": {"enum": [None, ""]}}},
        {"required": ["click_id_kind", "click_id"],
         "properties": {"click_id_kind": {"type": "string"},
                        "click_id": {"type": "string", "minLength": 1}}},
    ],
}

EVENT = _object(
    {
        "id": IDENTIFIER,
        "type": {"enum": sorted(parsing.EVENT_TYPES)},
        "ts": MILLIS,
        "url": URL,
        "ref": URL,
        "title": {**NULL_TEXT, "description": "cut at 200 code points, not refused"},
        "sw": {"type": ["integer", "null"], "minimum": 0, "maximum": parsing.MAX_SCREEN},
        "sh": {"type": ["integer", "null"], "minimum": 0, "maximum": parsing.MAX_SCREEN},
        "lang": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9-]{0,35}$"},
        "name": _text(parsing.MAX_NAME_LENGTH),
        "props": {
            "type": ["object", "null"],
            "maxProperties": parsing.MAX_PROPS,
            "propertyNames": {"maxLength": parsing.MAX_PROP_KEY_LENGTH},
            "additionalProperties": {"anyOf": [
                {"type": ["string", "boolean", "null"]},
                {"type": "integer", "minimum": -MAX_JSON_INTEGER, "maximum": MAX_JSON_INTEGER},
                {"type": "number", "not": {"type": "integer"}},
            ]},
            "description": f"at most {parsing.MAX_PROPS_BYTES} bytes as JSON (else 422)",
        },
        "touch": {"anyOf": [_TOUCH, {"type": "null"}]},
    },
    ("id", "type", "ts"),
)
# A page view has its URL, a custom event its name.
EVENT["anyOf"] = [
    {"properties": {"type": {"enum": sorted(parsing.EVENT_TYPES - {"custom", "pageview"})}}},
    {"properties": {"type": {"const": "pageview"}, "url": {"type": "string", "minLength": 10}},
     "required": ["url"]},
    {"properties": {"type": {"const": "custom"}, "name": {"type": "string", "minLength": 1}},
     "required": ["name"]},
]
EVENT["description"] = ("ts within the last 30 days and at most 10 minutes ahead, after the "
                        "batch's clock correction (else 422)")

_SNIPPET_ENVELOPE: dict[str, Schema] = {
    "k": {"type": "string", "maxLength": 64,
          "description": "the site's write key (or ?k=); without either, a 401"},
    "vid": IDENTIFIER,
    "sent_at": {**MILLIS, "description": "client clock at sending (corrects clock skew)"},
    "consent": {"type": ["boolean", "null"]},
}

BATCH = _object(
    {
        **_SNIPPET_ENVELOPE,
        "events": {"type": "array", "minItems": 1, "maxItems": parsing.MAX_EVENTS,
                   "items": EVENT, "description": "each id once (else 422)"},
    },
    ("vid", "events"),
)

IDENTIFY = _object(
    {
        **_SNIPPET_ENVELOPE,
        "id": IDENTIFIER,
        "ts": MILLIS,
        "url": URL,
        "ref": URL,
        "title": NULL_TEXT,
        "email": {"type": "string", "pattern": EMAIL_PATTERN, "maxLength": 254},
        "name": _text(200),
        "phone": {**_text(40), "pattern": PHONE_PATTERN},
        "company": _text(200),
        "form": {"anyOf": [
            _object({key: _text(200) for key in ("id", "name", "action")}),
            {"type": "null"},
        ]},
        # The ad platforms' browser cookies, for conversions sent out (docs/destinations.md).
        "ad_ids": {"anyOf": [
            _object({
                "ga": {"type": "string", "maxLength": 200,
                       "pattern": "^GA[0-9]\\.[0-9]\\.[0-9]{1,20}\\.[0-9]{1,20}$",
                       "description": "the _ga cookie (GA1.1.<id>.<time>)"},
                **{key: {"type": "string", "maxLength": 200,
                         "pattern": r"^fb\.\d\.\d{10,13}\.[A-Za-z0-9_\-.]{1,180}$",
                         "description": f"the _{key} cookie"} for key in ("fbp", "fbc")},
            }),
            {"type": "null"},
        ]},
    },
    ("vid", "id", "ts", "email"),
)

CROSS_DOMAIN_SIGN = _object({"k": _SNIPPET_ENVELOPE["k"], "vid": IDENTIFIER}, ("k", "vid"))
CROSS_DOMAIN_ADOPT = _object(
    {"k": _SNIPPET_ENVELOPE["k"],
     "token": {"type": "string", "maxLength": 160, "pattern": "^[^\\u0000]*\\.[^\\u0000]*\\.",
               "description": "<vid>.<expiry>.<mac>; a signature that does not match, or an "
                              "expired token, is a 422"}},
    ("k", "token"),
)
CALL_NUMBER = _object({"k": _SNIPPET_ENVELOPE["k"], "vid": IDENTIFIER}, ("k", "vid"))

_SEGMENT_ID: Schema = {"anyOf": [_text(segment.MAX_ID_LENGTH),
                                  {"type": "integer", "minimum": -MAX_JSON_INTEGER,
                                   "maximum": MAX_JSON_INTEGER}]}
_SEGMENT_TIME: Schema = {**TIME, "type": ["string", "null"],
                 "description": "within the last 30 days and at most 10 minutes ahead, after "
                                "the clock correction of sentAt (else 422)"}


def _loose_object(properties: dict[str, Schema]) -> Schema:
    """An object of which only ``properties`` are read; any other member is kept as sent."""
    return {"type": ["object", "null"], "properties": properties,
            "additionalProperties": JSON_VALUE}


_SEGMENT_TEXT_OR_NUMBER: Schema = {"anyOf": [
    _text(parsing.MAX_TOUCH_VALUE_LENGTH), {"type": "number", "not": {"type": "integer"}},
    {"type": "integer", "minimum": -MAX_JSON_INTEGER, "maximum": MAX_JSON_INTEGER}]}
_SEGMENT_PAGE: dict[str, Schema] = {
    "url": _text(parsing.MAX_URL_LENGTH), "referrer": _text(parsing.MAX_URL_LENGTH),
    "title": NULL_TEXT,
}
_SEGMENT_TRAITS = _loose_object({
    "email": {"anyOf": [{"type": "string", "pattern": EMAIL_PATTERN, "maxLength": 254},
                        {"enum": ["", None]}]},
    "name": _text(200),
    "firstName": _text(99),
    "lastName": _text(99),
    "phone": {**_text(40), "pattern": PHONE_PATTERN},
    "company": {"anyOf": [_text(200), _loose_object({"name": _text(200)})]},
})
# A Segment message (docs/segment.md): the fields LeadTrail reads are typed, the rest of
# context, properties and traits is kept as sent. What a message needs by its type (a track's
# event; an alias's previousId and userId), which may come from the path, and a type matching
# the path are relations the document does not state: a 422 names them.
_SEGMENT_MESSAGE: Schema = _object({
    "type": {"enum": sorted(MESSAGE_TYPES)},
    **{key: _SEGMENT_ID for key in ("messageId", "anonymousId", "userId", "previousId")},
    **{key: _SEGMENT_TIME for key in ("timestamp", "originalTimestamp", "sentAt")},
    "event": _text(segment.MAX_EVENT_NAME_LENGTH),
    "name": NULL_TEXT,
    "context": _loose_object({
        "campaign": _loose_object({key: _SEGMENT_TEXT_OR_NUMBER
                                   for key in ("source", "medium", "name", "term", "content")}),
        "page": _loose_object(_SEGMENT_PAGE),
        "traits": _SEGMENT_TRAITS,
        "consent": _loose_object({"categoryPreferences": {
            "type": ["object", "null"], "additionalProperties": JSON_VALUE}}),
        "userAgent": NULL_TEXT,
        "ip": _text(64),
    }),
    "properties": _loose_object(_SEGMENT_PAGE),
    "traits": _SEGMENT_TRAITS,
    **{key: JSON_VALUE for key in ("integrations", "receivedAt", "category", "groupId",
                                   "writeKey", "_metadata", "channel", "version", "options")},
})
_SEGMENT_MESSAGE["properties"]["writeKey"] = {
    "type": ["string", "null"], "pattern": "^[A-Za-z0-9_.-]{0,64}$",
    "description": "the write key, unless it is the basic-auth user"}
# An anonymousId, a userId, or both.
_SEGMENT_MESSAGE["anyOf"] = [
    {"required": [key], "properties": {key: {"anyOf": [
        {"type": "string", "minLength": 1}, {"type": "integer"}]}}}
    for key in ("anonymousId", "userId")]
_SEGMENT_BATCH = _object(
    {
        "batch": {"type": "array", "minItems": 1,
                  "items": {**_SEGMENT_MESSAGE, "required": ["type"]}},
        "writeKey": _SEGMENT_MESSAGE["properties"]["writeKey"],
        "sentAt": _SEGMENT_TIME,
        "context": _SEGMENT_MESSAGE["properties"]["context"],
        **{key: JSON_VALUE for key in ("integrations", "_metadata", "metadata")},
    },
    ("batch",),
)
# /v1/batch and /v1/b take a batch, the other paths one message (else 422); 32 KB a message
# and 500 KB a request, as Segment.
SEGMENT = {"anyOf": [_SEGMENT_MESSAGE, _SEGMENT_BATCH]}

_OFFLINE_TOUCH_FIELDS: dict[str, Schema] = {
    **{name: _text(200) for name in ("source", "medium", "campaign", "term", "content")},
    "channel": {"type": ["string", "null"], "minLength": 1, "maxLength": 40},
    "note": _text(1000),
}
_EXTERNAL_ID: Schema = {"type": "string", "minLength": 1, "maxLength": 64,
                        "description": "your id; retries reuse it"}
_KIND: Schema = {"enum": sorted(OFFLINE_KINDS)}
_EMAIL: Schema = {"type": "string", "pattern": EMAIL_PATTERN, "maxLength": 254}

OFFLINE_TOUCH = _object(
    {"id": _EXTERNAL_ID, "kind": _KIND, "occurred_at": TIME, "email": _EMAIL,
     **_OFFLINE_TOUCH_FIELDS},
    ("id", "kind", "occurred_at", "email"),
)
CONVERSION = _object(
    {
        "id": _EXTERNAL_ID,
        "kind": _KIND,
        "occurred_at": TIME,
        "email": {**_EMAIL, "type": ["string", "null"]},
        "name": _text(200),
        "phone": {**_text(40), "pattern": PHONE_PATTERN},
        "company": _text(200),
        "visitor_id": {"type": ["string", "null"], "minLength": 8, "maxLength": 64},
        "touch": {"anyOf": [_object(_OFFLINE_TOUCH_FIELDS), {"type": "null"}]},
    },
    ("id", "kind", "occurred_at"),
)
# An email, a visitor id, or both.
CONVERSION["anyOf"] = [{"required": [key], "properties": {key: {"type": "string"}}}
                       for key in ("email", "visitor_id")]
_STAGE_FIELDS: dict[str, Schema] = {
    "stage": {"enum": list(STAGES)},
    "at": {**TIME, "type": ["string", "null"]},
    "detail": _text(200),
}
STAGE = _object(_STAGE_FIELDS, ("stage",))
STAGES_BULK = _object(
    {"changes": {
        "type": "array", "minItems": 1, "maxItems": 1000,
        "items": _object({"lead_id": {"type": "string", "format": "uuid"}, **_STAGE_FIELDS},
                         ("lead_id", "stage")),
    }},
    ("changes",),
)
ERASE = _object({"email": _EMAIL}, ("email",))

_AMOUNT = "-?[0-9]{1,12}(\\.[0-9]{1,4})?"
_RATE = "[1-9][0-9]{0,9}(\\.[0-9]{1,8})?"
_COST_ROW = {
    **_object(
        {
            "date": DAY,
            **{name: _text(limit) for name, limit in costs.TEXT_LIMITS.items()},
            "amount": {"anyOf": [
                {"type": "string", "pattern": f"^{_AMOUNT}$"},
                {"type": "number", "exclusiveMinimum": -int(costs.MAX_ABS_NUMBER),
                 "exclusiveMaximum": int(costs.MAX_ABS_NUMBER)}],
                "description": "a finite number, |x| < 10^12"},
            "currency": {"type": ["string", "null"], "pattern": "^([A-Za-z]{3})?$"},
            "exchange_rate": {"anyOf": [
                {"type": ["string", "null"], "pattern": f"^({_RATE})?$"},
                {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": int(costs.MAX_RATE)}],
                "description": "to the site currency; positive, below 10^10"},
            **{name: {"anyOf": [
                {"type": "integer", "minimum": 0, "maximum": costs.MAX_COUNT - 1},
                {"type": ["string", "null"], "pattern": "^[0-9]{0,15}$"}],
                "description": "unknown when empty"} for name in costs.COUNT_COLUMNS},
        },
        ("date", "amount"),
    ),
    # A channel, or at least a source (not blank).
    "anyOf": [{"required": [key], "properties": {key: {"type": "string", "pattern": "\\S"}}}
              for key in ("channel", "source")],
}
COSTS = _object({"rows": {"type": "array", "items": _COST_ROW, "minItems": 1,
                          "maxItems": costs.MAX_ROWS}}, ("rows",))
# A CSV file (text/csv, or the multipart `file`): the document states this common form; the
# importer also takes every column of a JSON row, in any order and case (docs/spend.md).
COST_CSV: Schema = {
    "type": "string",
    "pattern": f"^date,channel,amount\\r?\\n({_DAY},[A-Za-z][A-Za-z ]{{0,38}},{_AMOUNT}\\r?\\n)"
               "{1,50}$",
    "description": "a header line, then one line a day (docs/spend.md)",
}
EXCHANGE_RATE = _object(
    {"currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"}, "valid_from": DAY,
     "rate": {"anyOf": [{"type": "string", "pattern": f"^{_RATE}$"},
                        {"type": "number", "exclusiveMinimum": 0,
                         "exclusiveMaximum": int(costs.MAX_RATE)}],
              "description": "positive, below 10^10"}},
    ("currency", "valid_from", "rate"),
)

# The document states North American numbers in E.164; the parser reads any possible number
# (libphonenumber), national ones in the config's region.
_PHONE_NUMBER: Schema = {"type": "string", "maxLength": 40, "pattern": "^\\+1[2-9][0-9]{9}$",
                         "description": "E.164, or national in the config's region"}
_SECRETS: Schema = {"type": ["array", "null"], "maxItems": MAX_SECRETS,
                    "items": {"type": "string", "minLength": 16, "maxLength": 200}}
# A pool id, and a number, appear once; the default number is in no pool (else 422).
CALL_CONFIG = _object({
    "default_number": {**_PHONE_NUMBER, "type": ["string", "null"],
                       "pattern": "^(\\+1[2-9][0-9]{9})?$"},
    "default_display": _text(40),
    "min_duration_s": {"type": "integer", "minimum": 0, "maximum": 86_400},
    "region": {"type": "string", "pattern": "^[A-Z]{2}$"},
    "twilio_auth_tokens": _SECRETS,
    "callrail_signing_keys": _SECRETS,
    "generic_secrets": _SECRETS,
    "pools": {
        "type": "array",
        "maxItems": MAX_POOLS,
        "items": _object(
            {
                "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,39}$"},
                "channel": _text(64),
                "campaign": _text(255),
                "scope": {"enum": list(SCOPES)},
                "hold_minutes": {"type": "number", "minimum": 0.05, "maximum": 7 * 24 * 60},
                "numbers": {
                    "type": "array", "minItems": 1, "maxItems": MAX_NUMBERS,
                    "items": {"anyOf": [_PHONE_NUMBER, _object(
                        {"number": _PHONE_NUMBER, "display": _text(40)}, ("number",))]},
                },
            },
            ("id", "numbers"),
        ),
    },
})
_GENERIC_CALL = _object(
    {
        "id": {"type": "string", "minLength": 1, "maxLength": 128},
        "called": {**_PHONE_NUMBER, "description": "the tracking number dialled"},
        "caller": _PHONE_NUMBER,
        "started_at": TIME,
        "duration_s": {"type": "integer", "minimum": 0},
        "answered": {"type": "boolean"},
    },
    ("id", "called", "started_at"),
)
_CALLRAIL_CALL: Schema = {
    "type": "object",
    "description": "CallRail's call webhook (its other fields are ignored)",
    "required": ["tracking_phone_number", "start_time"],
    "properties": {
        "resource_id": {"type": "string"},
        "id": {"type": ["string", "integer"]},
        "answered": {"type": ["boolean", "null"]},
        "duration": {"type": ["integer", "string", "null"]},
        "tracking_phone_number": _PHONE_NUMBER,
        "customer_phone_number": {**_PHONE_NUMBER, "type": ["string", "null"]},
        "start_time": TIME,
    },
}
CALL_REPORT = {
    "description": "our generic call (LeadTrail-Signature) or CallRail's (Signature); see "
    "docs/calls.md. Twilio posts a form instead",
    "anyOf": [_GENERIC_CALL, _CALLRAIL_CALL],
}
TWILIO_FORM = {
    "type": "object",
    "description": "Twilio's voice status callback parameters",
    "properties": {name: {"type": "string"} for name in
                   ("CallSid", "CallStatus", "From", "To", "CallDuration", "Timestamp")},
}

DEAL_EVENT = {
    "description": "The generic format (docs/crm.md); HubSpot and Pipedrive send "
    "their own JSON, Salesforce SOAP XML",
    **_object(
        {
            "id": {"type": "string", "maxLength": 128},
            "type": {"enum": list(generic.EVENT_TYPES)},
            "occurred_at": TIME,
            "deal": _object(
                {
                    "id": {"type": "string", "maxLength": 64},
                    "lead_id": {"type": "string", "format": "uuid"},
                    **{name: NULL_TEXT for name in ("email", "phone", "contact_id", "name",
                                                    "stage", "currency", "owner")},
                    "status": {"enum": ["open", "won", "lost"]},
                    "amount": {"type": ["string", "number", "null"]},
                    "created_at": {**TIME, "type": ["string", "null"]},
                    "closed_at": {**TIME, "type": ["string", "null"]},
                    "deleted": {"type": "boolean"},
                },
                ("id",),
            ),
        },
        ("id", "type", "occurred_at", "deal"),
    ),
}

# Text with at least one character that is not a space (parsers strip, then refuse empty).
NONBLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
_CONVERSION_NAME: Schema = {"type": "string", "maxLength": destinations.MAX_NAME_LENGTH,
                            "pattern": NONBLANK}


def _milestone(rules: list[str]) -> Schema:
    """One milestone's conversion: its name on the platform, or the name and its value."""
    return {"anyOf": [_CONVERSION_NAME, _object(
        {"name": _CONVERSION_NAME,
         "value": {"anyOf": [
             _object({"rule": {"enum": [rule for rule in rules
                                        if rule not in ("fixed", "expected")]},
                      "probability": {"type": ["number", "null"], "minimum": 0}},
                     ("rule",)),
             _object({"rule": {"enum": ["fixed", "expected"]},
                      "amount": {"type": "number", "minimum": 0},
                      "probability": {"type": ["number", "null"], "minimum": 0}},
                     ("rule", "amount")),
         ]}},
        ("name",),
    )]}


def _destination(platform: str) -> Schema:
    """A destination of ``platform``: its required settings and, unless it borrows a connected
    ad account's tokens, its credentials (tracker/destinations/settings.py)."""
    rules = list(destinations.VALUE_RULES)
    milestones = _object({
        milestone: _milestone(rules if milestone == "won" else
                              [rule for rule in rules if rule != "deal"])
        for milestone in destinations.MILESTONES
    })
    milestones["minProperties"] = 1
    settings = _object(
        {
            **{key: {"type": "string", "maxLength": 200, "pattern": NONBLANK}
               for key in destinations.REQUIRED[platform]},
            **{key: _text(200) for key in destinations.OPTIONAL if key != "validate"},
            "currency": {"type": ["string", "null"], "pattern": "^[A-Za-z]{3}$"},
            "validate": {"type": ["boolean", "null"]},
            "milestones": milestones if platform not in destinations.DEFAULT_MILESTONES
            else {"anyOf": [milestones, {"type": "null"}]},
        },
        destinations.REQUIRED[platform] + (
            () if platform in destinations.DEFAULT_MILESTONES else ("milestones",)),
    )
    needed = destinations.CREDENTIALS[platform] + (
        ("refresh_token", "client_id") if platform in ("google_ads", "microsoft_ads", "linkedin")
        else ())
    credentials = {
        "type": "object",
        "description": "api_secret (ga4), access_token (meta), developer_token, client_id, "
                       "client_secret, refresh_token (OAuth platforms)",
        "properties": {key: {"type": "string", "minLength": 1} for key in needed},
        "required": list(needed),
        "additionalProperties": JSON_VALUE,
    }
    return {
        "type": "object",
        "required": ["name", "platform", "settings"],
        "properties": {"platform": {"const": platform}, "settings": settings},
        # Credentials of its own, or an ad account's (one not connected is a 422).
        "anyOf": [{"required": ["ad_account"]},
                  {"required": ["credentials"], "properties": {"credentials": credentials}}],
    }


# Connecting an ad platform to send conversions to (docs/destinations.md); a name already
# sending to another platform is a 409.
DESTINATION: Schema = {
    "type": "object",
    "required": ["name", "platform"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 80, "pattern": NONBLANK},
        "platform": {"enum": list(destinations.PLATFORMS)},
        "settings": {"type": "object", "description": "measurement_id (ga4), pixel_id (meta), "
                     "customer_id (google_ads, microsoft_ads), account_id (microsoft_ads), "
                     "currency, test_event_code, api_url, milestones: {lead|mql|sql|"
                     "opportunity|won: {name, value: {rule: none|fixed|deal|expected, amount, "
                     "probability}}}"},
        "credentials": {"type": "object"},
        "ad_account": {"type": "string", "minLength": 1,
                       "description": "borrow this connected ad account's tokens"},
    },
    "oneOf": [_destination(platform) for platform in destinations.PLATFORMS],
}

# Pausing or resuming a destination (its queued conversions are kept).
DESTINATION_CHANGE: Schema = {
    "type": "object",
    "required": ["enabled"],
    "additionalProperties": False,
    "properties": {"enabled": {"type": "boolean"}},
}

_SUBSCHEMA = ("items", "additionalProperties", "not", "propertyNames", "contains")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def storable(schema: Any) -> Any:
    """``schema`` with :data:`STORABLE` on every string that has no pattern, format, enum or
    const of its own, and on the member names of every object open to more of them: the
    document then states the shared text rule wherever text is taken. Patterns of our own
    are anchored character classes without NUL (or say so, as :data:`NONBLANK`)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in _SUBSCHEMA:
        if isinstance(out.get(key), dict):
            out[key] = storable(out[key])
    for key in _SUBSCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [storable(item) for item in out[key]]
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: storable(item) for name, item in out["properties"].items()}
    types = out.get("type")
    types = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    if "string" in types and not {"pattern", "format", "enum", "const"} & out.keys():
        out["pattern"] = STORABLE
    if "object" in types and out.get("additionalProperties") is not False:
        out["propertyNames"] = {**out.get("propertyNames", {}), "pattern": STORABLE}
    return out


# Named as they appear under components.schemas.
SCHEMAS: dict[str, Schema] = {
    "JsonValue": _JSON_VALUE_DEFINITION,
    "Batch": BATCH,
    "Event": EVENT,
    "Identify": IDENTIFY,
    "CrossDomainSign": CROSS_DOMAIN_SIGN,
    "CrossDomainAdopt": CROSS_DOMAIN_ADOPT,
    "CallNumberRequest": CALL_NUMBER,
    "SegmentRequest": SEGMENT,
    "OfflineTouch": OFFLINE_TOUCH,
    "Conversion": CONVERSION,
    "StageChange": STAGE,
    "StageChanges": STAGES_BULK,
    "Erase": ERASE,
    "CostRows": COSTS,
    "ExchangeRate": EXCHANGE_RATE,
    "CallConfig": CALL_CONFIG,
    "CallReport": CALL_REPORT,
    "TwilioCallback": TWILIO_FORM,
    "DealEvent": DEAL_EVENT,
    "Destination": DESTINATION,
    "DestinationChange": DESTINATION_CHANGE,
}


SCHEMAS = {name: storable(schema) for name, schema in SCHEMAS.items()}


def ref(name: str) -> Schema:
    assert name in SCHEMAS, name
    return {"$ref": f"#/components/schemas/{name}"}
