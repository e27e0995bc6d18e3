"""Test data built through the same services production uses (no hand-made rows)."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tracker.db import get_engine
from tracker.sites.service import CreatedSite, create_site
from tracker.worker.runner import Progress, Worker

_counter = itertools.count(1)


@dataclass
class SiteMaker:
    """``sites.make(domains=[...], **settings)`` commits a site and returns it with its keys."""

    session: Session

    def make(self, domains: list[str] | None = None, **settings: Any) -> CreatedSite:
        with self.session.begin():
            return create_site(
                self.session,
                name=f"Site {next(_counter)}",
                domains=domains or ["example.com"],
                settings=settings,
            )


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return secrets.token_hex(8)


@dataclass
class BatchBuilder:
    """A ``/collect`` body with sensible defaults; tweak fields per test."""

    write_key: str
    visitor_id: str = field(default_factory=lambda: "v." + secrets.token_hex(8))
    events: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def pageview(self, url: str = "https://example.com/", **fields: Any) -> BatchBuilder:
        event = {"id": new_id(), "type": "pageview", "ts": now_ms(), "url": url}
        event.update(fields)
        self.events.append(event)
        return self

    def custom(self, name: str, **fields: Any) -> BatchBuilder:
        event = {"id": new_id(), "type": "custom", "ts": now_ms(), "name": name}
        event.update(fields)
        self.events.append(event)
        return self

    def body(self) -> dict[str, Any]:
        return {
            "k": self.write_key,
            "vid": self.visitor_id,
            "sent_at": now_ms(),
            "events": self.events,
            **self.extra,
        }


def drain_queue(app_or_engine: Flask | Engine, **worker_options: Any) -> Progress:
    """Run the worker until nothing is due (what `leadtrail serve`'s built-in worker process
    does in the background); fail when an item failed. ``worker_options`` go to :class:`Worker`."""
    engine = get_engine(app_or_engine) if isinstance(app_or_engine, Flask) else app_or_engine
    worker_options.setdefault("lookahead", dt.timedelta(minutes=1))
    progress = Worker(engine, **worker_options).run_once()
    assert progress.failures == 0, progress.failed
    return progress
