"""The Costs page's "Connect with Google Ads / Microsoft Advertising / LinkedIn" buttons: the
OAuth 2.0 authorization-code grant (RFC 6749 section 4.1) run by the web app with the
operator's OAuth app (``LEADTRAIL_<PLATFORM>_CLIENT_ID`` …, docs/spend.md).

1. Start: the connect form is checked as a pasted-token connect would be (account id, first
   day, mapping, the platform's other ids) before anyone is sent away. A random nonce goes into
   this browser's signed session cookie with the form's fields (no secret among them); the
   ``state`` sent to the platform is the nonce, the site, the user and the platform, signed
   with the app's key.
2. Callback: the state must verify, be younger than :data:`STATE_MAX_AGE_SECONDS`, carry
   this session's nonce and this user, and name a site the user still sees (the caller checks
   that). Then the code is traded for tokens, with PKCE's verifier where the platform takes
   it: the verifier is derived from the nonce by HMAC with the app's key, so it is never
   stored, nor seen by anyone who sees the state. The account is connected with the app's
   credentials and the refresh token. Any refusal (consent denied, a bad or stale state, the
   token endpoint's 4xx) stores nothing.

Flask's session is used here as in ``tracker.accounts.signin``; nothing here commits.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from flask import session as browser_session
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from crm_sync.errors import ApiError
from tracker.config import Settings
from tracker.costs.adspend import accounts, oauth
from tracker.dashboard.setup import form_mapping, form_start_day
from tracker.errors import ValidationError
from tracker.models import AdAccount, Site
from tracker.sites.settings import SiteSettings

PENDING_KEY = "spend_oauth"
STATE_SALT = "leadtrail.spend-oauth"
STATE_MAX_AGE_SECONDS = 600
# The platforms' error texts are shown on the page; a longer one is cut.
MAX_REASON_LENGTH = 200
# Ids the form may carry besides the account id (they are not secrets).
EXTRA_IDS = {"microsoft_ads": ("customer_id",), "google_ads": ("login_customer_id",)}
# Stands in for the refresh token while the form is checked before the consent.
CONSENT_PENDING = "(from the consent)"


class ConsentRefused(Exception):
    """The connection was not made; ``message`` says why, for the page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Pending:
    """A consent in progress: what the start checked, kept until the callback."""

    nonce: str
    site_id: int
    user_id: int
    platform: str
    account_id: str
    start_day: str
    mapping: dict[str, str]
    ids: dict[str, str]


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=STATE_SALT)


