"""Operations endpoints: ``/healthz`` (cheap: one ``SELECT 1``) and ``/metrics`` (Prometheus
text format)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.orm import Session

from tracker.db import get_engine
from tracker.metrics import exposition
from tracker.models.base import utcnow
from tracker.worker.queue import queue_stats

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        with Session(get_engine()) as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        return jsonify(status="unavailable", database=type(exc).__name__), 503
    return jsonify(status="ok", database="ok"), 200


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    """Counters of every serving and working process (tracker.metrics), and the refresh
    queue's depth and lag as the database has them."""
    body = exposition().decode()
    with Session(get_engine()) as session:
        stats = queue_stats(session)
    lag = stats.lag_seconds(utcnow())
    body += (
        "# HELP leadtrail_refresh_queue_depth Refresh queue items waiting for the worker.\n"
        "# TYPE leadtrail_refresh_queue_depth gauge\n"
        f"leadtrail_refresh_queue_depth {stats.depth}\n"
        "# HELP leadtrail_refresh_queue_failing Queued items whose last attempt failed.\n"
        "# TYPE leadtrail_refresh_queue_failing gauge\n"
        f"leadtrail_refresh_queue_failing {stats.failing}\n"
        "# HELP leadtrail_refresh_queue_oldest_age_seconds Age of the oldest waiting item.\n"
        "# TYPE leadtrail_refresh_queue_oldest_age_seconds gauge\n"
        f"leadtrail_refresh_queue_oldest_age_seconds {lag:.3f}\n"
    )
    return Response(body, mimetype="text/plain; version=0.0.4")
