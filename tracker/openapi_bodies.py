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
from tracker.channels import CLICK_ID_PARAMS, UTM_PARAMS
from tracker.collect import parsing
from tracker.leads.service import OFFLINE_KINDS
from tracker.segment.parsing import MESSAGE_TYPES
from tracker.stages import STAGES
from tracker.validation import EARLIEST_DATE, LATEST_DATE

Schema = dict[str, Any]

NULL_TEXT: Schema = {"type": ["string", "null"]}
MILLIS: Schema = {
    "type": "integer",
    "description": f"Unix time in milliseconds, {EARLIEST_DATE} to {LATEST_DATE}",
}
TIME: Schema = {"type": "string", "format": "date-time",
                "description": "ISO 8601 with a zone (Z or +hh:mm), "
                               f"{EARLIEST_DATE} to {LATEST_DATE}"}
DAY: Schema = {"type": "string", "format": "date"}
IDENTIFIER: Schema = {"type": "string", "pattern": "^[A-Za-z0-9._-]{8,64}$"}
URL: Schema = {"type": ["string", "null"], "maxLength": parsing.MAX_URL_LENGTH,
               "pattern": "^https?://", "description": "an absolute http(s) URL"}
FREE_OBJECT: Schema = {"type": "object", "description": "free-form by the specification"}


def _text(max_length: int, nullable: bool = True) -> Schema:
    return {"type": ["string", "null"] if nullable else "string", "maxLength": max_length}


def _object(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    """A closed object: the parsers refuse unknown keys by name."""
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


_TOUCH = _object({
    **{param: _text(parsing.MAX_TOUCH_VALUE_LENGTH) for param in UTM_PARAMS},
    "click_id_kind": {"enum": [*sorted(CLICK_ID_PARAMS), None]},
    "click_id": _text(parsing.MAX_TOUCH_VALUE_LENGTH),
    "seen_at": {**MILLIS, "type": ["integer", "null"]},
    "ref": URL,
    "url": URL,
})

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
        "lang": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9-]{1,35}$"},
        "name": _text(parsing.MAX_NAME_LENGTH),
        "props": {
            "type": ["object", "null"],
            "maxProperties": parsing.MAX_PROPS,
            "propertyNames": {"maxLength": parsing.MAX_PROP_KEY_LENGTH},
            "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        },
        "touch": {"anyOf": [_TOUCH, {"type": "null"}]},
    },
    ("id", "type", "ts"),
)

_SNIPPET_ENVELOPE: dict[str, Schema] = {
    "k": {"type": "string", "maxLength": 64, "description": "the site's write key (or ?k=)"},
    "vid": IDENTIFIER,
    "sent_at": {**MILLIS, "description": "client clock at sending (corrects clock skew)"},
    "consent": {"type": ["boolean", "null"]},
}

BATCH = _object(
    {
        **_SNIPPET_ENVELOPE,
        "events": {"type": "array", "minItems": 1, "maxItems": parsing.MAX_EVENTS,
                   "items": EVENT},
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
        "email": {"type": ["string", "null"], "format": "email", "maxLength": 254},
        "name": _text(200),
        "phone": _text(40),
        "company": _text(200),
        "form": {"anyOf": [
            _object({key: _text(200) for key in ("id", "name", "action")}),
            {"type": "null"},
        ]},
        # The ad platforms' browser cookies, for conversions sent out (docs/destinations.md).
        "ad_ids": {"anyOf": [
            _object({
                "ga": {"type": "string", "maxLength": 200,
                       "description": "the _ga cookie (GA1.1.<id>.<time>)"},
                **{key: {"type": "string", "maxLength": 200,
                         "pattern": r"^fb\.\d\.\d{10,13}\.[A-Za-z0-9_\-.]{1,180}$",
                         "description": f"the _{key} cookie"} for key in ("fbp", "fbc")},
            }),
            {"type": "null"},
        ]},
    },
    ("vid", "id", "ts"),
)

CROSS_DOMAIN_SIGN = _object({"k": _SNIPPET_ENVELOPE["k"], "vid": IDENTIFIER}, ("k", "vid"))
CROSS_DOMAIN_ADOPT = {
    "type": "object",
    "required": ["k", "token"],
    "properties": {"k": _SNIPPET_ENVELOPE["k"],
                   "token": {"type": "string", "description": "<vid>.<expiry>.<mac>"}},
}
CALL_NUMBER = {
    "type": "object",
    "required": ["k", "vid"],
    "properties": {"k": _SNIPPET_ENVELOPE["k"], "vid": IDENTIFIER},
}

