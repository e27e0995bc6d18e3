"""The collector's per-app runtime: site directory, group committer and switches."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine

from tracker.collect.devices import describe_user_agent
from tracker.collect.directory import SiteDirectory
from tracker.collect.parsing import Batch
from tracker.collect.service import (
    PreparedBatch,
    SiteInfo,
    check_consent,
    prepare_batch,
    store_group,
)
from tracker.collect.writer import GroupCommitter
from tracker.config import Settings
from tracker.leads.scoring import rescore_active_leads
from tracker.metrics import RejectionReason, count_rejection_reason, count_stored


@dataclass
class Collector:
    sites: SiteDirectory
    committer: GroupCommitter[PreparedBatch, dict[int, list[uuid.UUID]]]
    max_body_bytes: int
    server_cookie: bool
    keep_bots: bool = False

    @classmethod
    def build(cls, engine: Engine, settings: Settings) -> Collector:
        keep_bots = settings.keep_bot_sessions
        return cls(
            sites=SiteDirectory(engine),
            committer=GroupCommitter(
                partial(store_group, engine, keep_bots=keep_bots),
                window_s=settings.commit_window_ms / 1000,
                after_commit=partial(rescore_active_leads, engine),
            ),
            max_body_bytes=settings.max_body_bytes,
            server_cookie=settings.server_cookie,
            keep_bots=keep_bots,
        )

    def accept(
        self, batch: Batch, site: SiteInfo, user_agent: str | None, client_ip: str | None, gpc: bool
    ) -> int:
        """Store ``batch`` (blocking until committed); the number of events acknowledged.

        A browser sending Global Privacy Control to a site that honours it is not tracked:
        nothing is stored and 0 is answered.
        """
        prepared = self.prepare(batch, site, user_agent, client_ip, gpc)
        if prepared is None:
            return 0
        self.committer.submit(prepared)
        count_stored(len(batch.events), prepared.device.is_bot)
        return len(batch.events)

    def prepare(
        self, batch: Batch, site: SiteInfo, user_agent: str | None, client_ip: str | None, gpc: bool
    ) -> PreparedBatch | None:
        """``batch`` ready to store, or None when the browser must not be tracked (GPC)."""
        check_consent(site, batch)
        if gpc and site.settings.honor_gpc:
            count_rejection_reason(RejectionReason.GPC)
            return None
        return prepare_batch(batch, site, describe_user_agent(user_agent), client_ip)
