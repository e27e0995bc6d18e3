"""What crm_sync needs from the application, as Protocols; tracker provides the services.

Standard library only: a Protocol is satisfied structurally, so tracker never imports a base
class from here and crm_sync never imports tracker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from crm_sync.events import DealEvent


class DealStore(Protocol):
    """Where deal events end up (tracker's deals service, bound to one site and session).

    ``apply`` must be idempotent and order-independent: applying the same event twice, or an
    older event after a newer one, leaves the newest value of each field. It returns the names
    of the deal fields it changed (empty when the event changed nothing).
    """

    def apply(self, event: DealEvent) -> Sequence[str]: ...


def apply_events(store: DealStore, events: Sequence[DealEvent]) -> int:
    """Apply ``events`` in the CRM's time order; the number that changed something."""
    ordered = sorted(events, key=lambda event: (event.occurred_at, event.provider_event_id))
    return sum(1 for event in ordered if store.apply(event))
