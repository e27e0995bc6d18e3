"""The built-in worker's supervisor (tracker/worker/process.py) with real child processes:
started, started again after a crash, stopped with its server; and a child whose server is
gone stops by itself."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tracker.worker.process import PARENT_VARIABLE, WorkerProcess, exit_with_parent

# A stand-in worker: notes its pid and its server's, then waits for SIGTERM.
CHILD = """
import os, signal, sys, time
with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()} {os.environ.get(sys.argv[2], '')}\\n")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(0.05)
"""


def _wait_for(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) is not alive either.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _started(log: Path) -> list[tuple[int, str]]:
    if not log.exists():
        return []
    return [(int(pid), parent) for pid, parent in
            (line.split(" ") for line in log.read_text().splitlines())]


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc")
def test_the_worker_is_started_again_after_a_crash_and_stopped_with_the_server(
    tmp_path: Path,
) -> None:
    log = tmp_path / "started"
    builtin = WorkerProcess([sys.executable, "-c", CHILD, str(log), PARENT_VARIABLE],
                            restart_delay=0.1, stop_timeout=10)
    builtin.start()
    try:
        _wait_for(lambda: len(_started(log)) == 1)
        (first, parent), = _started(log)
        assert parent == str(os.getpid())  # it knows its server
        assert builtin.pid == first
        os.kill(first, signal.SIGKILL)  # a crash, an out-of-memory kill
        _wait_for(lambda: len(_started(log)) == 2)
        second = _started(log)[1][0]
        assert second != first and builtin.starts == 2
        _wait_for(lambda: builtin.pid == second)
    finally:
        builtin.stop()
    assert not _alive(second)
    time.sleep(0.3)
    assert len(_started(log)) == 2  # a stopped supervisor starts nothing more
    assert builtin.pid is None


def test_a_worker_whose_server_is_gone_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its parent is not the server it was started by: that server died and the orphan was
    # adopted by another process.
    monkeypatch.setenv(PARENT_VARIABLE, str(os.getppid() + 1_000_000))
    stop = threading.Event()
    exit_with_parent(stop, poll_seconds=0.05)
    assert stop.wait(10)


def test_a_worker_whose_server_lives_keeps_working(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARENT_VARIABLE, str(os.getppid()))
    stop = threading.Event()
    exit_with_parent(stop, poll_seconds=0.05)
    assert not stop.wait(0.3)
    stop.set()  # ends the watch


def test_a_worker_started_by_hand_watches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PARENT_VARIABLE, raising=False)
    before = threading.active_count()
    exit_with_parent(threading.Event(), poll_seconds=0.05)
    assert threading.active_count() == before


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc")
def test_a_fork_of_the_server_while_the_worker_starts_does_not_hang_the_start(
    tmp_path: Path,
) -> None:
    """gunicorn forks its serving processes while the supervisor starts the worker. A fork
    that inherited the start's pipe held it open, and the start never returned: the
    supervisor then never saw its worker die, and never started it again."""
    log = tmp_path / "started"
    forked: list[int] = []
    done = threading.Event()

    def fork_like_gunicorn() -> None:
        while not done.is_set():
            pid = os.fork()
            if pid == 0:  # a serving process, alive until the test ends
                time.sleep(3600)
                os._exit(0)
            forked.append(pid)
            time.sleep(0.001)

    forker = threading.Thread(target=fork_like_gunicorn)
    builtin = WorkerProcess([sys.executable, "-c", CHILD, str(log), PARENT_VARIABLE],
                            restart_delay=0.01, stop_timeout=10)
    forker.start()
    try:
        builtin.start()
        for starts in range(1, 6):
            _wait_for(lambda starts=starts: len(_started(log)) == starts
                      and builtin.pid == _started(log)[-1][0], seconds=10)
            os.kill(_started(log)[-1][0], signal.SIGKILL)
    finally:
        done.set()
        forker.join()
        for pid in forked:  # first: a start they held can then return, and stop
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        builtin.stop()
    assert len(forked) > 20
