"""Which reports' groups and days a connected ad account vouches for: its pull stored every
day from ``start_day`` to ``synced_through``, so on those days its channel / source / medium
spent exactly what ``costs`` holds — 0 where it holds nothing. The reports use this to tell a
known zero from an unknown cost (docs/spend.md, "Unknown cost")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.costs.adspend.mapping import account_mapping
from tracker.models import AdAccount
from tracker.rules.channels import ChannelRule, TouchInput, classify_channel

COVERED_DIMENSIONS = ("channel", "source", "medium")


@dataclass(frozen=True, slots=True)
class Coverage:
    """One account's dimensions (channel, source, medium) and the days it has pulled."""

    dimensions: Mapping[str, str]
    first_day: dt.date
    last_day: dt.date

    def overlaps(self, start: dt.date, end: dt.date) -> bool:
        return self.first_day <= end and self.last_day >= start

    def matches(self, filters: tuple[tuple[str, str | None], ...]) -> bool:
        """Whether the account's spend can fall under ``filters`` (campaign and keyword
        filters do not exclude it: the account reports every campaign and keyword)."""
        return all(self.dimensions[name] == value for name, value in filters
                   if name in COVERED_DIMENSIONS)


def pulled_coverage(session: Session, site_id: int, start: dt.date, end: dt.date,
                    rules: Sequence[ChannelRule] = ()) -> list[Coverage]:
    """The site's accounts that have pulled days between ``start`` and ``end``."""
    found = session.execute(
        select(AdAccount.platform, AdAccount.mapping, AdAccount.start_day,
               AdAccount.synced_through)
        .where(AdAccount.site_id == site_id, AdAccount.synced_through >= start,
               AdAccount.start_day <= end))
    coverage = []
    for platform, overrides, first_day, last_day in found:
        mapping = account_mapping(platform, overrides or {})
        # The channel of its campaign-less spend: the collector's rules on source/medium.
        channel = classify_channel(TouchInput(utm_source=mapping.source,
                                              utm_medium=mapping.medium), rules).channel
        coverage.append(Coverage(
            {"channel": channel, "source": mapping.source, "medium": mapping.medium},
            first_day, last_day))
    return coverage
