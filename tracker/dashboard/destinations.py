"""What the Destinations set-up page shows and does: each destination with its mapping,
delivery counts by status and per day, last delivery, last error and last success; adding one
from the form with the API's validation; pausing, resuming, validating and replaying.

Plain functions over ``tracker.destinations.service``; sessions come first, nothing commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.dashboard.formatting import SiteFormatter
from tracker.dashboard.overview import chart_series
from tracker.destinations import service
from tracker.destinations.check import VALIDATING
from tracker.destinations.daily import DEFAULT_DAYS, DayCounts, daily_counts
from tracker.destinations.outbox import DEAD, FAILED, PENDING, SENT, STATUSES
from tracker.destinations.sender import outbox_counts
from tracker.destinations.settings import MILESTONES, PLATFORMS, milestone_map
from tracker.models import AdAccount, Destination
from tracker.validation import uuid_or_not_found

# The form's inputs that become settings or credentials when filled in; an input a
# platform does not use is refused by the same checks as the API, naming it.
SETTING_FIELDS = ("measurement_id", "pixel_id", "customer_id", "account_id", "currency",
                  "test_event_code")
CREDENTIAL_FIELDS = ("api_secret", "access_token", "developer_token", "client_id",
                     "client_secret", "refresh_token")
PLATFORM_LABELS = {"ga4": "Google Analytics 4", "meta": "Meta", "google_ads": "Google Ads",
                   "microsoft_ads": "Microsoft Ads", "linkedin": "LinkedIn"}


@dataclass(frozen=True, slots=True)
class MappedMilestone:
    milestone: str
    name: str
    value: str  # "none", "fixed 50", "deal amount", "expected 8000 × 0.2"


@dataclass(frozen=True, slots=True)
class DestinationRow:
    destination: Destination
    label: str
    mapping: list[MappedMilestone]
    counts: dict[str, int]
    last_success_at: dt.datetime | None
    can_validate: bool
    days: list[DayCounts]  # the last DEFAULT_DAYS site-local days, oldest first


def _value_text(rule: Any) -> str:
    if rule.rule == "fixed":
        return f"fixed {rule.amount}"
    if rule.rule == "deal":
        return "deal amount"
    if rule.rule == "expected":
        return f"expected {rule.amount} × {rule.probability or 1}"
    return "none"


def destination_rows(session: Session, site_id: int, timezone: str, now: dt.datetime
                     ) -> list[DestinationRow]:
    found = []
    destinations = service.list_destinations(session, site_id)
    per_day = daily_counts(session, site_id, [d.id for d in destinations], timezone,
                           DEFAULT_DAYS, now)
    for destination in destinations:
        mapping = [MappedMilestone(milestone, m.name, _value_text(m.value))
                   for milestone, m in milestone_map(destination.settings).items()]
        counts = outbox_counts(session, site_id, destination.id)
        found.append(DestinationRow(
            destination, PLATFORM_LABELS.get(destination.platform, destination.platform),
            mapping, {status: counts.get(status, 0) for status in STATUSES},
            service.last_success(session, destination),
            destination.platform in VALIDATING, per_day[destination.id]))
    return found


def daily_chart(rows: list[DestinationRow], fmt: SiteFormatter) -> dict[str, Any] | None:
    """Every destination's conversions per day queued, stacked by status now; ``None``
    without destinations."""
    if not rows:
        return None
    axis = rows[0].days
    totals = {status: [sum(getattr(r.days[n], status) for r in rows) for n in range(len(axis))]
              for status in (SENT, PENDING, FAILED, DEAD)}
    return {
        "type": "bar", "stacked": True,
        "labels": [d.day.isoformat() for d in axis],
        "datasets": [chart_series(status.capitalize(), totals[status], "integer", fmt)
                     for status in totals],
    }


def form_settings(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Settings and credentials from the add form: filled-in inputs only, and milestones
    from ``event_<milestone>`` / ``rule_<milestone>`` / ``amount_<milestone>``."""
    settings: dict[str, Any] = {key: form[key].strip() for key in SETTING_FIELDS
                                if (form.get(key) or "").strip()}
    credentials = {key: form[key].strip() for key in CREDENTIAL_FIELDS
                   if (form.get(key) or "").strip()}
    milestones: dict[str, Any] = {}
    for milestone in MILESTONES:
        name = (form.get(f"event_{milestone}") or "").strip()
        if not name:
            continue
        value: dict[str, Any] = {"rule": form.get(f"rule_{milestone}") or "none"}
        if (amount := (form.get(f"amount_{milestone}") or "").strip()):
            value["amount"] = amount
        milestones[milestone] = {"name": name, "value": value}
    if milestones:  # none filled in: the platform's defaults
        settings["milestones"] = milestones
    return settings, credentials


def add_from_form(session: Session, site_id: int, form: Mapping[str, str]) -> Destination:
    """Add (or replace) the destination the form describes; :class:`ValidationError` names
    the field exactly as the API would (``settings.pixel_id``, ``credentials.api_secret``).
    ``ad_account`` lends a connected ad account's OAuth tokens (the API's ``ad_account``)."""
    settings, credentials = form_settings(form)
    return service.add_destination(session, site_id, form.get("name") or "",
                                   form.get("platform") or "", settings, credentials,
                                   ad_account=(form.get("ad_account") or "").strip() or None)


# Ad accounts whose OAuth tokens a destination of the same platform may borrow: the same
# consent covers reporting and conversion uploads on Google Ads (scope adwords) and
# Microsoft Advertising (msads.manage). LinkedIn's reporting scope (r_ads_reporting) does
# not cover its Conversions API, so a LinkedIn destination keeps its own token.
LENDING_PLATFORMS = ("google_ads", "microsoft_ads")


def lendable_accounts(session: Session, site_id: int) -> list[tuple[str, str]]:
    """``(platform, account id)`` of the site's pulled ad accounts that can lend tokens."""
    found = session.execute(
        select(AdAccount.platform, AdAccount.account_id, AdAccount.credentials)
        .where(AdAccount.site_id == site_id, AdAccount.platform.in_(LENDING_PLATFORMS))
        .order_by(AdAccount.platform, AdAccount.account_id))
    return [(platform, account_id) for platform, account_id, credentials in found
            if credentials]


def find_by_id(session: Session, site_id: int, destination_id: str) -> Destination:
    """The site's destination by id; :class:`NotFound` for another site's or a bad id."""
    uuid_or_not_found(destination_id, "destination", "destination")
    return service.find_destination(session, site_id, destination_id)


__all__ = ["CREDENTIAL_FIELDS", "DEFAULT_DAYS", "MILESTONES", "PLATFORMS", "SETTING_FIELDS",
           "STATUSES", "DestinationRow", "add_from_form", "daily_chart", "destination_rows",
           "find_by_id", "form_settings", "lendable_accounts"]
