"""Group commit: many concurrent requests share one transaction, none is answered early.

Each request hands its prepared batch to the process's writer thread and waits. The writer
takes everything queued while the previous transaction was committing, writes it with one set
of statements and one commit, then wakes every waiting request. Under load a commit carries
dozens of batches; at rest it carries one and adds no delay. A request is answered only after
the commit that holds its batch succeeded (acknowledged means stored). When a group fails,
each batch is retried alone, so one bad batch cannot fail its neighbours.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tracker.metrics import metrics

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
MAX_GROUP = 512
SUBMIT_TIMEOUT_S = 30.0


@dataclass
class CommitStats:
    groups: int = 0
    items: int = 0
    failures: int = 0
    largest_group: int = 0
    busy_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, size: int, failed: bool, seconds: float = 0.0) -> None:
        with self.lock:
            self.busy_seconds += seconds
            self.groups += 1
            self.items += size
            self.largest_group = max(self.largest_group, size)
            self.failures += int(failed)
        counters = metrics()
        counters.commit_groups.inc()
        counters.commit_batches.inc(size)
        counters.commit_busy_seconds.inc(seconds)
        if failed:
            counters.commit_failures.inc()


class GroupCommitter(Generic[Item, Result]):
    """Serialises writes of one process through one thread, batching what queues up.

    Started lazily and again after a fork (gunicorn workers), so it is safe to build in
    ``create_app``.
    """

    def __init__(
        self,
        store: Callable[[Sequence[Item]], Result],
        *,
        window_s: float = 0.0,
        max_group: int = MAX_GROUP,
        after_commit: Callable[[Sequence[Item], Result], object] | None = None,
    ) -> None:
        self._store = store
        self._window_s = window_s
        self._max_group = max_group
        self._after_commit = after_commit
        self._pid: int | None = None
        self._queue: queue.SimpleQueue[tuple[Item, Future[None]]] = queue.SimpleQueue()
        self._start_lock = threading.Lock()
        self.stats = CommitStats()

    def submit(self, item: Item, timeout: float = SUBMIT_TIMEOUT_S) -> None:
        """Block until ``item`` is committed; re-raise whatever stopped it."""
        self._ensure_running()
        done: Future[None] = Future()
        self._queue.put((item, done))
        done.result(timeout=timeout)

    def _ensure_running(self) -> None:
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()
            thread = threading.Thread(target=self._run, name="leadtrail-writer", daemon=True)
            thread.start()
            self._pid = os.getpid()

    def _take_group(self) -> list[tuple[Item, Future[None]]]:
        group = [self._queue.get()]
        deadline = time.monotonic() + self._window_s
        while len(group) < self._max_group:
            try:
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    group.append(self._queue.get(timeout=remaining))
                else:
                    group.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return group

    def _run(self) -> None:
        while True:
            group = self._take_group()
            started = time.perf_counter()
            try:
                result = self._commit([item for item, _ in group])
            except Exception as exc:  # noqa: BLE001 - each batch is retried alone below
                self.stats.record(len(group), failed=True)
                if len(group) == 1:
                    group[0][1].set_exception(exc)
                    continue
                logger.warning("group commit of %d batches failed; retrying one by one", len(group))
                for item, done in group:
                    try:
                        single_result = self._commit([item])
                    except Exception as single:  # noqa: BLE001 - handed to the waiting request
                        done.set_exception(single)
                    else:
                        self._run_after_commit([item], single_result)
                        done.set_result(None)
                continue
            self.stats.record(len(group), failed=False, seconds=time.perf_counter() - started)
            self._run_after_commit([item for item, _ in group], result)
            for _, done in group:
                done.set_result(None)

    def _run_after_commit(self, items: Sequence[Item], result: Result) -> None:
        # Follow-up work (lead rescoring) runs after the commit and before the answer, so a
        # caller sees current scores; its failure never turns stored events into an error.
        if self._after_commit is None:
            return
        try:
            self._after_commit(items, result)
        except Exception:
            logger.exception("after-commit work failed")

    def _commit(self, items: Sequence[Item]) -> Result:
        """``store`` runs its own transaction and returns only once it is committed."""
        return self._store(items)
