"""Background passes (spend pulls, conversion uploads) keep running after a failed pass and
stop when asked (tracker/periodic.py)."""

from __future__ import annotations

import logging
import threading

import pytest

from tracker.periodic import start_periodic


def test_a_failing_pass_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    calls: list[int] = []
    third = threading.Event()

    def task() -> None:
        calls.append(len(calls))
        if len(calls) == 3:
            third.set()
        if len(calls) == 1:
            raise RuntimeError("database restarting")

    with caplog.at_level(logging.ERROR, logger="tracker.periodic"):
        stop = start_periodic(task, 0.01, "spend pull")
        assert third.wait(5)
        stop.set()
    assert calls[:3] == [0, 1, 2]
    assert any("spend pull pass failed" in r.getMessage() for r in caplog.records)
