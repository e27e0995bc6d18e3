"""An HTTP client per destination, built on the ad platforms' shared client
(``tracker.costs.adspend.http.AdsClient``: OAuth 2.0 refresh on expiry or a 401, the
platforms' error texts, tokens never in errors). A destination may borrow a connected ad
account's tokens, and refreshed tokens are saved back where they came from
(``tracker.costs.adspend.accounts.token_saver``).

A small client on ``requests`` rather than google-ads / facebook-business: see pyproject.toml.
The client retries nothing itself (one attempt): the outbox waits and retries, honouring
``Retry-After``, so a sleeping worker never holds a batch."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from crm_sync.http import RetryPolicy, Sleep
from tracker.costs.adspend.accounts import token_saver
from tracker.costs.adspend.http import AdsClient, OAuthToken
from tracker.costs.adspend.platforms import google_ads, linkedin, meta, microsoft_ads
from tracker.destinations.formats import linkedin as linkedin_format
from tracker.models import AdAccount, Destination

# Where each platform's conversion API lives (overridable per destination: ``api_url``).
API_URLS = {
    "ga4": "https://www.google-analytics.com",
    "meta": meta.API_URL,
    "google_ads": google_ads.API_URL,
    "microsoft_ads": "https://campaign.api.bingads.microsoft.com",
    "linkedin": linkedin.API_URL,
}
TOKEN_URLS = {
    "google_ads": google_ads.TOKEN_URL,
    "microsoft_ads": microsoft_ads.TOKEN_URL,
    "linkedin": linkedin.TOKEN_URL,
}
ONE_ATTEMPT = RetryPolicy(max_attempts=1)


def destination_credentials(session: Session, destination: Destination) -> dict[str, Any]:
    """The destination's own credentials over those of the ad account it borrows."""
    borrowed: dict[str, Any] = {}
    if destination.ad_account_id is not None:
        account = session.get(AdAccount, (destination.site_id, destination.ad_account_id))
        borrowed = dict(account.credentials or {}) if account is not None else {}
    return {**borrowed, **(destination.credentials or {})}


def destination_saver(engine: Engine, destination: Destination
                      ) -> Callable[[Mapping[str, str]], None]:
    """Store refreshed tokens at once, on the ad account lent or on the destination."""
    if destination.ad_account_id is not None:
        return token_saver(engine, destination.site_id, destination.ad_account_id)
    return token_saver(engine, destination.site_id, destination.id, Destination)


def build_client(
    platform: str,
    settings: Mapping[str, Any],
    credentials: Mapping[str, Any],
    *,
    save: Callable[[Mapping[str, str]], None] | None = None,
    sleep: Sleep = time.sleep,
) -> AdsClient:
    token = OAuthToken.from_stored(
        credentials, save=save,
        token_url=credentials.get("token_url") or TOKEN_URLS.get(platform),
        scope=microsoft_ads.SCOPE if platform == "microsoft_ads" else None,
    )
    headers: dict[str, str] = {}
    if platform == "google_ads":
        headers["developer-token"] = str(credentials.get("developer_token", ""))
        login = settings.get("login_customer_id") or credentials.get("login_customer_id")
        if login:
            headers["login-customer-id"] = google_ads.customer_path(str(login))
    elif platform == "microsoft_ads":
        headers.update(DeveloperToken=str(credentials.get("developer_token", "")),
                       CustomerId=str(settings.get("customer_id", "")),
                       CustomerAccountId=str(settings.get("account_id", "")))
    elif platform == "linkedin":
        headers.update({"LinkedIn-Version": settings.get("api_version")
                        or linkedin_format.API_VERSION,
                        "X-Restli-Protocol-Version": "2.0.0",
                        "X-RestLi-Method": "BATCH_CREATE"})
    base = settings.get("api_url") or credentials.get("api_url") or API_URLS[platform]
    return AdsClient(str(base), token, headers, policy=ONE_ATTEMPT, sleep=sleep,
                     throttled=meta.throttled if platform == "meta" else None)


def authorized(platform: str) -> bool:
    """GA4 authenticates by the ``api_secret`` query parameter, the others by bearer token."""
    return platform != "ga4"
