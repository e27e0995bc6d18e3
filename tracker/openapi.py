"""The OpenAPI 3.1 document served at ``/api/openapi.json``: every endpoint, described.

A test walks the app's URL map and fails when a route is missing here, so the document stays
complete as endpoints are added.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from tracker import openapi_bodies as bodies
from tracker.calls.config import SCOPES
from tracker.calls.report import GROUPS as CALL_GROUPS
from tracker.calls.report import MAX_DAYS as CALLS_MAX_DAYS
from tracker.collect.parsing import MAX_PROPS_BYTES
from tracker.costs.service import MAX_IMPORT_NAME_LENGTH
from tracker.destinations.outbox import DEAD, FAILED, PENDING, SENT
from tracker.leads.service import MAX_OFFSET
from tracker.leads.stages import STAGES
from tracker.reports.openapi import REPORT_PATHS
from tracker.validation import MAX_ID
from tracker.validation import MAX_PAGE as LEADS_PAGE

bp = Blueprint("openapi", __name__)

ERROR = {"$ref": "#/components/schemas/Error"}
SECRET: list[dict[str, list[str]]] = [{"secretKey": []}]


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def _op(
    summary: str,
    tag: str,
    *,
    secret: bool = False,
    body: str | None = None,
    ok: str = "200",
    params: list[dict[str, Any]] | None = None,
    text_too: bool = False,
    collector: bool = False,
    other_types: dict[str, Any] | None = None,
    missing: str | None = None,
    signed: str | None = None,
    answer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation. ``body`` names a schema of :mod:`tracker.openapi_bodies`; ``text_too``:
    the same JSON also as text/plain (what sendBeacon and the snippet send); ``collector``:
    keyed by a site's write key, whose origin check answers 403; ``missing``: what a 404
    means; ``signed``: what a 401 means where no secret key is asked; ``answer``: the success
    body's schema, field by field."""
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {ok: _json("success", answer),
                      "400": _json("invalid input; `field` names it", ERROR)},
    }
    if secret:
        operation["security"] = SECRET
        operation["responses"]["401"] = _json("missing, unknown or revoked secret key", ERROR)
    if missing:
        operation["responses"]["404"] = _json(missing, ERROR)
    if signed:
        operation["responses"]["401"] = _json(signed, ERROR)
    if collector:
        operation["responses"]["401"] = _json("unknown write key", ERROR)
        operation["responses"]["403"] = _json(
            "the Origin is not one of the site's domains, or consent is required", ERROR
        )
    if body is not None:
        content = {"application/json": {"schema": bodies.ref(body)}}
        if text_too:
            content["text/plain"] = {"schema": {**bodies.ref(body), **JSON_TEXT}}
        content.update(other_types or {})
        operation["requestBody"] = {"required": True, "content": content}
    if params:
        operation["parameters"] = params
    return operation


def _query(name: str, description: str, schema: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": bodies.storable(schema or {"type": "string"}),
    }


