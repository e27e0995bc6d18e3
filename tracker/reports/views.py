"""The reports API: ``/api/v1/reports/...``, with the site's secret key or, for a signed-in
dashboard user, ``?site=<id>`` of a site they may open. Each handler is parse → query →
render; ``?format=csv`` gives any report as CSV."""

from __future__ import annotations

from flask import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from tracker.accounts.auth import signed_in_user_id, site_from_api_key
from tracker.accounts.users import site_for_user
from tracker.db import get_session
from tracker.models import Site, User
from tracker.reports import queries
from tracker.reports.paths import parse_paths_query, paths_report
from tracker.reports.query import (
    DIMENSIONS,
    WIN_RATE_GROUPS,
    parse_format_only,
    parse_report_query,
)
from tracker.reports.render import respond
from tracker.sites.settings import site_settings
from tracker.validation import parse_id

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


def _authorised_site() -> tuple[Site, MultiDict[str, str]]:
    """The site the request may read and its report parameters (without ``site``).

    A secret key wins; without one, a dashboard session reads the site named by ``site``
    (GET only, so the session cookie cannot be abused to change anything).
    """
    user_id = signed_in_user_id()
    if "Authorization" in request.headers or user_id is None:
        return site_from_api_key(), MultiDict(request.args)
    args = MultiDict(request.args)
    site_id = parse_id(args.pop("site", ""), "site")
    session = get_session()
    user = session.get(User, user_id)
    if user is None:
        return site_from_api_key(), args
    return site_for_user(session, user, site_id), args


def _report(name: str) -> Response:
    site, args = _authorised_site()
    groups = WIN_RATE_GROUPS if name == "win_rates" else DIMENSIONS
    query = parse_report_query(
        args, site_settings(site), extra=EXTRA_PARAMS[name], group_choices=groups
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


@bp.get("/paths")
def paths() -> Response:
    site, args = _authorised_site()
    query = parse_paths_query(args, site_settings(site))
    return respond(paths_report(get_session(), site, query), query.report.format)


@bp.get("/leads/<lead_id>/journey")
def journey(lead_id: str) -> Response:
    site, args = _authorised_site()
    output = parse_format_only(args)
    return respond(queries.lead_journey(get_session(), site, lead_id), output)
