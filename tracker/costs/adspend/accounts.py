"""Connecting an ad account (credentials checked per platform, mapping validated) and building
its connector with a token store that saves refreshed tokens at once."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from crm_sync.http import Sleep
from tracker.costs.adspend.http import AdsClient, OAuthToken
from tracker.costs.adspend.mapping import PLATFORMS, account_mapping
from tracker.costs.adspend.platforms import google_ads, linkedin, meta, microsoft_ads
from tracker.costs.adspend.rows import SpendSource
from tracker.db import transaction
from tracker.errors import NotFound, ValidationError
from tracker.models import AdAccount, Destination, Site
from tracker.sites.settings import secret_fingerprint

# Per platform: the credentials a pull needs, and those it may take besides.
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "google_ads": ("developer_token", "client_id", "client_secret", "refresh_token"),
    "meta": ("access_token",),
    "microsoft_ads": ("developer_token", "customer_id", "client_id", "refresh_token"),
    "linkedin": ("client_id", "client_secret", "refresh_token"),
}
OPTIONAL = ("client_secret", "login_customer_id", "access_token", "api_url", "token_url",
            "api_version", "currency", "timezone")
SECRETS = ("developer_token", "client_secret", "refresh_token", "access_token")
# next_pull_at of an account that is never pulled (fed by the demo).
NEVER = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
MAX_CREDENTIAL_LENGTH = 2000


def _check_platform(platform: str) -> None:
    if platform not in PLATFORMS:
        raise ValidationError(f"expected one of {', '.join(PLATFORMS)}", field="platform")


def _credentials(platform: str, given: Mapping[str, Any]) -> dict[str, str]:
    known = set(REQUIRED[platform]) | set(OPTIONAL)
    clean: dict[str, str] = {}
    for key, value in given.items():
        if value is None:
            continue
        name = f"credentials.{key}"
        if key not in known:
            raise ValidationError(f"not used by {platform}", field=name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # ids written as JSON numbers
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_CREDENTIAL_LENGTH:
            raise ValidationError("expected a non-empty value", field=name)
        if key in {"api_url", "token_url"} and not value.startswith(("https://", "http://")):
            raise ValidationError("expected an http(s) URL", field=name)
        clean[key] = value.strip()
    for key in REQUIRED[platform]:
        if key not in clean:
            raise ValidationError(f"{platform} needs {key}", field=f"credentials.{key}")
    return clean


def check_connection(
    platform: str, account_id: str, credentials: Mapping[str, Any],
    mapping: Mapping[str, Any] | None,
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """What :func:`connect_account` would store: the account id as the platform writes it,
    the credentials and the mapping overrides, each checked; :class:`ValidationError` names
    the field. Writes nothing (the dashboard checks a form before sending anyone to consent)."""
    _check_platform(platform)
    account_id = account_id.strip().removeprefix("act_")
    if not account_id or len(account_id) > 64 or not account_id.replace("-", "").isalnum():
        raise ValidationError("expected the platform's account id", field="account_id")
    if platform == "google_ads":
        account_id = google_ads.customer_path(account_id)
    clean = _credentials(platform, credentials)
    overrides = dict(mapping or {})
    account_mapping(platform, overrides)
    return account_id, clean, overrides


def connect_account(
    session: Session,
    site: Site,
    platform: str,
    account_id: str,
    *,
    credentials: Mapping[str, Any],
    mapping: Mapping[str, Any] | None = None,
    start_day: dt.date,
    now: dt.datetime,
) -> AdAccount:
    """Add the account, or replace an existing one's credentials and mapping (its checkpoint
    stays). Its first pull is due at once."""
    account_id, clean, overrides = check_connection(platform, account_id, credentials, mapping)
    found = session.scalars(select(AdAccount).where(
        AdAccount.site_id == site.id, AdAccount.platform == platform,
        AdAccount.account_id == account_id)).first()
    if found is None:
        found = AdAccount(site_id=site.id, id=uuid.uuid4(), platform=platform,
                          account_id=account_id, name="", last_rows=0, created_at=now)
        session.add(found)
    found.credentials = clean
    found.mapping = overrides
    found.start_day = start_day
    found.next_pull_at = now
    found.last_error = None
    session.flush()
    return found


def add_fed_account(
    session: Session,
    site_id: int,
    platform: str,
    account_id: str,
    *,
    name: str,
    mapping: Mapping[str, Any],
    first_day: dt.date,
    last_day: dt.date,
    currency: str,
    timezone: str,
    now: dt.datetime,
) -> AdAccount:
    """An account whose rows are fed to :func:`tracker.costs.adspend.store.replace_days` by
    LeadTrail itself (the demo), not pulled: no credentials, never due."""
    _check_platform(platform)
    account_mapping(platform, mapping)
    found = session.scalars(select(AdAccount).where(
        AdAccount.site_id == site_id, AdAccount.platform == platform,
        AdAccount.account_id == account_id)).first()
    if found is None:
        found = AdAccount(site_id=site_id, id=uuid.uuid4(), platform=platform,
                          account_id=account_id, credentials={}, created_at=now)
        session.add(found)
    found.name, found.mapping, found.currency, found.timezone = name, dict(mapping), currency, \
        timezone
    found.start_day, found.synced_through = first_day, last_day
    found.next_pull_at, found.last_success_at, found.last_rows = NEVER, now, 0
    session.flush()
    return found


def find_account(session: Session, site_id: int, reference: str) -> AdAccount:
    """An account of the site by ``platform:account id`` or by account id alone."""
    platform, _, account_id = reference.rpartition(":")
    statement = select(AdAccount).where(AdAccount.site_id == site_id,
                                        AdAccount.account_id == account_id)
    if platform:
        statement = statement.where(AdAccount.platform == platform)
    found = session.scalars(statement).all()
    if len(found) != 1:
        raise NotFound(f"no single ad account {reference!r} on this site", field="account")
    return found[0]


def is_paused(account: AdAccount) -> bool:
    """Paused by its operator: it has credentials (the demo's have none) but is never due."""
    due = account.next_pull_at.replace(tzinfo=None)
    return bool(account.credentials) and due >= NEVER.replace(tzinfo=None)


def set_paused(session: Session, account: AdAccount, paused: bool, now: dt.datetime) -> None:
    """Pause (never due; the checkpoint and the spend already pulled stay) or resume (due at
    once, so the days missed while paused are pulled from the checkpoint)."""
    if not account.credentials:
        raise ValidationError("this account is fed by the demo, not pulled", field="account")
    account.next_pull_at = NEVER if paused else now
    session.flush()


def disconnect_account(session: Session, account: AdAccount) -> None:
    """Forget the account and its credentials; the spend already pulled stays in the costs.
    Refused while a destination borrows its tokens (it would stop sending)."""
    borrower = session.scalars(select(Destination.name).where(
        Destination.site_id == account.site_id, Destination.ad_account_id == account.id)).first()
    if borrower is not None:
        raise ValidationError(
            f"destination {borrower!r} uses this account's tokens; remove or re-add it with its "
            "own first", field="account"
        )
    session.delete(account)
    session.flush()


def redacted_credentials(account: AdAccount) -> dict[str, str]:
    return {key: secret_fingerprint(value) if key in SECRETS else value
            for key, value in (account.credentials or {}).items()}


def token_saver(engine: Engine, site_id: int, account_uuid: uuid.UUID,
                model: type[AdAccount] | type[Destination] = AdAccount,
                ) -> Callable[[Mapping[str, str]], None]:
    """Store refreshed tokens in their own transaction at once: a rotated refresh token must
    survive a pull that fails later. ``model`` is where the credentials live (an ad account,
    or a destination with its own)."""
    def save(fields: Mapping[str, str]) -> None:
        with transaction(engine) as session:
            where = (model.site_id == site_id, model.id == account_uuid)
            stored = session.execute(
                select(model.credentials).where(*where).with_for_update()).first()
            if stored is None:
                return
            session.execute(update(model).where(*where).values(
                credentials={**(stored[0] or {}), **fields}))
    return save


def build_source(
    account: AdAccount,
    *,
    save: Callable[[Mapping[str, str]], None] | None = None,
    sleep: Sleep = time.sleep,
) -> SpendSource:
    """The connector of ``account`` with its stored credentials."""
    given = dict(account.credentials or {})
    # Refused like at connect time: a missing credential names itself, not a KeyError.
    _credentials(account.platform, {k: v for k, v in given.items() if k != "expires_at"})
    token = OAuthToken.from_stored(given, save=save)
    platform = account.platform
    if platform == "google_ads":
        token.token_url = given.get("token_url", google_ads.TOKEN_URL)
        headers = {"developer-token": given["developer_token"]}
        if given.get("login_customer_id"):
            headers["login-customer-id"] = google_ads.customer_path(given["login_customer_id"])
        client = AdsClient(given.get("api_url", google_ads.API_URL), token, headers, sleep=sleep)
        return google_ads.GoogleAdsSource(client, account.account_id,
                                          given.get("api_version", google_ads.API_VERSION))
    if platform == "meta":
        client = AdsClient(given.get("api_url", meta.API_URL), token, sleep=sleep,
                           throttled=meta.throttled)
        return meta.MetaInsightsSource(client, account.account_id,
                                       given.get("api_version", meta.API_VERSION))
    if platform == "microsoft_ads":
        token.token_url = given.get("token_url", microsoft_ads.TOKEN_URL)
        token.scope = microsoft_ads.SCOPE
        client = AdsClient(given.get("api_url", microsoft_ads.API_URL), token,
                           {"DeveloperToken": given["developer_token"]}, sleep=sleep,
                           download_hosts=microsoft_ads.DOWNLOAD_HOSTS)
        return microsoft_ads.MicrosoftAdsSource(
            client, account.account_id, given["customer_id"], currency=given.get("currency"),
            timezone=given.get("timezone"), sleep=sleep)
    token.token_url = given.get("token_url", linkedin.TOKEN_URL)
    client = AdsClient(given.get("api_url", linkedin.API_URL), token, sleep=sleep)
    return linkedin.LinkedInSource(client, account.account_id,
                                   given.get("api_version", linkedin.API_VERSION))
