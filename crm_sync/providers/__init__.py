"""One module per CRM format, each with ``verify`` (is this delivery authentic?) and
``parse`` (bytes to :class:`~crm_sync.events.DealEvent` values). Standard library only."""

from __future__ import annotations

import hmac

# Every timestamped signature (HubSpot v3, our generic one) accepts requests at most this
# many seconds away from now, in either direction.
TOLERANCE_SECONDS = 300


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of two strings (compared as UTF-8 bytes, so non-ASCII input
    is a mismatch rather than a ``TypeError``)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
