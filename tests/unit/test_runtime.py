"""A serving process freezes what start-up left alive, so full collections during requests
walk only what the requests allocated (tracker/runtime.py)."""

from __future__ import annotations

import gc
from pathlib import Path

from tracker.cli.serve import _Gunicorn
from tracker.config import Settings


def test_a_loaded_serving_process_has_frozen_its_start_up_heap(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'lt.db'}", builtin_worker=False,
                        secret_key="k" * 32)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        app = _Gunicorn(settings, {}).load()
        assert app.name == "tracker"
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the modules and the app, not a handful of objects
        assert gc.is_tracked(app) and not any(o is app for o in gc.get_objects())
    finally:
        gc.unfreeze()
