"""Getting an account's first refresh token: the OAuth 2.0 authorization-code grant
(RFC 6749 section 4.1). ``spend authorize`` prints the platform's consent URL; the user signs
in there, and ``spend connect --auth-code`` trades the code the redirect carried for tokens.
The dashboard's "Connect with …" buttons run the same grant with the operator's OAuth app
(:func:`oauth_app`), a signed state and PKCE (RFC 7636) where the platform takes it.
Meta needs none of this: its system-user tokens are made in Business Manager."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests

from crm_sync.errors import ApiError
from tracker.config import Settings
from tracker.costs.adspend.http import DEFAULT_TIMEOUT_SECONDS, error_message
from tracker.costs.adspend.platforms import google_ads, linkedin, microsoft_ads
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


# PKCE (S256) where the platform documents it for a web server app: Microsoft's identity
# platform recommends it for confidential clients too (learn.microsoft.com/entra/
# identity-platform/v2-oauth2-auth-code-flow); Google's OAuth 2.0 server takes
# code_challenge (documented for installed apps; web-server integrations built on Google's
# google-auth-oauthlib send it from web clients — unconfirmed by the web-server page).
# LinkedIn offers PKCE only to native apps it enables one by one (learn.microsoft.com/
# linkedin/shared/authentication/authorization-code-flow-native), so its web flow has none:
# the client secret and the signed state protect it.
PKCE_PLATFORMS = frozenset({"google_ads", "microsoft_ads"})
PLATFORM_NAMES = {"google_ads": "Google Ads", "microsoft_ads": "Microsoft Advertising",
                  "linkedin": "LinkedIn"}


@dataclass(frozen=True, slots=True)
class OAuthApp:
    """The operator's OAuth app registered with one platform (``LEADTRAIL_*`` variables):
    what the dashboard's consent and code exchange use, and what a connected account keeps
    to refresh its tokens."""

    platform: str
    client_id: str
    client_secret: str
    developer_token: str
    # A stand-in for the platform's OAuth server (tests, trials): consent and token requests
    # go to this base URL with the platform's own paths.
    base_url: str = ""

    @property
    def authorize_url(self) -> str:
        return _rebased(_platform(self.platform)[0], self.base_url)

    @property
    def token_url(self) -> str:
        return _rebased(_platform(self.platform)[1], self.base_url)


def _rebased(url: str, base_url: str) -> str:
    return base_url.rstrip("/") + urlsplit(url).path if base_url else url


def oauth_app(settings: Settings, platform: str) -> OAuthApp | None:
    """The operator's app for ``platform``; ``None`` when its client id (or, where the
    platform needs them, its secret or developer token) is not set: no "Connect with"
    button then, the tokens are pasted."""
    apps = {
        "google_ads": (settings.google_ads_client_id, settings.google_ads_client_secret,
                       settings.google_ads_developer_token),
        "microsoft_ads": (settings.microsoft_ads_client_id, settings.microsoft_ads_client_secret,
                          settings.microsoft_ads_developer_token),
        "linkedin": (settings.linkedin_client_id, settings.linkedin_client_secret, ""),
    }
    if platform not in apps:
        return None
    client_id, client_secret, developer_token = apps[platform]
    if not client_id or (platform != "microsoft_ads" and not client_secret):
        return None  # Microsoft's public clients have no secret; Google's and LinkedIn's do
    if platform in {"google_ads", "microsoft_ads"} and not developer_token:
        return None
    return OAuthApp(platform, client_id, client_secret, developer_token,
                    settings.oauth_base_url)


def pkce_challenge(verifier: str) -> str:
    """PKCE's S256 ``code_challenge`` of ``verifier`` (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _platform(platform: str) -> tuple[str, str, str]:
    if platform not in AUTHORIZE:
        raise ValidationError(
            f"expected one of {', '.join(AUTHORIZE)} (Meta uses a system-user token)",
            field="platform",
        )
    return AUTHORIZE[platform]


def authorization_url(platform: str, client_id: str, redirect_uri: str, state: str, *,
                      code_challenge: str | None = None, page: str | None = None) -> str:
    """Where the account's owner consents; offline access, so a refresh token comes back.
    ``code_challenge``: PKCE's S256 challenge; ``page``: the consent page when not the
    platform's own (:attr:`OAuthApp.authorize_url`)."""
    default_page, _token_url, scope = _platform(platform)
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": scope, "state": state}
    if platform == "google_ads":
        params.update(access_type="offline", prompt="consent")
    if code_challenge:
        params.update(code_challenge=code_challenge, code_challenge_method="S256")
    return f"{page or default_page}?{urlencode(params)}"


def exchange_code(
    platform: str,
    credentials: Mapping[str, str],
    code: str,
    redirect_uri: str,
    *,
    code_verifier: str | None = None,
    http: requests.Session | None = None,
) -> dict[str, str]:
    """The tokens for ``code``: ``refresh_token`` and ``access_token``. Raises
    :class:`ApiError` with the platform's reason when it refuses (a used or expired code,
    a wrong PKCE verifier)."""
    _page, default_token_url, scope = _platform(platform)
    if not credentials.get("client_id"):
        raise ValidationError(f"{platform} needs client_id", field="credentials.client_id")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": credentials["client_id"]}
    if credentials.get("client_secret"):
        form["client_secret"] = credentials["client_secret"]
    if platform == "microsoft_ads":
        form["scope"] = scope
    if code_verifier:
        form["code_verifier"] = code_verifier
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
