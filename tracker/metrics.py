"""Process metrics for ``/metrics``, summed over every process that serves or works.

prometheus_client's multiprocess mode: when ``PROMETHEUS_MULTIPROC_DIR`` names a directory
(``leadtrail serve`` makes one for its gunicorn workers; a separate ``leadtrail worker`` on
the same box is pointed at the same one), each process writes its counters to files there
and a scrape of any worker adds them all up. Without it (tests, one process) the counters
live in this process's registry.

Metrics are created on first use, not at import: the value class of prometheus_client is
chosen when a metric is created, and ``leadtrail serve`` sets the directory after the app,
and so this module, was imported.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class Metrics:
    events_acknowledged: Counter
    rejected: Counter
    commit_groups: Counter
    commit_batches: Counter
    commit_busy_seconds: Counter
    commit_failures: Counter
    refresh_items: Counter
    refresh_failures: Counter
    refresh_batch_seconds: Histogram
    spend_rows_pulled: Counter
    spend_pull_failures: Counter
    conversions: Counter


_lock = threading.Lock()
_metrics: Metrics | None = None


def _create() -> Metrics:
    return Metrics(
        events_acknowledged=Counter(
            "leadtrail_events_acknowledged", "Events acknowledged after commit.", ["kind"]
        ),
        rejected=Counter("leadtrail_rejected", "Requests refused, by reason.", ["reason"]),
        commit_groups=Counter("leadtrail_commit_groups", "Collector transactions committed."),
        commit_batches=Counter(
            "leadtrail_commit_batches", "Batches written by those transactions."
        ),
        commit_busy_seconds=Counter(
            "leadtrail_commit_busy_seconds", "Time the collector's writer spent in transactions."
        ),
        commit_failures=Counter("leadtrail_commit_failures", "Group commits that failed."),
        refresh_items=Counter(
            "leadtrail_refresh_items", "Refresh queue items the worker completed.", ["kind"]
        ),
        refresh_failures=Counter(
            "leadtrail_refresh_failures", "Refresh queue items that failed (kept, retried).",
            ["kind"],
        ),
        refresh_batch_seconds=Histogram(
            "leadtrail_refresh_batch_seconds", "Time one worker batch took.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        ),
        spend_rows_pulled=Counter(
            "leadtrail_spend_rows_pulled", "Ad platform rows stored by spend pulls.", ["platform"]
        ),
        spend_pull_failures=Counter(
            "leadtrail_spend_pull_failures", "Spend pulls that failed (retried later).",
            ["platform"],
        ),
        conversions=Counter(
            "leadtrail_conversions", "Conversions settled by destination senders, by outcome "
            "(sent, retrying, dead).", ["platform", "outcome"],
        ),
    )


def metrics() -> Metrics:
    """This process's metrics, created on first use."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _create()
    return _metrics


def use_multiprocess_dir(path: str) -> None:
    """Write this process's (and its children's) metrics to files in ``path``. Call before
    any metric is created, i.e. before the first request or worker batch."""
    os.environ[MULTIPROC_VARIABLE] = path
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def process_exited(pid: int) -> None:
    """Drop a dead process's live gauges (its counters stay in the sums)."""
    if os.environ.get(MULTIPROC_VARIABLE):
        mark_process_dead(pid)  # type: ignore[no-untyped-call]


def exposition() -> bytes:
    """Every process's metrics in the Prometheus text format."""
    metrics()  # a scrape before any event still lists every metric, at 0
    if os.environ.get(MULTIPROC_VARIABLE):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


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


def count_rejection_reason(reason: RejectionReason) -> None:
    metrics().rejected.labels(reason.value).inc()


def count_rejection(error: _HasCode) -> None:
    try:
        reason = RejectionReason(error.code)
    except ValueError:
        reason = RejectionReason.OTHER
    count_rejection_reason(reason)


def count_stored(events: int, is_bot: bool) -> None:
    metrics().events_acknowledged.labels("bot" if is_bot else "human").inc(events)
