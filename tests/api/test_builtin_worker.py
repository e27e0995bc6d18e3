"""``leadtrail serve``'s built-in worker is one process of its own beside the serving
processes (tracker/worker/process.py): a new lead reaches the report through it, a crashed
worker is started again, and it goes when the server goes."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.api.test_collect import BROWSER
from tests.servers import LiveServer, serve
from tracker.sites.service import CreatedSite

pytestmark = pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc")


def _children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        # "pid (name) state ppid …": the name may hold spaces, so split after its ")".
        state, parent = stat.rpartition(")")[2].split()[:2]
        if int(parent) == pid and state != "Z":
            found[int(entry.name)] = command
    return found


def _workers(server: LiveServer) -> list[int]:
    return [pid for pid, command in _children(server.pid).items()
            if command.endswith("-P -m tracker.cli worker")]


def _wait_for(check: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _identify(server: LiveServer, site: CreatedSite, email: str) -> None:
    body = {"k": site.write_key, "vid": f"visitor-{uuid.uuid4().hex[:12]}",
            "id": uuid.uuid4().hex, "ts": int(time.time() * 1000),
            "url": "https://localhost/contact?utm_source=google&utm_medium=cpc",
            "email": email}
    response = requests.post(f"{server.url}/identify", data=json.dumps(body), timeout=30,
                             headers={"User-Agent": BROWSER, "Origin": "https://localhost",
                                      "Content-Type": "text/plain"})
    assert response.status_code == 200, response.text


def _leads_in_report(server: LiveServer, site: CreatedSite) -> float:
    today = dt.datetime.now(dt.UTC).date()
    response = requests.get(
        f"{server.url}/api/v1/reports/revenue?model=linear&group_by=channel"
        f"&from={today - dt.timedelta(days=1)}&to={today + dt.timedelta(days=1)}",
        headers={"Authorization": f"Bearer {site.api_key}"}, timeout=30)
    assert response.status_code == 200, response.text
    return float(response.json()["totals"]["leads"])


def test_serve_runs_its_worker_as_one_process_started_again_after_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{tmp_path / 'builtin.db'}"
    # Started from a directory holding another "tracker": the worker runs the server's code.
    (tmp_path / "tracker").mkdir()
    (tmp_path / "tracker" / "__init__.py").write_text("raise SystemExit('not this one')\n")
    monkeypatch.chdir(tmp_path)
    with serve(database, {"LEADTRAIL_WORKERS": "2",
                          "LEADTRAIL_WORKER_POLL_SECONDS": "0.1"}) as server:
        site = server.make_site()
        _wait_for(lambda: len(_workers(server)) == 1)
        children = _children(server.pid)
        # Two serving processes and one worker: the serving processes run no worker of
        # their own (a thread there waited on the request threads for the GIL).
        assert len(children) == 3, children
        (first,) = _workers(server)

        _identify(server, site, "ada@example.com")
        _wait_for(lambda: _leads_in_report(server, site) == 1)  # only a worker puts it there

        os.kill(first, signal.SIGKILL)
        _wait_for(lambda: len(_workers(server)) == 1 and _workers(server) != [first])
        (second,) = _workers(server)
        _identify(server, site, "grace@example.com")
        _wait_for(lambda: _leads_in_report(server, site) == 2)
    assert not Path(f"/proc/{second}").exists() or "Z" in (
        Path(f"/proc/{second}/stat").read_text().rpartition(")")[2].split()[:1])


def test_a_fleets_server_runs_no_worker(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'fleet.db'}"
    with serve(database, {"LEADTRAIL_WORKERS": "1", "LEADTRAIL_BUILTIN_WORKER": "0"}) as server:
        site = server.make_site()
        _identify(server, site, "ada@example.com")
        time.sleep(1.0)
        assert _workers(server) == []
        assert len(_children(server.pid)) == 1
        assert _leads_in_report(server, site) == 0  # queued for a `leadtrail worker`
