"""What the set-up pages show and do: the snippet with the last event received, CRM
connections with their webhook URLs and inbox, cost uploads with errors by row and column,
connected ad accounts with their last pull and unmatched spend.

Plain functions over the existing services (``tracker.sites``, ``tracker.crm.inbox``,
``tracker.costs.service``); sessions come first, nothing commits here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crm_sync.events import PROVIDERS
from tracker.costs import service as costs
from tracker.costs.adspend import accounts
from tracker.costs.adspend.mapping import CAMPAIGN_FROM, KEYWORD_FROM, default_mapping
from tracker.costs.adspend.pull import request_pull
from tracker.costs.adspend.status import AccountStatus, account_statuses
from tracker.crm import inbox
from tracker.errors import NotFound, ValidationError
from tracker.localtime import iso_utc, local_today
from tracker.models import AdAccount, CrmEvent, Event, Site
from tracker.sites.settings import SiteSettings, secret_fingerprint
from tracker.validation import uuid_or_not_found

RECENT_EVENTS = 20


def last_event(session: Session, site_id: int) -> dict[str, Any] | None:
    """The newest stored event of the site (what the snippet's live check shows)."""
    event = session.scalars(
        select(Event)
        .where(Event.site_id == site_id)
        .order_by(Event.received_at.desc(), Event.id)
        .limit(1)
    ).first()
    if event is None:
        return None
    return {
        "type": event.type,
        "path": event.path or event.url,
        "received_at": iso_utc(event.received_at),
    }


@dataclass(frozen=True, slots=True)
class Connection:
    provider: str
    label: str
    webhook_url: str
    # Fingerprints and names only, never a secret: what verifies the provider's webhooks,
    # and the API token ``crm sync`` / ``crm push`` use. Either makes the provider
    # configured: a site that only pulls deals has no webhook secret.
    webhook_credentials: list[str]
    api_credentials: list[str]

    @property
    def configured(self) -> bool:
        return bool(self.webhook_credentials or self.api_credentials)


def _webhook_credentials(provider: str, settings: SiteSettings) -> list[str]:
    if provider == "hubspot":
        shown = [secret_fingerprint(s) for s in settings.hubspot_secrets]
        if settings.hubspot_portal_id:
            shown.append(f"portal {settings.hubspot_portal_id}")
        return shown
    if provider == "pipedrive":
        if settings.pipedrive_username and settings.pipedrive_password:
            return [
                f"user {settings.pipedrive_username}",
                secret_fingerprint(settings.pipedrive_password),
            ]
        return []
    if provider == "salesforce":
        shown = [f"org {settings.salesforce_org_id}"] if settings.salesforce_org_id else []
        if settings.salesforce_token:
            shown.append(secret_fingerprint(settings.salesforce_token))
        return shown
    return [secret_fingerprint(s) for s in settings.generic_secrets]


def _api_credentials(provider: str, settings: SiteSettings) -> list[str]:
    token = {
        "hubspot": settings.hubspot_api_token,
        "pipedrive": settings.pipedrive_api_token,
        "salesforce": settings.salesforce_access_token,
    }.get(provider)
    return [secret_fingerprint(token)] if token else []


LABELS = {
    "hubspot": "HubSpot",
    "pipedrive": "Pipedrive",
    "salesforce": "Salesforce",
    "generic": "Generic signed webhook",
}


def crm_connections(site: Site, settings: SiteSettings, origin: str) -> list[Connection]:
    """Every provider with its webhook URL and whether the site has webhook or API
    credentials for it. Salesforce's URL needs ``?token=`` appended by the operator (the token
    is not shown)."""
    return [
        Connection(
            provider,
            LABELS[provider],
            f"{origin.rstrip('/')}/webhooks/{provider}/{site.id}",
            _webhook_credentials(provider, settings),
            _api_credentials(provider, settings),
        )
        for provider in PROVIDERS
    ]


@dataclass(frozen=True, slots=True)
class ProviderDeliveries:
    """What one CRM has sent the site: counts by inbox status, the newest delivery's time and
    the newest failed delivery's error (``None`` when nothing failed)."""

    by_status: dict[str, int]
    last_received_at: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


NO_DELIVERIES = ProviderDeliveries({}, None, None, None)


def provider_deliveries(session: Session, site_id: int) -> dict[str, ProviderDeliveries]:
    """Per provider, the site's deliveries by status with the last received and the last
    error. One grouped count over the site's inbox rows (the inbox keeps one row per
    delivery, so it grows with CRM traffic, not with page views) and one indexed
    newest-failure lookup per provider that has failures."""
    counts: dict[str, dict[str, int]] = {}
    newest: dict[str, dt.datetime] = {}
    grouped = session.execute(
        select(CrmEvent.provider, CrmEvent.status, func.count(), func.max(CrmEvent.received_at))
        .where(CrmEvent.site_id == site_id)
        .group_by(CrmEvent.provider, CrmEvent.status)
    )
    for provider, status, count, received in grouped:
        counts.setdefault(provider, {})[status] = count
        if provider not in newest or received > newest[provider]:
            newest[provider] = received
    found = {}
    for provider, by_status in counts.items():
        error: CrmEvent | None = None
        if by_status.get("failed"):
            error = session.scalars(
                select(CrmEvent)
                .where(CrmEvent.site_id == site_id, CrmEvent.status == "failed",
                       CrmEvent.provider == provider)
                .order_by(CrmEvent.received_at.desc(), CrmEvent.id)
                .limit(1)
            ).first()
        found[provider] = ProviderDeliveries(
            dict(sorted(by_status.items())),
            newest[provider],
            error.error if error is not None else None,
            error.received_at if error is not None else None,
        )
    return found


def recent_crm_events(
    session: Session, site_id: int, status: str | None = None, limit: int = RECENT_EVENTS
) -> list[dict[str, object]]:
    query = select(CrmEvent).where(CrmEvent.site_id == site_id)
    if status is not None:
        query = query.where(CrmEvent.status == status)
    rows = session.scalars(query.order_by(CrmEvent.received_at.desc(), CrmEvent.id).limit(limit))
    return [inbox.event_summary(row) for row in rows]


def replay_crm_event(engine: Engine, site_id: int, event_id: str) -> str:
    """Apply one stored delivery of ``site_id`` again: ``applied`` or ``failed``.
    :class:`NotFound` for an id that is not this site's."""
    return inbox.apply_stored(
        engine, site_id, uuid_or_not_found(event_id, "CRM event", "event_id")
    )


@dataclass(frozen=True, slots=True)
class UploadProblem:
    row: str
    column: str
    message: str


def describe_problems(error: costs.CostImportError) -> list[UploadProblem]:
    """``rows.3.amount`` → row 3, column amount; ``header.x`` → the header row."""
    found = []
    for field, message in error.problems:
        parts = field.split(".", 2)
        if parts[0] == "rows" and len(parts) == 3:
            found.append(UploadProblem(parts[1], parts[2], message))
        elif parts[0] == "header" and len(parts) >= 2:
            found.append(UploadProblem("header", parts[1], message))
        else:
            found.append(UploadProblem("—", field, message))
    return found


def upload_costs(
    session: Session, site_id: int, currency: str, text: str, name: str, now: dt.datetime
) -> costs.Imported:
    """Parse and import a cost CSV (all or nothing); raises :class:`costs.CostImportError`."""
    rows = costs.parse_cost_csv(text, currency)
    return costs.import_costs(session, site_id, currency, rows, now, name)


# The set-up page's spend figures cover this many days up to today.
SPEND_STATUS_DAYS = 30


def spend_accounts(session: Session, site_id: int, settings: SiteSettings, now: dt.datetime
                   ) -> list[AccountStatus]:
    """The site's ad accounts with their last pull, rows, spend and unmatched spend."""
    end = local_today(settings.timezone, now)
    start = end - dt.timedelta(days=SPEND_STATUS_DAYS - 1)
    return account_statuses(session, site_id, settings, start, end)


def queue_spend_pull(session: Session, site_id: int, account_id: str, now: dt.datetime) -> str:
    """Make the account due now (the worker pulls it); its ``platform:account`` name."""
    account = _account(session, site_id, account_id)
    if not account.credentials:
        raise ValidationError("this account is fed by the demo, not pulled", field="account")
    if accounts.is_paused(account):
        raise ValidationError("the account is paused; resume it to pull", field="account")
    request_pull(session, account, now)
    return f"{account.platform}:{account.account_id}"


def _account(session: Session, site_id: int, account_id: str) -> AdAccount:
    key = uuid_or_not_found(account_id, "ad account", "account")
    account = session.get(AdAccount, (site_id, key))
    if account is None:
        raise NotFound("no such ad account", field="account")
    return account


# The connect form's credential inputs: every one some platform takes (the CLI's
# ``--credential`` keys); each platform's own list is checked by ``connect_account``.
ACCOUNT_CREDENTIAL_FIELDS = ("developer_token", "client_id", "client_secret", "refresh_token",
                             "access_token", "customer_id", "login_customer_id")
ACCOUNT_PLATFORMS = {"google_ads": "Google Ads", "meta": "Meta", "microsoft_ads":
                     "Microsoft Advertising", "linkedin": "LinkedIn"}
DEFAULT_START_DAYS = 90


# The connect form's mapping inputs, ``mapping_<key>``: left empty, the platform's default
# (docs/spend.md, "Mapping"); filled in, the same override as ``spend connect --map``.
MAPPING_FIELDS = ("source", "medium", "campaign_from", "keyword_from")
MAPPING_CHOICES = {"campaign_from": CAMPAIGN_FROM, "keyword_from": KEYWORD_FROM}


# What a refused connect form keeps filled in (never a credential).
CONNECT_FORM_KEPT = ("platform", "account_id", "start_day", "customer_id", "login_customer_id",
                     *(f"mapping_{key}" for key in MAPPING_FIELDS))


def form_mapping(form: Mapping[str, str]) -> dict[str, str]:
    """The mapping overrides filled in on the connect form."""
    return {key: form[f"mapping_{key}"].strip() for key in MAPPING_FIELDS
            if (form.get(f"mapping_{key}") or "").strip()}


def form_start_day(form: Mapping[str, str], settings: SiteSettings, now: dt.datetime
                   ) -> dt.date:
    """The first day to pull: the form's, else :data:`DEFAULT_START_DAYS` ago."""
    raw_start = (form.get("start_day") or "").strip()
    if not raw_start:
        return local_today(settings.timezone, now) - dt.timedelta(days=DEFAULT_START_DAYS)
    try:
        return dt.date.fromisoformat(raw_start)
    except ValueError:
        raise ValidationError("expected YYYY-MM-DD", field="start_day") from None


def connect_from_form(session: Session, site: Site, settings: SiteSettings,
                      form: Mapping[str, str], now: dt.datetime) -> AdAccount:
    """Connect the account the form names with the credentials filled in (the same checks
    as ``leadtrail spend connect``; :class:`ValidationError` names the field). The worker
    makes its first pull; nothing is fetched in the request."""
    start_day = form_start_day(form, settings, now)
    credentials = {key: form[key].strip() for key in ACCOUNT_CREDENTIAL_FIELDS
                   if (form.get(key) or "").strip()}
    return accounts.connect_account(
        session, site, form.get("platform") or "", form.get("account_id") or "",
        credentials=credentials, mapping=form_mapping(form), start_day=start_day, now=now)


def default_mappings() -> dict[str, dict[str, str]]:
    """Each platform's mapping when nothing is overridden (the form's placeholders)."""
    return {platform: default_mapping(platform).to_json() for platform in ACCOUNT_PLATFORMS}


def pause_account(session: Session, site_id: int, account_id: str, paused: bool,
                  now: dt.datetime) -> str:
    account = _account(session, site_id, account_id)
    accounts.set_paused(session, account, paused, now)
    return f"{account.platform}:{account.account_id}"


def disconnect_account(session: Session, site_id: int, account_id: str) -> str:
    account = _account(session, site_id, account_id)
    name = f"{account.platform}:{account.account_id}"
    accounts.disconnect_account(session, account)
    return name

