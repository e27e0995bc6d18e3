"""Write key → site lookup for the collector, cached briefly in each process.

The collector answers thousands of requests a second for a handful of sites; reading the site
row each time would double the database work. Settings changes reach every process within
``TTL_S``.
"""

from __future__ import annotations

import re
import threading
import time

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tracker.collect.service import SiteInfo
from tracker.errors import Unauthorized
from tracker.models import Site
from tracker.sites.service import site_by_write_key
from tracker.sites.settings import site_settings

TTL_S = 10.0
# Every write key we issue fits this; anything else (a NUL, a lone surrogate, a megabyte) is
# unknown without asking the database, which could not even compare some of it (PostgreSQL
# refuses NUL in text: a 500 from the CORS hook, which looks the query's ``k`` up after the
# handler refused it).
_WRITE_KEY_SHAPE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def site_info(site: Site) -> SiteInfo:
    return SiteInfo(id=site.id, domains=tuple(site.domains), settings=site_settings(site))


class SiteDirectory:
    def __init__(self, engine: Engine, ttl_s: float = TTL_S) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, SiteInfo | None]] = {}
        self._lock = threading.Lock()

    def by_write_key(self, write_key: str) -> SiteInfo:
        """The site of ``write_key``; :class:`Unauthorized` naming ``k`` when none."""
        if not _WRITE_KEY_SHAPE.fullmatch(write_key):
            raise Unauthorized("unknown write key", field="k")
        now = time.monotonic()
        cached = self._cache.get(write_key)
        if cached is None or cached[0] < now:
            with Session(self._engine) as session:
                site = site_by_write_key(session, write_key)
                info = site_info(site) if site is not None else None
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[write_key] = (now + self._ttl_s, info)
            cached = self._cache[write_key]
        if cached[1] is None:
            raise Unauthorized("unknown write key", field="k")
        return cached[1]

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
