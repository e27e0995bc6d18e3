"""Process-level tuning applied once a serving (or working) process has started."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Put every object alive after start-up (modules, the app, SQLAlchemy's metadata, parsed
    rules: some 130,000 objects) out of the cyclic collector's reach.

    A full collection otherwise walks them all: about 80 ms on the reports bench, landing on
    one report request in six to eight and doubling its time (bench/reports.py's p95). What a
    request allocates is still collected as before. ``gc.freeze`` exists for this (Python's
    gc docs: freeze after start-up)."""
    gc.collect()
    gc.freeze()
