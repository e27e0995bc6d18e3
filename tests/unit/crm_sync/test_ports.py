"""``apply_events`` hands a store events in the CRM's time order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from crm_sync.events import DealEvent
from crm_sync.ports import DealStore, apply_events

AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class ListStore:
    """A store that records what it is given; the second event for a deal changes nothing."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def apply(self, event: DealEvent) -> Sequence[str]:
        self.seen.append(event.provider_event_id)
        return ("status",) if len(self.seen) == 1 else ()


def test_events_reach_the_store_oldest_first_and_changes_are_counted() -> None:
    later = DealEvent("generic", "D", "b", AT + dt.timedelta(hours=1))
    earlier = DealEvent("generic", "D", "a", AT)
    store = ListStore()
    typed: DealStore = store

    changed = apply_events(typed, [later, earlier])

    assert store.seen == ["a", "b"]
    assert changed == 1
