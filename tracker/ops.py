"""Operations endpoints: ``/healthz`` and ``/metrics`` (Prometheus text format), and the
counters and rejection reasons that logs, metrics and tests share."""

from __future__ import annotations

import os
import threading
from collections import Counter
from enum import StrEnum
from typing import Protocol

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from tracker.db import get_engine

bp = Blueprint("ops", __name__)


class RejectionReason(StrEnum):
    """Why a request stored nothing; one label value each in ``leadtrail_rejected_total``."""

    INVALID = "invalid"
    TOO_LARGE = "too_large"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    SIGNATURE_INVALID = "signature_invalid"
    GPC = "gpc"
    OTHER = "other"


class _HasCode(Protocol):
    code: str


_lock = threading.Lock()
_counters: Counter[tuple[str, str]] = Counter()


def _add(name: str, label: str, amount: int = 1) -> None:
    with _lock:
        _counters[(name, label)] += amount


def count_rejection_reason(reason: RejectionReason) -> None:
    _add("leadtrail_rejected_total", reason.value)


def count_rejection(error: _HasCode) -> None:
    try:
        reason = RejectionReason(error.code)
    except ValueError:
        reason = RejectionReason.OTHER
    count_rejection_reason(reason)


def count_stored(events: int, is_bot: bool) -> None:
    _add("leadtrail_events_acknowledged_total", "bot" if is_bot else "human", events)


def counter_value(name: str, label: str) -> int:
    with _lock:
        return _counters[(name, label)]


_HELP = {
    "leadtrail_events_acknowledged_total": ("kind", "Events acknowledged after commit."),
    "leadtrail_rejected_total": ("reason", "Requests refused, by reason."),
}


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        return jsonify(status="unavailable", database=type(exc).__name__), 503
    return jsonify(status="ok", database="ok"), 200


@bp.get("/metrics")
def metrics() -> Response:
    """Per-process counters (label ``pid``); Prometheus sums them across workers."""
    pid = os.getpid()
    lines: list[str] = []
    with _lock:
        snapshot = dict(_counters)
    for name, (label_name, help_text) in _HELP.items():
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} counter")
        for (metric, label), value in sorted(snapshot.items()):
            if metric == name:
                lines.append(f'{name}{{{label_name}="{label}",pid="{pid}"}} {value}')
    collector = current_app.extensions.get("leadtrail.collector")
    if collector is not None:
        stats = collector.committer.stats
        lines += [
            "# HELP leadtrail_commit_groups_total Collector transactions committed.",
            "# TYPE leadtrail_commit_groups_total counter",
            f'leadtrail_commit_groups_total{{pid="{pid}"}} {stats.groups}',
            "# HELP leadtrail_commit_batches_total Batches written by those transactions.",
            "# TYPE leadtrail_commit_batches_total counter",
            f'leadtrail_commit_batches_total{{pid="{pid}"}} {stats.items}',
            "# HELP leadtrail_commit_busy_seconds_total Time the writer spent in transactions.",
            "# TYPE leadtrail_commit_busy_seconds_total counter",
            f'leadtrail_commit_busy_seconds_total{{pid="{pid}"}} {stats.busy_seconds:.3f}',
            "# HELP leadtrail_commit_failures_total Group commits that failed.",
            "# TYPE leadtrail_commit_failures_total counter",
            f'leadtrail_commit_failures_total{{pid="{pid}"}} {stats.failures}',
        ]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
