"""Demo pages served at ``/demo/`` when LEADTRAIL_DEMO is on (``make run``): a small site
with the snippet embedded, to watch visits become sessions. The page lists the visitor's own
sessions (read from the snippet's first-party ``_lt_vid`` cookie) above the site's latest,
and the contact page has a form the snippet captures, so a visitor becomes a lead."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, request, send_from_directory
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.dashboard.formatting import SiteFormatter
from tracker.db import PROJECT_ROOT, get_session
from tracker.models import Event, Site, VisitSession
from tracker.sites.settings import site_settings

bp = Blueprint("demo", __name__, url_prefix="/demo")
PAGES = {"": "Home", "pricing": "Pricing", "features": "Features", "contact": "Contact"}
VISITOR_COOKIE = "_lt_vid"  # written by static/t.js


@bp.get("/assets/demo.css")
def stylesheet() -> Response:
    return send_from_directory(PROJECT_ROOT / "static" / "demo", "demo.css", max_age=3600)


@bp.get("/", defaults={"page": ""})
@bp.route("/<page>", methods=["GET", "POST"])
def show(page: str) -> str:
    if page not in PAGES:
        abort(404)
    session = get_session()
    site = session.scalars(select(Site).where(Site.name == "Demo site")).first()
    if site is None:
        abort(404, "run `leadtrail sites demo` first")
    settings = site_settings(site)
    visitor = request.cookies.get(VISITOR_COOKIE)
    return render_template(
        "demo/page.html",
        site=site,
        page=page,
        pages=PAGES,
        title=PAGES[page],
        # The form posts back here; the snippet has already sent its fields to /identify.
        sent=request.method == "POST",
        own=_sessions(session, site.id, visitor) if visitor else [],
        sessions=_sessions(session, site.id),
        fmt=SiteFormatter(settings.currency, settings.timezone),
        origin=request.host_url.rstrip("/"),
    )


def _sessions(session: Session, site_id: int, visitor: str | None = None) -> list[Any]:
    """The latest sessions of the site, or of one visitor, with their event counts."""
    query = (
        select(
            VisitSession.started_at,
            VisitSession.channel,
            VisitSession.source,
            VisitSession.campaign,
            func.count(Event.id),
        )
        .join(
            Event, (Event.site_id == VisitSession.site_id) & (Event.session_id == VisitSession.id)
        )
        .where(VisitSession.site_id == site_id)
    )
    if visitor is not None:
        query = query.where(VisitSession.visitor_id == visitor)
    return list(session.execute(
        query.group_by(VisitSession.site_id, VisitSession.id)
        .order_by(VisitSession.started_at.desc())
        .limit(10)
    ).all())
