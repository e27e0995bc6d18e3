"""Background passes that wait on outside services (ad platforms' spend reports, their
conversion uploads): each in a daemon thread of its own beside the refresh worker, so a slow
platform never holds up derived data."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


def run_every(task: Callable[[], object], seconds: float, stop: threading.Event,
              what: str) -> None:
    """Call ``task`` every ``seconds`` until ``stop`` is set; a failing pass is logged and the
    next one runs on time (the database may be restarting)."""
    while not stop.is_set():
        try:
            task()
        except Exception:
            logger.exception("%s pass failed", what)
        stop.wait(seconds)


def start_periodic(task: Callable[[], object], seconds: float, what: str,
                   stop: threading.Event | None = None) -> threading.Event:
    """:func:`run_every` in a daemon thread named after ``what``; set the returned event to
    stop it."""
    stop = stop or threading.Event()
    threading.Thread(target=run_every, args=(task, seconds, stop, what),
                     name=f"leadtrail-{what.replace(' ', '-')}", daemon=True).start()
    return stop
