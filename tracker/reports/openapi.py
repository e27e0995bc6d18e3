"""The reports' part of the OpenAPI document (merged into ``tracker.openapi.PATHS``): every
report with its parameters, its JSON row schema and its CSV form."""

from __future__ import annotations

from typing import Any

from tracker.openapi_bodies import DAY, storable
from tracker.reports.paths import PATH_COLUMNS, PATH_CONVERSIONS, PATH_LEVELS, PATH_VIEWS
from tracker.reports.queries import (
    FUNNEL_COLUMNS,
    JOURNEY_COLUMNS,
    LEAD_COLUMNS,
    MODEL_COLUMNS,
    REVENUE_COLUMNS,
    TREND_COLUMNS,
    WIN_RATE_COLUMNS,
    Column,
)
from tracker.reports.query import (
    DIMENSIONS,
    INTERVALS,
    MAX_FILTER_LENGTH,
    MAX_OFFSET,
    MAX_RANGE_DAYS,
    MODEL_NAMES,
    WIN_RATE_GROUPS,
)
from tracker.validation import MAX_PAGE

_ERROR = {"$ref": "#/components/schemas/Error"}
_KIND_SCHEMA = {
    "text": {"type": ["string", "null"]},
    "time": {"type": ["string", "null"], "format": "date-time"},
    # Null where the figure cannot be known (impressions no platform reported, calls of a
    # site not tracking them or by landing page).
    "integer": {"type": ["integer", "null"]},
}


def _param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


COMMON = [
    _param("model", "attribution model (default linear); one the site does not store is a 422",
           {"enum": sorted(MODEL_NAMES)}),
    _param("from", "first day, YYYY-MM-DD (UTC; default 29 days before 'to'); after 'to', or "
           f"a range over {MAX_RANGE_DAYS} days, is a 422", DAY),
    _param("to", "last day, inclusive, YYYY-MM-DD (UTC; default today)", DAY),
    _param("format", "json (default) or csv", {"enum": ["json", "csv"]}),
    *[
        _param(name, f"only touches whose {name} is this value; (none) for missing",
               storable({"type": "string", "minLength": 1, "maxLength": MAX_FILTER_LENGTH}))
        for name in DIMENSIONS
    ],
]


def _rows_schema(columns: tuple[Column, ...]) -> dict[str, Any]:
    properties = {
        c.name: _KIND_SCHEMA.get(c.kind, {"type": ["number", "null"]}) for c in columns
    }
    return {
        "type": "object",
        "properties": {
            "report": {"type": "string"},
            "query": {"type": "object"},
            "unique_visitors": {
                "enum": ["exact", "approximate"],
                "description": "revenue report: how visitors were counted (the site's "
                "unique_visitors setting; approximate figures are HyperLogLog estimates)",
            },
            "columns": {"type": "array", "items": {"type": "object"}},
            "rows": {"type": "array", "items": {"type": "object", "properties": properties}},
            "totals": {"type": "object"},
        },
    }


def _report(summary: str, columns: tuple[Column, ...], params: list[dict[str, Any]],
            description: str = "") -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "description": description + " Definitions of every figure: docs/reports.md.",
            "tags": ["reports"],
            "security": [{"secretKey": []}],
            "parameters": params,
            "responses": {
                "200": {
                    "description": "the report; with format=csv a CSV file with a header line "
                    "(and a '(total)' line when the report has totals); null figures are "
                    "undefined (a division by zero), empty cells in CSV",
                    "content": {
                        "application/json": {"schema": _rows_schema(columns)},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "400": {"description": "bad parameter; `field` names it",
                        "content": {"application/json": {"schema": _ERROR}}},
                "401": {"description": "missing, unknown or revoked secret key",
                        "content": {"application/json": {"schema": _ERROR}}},
                # Without a key, a signed-in dashboard session reads the site named by `site`.
                "403": {"description": "signed in to the dashboard, and `site` names a site "
                        "this user may not read",
                        "content": {"application/json": {"schema": _ERROR}}},
                "404": {"description": "signed in to the dashboard, and `site` names no site",
                        "content": {"application/json": {"schema": _ERROR}}},
            },
        }
    }