def _whole(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


# An id of a row of ours (tracker/validation.py parse_id: it fits a BIGINT).
SITE_ID = {"name": "site_id", "in": "path", "required": True,
           "schema": _whole(1, MAX_ID)}


STAGE: dict[str, Any] = {"enum": list(STAGES)}
# What a stage change answers, per lead changed (tracker/leads/views.py).
STAGE_CHANGED: dict[str, Any] = {
    "type": "object",
    "required": ["lead_id", "stage"],
    "additionalProperties": False,
    "properties": {"lead_id": {"type": "string", "format": "uuid"}, "stage": STAGE},
}
STAGES_CHANGED: dict[str, Any] = {
    "type": "object",
    "required": ["updated"],
    "additionalProperties": False,
    "properties": {"updated": {"type": "array", "items": STAGE_CHANGED}},
}
_ID_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}
# What tracker/destinations/service.py describe() shows of a destination (POST, PATCH, GET).
DESTINATION_SHOWN: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "platform", "enabled", "settings", "credentials",
                 "borrows_ad_account", "last_delivery_at", "last_error", "last_success_at",
                 "counts"],
    "additionalProperties": False,
    "properties": {
        "id": _ID_TEXT, "name": {"type": "string"},
        "platform": {"enum": ["ga4", "meta", "google_ads", "microsoft_ads", "linkedin"]},
        "enabled": {"type": "boolean"}, "settings": {"type": "object"},
        "credentials": {"type": "object", "description": "secrets as fingerprints"},
        "borrows_ad_account": {"type": "boolean"},
        "last_delivery_at": {"type": ["string", "null"], "format": "date-time"},
        "last_error": {"type": ["string", "null"]},
        "last_success_at": {"type": ["string", "null"], "format": "date-time"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}


def _closed(properties: dict[str, Any]) -> dict[str, Any]:
    """A fixed-shape answer: every field present, none other (a new one fails the gate)."""
    return {"type": "object", "required": list(properties), "additionalProperties": False,
            "properties": properties}


_NULL_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
# tracker/destinations/views.py deliveries(): one conversion queued for a destination.
DELIVERIES = _closed({"deliveries": {"type": "array", "items": _closed({
    "key": {"type": "string"}, "milestone": {"type": "string"}, "kind": {"type": "string"},
    "status": {"enum": [PENDING, SENT, FAILED, DEAD]},
    "attempts": {"type": "integer", "minimum": 0}, "error": {"type": ["string", "null"]},
    "occurred_at": {"type": "string", "format": "date-time"},
    "value": {"type": ["string", "null"], "description": "a decimal, as text"},
    "currency": {"type": ["string", "null"]}, "sent_at": _NULL_TIME,
})}})
# tracker/destinations/views.py days(): conversions per site-local day queued, by status now.
DELIVERY_DAYS = _closed({
    "timezone": {"type": "string", "description": "the site's time zone; days are local"},
    "last_delivery_at": _NULL_TIME, "last_success_at": _NULL_TIME,
    "days": {"type": "array", "description": "oldest first, every day listed",
             "items": _closed({
                 "day": {"type": "string", "format": "date"},
                 **{status: {"type": "integer", "minimum": 0}
                    for status in (PENDING, SENT, FAILED, DEAD)}})},
})
# tracker/destinations/views.py validate(): the platform's verdict on a sample conversion.
TESTED = _closed({"accepted": {"type": "boolean"},
                  "messages": {"type": "array", "items": {"type": "string"}}})
# tracker/leads/views.py erase(): what was erased, by kind.
ERASED = _closed({"erased": _closed({
    name: {"type": "integer", "minimum": 0} for name in ("leads", "visitors", "sessions", "events")
})})
_INBOX_STATUS: dict[str, Any] = {"enum": ["received", "applied", "failed"]}
# tracker/crm/inbox.py event_summary(): an inbox row, without body or headers.
CRM_EVENT = _closed({
    "id": {"type": "string", "format": "uuid"}, "provider": {"type": "string"},
    "source": {"type": "string"}, "status": _INBOX_STATUS,
    "attempts": {"type": "integer", "minimum": 0}, "error": {"type": ["string", "null"]},
    "received_at": {"type": "string", "format": "date-time"}, "applied_at": _NULL_TIME,
})
_REPLAYED = _closed({name: {"type": "integer", "minimum": 0} for name in ("applied", "failed")})
# tracker/costs/views.py set_rate(): the rate as stored.
RATE_SET = _closed({"currency": {"type": "string", "minLength": 3, "maxLength": 3},
                    "valid_from": {"type": "string", "format": "date"},
                    "rate": {"type": "string", "description": "a decimal, as text"}})
# tracker/leads/service.py lead_summary(): one row of the lead list.
LEAD_SUMMARY = _closed({
    "id": {"type": "string", "format": "uuid"}, "email": {"type": "string"},
    **{name: {"type": ["string", "null"]} for name in ("name", "phone", "company")},
    "stage": STAGE, "score": {"type": "integer"}, "label": {"enum": ["hot", "warm", "cold"]},
    "created_at": {"type": "string", "format": "date-time"},
    "first_channel": {"type": ["string", "null"]},
})
# tracker/collect/views.py: how many events were stored (0 when consent or bots drop them).
STORED = _closed({"stored": {"type": "integer", "minimum": 0}})
_TEXT: dict[str, Any] = {"type": "string"}
_NULL_TEXT: dict[str, Any] = {"type": ["string", "null"]}
_DECIMAL_TEXT: dict[str, Any] = {"type": "string", "description": "a decimal, as text"}
# tracker/costs/views.py list_costs(): one stored day of spend ("" for a missing dimension).
COST_ROW = _closed({
    "date": {"type": "string", "format": "date"},
    **{name: _TEXT for name in ("channel", "source", "medium", "campaign", "keyword")},
    "amount": _DECIMAL_TEXT, "currency": _TEXT, "amount_site_currency": _DECIMAL_TEXT,
    "origin": {"type": "string", "description": "'' for imports, <platform>:<account> pulled"},
    "impressions": {"type": ["integer", "null"]}, "clicks": {"type": ["integer", "null"]},
})
# tracker/calls/inbox.py call_summary(): a stored call (the caller's number stays on the lead).
CALL_STORED = _closed({
    "provider": {"enum": ["twilio", "callrail", "generic"]}, "call_id": _TEXT, "called": _TEXT,
    "started_at": {"type": "string", "format": "date-time"},
    "duration_s": {"type": "integer", "minimum": 0}, "answered": {"type": "boolean"},
    "status": _INBOX_STATUS, "attempts": {"type": "integer", "minimum": 0},
    "error": _NULL_TEXT, "lead_id": {"type": ["string", "null"], "format": "uuid"},
    "channel": _NULL_TEXT, "campaign": _NULL_TEXT,
    "received_at": {"type": "string", "format": "date-time"}, "applied_at": _NULL_TIME,
})
# tracker/calls/views.py number(): null number when neither a pool nor a default is set.
NUMBER_SHOWN = _closed({
    "number": _NULL_TEXT, "display": _NULL_TEXT,
    "pool": {"type": ["string", "null"], "description": "null: the default number"},
    "held_until": _NULL_TIME, "exhausted": {"type": "boolean"},
    "default_number": _NULL_TEXT, "default_display": _NULL_TEXT,
})
# tracker/calls/views.py webhook(): a call still ringing is received but not stored; a stored
# one is ``applied``, or ``failed`` and kept for a replay.
CALL_RECEIVED: dict[str, Any] = {
    "type": "object", "required": ["received", "stored"], "additionalProperties": False,
    "properties": {"received": {"const": True}, "stored": {"type": "boolean"},
                   "status": _INBOX_STATUS,
                   "lead_id": {"type": ["string", "null"], "format": "uuid"},
                   "channel": _NULL_TEXT},
}
# tracker/calls/config.py config_json(): the stored configuration, secrets as fingerprints.
CALL_CONFIG = _closed({
    "default_number": _NULL_TEXT, "default_display": _NULL_TEXT,
    "min_duration_s": {"type": "integer", "minimum": 0},
    **{key: {"type": "array", "items": _TEXT, "description": "fingerprints, never secrets"}
       for key in ("twilio_auth_tokens", "callrail_signing_keys", "generic_secrets")},
    "pools": {"type": "array", "items": _closed({
        "id": _TEXT, "channel": _NULL_TEXT, "campaign": _NULL_TEXT,
        "scope": {"enum": list(SCOPES)}, "hold_minutes": {"type": "number"},
        "numbers": {"type": "array", "items": _closed({"number": _TEXT, "display": _TEXT})},
    })},
})
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
_CALL_FIGURES: dict[str, Any] = {
    "calls": _COUNT, "answered": _COUNT, "missed": _COUNT, "duration_s": _COUNT,
    "average_duration_s": {"type": ["number", "null"],
                           "description": "null when none was answered"},
    "leads": _COUNT}
# tracker/calls/report.py calls_report(): each row also carries the grouping's value under
# the group_by name (channel, source, ...), the one field not fixed in advance.
CALLS_REPORT = _closed({
    "start": {"type": "string", "format": "date"}, "end": {"type": "string", "format": "date"},
    "group_by": {"enum": ["channel", "source", "campaign", "keyword", "number"]},
    "rows": {"type": "array", "items": {
        "type": "object",
        "required": list(_CALL_FIGURES),
        "properties": _CALL_FIGURES,
        "additionalProperties": _NULL_TEXT,
        "maxProperties": 7,
    }},
    "totals": _closed(_CALL_FIGURES),
})
_NULL_UUID: dict[str, Any] = {"type": ["string", "null"], "format": "uuid"}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
# The marketing dimensions a session, an offline touch and a call carry (null when unknown).
_SOURCE_FIELDS: dict[str, Any] = {
    name: _NULL_TEXT for name in ("source", "medium", "campaign", "term")}
# tracker/leads/service.py _session_view(): one visit with its events, oldest first.
JOURNEY_SESSION = _closed({
    "id": {"type": "string", "format": "uuid"}, "visitor_id": _TEXT,
    "started_at": _TIME, "ended_at": _TIME, "channel": _TEXT,
    **_SOURCE_FIELDS, "content": _NULL_TEXT,
    "click_id_kind": _NULL_TEXT, "click_id": _NULL_TEXT,
    "landing_url": _NULL_TEXT, "referrer": _NULL_TEXT,
    "device_type": {"enum": ["desktop", "mobile", "tablet", "bot", "other", None]},
    "events": {"type": "array", "items": _closed({
        "id": _TEXT, "type": _TEXT, "name": _NULL_TEXT, "url": _NULL_TEXT,
        "title": _NULL_TEXT, "occurred_at": _TIME,
        "props": {"type": "object", "description": "as sent by the snippet",
                  "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
    })},
})
# tracker/leads/service.py lead_journey(): an offline touch, a tracked call, a CRM deal.
JOURNEY_OFFLINE_TOUCH = _closed({
    "id": _TEXT, "kind": _TEXT, "occurred_at": _TIME, "channel": _TEXT,
    **_SOURCE_FIELDS, "content": _NULL_TEXT, "note": _NULL_TEXT,
})
JOURNEY_CALL = _closed({
    "provider": {"enum": ["twilio", "callrail", "generic"]}, "call_id": _TEXT,
    "started_at": _TIME, "tracking_number": _TEXT,
    "duration_s": _COUNT, "answered": {"type": "boolean"},
    **{name: _NULL_TEXT for name in ("channel", "source", "campaign", "term")},
})
JOURNEY_DEAL = _closed({
    "id": {"type": "string", "format": "uuid"}, "provider": _TEXT, "external_id": _TEXT,
    "name": _NULL_TEXT, "amount": {"type": ["number", "null"]}, "currency": _NULL_TEXT,
    "stage": _NULL_TEXT, "status": {"enum": ["open", "won", "lost"]}, "owner": _NULL_TEXT,
    "created_at": _NULL_TIME, "closed_at": _NULL_TIME,
})
# tracker/leads/service.py lead_journey(): the lead and its history, oldest first.
LEAD_JOURNEY = _closed({
    "lead": LEAD_SUMMARY,
    "visitors": {"type": "array", "items": _TEXT},
    "first_touch_session_id": _NULL_UUID, "lead_creation_session_id": _NULL_UUID,
    "sessions": {"type": "array", "items": JOURNEY_SESSION},
    "offline_touches": {"type": "array", "items": JOURNEY_OFFLINE_TOUCH},
    "calls": {"type": "array", "items": JOURNEY_CALL},
    "deals": {"type": "array", "items": JOURNEY_DEAL},
    "stage_history": {"type": "array", "items": _closed({
        "from": {"type": ["string", "null"]}, "to": _TEXT,
        "at": {"type": "string", "format": "date-time"}, "cause": _TEXT,
        "detail": _NULL_TEXT})},
    "score_history": {"type": "array", "items": _closed({
        "rule": _TEXT, "points": {"type": "integer"}, "score_after": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"}})},
})
LEAD_ID = {
    "name": "lead_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
DESTINATION = {
    "name": "reference",
    "in": "path",
    "required": True,
    "description": "the destination's name or id",
    "schema": {"type": "string"},
}
JSON_TEXT = {"description": "the same JSON, sent as text/plain (a CORS simple request)"}
WRITE_KEY_QUERY = {
    "name": "k",
    "in": "query",
    "required": False,
    "description": "the site's write key, when the body does not carry it",
    "schema": bodies.storable({"type": "string", "maxLength": 64}),
}
# A preflight's query is checked like any other (no NUL, no lone surrogate).
PREFLIGHT_REFUSED = _json("the query holds text that cannot be stored; `field` names it", ERROR)
EVENT_ID = {
    "name": "event_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
# The preflight of every collector endpoint the snippet calls cross-origin.
COLLECTOR_PREFLIGHT: dict[str, Any] = {
    "summary": "CORS preflight; echoes the Origin when ?k= names a site allowing it",
    "tags": ["collector"],
    "parameters": [WRITE_KEY_QUERY],
    "responses": {"204": {"description": "ok"}, "400": PREFLIGHT_REFUSED},
}


def _webhook() -> dict[str, Any]:
    """``POST /webhooks/{provider}/{site_id}``: bodies and checks per provider in docs/crm.md."""
    return {
        "summary": "Receive a CRM webhook (HubSpot, Pipedrive, Salesforce or the generic "
        "signed format); 200 only once the body is stored",
        "description": "Checks, in order: the provider and site exist and the provider is set "
        "up; the signature (HubSpot v3, generic LeadTrail-Signature), Basic credentials "
        "(Pipedrive) or OrganizationId and URL token (Salesforce); the body's format. The raw "
        "body is then stored, acknowledged (Salesforce: the SOAP Ack envelope) and applied. "
        "A refused signature names its reason in error.reason.",
        "tags": ["crm"],
        "parameters": [
            {
                "name": "provider",
                "in": "path",
                "required": True,
                "schema": {"enum": ["hubspot", "pipedrive", "salesforce", "generic"]},
            },
            SITE_ID,
            _query("token", "Salesforce only: the site's URL token, when one is set"),
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/DealEvent"},
                            {
                                "type": "object",
                                "required": ["events"],
                                "additionalProperties": False,
                                "properties": {
                                    "events": {
                                        "type": "array",
                                        "minItems": 1,
                                        "maxItems": 100,
                                        "items": {"$ref": "#/components/schemas/DealEvent"},
                                    }
                                },
                            },
                        ]
                    }
                },
                "text/xml": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "200": {
                "description": "stored (and a duplicate delivery recognised)",
                "content": {
                    "application/json": {"schema": _closed({
                        "received": {"const": True}, "id": {"type": "string", "format": "uuid"},
                        "duplicate": {"type": "boolean"},
                        "events": {"type": "integer", "minimum": 0}})},
                    "text/xml": {"schema": {"type": "string"}},
                },
            },
            "400": _json("malformed body or signature header; `field` names it", ERROR),
            "401": _json("missing or bad signature or credentials, or a stale timestamp", ERROR),
            "403": _json("the message is from another CRM organisation or portal", ERROR),
            "404": _json("unknown provider or site, or the provider is not set up", ERROR),
            "413": _json("body larger than 1 MiB", ERROR),
        },
    }


PATHS: dict[str, dict[str, Any]] = {
    "/t.js": {
        "get": {
            "summary": "The tracking snippet",
            "tags": ["collector"],
            "responses": {"200": {"description": "JavaScript, cacheable for an hour"}},
        }
    },
    "/collect": {
        "post": _op(
            "Store a batch of events (docs/collect-protocol.md); 200 only once committed",
            "collector",
            body="Batch",
            text_too=True,
            collector=True,
            params=[WRITE_KEY_QUERY],
            answer=STORED,
        ),
        "options": COLLECTOR_PREFLIGHT,
    },
    "/collect.gif": {
        "get": {
            "summary": "No-JavaScript pixel (?k=&u=&r=)",
            "tags": ["collector"],
            # Whatever the query holds, the pixel answers its GIF (errors in a header).
            "parameters": [
                {**_query(name, description), "schema": {"type": "string"}}
                for name, description in (("k", "the site's write key"), ("u", "the page's URL"),
                                          ("r", "the referrer"),
                                          ("consent", "1 or true when the page has consent"))
            ],
            "responses": {"200": {"description": "a 1x1 GIF; errors in X-LeadTrail-Error"}},
        }
    },
    "/identify": {
        "post": _op(
            "A form submit or identify call: the visitor becomes part of a lead (optional "
            "ad_ids: the _ga, _fbp and _fbc cookies, for conversions sent to ad platforms)",
            "collector",
            body="Identify",
            text_too=True,
            collector=True,
            params=[WRITE_KEY_QUERY],
            answer={**STORED, "properties": {"stored": {"enum": [0, 1]}}},
        ),
        "options": COLLECTOR_PREFLIGHT,
    },
    "/xd/sign": {
        "post": _op(
            "Sign the visitor id for links to the site's other domains", "collector",
            body="CrossDomainSign", text_too=True, collector=True,
            answer=_closed({"token": {"type": "string", "minLength": 1},
                            "parameter": {"type": "string", "minLength": 1}}),
        ),
        "options": COLLECTOR_PREFLIGHT,
    },
    "/xd/adopt": {
        "post": _op(
            "Adopt a visitor id from a signed cross-domain token", "collector",
            body="CrossDomainAdopt", text_too=True, collector=True,
            answer=_closed({"vid": {"type": "string", "minLength": 1}}),
        ),
        "options": COLLECTOR_PREFLIGHT,
    },
    "/v1/{kind}": {
        "post": _op(
            "Segment HTTP Tracking API: one message (track, page, identify, alias, screen, "
            "group, or analytics.js's t, p, i, a, s, g) or a batch (batch, b); the write "
            "key as the basic-auth user or `writeKey` in the body; gzip allowed; 32 KB per "
            "message, 500 KB per request (400 beyond); answers `{\"success\": true}` once "
            "stored (docs/segment.md)",
            "segment",
            body="SegmentRequest",
            signed="no write key, or an unknown one",
            text_too=True,
            answer=_closed({"success": {"const": True}}),
        ),
        "parameters": [{
            "name": "kind",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": [
                "batch", "b", "track", "t", "page", "p", "identify", "i", "alias", "a",
                "screen", "s", "group", "g"]},
        }],
        "options": {
            "summary": "CORS preflight",
            "tags": ["segment"],
            "responses": {"204": {"description": "ok"}},
        },
    },
    "/calls.js": {
        "get": {
            "summary": "The call-tracking swap script (docs/calls.md)",
            "tags": ["calls"],
            "responses": {"200": {"description": "JavaScript"}},
        }
    },
    "/calls/number": {
        "post": _op(
            "The tracking number this visitor is shown (`{k, vid}`), held for the pool's hold "
            "time; the default number without a matching pool or when the pool is used up",
            "calls",
            body="CallNumberRequest",
            text_too=True,
            collector=True,
            answer=NUMBER_SHOWN,
        ),
        "options": {
            "summary": "CORS preflight",
            "tags": ["calls"],
            "responses": {"204": {"description": "ok"}},
        },
    },
    "/calls/webhooks/{provider}/{site_id}": {
        "post": {
            **_op(
                "A call reported by Twilio (voice status callback, X-Twilio-Signature), "
                "CallRail (Signature) or our signed format (LeadTrail-Signature)",
                "calls",
                body="CallReport",
                signed="missing or bad signature",
                answer=CALL_RECEIVED,
                other_types={"application/x-www-form-urlencoded": {
                    "schema": bodies.ref("TwilioCallback")}},
            ),
            "parameters": [
                {"name": "provider", "in": "path", "required": True,
                 "schema": {"type": "string", "enum": ["twilio", "callrail", "generic"]}},
                SITE_ID,
            ],
        }
    },
    "/api/v1/calls/config": {
        "get": _op("The site's call-tracking configuration (secrets as fingerprints)", "calls",
                   secret=True, answer=CALL_CONFIG),
        "put": _op("Replace the call-tracking configuration: default number, minimum "
                   "duration, provider secrets, number pools", "calls", secret=True,
                   body="CallConfig", answer=CALL_CONFIG),
    },
    "/api/v1/calls": {
        "get": _op("The site's stored calls, newest first; `?status=failed` for what needs a "
                   "replay", "calls", secret=True,
                   params=[_query("status", "received, applied or failed",
                                  {"enum": ["received", "applied", "failed"]})],
                   answer=_closed({"calls": {"type": "array", "items": CALL_STORED}})),
    },
    "/api/v1/calls/replay": {
        "post": _op("Apply again every call that failed or was never applied", "calls",
                    secret=True, answer=_REPLAYED),
    },
    "/api/v1/reports/calls": {
        "get": _op(
            "Calls by channel, source, campaign, keyword or number: answered, missed, talk "
            "time, leads",
            "reports",
            secret=True,
            params=[_query("start", "YYYY-MM-DD", bodies.DAY),
                    _query("end", "YYYY-MM-DD", bodies.DAY),
                    _query("group_by", "channel, source, campaign, keyword or number",
                           {"enum": list(CALL_GROUPS)})],
            answer=CALLS_REPORT,
        )
    },
    "/api/v1/conversions": {
        "post": _op(
            "Record a backend conversion (call, chat, offline sign-up)",
            "leads",
            secret=True,
            body="Conversion",
            ok="201",
        )
    },
    "/api/v1/offline-touches": {
        "post": _op(
            "Attach an offline touch to a lead", "leads", secret=True, body="OfflineTouch",
            missing="no lead with that email",
            ok="201",
        )
    },
    "/api/v1/leads": {
        "get": _op(
            "List leads",
            "leads",
            secret=True,
            params=[
                _query("stage", "lead, mql, sql, opportunity, customer, lost or nurture",
                       STAGE),
                _query("first_channel", "channel of the first touch"),
                _query("created_from", "ISO 8601 time", bodies.TIME),
                _query("created_to", "ISO 8601 time", bodies.TIME),
                _query("q", "search email, name, company"),
                _query("limit", f"1-{LEADS_PAGE} (0 reads as 1)", _whole(0, LEADS_PAGE)),
                _query("offset", "rows to skip", _whole(0, MAX_OFFSET)),
            ],
            answer=_closed({"leads": {"type": "array", "items": LEAD_SUMMARY},
                            "limit": {"type": "integer"}, "offset": {"type": "integer"}}),
        )
    },
    "/api/v1/leads/{lead_id}": {
        "get": _op("One lead's journey", "leads", secret=True, params=[LEAD_ID],
                   answer=LEAD_JOURNEY)
    },
    "/api/v1/leads/{lead_id}/stage": {
        "post": _op("Change a lead's stage", "leads", secret=True, body="StageChange",
                    params=[LEAD_ID], answer=STAGE_CHANGED)
    },
    "/api/v1/leads/stages": {
        "post": _op("Change many leads' stages, all or nothing", "leads", secret=True,
                    body="StageChanges", missing="a lead id names no lead of this site",
                    answer=STAGES_CHANGED)
    },
    "/api/v1/gdpr/erase": {
        "post": _op("Erase a person everywhere", "leads", secret=True, body="Erase",
                    missing="no lead with that email", answer=ERASED)
    },
    "/api/v1/costs": {
        "post": _op(
            "Import ad spend (text/csv, multipart file, or JSON rows)",
            "costs",
            secret=True,
            body="CostRows",
            ok="201",
            other_types={
                "text/csv": {"schema": bodies.COST_CSV},
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["file"],
                               "additionalProperties": False,
                               "properties": {"file": {**bodies.COST_CSV,
                                                       "contentMediaType": "text/csv"}}},
                    "encoding": {"file": {"contentType": "text/csv"}},
                },
            },
            params=[_query("name", "a name for this import, shown in the list",
                           {"type": "string", "maxLength": MAX_IMPORT_NAME_LENGTH})],
            answer=_closed({"imported": {"type": "integer", "minimum": 0},
                            "total": _DECIMAL_TEXT, "currency": _TEXT}),
        ),
        "get": _op(
            "List ad spend",
            "costs",
            secret=True,
            params=[_query("from", "YYYY-MM-DD", bodies.DAY),
                    _query("to", "YYYY-MM-DD (exclusive)", bodies.DAY)],
            answer=_closed({"costs": {"type": "array", "items": COST_ROW}}),
        ),
    },
    "/api/v1/exchange-rates": {
        "post": _op(
            "Set an exchange rate for cost conversion", "costs", secret=True,
            body="ExchangeRate", ok="201", answer=RATE_SET,
        )
    },
    "/api/v1/destinations": {
        "post": _op("Connect an ad platform (or replace a destination's settings); secrets are "
                    "stored, never returned", "destinations", secret=True,
                    body="Destination", ok="201"),
        "get": _op("The site's destinations with delivery counts per status", "destinations",
                   secret=True, answer={
                       "type": "object", "required": ["destinations"],
                       "additionalProperties": False,
                       "properties": {"destinations": {"type": "array",
                                                       "items": DESTINATION_SHOWN}}}),
    },
    "/api/v1/destinations/{reference}": {
        "patch": _op("Pause or resume a destination; a paused one keeps its queue and sends it "
                     "when resumed", "destinations", secret=True, body="DestinationChange",
                     params=[DESTINATION], answer=DESTINATION_SHOWN),
    },
    "/api/v1/destinations/{reference}/deliveries": {
        "get": _op("One destination's delivery log, newest first, with the platform's reason",
                   "destinations", secret=True,
                   params=[DESTINATION, _query("status", "pending, sent, failed or dead",
                                               {"enum": [PENDING, SENT, FAILED, DEAD]})],
                   answer=DELIVERIES),
    },
    "/api/v1/destinations/{reference}/days": {
        "get": _op("One destination's conversions per day queued (site time zone), by where "
                   "each stands now, with its last delivery", "destinations", secret=True,
                   params=[DESTINATION, _query("days", "how many days up to today, 1 to 90 "
                                                       "(default 14)", _whole(1, 90))],
                   answer=DELIVERY_DAYS),
    },
    "/api/v1/destinations/{reference}/replay": {
        "post": _op("Queue the destination's dead conversions again", "destinations",
                    secret=True, params=[DESTINATION], answer={
                        "type": "object", "required": ["requeued"],
                        "additionalProperties": False,
                        "properties": {"requeued": {"type": "integer", "minimum": 0}}}),
    },
    "/api/v1/destinations/{reference}/test": {
        "post": _op("Send a sample conversion in the platform's validation mode (GA4 debug "
                    "endpoint, Meta test_event_code, Google Ads validateOnly)", "destinations",
                    secret=True, params=[DESTINATION], answer=TESTED),
    },
    **REPORT_PATHS,
    "/webhooks/{provider}/{site_id}": {"post": _webhook()},
    "/api/v1/crm/events": {
        "get": _op(
            "The site's CRM inbox, newest first (no bodies)",
            "crm",
            secret=True,
            params=[_query("status", "received, applied or failed",
                           {"enum": ["received", "applied", "failed"]})],
            answer=_closed({"events": {"type": "array", "items": CRM_EVENT}}),
        )
    },
    "/api/v1/crm/events/replay": {
        "post": _op(
            "Apply again every delivery that failed or was never applied", "crm", secret=True,
            answer=_REPLAYED,
        )
    },
    "/api/v1/crm/events/{event_id}/replay": {
        "post": _op("Apply one stored delivery again", "crm", secret=True, params=[EVENT_ID],
                    answer=_closed({"event": CRM_EVENT}))
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This document",
            "tags": ["ops"],
            "responses": {"200": {"description": "OpenAPI 3.1"}},
        }
    },
    "/healthz": {
        "get": {
            "summary": "Liveness and database check",
            "tags": ["ops"],
            "responses": {"200": {"description": "ok"}, "503": {"description": "database down"}},
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "tags": ["ops"],
            "responses": {"200": {"description": "text exposition format"}},
        }
    },
}



