"""Pulling the deals changed since a checkpoint from a CRM's API, page by page.

Each provider module offers a :class:`DealSource` (HubSpot's CRM search, Pipedrive's v2 deal
list, a Salesforce SOQL query); :func:`pull_pages` follows its cursor, and starts the query
again from the newest modification seen when the provider caps how deep a cursor may go
(HubSpot search stops at 10,000 results). Sources sort by modification time, so once a page
is stored everything older is too: the caller advances its checkpoint per page.

A pulled deal's event id is ``pull:<deal id>:<modification time>``: pulling one version twice
(after an interruption, or through :data:`OVERLAP`) is one delivery, and a deal seen by
webhook and by pull is one deal (same provider and id) whose fields keep their newest values.
Standard library only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from crm_sync.errors import ApiError
from crm_sync.events import MAX_EVENT_ID_LENGTH, DealEvent

# Queries start this much before the checkpoint: records changed just before it may be
# indexed late (HubSpot search lags a few seconds; a long Salesforce transaction commits
# with an earlier SystemModstamp). The repeats are absorbed by the event ids.
OVERLAP = dt.timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class PulledDeal:
    """One deal as the API returned it (``record``, stored in the inbox), the event it makes,
    and the modification time the source sorts by (``modified_at``, the checkpoint key)."""

    record: Mapping[str, object]
    event: DealEvent
    modified_at: dt.datetime

    def body(self) -> bytes:
        """``record`` as canonical JSON (decimals as strings, so amounts keep their digits)."""
        return json.dumps(
            self.record, sort_keys=True, separators=(",", ":"), default=_plain
        ).encode()


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass(frozen=True, slots=True)
class Page:
    """One answer of a source: its deals, the cursor of the next page (``None`` at the end),
    whether the query can go no deeper (``restart``), and the total when the API says it."""

    deals: tuple[PulledDeal, ...]
    cursor: str | None = None
    restart: bool = False
    total: int | None = None

    @property
    def newest(self) -> dt.datetime | None:
        return max((deal.modified_at for deal in self.deals), default=None)


class DealSource(Protocol):
    """One CRM's changed deals, oldest change first."""

    provider: str

    def fetch(self, since: dt.datetime | None, cursor: str | None) -> Page:
        """The page at ``cursor`` (``None``: the first) of the deals modified at or after
        ``since`` (``None``: all). Raises :class:`~crm_sync.errors.ApiError`."""
        ...


def pulled_event_id(deal_id: str, modified_at: dt.datetime) -> str:
    stamp = modified_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return f"pull:{deal_id}:{stamp}"[:MAX_EVENT_ID_LENGTH]


def pull_pages(source: DealSource, since: dt.datetime | None) -> Iterator[Page]:
    """Every page of the deals modified since ``since`` (less :data:`OVERLAP`).

    A generator: the caller stores each page before asking for the next, so stopping at
    any point (an error, Ctrl-C) loses nothing already yielded.
    """
    query_since = None if since is None else since - OVERLAP
    newest = since
    cursor: str | None = None
    while True:
        page = source.fetch(query_since, cursor)
        yield page
        if page.newest is not None and (newest is None or page.newest > newest):
            newest = page.newest
        if page.restart:
            if newest is None or (query_since is not None and newest <= query_since):
                raise ApiError(
                    None,
                    "more deals share one modification time than the API can page through",
                    retryable=False,
                )
            query_since, cursor = newest, None
        elif page.cursor is None:
            return
        else:
            cursor = page.cursor