def _ranged(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A report over a range of days refuses a range it cannot run (422)."""
    for operations in paths.values():
        operation = operations["get"]
        if any(parameter["name"] == "from" for parameter in operation["parameters"]):
            operation["responses"]["422"] = {
                "description": f"`from` after `to`, a range over {MAX_RANGE_DAYS} days, or a "
                "model the site does not store; `field` names it",
                "content": {"application/json": {"schema": _ERROR}}}
    return paths


def _group_by(choices: tuple[str, ...]) -> dict[str, Any]:
    return _param("group_by", "grouping (default channel)", {"enum": list(choices)})


REPORT_PATHS: dict[str, dict[str, Any]] = _ranged({
    "/api/v1/reports/revenue": _report(
        "Revenue and every DESIGN section 7 figure per channel, source, medium, campaign, "
        "keyword or landing page, under one model",
        REVENUE_COLUMNS,
        [*COMMON, _group_by(DIMENSIONS)],
    ),
    "/api/v1/reports/funnel": _report(
        "Leads created in the range and how many reached mql, sql, opportunity, customer",
        FUNNEL_COLUMNS,
        [*COMMON, _group_by(DIMENSIONS)],
    ),
    "/api/v1/reports/models": _report(
        "Every stored model side by side per group", MODEL_COLUMNS,
        [*COMMON, _group_by(DIMENSIONS)],
    ),
    "/api/v1/reports/win-rates": _report(
        "Win rate of deals closed in the range by deal owner or attributed group",
        WIN_RATE_COLUMNS,
        [*COMMON, _group_by(WIN_RATE_GROUPS)],
    ),
    "/api/v1/reports/trend": _report(
        "Traffic, attributed conversions and spend per day, week or month", TREND_COLUMNS,
        [*COMMON, _param("interval", "bucket (default day)", {"enum": list(INTERVALS)})],
    ),
    "/api/v1/reports/leads": _report(
        "Leads created in the range, newest first, with channels, credit and revenue",
        LEAD_COLUMNS,
        [*COMMON,
         _param("limit", f"1-{MAX_PAGE}", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
         _param("offset", "rows to skip", {"type": "integer", "minimum": 0,
                                           "maximum": MAX_OFFSET})],
    ),
    "/api/v1/reports/paths": _report(
        "Conversion paths: top paths, path length, time lag, assisted vs last-touch "
        "conversions, or early / mid / late touch credit per group (view), from the stored "
        "journeys of one model",
        PATH_COLUMNS,
        [*COMMON,
         _param("view", "top (default), length, lag, assists or positions; each view has its "
                "own columns", {"enum": list(PATH_VIEWS)}),
         _param("conversion", "lead (default), opportunity or won",
                {"enum": list(PATH_CONVERSIONS)}),
         _param("group_by", "what names a touch on a path (default channel)",
                {"enum": list(PATH_LEVELS)}),
         _param("limit", f"top paths to list, 1-{MAX_PAGE} (default 100)",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE})],
        "Definitions follow Google Analytics (docs/reports.md, Conversion paths): an assist "
        "is any appearance on the path before its final touch.",
    ),
    "/api/v1/reports/leads/{lead_id}/journey": _report(
        "One lead's conversions with each touch's credit and value under every stored model",
        JOURNEY_COLUMNS,
        [
            {"name": "lead_id", "in": "path", "required": True,
             "schema": {"type": "string", "format": "uuid"}},
            _param("format", "json (default) or csv", {"enum": ["json", "csv"]}),
        ],
    ),
})
REPORT_PATHS["/api/v1/reports/leads/{lead_id}/journey"]["get"]["responses"]["404"] = {
    "description": "no such lead on this site (or, for a dashboard session, no site `site`)",
    "content": {"application/json": {"schema": _ERROR}},
}
