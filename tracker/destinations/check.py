"""``destinations test``: one sample conversion sent in the platform's validation mode (GA4
``/debug/mp/collect``, Meta with ``test_event_code``, Google Ads ``validateOnly``), so a
marketer sees the platform accept the mapping and credentials before real rows flow.
Microsoft Ads and LinkedIn have no validation mode."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from crm_sync.http import Sleep
from tracker.destinations import clients
from tracker.destinations.formats.conversion import Conversion
from tracker.destinations.sender import Batch, Outcome, send_batch
from tracker.destinations.settings import milestone_map
from tracker.models import Destination
from tracker.models.base import utcnow
from tracker.validation import RuleRefused

VALIDATING = frozenset({"ga4", "meta", "google_ads"})


def validate_destination(engine: Engine, session: Session, destination: Destination,
                         sleep: Sleep = time.sleep) -> dict[str, Outcome]:
    """The platform's verdict on a sample conversion of the first mapped milestone."""
    if destination.platform not in VALIDATING:
        raise RuleRefused(f"{destination.platform} has no validation mode", field="platform")
    if destination.platform == "meta" and not destination.settings.get("test_event_code"):
        raise RuleRefused("Meta validates only with a test_event_code (Events Manager)",
                          field="settings.test_event_code")
    milestone, mapping = next(iter(milestone_map(destination.settings).items()))
    now = utcnow()
    sample = Conversion(
        key=f"leadtrail-test-{uuid.uuid4().hex[:12]}", kind="conversion", milestone=milestone,
        name=mapping.name, occurred_at=now, value=mapping.value.value(None),
        currency=destination.settings.get("currency") or "USD", lead_id="leadtrail-test",
        email="test@example.com", ga_client_id="1234567890.1700000000",
    )
    batch = Batch(site_id=destination.site_id, destination_id=destination.id,
                  platform=destination.platform, settings=dict(destination.settings),
                  credentials=clients.destination_credentials(session, destination),
                  conversions=(sample,), row_ids={}, waiting=(), gone=())
    return send_batch(engine, batch, sleep, now, validate=True)
