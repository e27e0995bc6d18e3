"""What every formatter receives and returns: plain values, so formats are pure and tested
without a database or a server."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Click:
    """An ad click we kept on a session: its kind (gclid, msclkid …), id and first-seen time."""

    kind: str
    value: str
    seen_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Conversion:
    """One outbox row ready to format: the platform's conversion ``name`` for its milestone,
    the lead's identity, and ``key`` (the idempotency key, sent as event / order id)."""

    key: str
    kind: str  # conversion, restatement, retraction
    milestone: str
    name: str
    occurred_at: dt.datetime
    value: decimal.Decimal | None = None
    currency: str | None = None
    order_id: str | None = None
    lead_id: str = ""
    email: str | None = None
    phone: str | None = None
    clicks: tuple[Click, ...] = ()
    ga_client_id: str | None = None
    fbp: str | None = None
    fbc: str | None = None
    # None: the site does not run consent mode; else whether the visitor granted ad consent.
    consent: bool | None = None
    # For an adjustment: when the conversion it adjusts happened (Microsoft keys on it).
    original_at: dt.datetime | None = None

    def click(self, *kinds: str) -> Click | None:
        """The lead's original click of the first of ``kinds`` it has (clicks come oldest
        first)."""
        for kind in kinds:
            for click in self.clicks:
                if click.kind == kind:
                    return click
        return None

    @property
    def transaction_id(self) -> str:
        """What the platform deduplicates revenue on: the deal's order id, else our key."""
        return self.order_id or self.key


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP call to make: ``path`` under the destination's base URL, its query and JSON
    body, and the keys of the conversions it carries (in body order)."""

    path: str
    body: Mapping[str, Any]
    keys: tuple[str, ...]
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch split into requests to make and conversions refused before sending, each with
    the rule it broke (kept in the delivery log, never sent)."""

    requests: tuple[Request, ...]
    refused: Mapping[str, str]


NO_CONSENT = "the visitor did not grant ad consent"


def new_conversion_refusal(
    conversion: Conversion, now: dt.datetime, max_age: dt.timedelta, *, no_adjustment: str,
    too_old: str,
) -> str | None:
    """Why a platform that takes only new, recent, consented conversions refuses this one
    (checked in that order), or ``None``."""
    if conversion.kind != "conversion":
        return no_adjustment
    if conversion.occurred_at < now - max_age:
        return too_old
    if conversion.consent is False:
        return NO_CONSENT
    return None


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]
