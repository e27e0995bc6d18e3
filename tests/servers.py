"""A real ``leadtrail serve`` (gunicorn, its serving processes and its built-in worker
process) for tests that need real HTTP and real concurrency: the browser tests and the
concurrency tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tracker.db import make_engine
from tracker.sites.service import CreatedSite, create_site

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    database_url: str
    engine: Engine
    pid: int  # the server's main process (gunicorn's master)

    def make_site(self, **settings: Any) -> CreatedSite:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            return create_site(
                session, name=f"e2e {time.monotonic_ns()}", domains=["localhost"], settings=settings
            )

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def wait_for(self, sql: str, expected: int, timeout: float = 15.0, **params: Any) -> int:
        """Poll ``SELECT count(*) …`` until it reaches ``expected`` (the snippet sends async)."""
        deadline = time.monotonic() + timeout
        count = -1
        while time.monotonic() < deadline:
            count = int(self.rows(sql, **params)[0][0])
            if count >= expected:
                return count
            time.sleep(0.2)
        return count

    def wait_until_fresh(self, timeout: float = 30.0) -> bool:
        """Wait for the server's built-in worker to drain the refresh queue."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if int(self.rows("SELECT count(*) FROM refresh_queue")[0][0]) == 0:
                return True
            time.sleep(0.2)
        return False


@contextmanager
def serve(database_url: str, environment: Mapping[str, str] | None = None
          ) -> Iterator[LiveServer]:
    """``leadtrail serve`` on a free port of 127.0.0.1 over ``database_url`` (migrated
    first), stopped on exit."""
    port = free_port()
    env = {
        **os.environ,
        "LEADTRAIL_DATABASE_URL": database_url,
        "LEADTRAIL_PORT": str(port),
        "LEADTRAIL_HOST": "127.0.0.1",
        "LEADTRAIL_LOG_LEVEL": "WARNING",
        **(environment or {}),
    }
    subprocess.run(
        [str(BIN / "leadtrail"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    # A file, not a pipe: a chatty server never blocks on a full pipe.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [str(BIN / "leadtrail"), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    engine = make_engine(database_url)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except OSError as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(
                        f"leadtrail serve did not start: {log.read().decode()[-2000:]}"
                    ) from error
                time.sleep(0.2)
        yield LiveServer(url=url, database_url=database_url, engine=engine, pid=process.pid)
    finally:
        engine.dispose()
        process.terminate()
        process.wait(timeout=20)
        log.close()
