"""The OpenAPI 3.1 document served at ``/api/openapi.json``: every endpoint, described.

A test walks the app's URL map and fails when a route is missing here, so the document stays
complete as endpoints are added.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

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
    body: dict[str, Any] | None = None,
    ok: str = "200",
    params: list[dict[str, Any]] | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {ok: _json("success"), "400": _json("invalid input; `field` names it", ERROR)},
    }
    if secret:
        operation["security"] = SECRET
        operation["responses"]["401"] = _json("missing, unknown or revoked secret key", ERROR)
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {content_type: {"schema": body}}}
    if params:
        operation["parameters"] = params
    return operation


def _query(name: str, description: str, schema_type: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": schema_type},
    }


LEAD_ID = {
    "name": "lead_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
OBJECT = {"type": "object"}

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
            body={"$ref": "#/components/schemas/Batch"},
            content_type="text/plain",
        ),
        "options": {
            "summary": "CORS preflight",
            "tags": ["collector"],
            "responses": {"204": {"description": "ok"}},
        },
    },
    "/collect.gif": {
        "get": {
            "summary": "No-JavaScript pixel (?k=&u=&r=)",
            "tags": ["collector"],
            "responses": {"200": {"description": "a 1x1 GIF; errors in X-LeadTrail-Error"}},
        }
    },
    "/identify": {
        "post": _op(
            "A form submit or identify call: the visitor becomes part of a lead",
            "collector",
            body=OBJECT,
            content_type="text/plain",
        ),
        "options": {
            "summary": "CORS preflight",
            "tags": ["collector"],
            "responses": {"204": {"description": "ok"}},
        },
    },
    "/xd/sign": {
        "post": _op(
            "Sign the visitor id for links to the site's other domains", "collector", body=OBJECT
        ),
        "options": {
            "summary": "CORS preflight",
            "tags": ["collector"],
            "responses": {"204": {"description": "ok"}},
        },
    },
    "/xd/adopt": {
        "post": _op(
            "Adopt a visitor id from a signed cross-domain token", "collector", body=OBJECT
        ),
        "options": {
            "summary": "CORS preflight",
            "tags": ["collector"],
            "responses": {"204": {"description": "ok"}},
        },
    },
    "/api/v1/conversions": {
        "post": _op(
            "Record a backend conversion (call, chat, offline sign-up)",
            "leads",
            secret=True,
            body=OBJECT,
            ok="201",
        )
    },
    "/api/v1/offline-touches": {
        "post": _op(
            "Attach an offline touch to a lead", "leads", secret=True, body=OBJECT, ok="201"
        )
    },
    "/api/v1/leads": {
        "get": _op(
            "List leads",
            "leads",
            secret=True,
            params=[
                _query("stage", "lead, mql, sql, opportunity, customer, lost or nurture"),
                _query("first_channel", "channel of the first touch"),
                _query("created_from", "ISO 8601 time"),
                _query("created_to", "ISO 8601 time"),
                _query("q", "search email, name, company"),
                _query("limit", "1-500", "integer"),
                _query("offset", "rows to skip", "integer"),
            ],
        )
    },
    "/api/v1/leads/{lead_id}": {
        "get": _op("One lead's journey", "leads", secret=True, params=[LEAD_ID])
    },
    "/api/v1/leads/{lead_id}/stage": {
        "post": _op("Change a lead's stage", "leads", secret=True, body=OBJECT, params=[LEAD_ID])
    },
    "/api/v1/leads/stages": {
        "post": _op("Change many leads' stages, all or nothing", "leads", secret=True, body=OBJECT)
    },
    "/api/v1/gdpr/erase": {
        "post": _op("Erase a person everywhere", "leads", secret=True, body=OBJECT)
    },
    "/api/v1/costs": {
        "post": _op(
            "Import ad spend (text/csv, multipart file, or JSON rows)",
            "costs",
            secret=True,
            body=OBJECT,
            ok="201",
        ),
        "get": _op(
            "List ad spend",
            "costs",
            secret=True,
            params=[_query("from", "YYYY-MM-DD"), _query("to", "YYYY-MM-DD (exclusive)")],
        ),
    },
    "/api/v1/exchange-rates": {
        "post": _op(
            "Set an exchange rate for cost conversion", "costs", secret=True, body=OBJECT, ok="201"
        )
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

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "LeadTrail",
        "version": "1",
        "description": "First-party marketing attribution.",
    },
    "paths": PATHS,
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
                        },
                    }
                },
            },
            "Batch": {
                "type": "object",
                "required": ["vid", "events"],
                "additionalProperties": False,
                "properties": {
                    "k": {"type": "string"},
                    "vid": {"type": "string"},
                    "sent_at": {"type": "integer"},
                    "consent": {"type": "boolean"},
                    "events": {"type": "array", "maxItems": 100, "items": OBJECT},
                },
            },
        },
    },
}


@bp.get("/api/openapi.json")
def document() -> Response:
    return jsonify(DOCUMENT)
