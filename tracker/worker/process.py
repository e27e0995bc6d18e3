"""The built-in worker of ``leadtrail serve``: one ``leadtrail worker`` child process beside
the request-serving processes, started once the server listens, started again if it dies,
stopped with the server.

Why a process and not a thread in every serving process: a thread shares its process's GIL
with the request threads, and takes it about once per turn of all of them. Under load the
queue then waited on the requests: in ``bench/worker.py`` (200 identifies a second offered
to 2 serving processes of 16 threads, each with a worker thread) the worker thread got a
tenth of its process's time and a new lead took 7 s (p50) to 12 s (p95) to reach the revenue
report. As its own process the operating system schedules it like any other: p95 2 s on the
same run. It is the same command a fleet runs (``leadtrail worker``), so a server and a
fleet do the same work the same way.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from tracker.metrics import process_exited

logger = logging.getLogger(__name__)

# The serving process a built-in worker belongs to; the worker exits when that one is gone.
PARENT_VARIABLE = "LEADTRAIL_WORKER_PARENT_PID"
# -P: the worker imports the same code as the server, not a "tracker" that happens to lie in
# the directory the server was started from.
WORKER_COMMAND = (sys.executable, "-P", "-m", "tracker.cli", "worker")

# Held while a child is being started, and by every os.fork() of this process (gunicorn's
# of its serving processes). Starting a child opens a pipe that closes when the child has
# exec'd; a serving process forked in between inherits its write end and keeps it open for
# good, and the start never returns (seen: the worker then never came back after a crash).
_SPAWNING = threading.RLock()
_forks_guarded = False


def _guard_forks() -> None:
    global _forks_guarded
    if not _forks_guarded:
        os.register_at_fork(before=_SPAWNING.acquire, after_in_parent=_SPAWNING.release,
                            after_in_child=_SPAWNING.release)
        _forks_guarded = True


class WorkerProcess:
    """Runs ``command`` as a child process and keeps it running until :meth:`stop`.

    A child that exits on its own (a crash, an out-of-memory kill) is started again after
    ``restart_delay`` seconds, doubling up to ``max_delay`` while it keeps dying within a
    minute. Its exit status is not always known: the server's own reaping of its worker
    processes (gunicorn's SIGCHLD handler waits for any child) may collect it first."""

    def __init__(
        self,
        command: Sequence[str] = WORKER_COMMAND,
        *,
        restart_delay: float = 1.0,
        max_delay: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.command = list(command)
        self.restart_delay = restart_delay
        self.max_delay = max_delay
        self.stop_timeout = stop_timeout
        self.starts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        process = self._process  # no lock: a start in progress must not block a look
        return None if process is None or process.poll() is not None else process.pid

    def start(self) -> None:
        _guard_forks()
        self._thread = threading.Thread(
            target=self._supervise, name="leadtrail-worker-supervisor", daemon=True
        )
        self._thread.start()

    def _supervise(self) -> None:
        delay = self.restart_delay
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                with _SPAWNING:
                    process = self._process = subprocess.Popen(
                        self.command, env={**os.environ, PARENT_VARIABLE: str(os.getpid())}
                    )
                self.starts += 1
            started = time.monotonic()
            code = process.wait()
            process_exited(process.pid)
            if self._stopping.is_set():
                return
            if time.monotonic() - started > 60:
                delay = self.restart_delay  # it ran a while: not a crash loop
            logger.error("the built-in worker (pid %s) exited (status %s); starting it again "
                         "in %.0f s", process.pid, code, delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self.max_delay)

    def stop(self) -> None:
        """Ask the child to finish its batch (SIGTERM), kill it after ``stop_timeout``."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread is not None:
            self._thread.join(timeout=5)


def exit_with_parent(stop: threading.Event, poll_seconds: float = 1.0) -> None:
    """In a built-in worker: set ``stop`` when the serving process that started it is gone
    (killed without the chance to stop its child), so no orphan keeps working."""
    parent = os.environ.get(PARENT_VARIABLE)
    if not parent or not parent.isdigit():
        return

    def watch() -> None:
        while not stop.wait(poll_seconds):
            if os.getppid() != int(parent):
                logger.warning("the server that started this worker is gone; stopping")
                stop.set()

    threading.Thread(target=watch, name="leadtrail-parent-watch", daemon=True).start()
