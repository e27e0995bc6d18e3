"""Getting an account's first refresh token: the OAuth 2.0 authorization-code grant
(RFC 6749 section 4.1). ``spend authorize`` prints the platform's consent URL; the user signs
in there, and ``spend connect --auth-code`` trades the code the redirect carried for tokens.
Meta needs none of this: its system-user tokens are made in Business Manager."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

import requests

from crm_sync.errors import ApiError
from tracker.adspend.http import DEFAULT_TIMEOUT_SECONDS, error_message
from tracker.adspend.platforms import google_ads, linkedin, microsoft_ads
from tracker.errors import ValidationError

# Per platform: the consent page, the token endpoint and the scope reporting needs.
# developers.google.com/google-ads/api/docs/oauth/internals (scope adwords, offline access);
# learn.microsoft.com/advertising/guides/authentication-oauth-identity-platform;
# learn.microsoft.com/linkedin/shared/authentication/authorization-code-flow.
AUTHORIZE = {
    "google_ads": ("https://accounts.google.com/o/oauth2/v2/auth", google_ads.TOKEN_URL,
                   "https://www.googleapis.com/auth/adwords"),
    "microsoft_ads": ("https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
                      microsoft_ads.TOKEN_URL, microsoft_ads.SCOPE),
    "linkedin": ("https://www.linkedin.com/oauth/v2/authorization", linkedin.TOKEN_URL,
                 "r_ads_reporting"),
}


def _platform(platform: str) -> tuple[str, str, str]:
    if platform not in AUTHORIZE:
        raise ValidationError("platform", f"expected one of {', '.join(AUTHORIZE)} "
                                          "(Meta uses a system-user token)")
    return AUTHORIZE[platform]


def authorization_url(platform: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where the account's owner consents; offline access, so a refresh token comes back."""
    page, _token_url, scope = _platform(platform)
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": scope, "state": state}
    if platform == "google_ads":
        params.update(access_type="offline", prompt="consent")
    return f"{page}?{urlencode(params)}"


def exchange_code(
    platform: str,
    credentials: Mapping[str, str],
    code: str,
    redirect_uri: str,
    *,
    http: requests.Session | None = None,
) -> dict[str, str]:
    """The tokens for ``code``: ``refresh_token`` and ``access_token``. Raises
    :class:`ApiError` with the platform's reason when it refuses (a used or expired code)."""
    _page, default_token_url, scope = _platform(platform)
    if not credentials.get("client_id"):
        raise ValidationError("credentials.client_id", f"{platform} needs client_id")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": credentials["client_id"]}
    if credentials.get("client_secret"):
        form["client_secret"] = credentials["client_secret"]
    if platform == "microsoft_ads":
        form["scope"] = scope
    try:
        response = (http or requests.Session()).post(
            credentials.get("token_url") or default_token_url, data=form,
            headers={"Accept": "application/json"}, timeout=DEFAULT_TIMEOUT_SECONDS)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ApiError(None, f"code exchange: {type(exc).__name__}", retryable=True) from None
    try:
        document = response.json()
    except ValueError:
        document = None
    if response.status_code >= 400 or not isinstance(document, dict) or not isinstance(
            document.get("refresh_token"), str):
        raise ApiError(response.status_code, "code exchange refused: " + error_message(response)
                       + " (no refresh token; ask for offline access and consent again)",
                       retryable=False)
    tokens = {"refresh_token": document["refresh_token"]}
    if isinstance(document.get("access_token"), str):
        tokens["access_token"] = document["access_token"]
    return tokens