# A destination's name is its key: sending it again with another platform conflicts.
PATHS["/api/v1/destinations"]["post"]["responses"]["409"] = _json(
    "the name is taken by a destination of another platform", ERROR)

PIXEL_PATH = "/collect.gif"
# Links from what an operation creates to the operations that read or act on it: clients
# (and the fuzzing gate's stateful phase) follow them from a response to the next request.
_LEAD = "$response.body#/lead_id"
_DESTINATION = "$response.body#/id"
LINKS: dict[tuple[str, str], dict[str, tuple[str, str, str, str]]] = {
    ("/api/v1/conversions", "post"): {
        "GetLead": ("/api/v1/leads/{lead_id}", "get", "lead_id", _LEAD),
        "GetJourney": ("/api/v1/reports/leads/{lead_id}/journey", "get", "lead_id", _LEAD),
        "SetStage": ("/api/v1/leads/{lead_id}/stage", "post", "lead_id", _LEAD),
    },
    ("/api/v1/offline-touches", "post"): {
        "GetLead": ("/api/v1/leads/{lead_id}", "get", "lead_id", _LEAD),
        "GetJourney": ("/api/v1/reports/leads/{lead_id}/journey", "get", "lead_id", _LEAD),
        "SetStage": ("/api/v1/leads/{lead_id}/stage", "post", "lead_id", _LEAD),
    },
    ("/api/v1/destinations", "post"): {
        "GetDeliveries": ("/api/v1/destinations/{reference}/deliveries", "get", "reference",
                          _DESTINATION),
        "GetDays": ("/api/v1/destinations/{reference}/days", "get", "reference", _DESTINATION),
        "Replay": ("/api/v1/destinations/{reference}/replay", "post", "reference", _DESTINATION),
        "Test": ("/api/v1/destinations/{reference}/test", "post", "reference", _DESTINATION),
    },
}


