"""Demo pages served at ``/demo/`` when LEADTRAIL_DEMO is on (``make run``): a small site
with the snippet embedded, to watch visits become sessions."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, send_from_directory
from sqlalchemy import func, select

from tracker.db import PROJECT_ROOT, get_session
from tracker.models import Event, Site, VisitSession

bp = Blueprint("demo", __name__, url_prefix="/demo")
PAGES = {"": "Home", "pricing": "Pricing", "features": "Features", "contact": "Contact"}


@bp.get("/assets/demo.css")
def stylesheet() -> Response:
    return send_from_directory(PROJECT_ROOT / "static" / "demo", "demo.css", max_age=3600)


@bp.get("/", defaults={"page": ""})
@bp.get("/<page>")
def show(page: str) -> str:
    if page not in PAGES:
        abort(404)
    session = get_session()
    site = session.scalars(select(Site).where(Site.name == "Demo site")).first()
    if site is None:
        abort(404, "run `leadtrail sites demo` first")
    recent = session.execute(
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
        .where(VisitSession.site_id == site.id)
        .group_by(VisitSession.site_id, VisitSession.id)
        .order_by(VisitSession.started_at.desc())
        .limit(10)
    ).all()
    return render_template(
        "demo/page.html",
        site=site,
        page=page,
        pages=PAGES,
        title=PAGES[page],
        sessions=recent,
        origin=request.host_url.rstrip("/"),
    )
