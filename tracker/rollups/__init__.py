"""Rollups: pre-aggregated traffic the reports read instead of scanning sessions.

:mod:`.levels` says what is kept (shared with the read side in tracker/reports/rollups.py);
:mod:`.traffic` builds and refreshes it (the worker and ``leadtrail rollups rebuild``)."""