def _verifier(secret_key: str, nonce: str) -> str:
    """PKCE's code verifier for ``nonce``: 43 unreserved characters (RFC 7636 section 4.1)."""
    digest = hmac.new(secret_key.encode(), f"pkce:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def app_or_refuse(settings: Settings, platform: str) -> oauth.OAuthApp:
    """The operator's app for ``platform``; :class:`ValidationError` naming ``platform``
    when none is configured (Meta never: its system-user token is pasted)."""
    found = oauth.oauth_app(settings, platform)
    if found is None:
        variable = f"LEADTRAIL_{platform.upper()}_CLIENT_ID"
        raise ValidationError(f"no OAuth app is configured for {platform} (the operator "
                              f"sets {variable} and its companions)", field="platform")
    return found


def configured_platforms(settings: Settings) -> dict[str, str]:
    """The platforms with an OAuth app configured, with their names (the buttons)."""
    return {platform: name for platform, name in oauth.PLATFORM_NAMES.items()
            if oauth.oauth_app(settings, platform) is not None}


def _credentials(app: oauth.OAuthApp, ids: Mapping[str, str],
                 tokens: Mapping[str, str]) -> dict[str, str]:
    """What the account keeps: the app's client (a refresh needs the client that got the
    token), its developer token, the ids and the tokens."""
    given = {"client_id": app.client_id, **ids, **tokens}
    if app.client_secret:
        given["client_secret"] = app.client_secret
    if app.developer_token:
        given["developer_token"] = app.developer_token
    if app.base_url:  # a stand-in's refreshes go to the stand-in too
        given["token_url"] = app.token_url
    return given


def start_consent(
    app: oauth.OAuthApp, secret_key: str, site: Site, settings: SiteSettings, user_id: int,
    form: Mapping[str, str], redirect_uri: str, now: dt.datetime,
) -> str:
    """Check the form, remember the consent in this browser's session, and return the
    platform's consent URL. :class:`ValidationError` names a bad field; nothing is kept then."""
    platform = app.platform
    ids = {key: form[key].strip() for key in EXTRA_IDS.get(platform, ())
           if (form.get(key) or "").strip()}
    start_day = form_start_day(form, settings, now)
    mapping = form_mapping(form)
    account_id, _clean, _overrides = accounts.check_connection(
        platform, form.get("account_id") or "",
        _credentials(app, ids, {"refresh_token": CONSENT_PENDING}), mapping)
    nonce = secrets.token_urlsafe(24)
    browser_session[PENDING_KEY] = {
        "nonce": nonce, "site_id": site.id, "user_id": user_id, "platform": platform,
        "account_id": account_id, "start_day": start_day.isoformat(), "mapping": mapping,
        "ids": ids}
    state = _serializer(secret_key).dumps(
        {"nonce": nonce, "site": site.id, "user": user_id, "platform": platform})
    challenge = (oauth.pkce_challenge(_verifier(secret_key, nonce))
                 if platform in oauth.PKCE_PLATFORMS else None)
    return oauth.authorization_url(platform, app.client_id, redirect_uri, state,
                                   code_challenge=challenge, page=app.authorize_url)


def take_pending(secret_key: str, state: str | None, user_id: int) -> Pending:
    """The consent this callback finishes, taken out of the session (a state is used once).
    :class:`ConsentRefused` unless the state verifies, is fresh, and matches this browser's
    consent and user."""
    kept = browser_session.pop(PENDING_KEY, None)
    if not state:
        raise ConsentRefused("the platform sent no state back; start again from this page")
    try:
        claims = _serializer(secret_key).loads(state, max_age=STATE_MAX_AGE_SECONDS)
    except SignatureExpired:
        raise ConsentRefused("the sign-in took longer than 10 minutes; start again") from None
    except BadSignature:
        raise ConsentRefused("the state does not carry LeadTrail's signature; start again "
                             "from this page") from None
    if (not isinstance(kept, dict) or not isinstance(claims, dict)
            or not hmac.compare_digest(str(kept.get("nonce")), str(claims.get("nonce")))
            or claims.get("user") != user_id or kept.get("user_id") != user_id
            or claims.get("site") != kept.get("site_id")
            or claims.get("platform") != kept.get("platform")):
        raise ConsentRefused("this sign-in was not started from this browser's session; "
                             "start again from this page")
    return Pending(kept["nonce"], int(kept["site_id"]), user_id, str(kept["platform"]),
                   str(kept["account_id"]), str(kept["start_day"]), dict(kept["mapping"]),
                   dict(kept["ids"]))


def platform_refusal(platform: str, args: Mapping[str, str]) -> str | None:
    """The platform's own refusal on the redirect (``error=access_denied`` when consent was
    declined, RFC 6749 section 4.1.2.1), as the page says it; ``None`` when it sent a code."""
    error = args.get("error")
    if not error and args.get("code"):
        return None
    name = oauth.PLATFORM_NAMES.get(platform, platform)
    if not error:
        return f"{name} sent no authorization code back"
    reason = args.get("error_description") or ""
    if error == "access_denied":
        text = f"access to {name} was not granted (consent declined)"
    else:
        text = f"{name} refused the sign-in ({error})"
    return f"{text}: {reason[:MAX_REASON_LENGTH]}" if reason else text


def finish_consent(
    session: Session, app: oauth.OAuthApp, secret_key: str, site: Site, pending: Pending,
    code: str, redirect_uri: str, now: dt.datetime,
) -> AdAccount:
    """Trade ``code`` for tokens and connect the account. :class:`ConsentRefused` with the
    platform's reason when its token endpoint refuses; nothing is stored then."""
    verifier = (_verifier(secret_key, pending.nonce)
                if pending.platform in oauth.PKCE_PLATFORMS else None)
    try:
        tokens = oauth.exchange_code(
            pending.platform, {"client_id": app.client_id, "client_secret": app.client_secret,
                               "token_url": app.token_url},
            code, redirect_uri, code_verifier=verifier)
    except ApiError as error:
        raise ConsentRefused(str(error)[:MAX_REASON_LENGTH * 2]) from None
    return accounts.connect_account(
        session, site, pending.platform, pending.account_id,
        credentials=_credentials(app, pending.ids, tokens), mapping=pending.mapping,
        start_day=dt.date.fromisoformat(pending.start_day), now=now)