_SEGMENT_MESSAGE: Schema = {
    "type": "object",
    "description": "a Segment message (docs/segment.md); context, properties and traits "
    "are free-form",
    "properties": {
        "type": {"enum": sorted(MESSAGE_TYPES)},
        "messageId": _text(256),
        "anonymousId": _text(256),
        "userId": _text(256),
        "timestamp": {"type": ["string", "null"], "format": "date-time"},
        "event": _text(100),
        "name": _text(200),
        "context": FREE_OBJECT,
        "properties": FREE_OBJECT,
        "traits": FREE_OBJECT,
    },
}
SEGMENT = {"anyOf": [
    _SEGMENT_MESSAGE,
    {
        "type": "object",
        "required": ["batch"],
        "properties": {
            "batch": {"type": "array", "minItems": 1, "items": _SEGMENT_MESSAGE},
            "writeKey": {"type": "string"},
            "sentAt": {"type": "string", "format": "date-time"},
            "context": FREE_OBJECT,
        },
    },
]}

_OFFLINE_TOUCH_FIELDS: dict[str, Schema] = {
    **{name: _text(200) for name in ("source", "medium", "campaign", "term", "content")},
    "channel": {"type": ["string", "null"], "minLength": 1, "maxLength": 40},
    "note": _text(1000),
}
_EXTERNAL_ID: Schema = {"type": "string", "minLength": 1, "maxLength": 64,
                        "description": "your id; retries reuse it"}
_KIND: Schema = {"enum": sorted(OFFLINE_KINDS)}
_EMAIL: Schema = {"type": "string", "format": "email", "maxLength": 254}

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
        "phone": _text(40),
        "company": _text(200),
        "visitor_id": {"type": ["string", "null"], "minLength": 8, "maxLength": 64},
        "touch": {"anyOf": [_object(_OFFLINE_TOUCH_FIELDS), {"type": "null"}]},
    },
    ("id", "kind", "occurred_at"),
)
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
ERASE = {"type": "object", "required": ["email"], "properties": {"email": _EMAIL}}

_COST_ROW = _object(
    {
        "date": DAY,
        **{name: _text(255) for name in ("channel", "source", "medium", "campaign", "keyword")},
        "amount": {"type": ["string", "number"], "description": "a finite number, |x| < 10^12"},
        "currency": {"type": ["string", "null"], "pattern": "^[A-Za-z]{3}$"},
        "exchange_rate": {"type": ["string", "number", "null"],
                          "description": "to the site currency; positive"},
    },
    ("date", "amount"),
)
COSTS = _object({"rows": {"type": "array", "items": _COST_ROW}}, ("rows",))
EXCHANGE_RATE = _object(
    {"currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"}, "valid_from": DAY,
     "rate": {"type": ["string", "number"], "description": "positive, below 10^10"}},
    ("currency", "valid_from", "rate"),
)

_PHONE_NUMBER: Schema = {"type": "string", "maxLength": 40,
                         "description": "E.164, or national in the config's region"}
_SECRETS: Schema = {"type": ["array", "null"], "maxItems": MAX_SECRETS,
                    "items": {"type": "string", "minLength": 16, "maxLength": 200}}
CALL_CONFIG = _object({
    "default_number": {**_PHONE_NUMBER, "type": ["string", "null"]},
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

# Connecting an ad platform to send conversions to (docs/destinations.md); settings and
# credentials differ by platform and are checked by tracker/destinations.
DESTINATION: Schema = {
    "type": "object",
    "required": ["name", "platform"],
    "additionalProperties": False,
    "properties": {
        # The service strips the name and refuses it empty: at least one non-space.
        "name": {"type": "string", "minLength": 1, "maxLength": 80, "pattern": "\\S"},
        "platform": {"enum": ["ga4", "meta", "google_ads", "microsoft_ads",
                              "linkedin"]},
        "settings": {
            "type": "object",
            "description": "measurement_id (ga4), pixel_id (meta), customer_id "
                           "(google_ads, microsoft_ads), account_id "
                           "(microsoft_ads), currency, test_event_code, api_url, "
                           "milestones: {lead|mql|sql|opportunity|won: {name, "
                           "value: {rule: none|fixed|deal|expected, amount, "
                           "probability}}}",
        },
        "credentials": {
            "type": "object",
            "description": "api_secret (ga4), access_token (meta), developer_token, "
                           "client_id, client_secret, refresh_token (OAuth "
                           "platforms)",
        },
        "ad_account": {"type": "string",
                       "description": "borrow this connected ad account's tokens"},
    },
}

# Pausing or resuming a destination (its queued conversions are kept).
DESTINATION_CHANGE: Schema = {
    "type": "object",
    "required": ["enabled"],
    "additionalProperties": False,
    "properties": {"enabled": {"type": "boolean"}},
}

# Named as they appear under components.schemas.
SCHEMAS: dict[str, Schema] = {
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


def ref(name: str) -> Schema:
    assert name in SCHEMAS, name
    return {"$ref": f"#/components/schemas/{name}"}
