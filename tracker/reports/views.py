"""The reports API (secret key): ``/api/v1/reports/...``. Each handler is parse → query →
render; ``?format=csv`` gives any report as CSV."""

from __future__ import annotations

from flask import Blueprint, Response, request

from tracker.auth import site_from_api_key
from tracker.db import get_session
from tracker.reports import queries
from tracker.reports.query import (
    DIMENSIONS,
    WIN_RATE_GROUPS,
    parse_format_only,
    parse_report_query,
)
from tracker.reports.render import respond
from tracker.sites import site_settings

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")

# Per report: the parameters it takes beyond model, from, to, format and the filters.
EXTRA_PARAMS: dict[str, tuple[str, ...]] = {
    "revenue": ("group_by",),
    "funnel": ("group_by",),
    "models": ("group_by",),
    "win_rates": ("group_by",),
    "trend": ("interval",),
    "leads": ("limit", "offset"),
}


def _report(name: str) -> Response:
    site = site_from_api_key()
    groups = WIN_RATE_GROUPS if name == "win_rates" else DIMENSIONS
    query = parse_report_query(
        request.args, site_settings(site), extra=EXTRA_PARAMS[name], group_choices=groups
    )
    return respond(queries.REPORTS[name](get_session(), site, query), query.format)


@bp.get("/revenue")
def revenue() -> Response:
    return _report("revenue")


@bp.get("/funnel")
def funnel() -> Response:
    return _report("funnel")


@bp.get("/models")
def models() -> Response:
    return _report("models")


@bp.get("/win-rates")
def win_rates() -> Response:
    return _report("win_rates")


@bp.get("/trend")
def trend() -> Response:
    return _report("trend")


@bp.get("/leads")
def leads() -> Response:
    return _report("leads")


@bp.get("/leads/<lead_id>/journey")
def journey(lead_id: str) -> Response:
    site = site_from_api_key()
    output = parse_format_only(request.args)
    return respond(queries.lead_journey(get_session(), site, lead_id), output)