# What the linked creates answer, field by field: the links read these fields.
CREATED: dict[tuple[str, str], dict[str, Any]] = {
    ("/api/v1/conversions", "post"): {
        "type": "object",
        "required": ["lead_id", "created", "stage", "score"],
        "additionalProperties": False,
        "properties": {"lead_id": {"type": "string", "format": "uuid"},
                       "created": {"type": "boolean"}, "stage": STAGE,
                       "score": {"type": "integer"}},
    },
    ("/api/v1/offline-touches", "post"): {
        "type": "object",
        "required": ["lead_id", "id", "channel"],
        "additionalProperties": False,
        "properties": {"lead_id": {"type": "string", "format": "uuid"}, "id": _ID_TEXT,
                       "channel": {"type": "string"}},
    },
    ("/api/v1/destinations", "post"): DESTINATION_SHOWN,
}


def _operation_ref(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _add_links(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Put :data:`LINKS`, and the answer's fields (:data:`CREATED`) the links read, on every 2xx
    answer of the operations that create something."""
    # A conversion sent again with the same id changes nothing and answers 200, not 201.
    paths["/api/v1/conversions"]["post"]["responses"]["200"] = _json(
        "already recorded under this id: nothing changed")
    for (path, method), links in LINKS.items():
        for status, response in paths[path][method]["responses"].items():
            if status.startswith("2"):
                response["content"]["application/json"]["schema"] = CREATED[(path, method)]
                response["links"] = {
                    name: {"operationRef": _operation_ref(target, target_method),
                           "parameters": {parameter: expression}}
                    for name, (target, target_method, parameter, expression) in links.items()
                }
    return paths


_EVENT_TIMES = ("an event older than 30 days or more than 10 minutes ahead, after the clock "
                "correction of sent_at")
# The rules an operation applies that the document cannot state (tracker/validation.py
# RuleRefused): each is a 422 naming the field.
UNPROCESSABLE: dict[tuple[str, str], str] = {
    ("/collect", "post"): f"{_EVENT_TIMES}; an event id twice; props over "
                          f"{MAX_PROPS_BYTES} bytes as JSON",
    ("/identify", "post"): _EVENT_TIMES,
    ("/xd/adopt", "post"): "a token whose signature does not match, or an expired one",
    ("/v1/{kind}", "post"): "a timestamp older than 30 days or more than 10 minutes ahead; a "
                            "batch on a one-message path, or one message on /v1/batch; a type "
                            "other than the path's; a track without its event, an alias "
                            "without previousId and userId",
    ("/api/v1/conversions", "post"): "an unknown visitor, or a visitor not yet a lead and no "
                                     "email",
    ("/api/v1/costs", "post"): "a currency without an exchange rate on that day, or a day's "
                               "total of 10^12 or more",
    ("/api/v1/destinations", "post"): "no ad account so named connected to the site",
    ("/api/v1/destinations/{reference}/test", "post"): "a platform without a validation "
                                                         "mode, or Meta without a test_event_code",
    ("/api/v1/calls/config", "put"): "a pool id or a number twice, the default number in a "
                                     "pool, or too many numbers",
    ("/api/v1/reports/calls", "get"): "a start after the end, or a range over "
                                      f"{CALLS_MAX_DAYS} days",
}


def _complete(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Add the answers every operation of a kind can give, so none goes undocumented: 404 for
    a path naming something, 413 for a body, 503 while the database is away, 405 (with
    ``Allow``) for any other method, and 400 for a query string the request guard refuses
    (tracker/guards.py checks every query string, also of operations that take no
    parameters; the pixel alone answers its GIF whatever it is sent)."""
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            if (path, method) in UNPROCESSABLE:
                responses["422"] = _json(UNPROCESSABLE[(path, method)] + "; `field` names it",
                                         ERROR)
            if "{" in path:
                responses.setdefault("404", _json("no such object on this site", ERROR))
            if path != PIXEL_PATH:
                responses.setdefault("400", _json(
                    "a query-string name or value holding NUL or a lone surrogate; `field` "
                    "names the parameter", ERROR))
            if "requestBody" in operation:
                responses.setdefault("413", _json(
                    "body too large; `field` is `body`, or `file` for a multipart cost upload",
                    ERROR))
            responses.setdefault("503", {
                "description": "the database is unavailable (a restart, a failover): nothing "
                "was stored; retry after `Retry-After` seconds with the same ids",
                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                "content": {"application/json": {"schema": ERROR}},
            })
            responses.setdefault("405", {
                "description": "method not allowed; the `Allow` header lists those allowed",
                "headers": {"Allow": {"schema": {"type": "string"}}},
                "content": {"application/json": {"schema": ERROR}},
            })
    return paths


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "LeadTrail",
        "version": "1",
        "description": "First-party marketing attribution.",
    },
    "paths": _add_links(_complete(PATHS)),
    "components": {
        "securitySchemes": {
            "secretKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "a site's secret API key, lt_sk_…",
            }
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "field": {"type": ["string", "null"]},
                            "reason": {
                                "description": "why a webhook signature was refused",
                                "enum": [
                                    "missing_signature",
                                    "bad_signature",
                                    "stale_timestamp",
                                    "wrong_org",
                                    "bad_credentials",
                                    "malformed",
                                ],
                            },
                        },
                    }
                },
            },
            **bodies.SCHEMAS,
        },
    },
}


@bp.get("/api/openapi.json")
def document() -> Response:
    return jsonify(DOCUMENT)
