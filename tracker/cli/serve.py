"""``leadtrail serve``: gunicorn with threaded workers, the production server."""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from typing import Any

import click
from flask import current_app
from gunicorn.app.base import BaseApplication

from tracker import create_app, migrate
from tracker.cli.common import server_url
from tracker.config import ConfigError, Settings
from tracker.db import get_engine
from tracker.metrics import MULTIPROC_VARIABLE, process_exited, use_multiprocess_dir
from tracker.runtime import freeze_startup_heap
from tracker.secret_key import serving_secret_key
from tracker.worker.process import WorkerProcess


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Called in each worker after the fork: every worker owns its engine and writer thread.
        # Derived data, the spend pull and the conversions to ad platforms are the built-in
        # worker's (its own process: tracker/worker/process.py), not these processes'.
        # The writer thread gives up the GIL on every database call; with the default 5 ms
        # switch interval it then queues behind busy request threads (a GIL convoy). A short
        # interval lets it back in quickly; measured in bench/collector.py.
        sys.setswitchinterval(self._settings.switch_interval_ms / 1000)
        app = create_app(self._settings)
        freeze_startup_heap()
        return app


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    options = {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        "threads": settings.threads,
        "worker_class": "gthread",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "graceful_timeout": 10,
        "keepalive": 5,
        "backlog": 2048,
        "child_exit": lambda _server, worker: process_exited(worker.pid),
    }
    if settings.builtin_worker:
        # One `leadtrail worker` beside the serving processes, started once the server
        # listens (the schema is current by then) and stopped when it exits.
        builtin = WorkerProcess()
        options["when_ready"] = lambda _server: builtin.start()
        options["on_exit"] = lambda _server: builtin.stop()
    return options


@click.command("serve")
@click.option("--host", help="Address to bind (LEADTRAIL_HOST).")
@click.option("--port", type=int, help="Port (LEADTRAIL_PORT).")
@click.option("--workers", type=int, help="Worker processes (LEADTRAIL_WORKERS).")
@click.option("--threads", type=int, help="Threads per worker (LEADTRAIL_THREADS).")
def serve_command(
    host: str | None, port: int | None, workers: int | None, threads: int | None
) -> None:
    """Serve LeadTrail with gunicorn. An SQLite database is migrated on first start."""
    settings: Settings = current_app.config["LEADTRAIL_SETTINGS"]
    overrides: dict[str, Any] = {"host": host, "port": port, "workers": workers, "threads": threads}
    settings = dataclasses.replace(
        settings, **{k: v for k, v in overrides.items() if v is not None}
    )
    engine = get_engine()
    if not migrate.is_current(engine):
        if not settings.is_sqlite:
            raise click.ClickException(
                "the database schema is not current: run `leadtrail db upgrade` first"
            )
        migrate.upgrade(engine)
        click.echo(f"migrated the SQLite database to {migrate.current_revision(engine)}")
    engine.dispose()  # no connection may cross the fork into the workers
    try:
        # Resolved once here, before the fork, so every worker signs with the same key.
        settings = dataclasses.replace(settings, secret_key=serving_secret_key(settings))
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    if not os.environ.get(MULTIPROC_VARIABLE):
        # Each worker process writes its counters here; a scrape of any of them sums all.
        use_multiprocess_dir(tempfile.mkdtemp(prefix="leadtrail-metrics-"))
    click.echo(
        f"serving on http://{settings.host}:{settings.port} "
        f"({settings.workers} workers x {settings.threads} threads); "
        f"dashboard: {server_url(settings)}/dashboard/"
    )
    _Gunicorn(settings, gunicorn_options(settings)).run()
