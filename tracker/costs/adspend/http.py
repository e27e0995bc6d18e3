"""The ad platforms' HTTP client: JSON calls with OAuth 2.0 access-token refresh and the retry
rules of :mod:`crm_sync.http` (429 waits for ``Retry-After``, 5xx and network failures back
off, anything else is final), plus a per-platform hook for throttling answers that are not a
429 (Meta answers 400 with error code 17). ``sleep`` and ``now`` are injected: tests never
wait. Errors never carry a token.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from crm_sync.errors import ApiError
from crm_sync.http import RetryPolicy, Sleep, mask_emails, retry_after_seconds

DEFAULT_TIMEOUT_SECONDS = 60.0
MAX_MESSAGE_LENGTH = 300
# An access token this close to its expiry is refreshed before use, not after a 401.
EXPIRY_MARGIN = dt.timedelta(seconds=60)

# Given a non-2xx answer, seconds to wait when it is a throttling answer, else None.
ThrottleCheck = Callable[[requests.Response], float | None]
# Called with the refreshed token fields (access_token, expires_at and a rotated
# refresh_token) so that they are stored at once (Microsoft rotates refresh tokens).
TokenSaver = Callable[[Mapping[str, str]], None]


@dataclass
class OAuthToken:
    """An OAuth 2.0 client's tokens. Without ``token_url`` (Meta's long-lived system-user
    tokens) the access token is used as it is and a 401 is final."""

    access_token: str | None
    refresh_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    scope: str | None = None
    expires_at: dt.datetime | None = None
    save: TokenSaver | None = field(default=None, repr=False)

    @classmethod
    def from_stored(cls, credentials: Mapping[str, Any], *, save: TokenSaver | None = None,
                    token_url: str | None = None, scope: str | None = None) -> OAuthToken:
        """The tokens kept in an ad account's or a destination's stored credentials
        (``expires_at`` as ISO text, written back by ``save``)."""
        expires = credentials.get("expires_at")
        return cls(
            access_token=credentials.get("access_token"),
            refresh_token=credentials.get("refresh_token"),
            client_id=credentials.get("client_id"),
            client_secret=credentials.get("client_secret"),
            token_url=token_url,
            scope=scope,
            expires_at=dt.datetime.fromisoformat(expires) if expires else None,
            save=save,
        )

    def can_refresh(self) -> bool:
        return bool(self.token_url and self.refresh_token and self.client_id)

    def fresh(self, now: dt.datetime) -> bool:
        if not self.access_token:
            return False
        return self.expires_at is None or self.expires_at - EXPIRY_MARGIN > now


def error_message(response: requests.Response) -> str:
    """The platform's own error text when it sent one (Google ``error.message``, Meta
    ``error.message``, LinkedIn ``message``, Microsoft ``OperationErrors[0].Message``)."""
    text = response.reason or "error"
    try:
        document: Any = response.json()
    except ValueError:
        document = None
    if isinstance(document, list) and document and isinstance(document[0], dict):
        document = document[0]
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = error["message"]
        elif isinstance(document.get("error_description"), str):
            text = document["error_description"]
        elif isinstance(document.get("message"), str):
            text = document["message"]
        elif isinstance(document.get("OperationErrors"), list) and document["OperationErrors"]:
            first = document["OperationErrors"][0]
            if isinstance(first, dict) and isinstance(first.get("Message"), str):
                text = first["Message"]
    return mask_emails(" ".join(str(text).split()))[:MAX_MESSAGE_LENGTH]


class AdsClient:
    """Calls one platform's API at ``base_url`` with a bearer token and fixed ``headers``.

    Absolute URLs (paging links, report downloads) are followed only on ``base_url``'s
    origin unless ``download_hosts`` names their host (Microsoft's report files)."""

    def __init__(
        self,
        base_url: str,
        token: OAuthToken,
        headers: Mapping[str, str] | None = None,
        *,
        http: requests.Session | None = None,
        policy: RetryPolicy | None = None,
        throttled: ThrottleCheck | None = None,
        sleep: Sleep = time.sleep,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        download_hosts: tuple[str, ...] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.headers = dict(headers or {})
        self.http = http or requests.Session()
        self.policy = policy or RetryPolicy()
        self.throttled = throttled
        self.sleep = sleep
        self.now = now
        self.timeout = timeout
        self.download_hosts = download_hosts

    def url(self, path: str) -> str:
        if path.startswith("/"):
            return self.base_url + path
        given, base = urlsplit(path), urlsplit(self.base_url)
        if (given.scheme, given.netloc) == (base.scheme, base.netloc):
            return path
        if given.scheme == "https" and given.hostname and any(
            given.hostname == host or given.hostname.endswith("." + host)
            for host in self.download_hosts
        ):
            return path
        raise ApiError(None, "a link points outside the API's origin", retryable=False)

    def json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The JSON object answered; :class:`ApiError` for a final failure."""
        response = self.send(method, path, params=params, body=body)
        if not response.content:
            return {}
        try:
            document = response.json()
        except ValueError:
            raise ApiError(response.status_code, "the answer is not JSON",
                           retryable=False) from None
        if not isinstance(document, dict):
            raise ApiError(response.status_code, "the answer is not a JSON object",
                           retryable=False)
        return document

    def download(self, url: str) -> bytes:
        """A file's bytes (no bearer token sent: report URLs carry their own signature)."""
        return self.send("GET", url, authorized=False).content

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
        authorized: bool = True,
    ) -> requests.Response:
        url = self.url(path)
        failed = 0
        refreshed = False
        while True:
            headers = dict(self.headers)
            if authorized:
                headers["Authorization"] = f"Bearer {self.access_token()}"
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                response = self.http.request(
                    method, url, params=params, headers=headers, timeout=self.timeout,
                    data=None if body is None else json.dumps(body).encode(),
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                error = ApiError(None, f"{type(exc).__name__}: no answer", retryable=True)
                wait = None
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status == 401 and authorized and not refreshed and self.token.can_refresh():
                    refreshed = True
                    self.refresh()
                    continue
                wait = self.throttled(response) if self.throttled else None
                retryable = status == 429 or status >= 500 or wait is not None
                if wait is None and retryable:
                    wait = retry_after_seconds(response.headers.get("Retry-After"), self.now())
                error = ApiError(status, error_message(response), retryable=retryable,
                                 retry_after=wait)
            failed += 1
            if not error.retryable or failed >= self.policy.max_attempts:
                raise error
            if wait is None:
                wait = self.policy.backoff(failed)
            elif wait > self.policy.max_retry_after_seconds:
                raise error
            self.sleep(wait)

    def access_token(self) -> str:
        if not self.token.fresh(self.now()) and self.token.can_refresh():
            self.refresh()
        if not self.token.access_token:
            raise ApiError(None, "no access token: connect the account again", retryable=False)
        return self.token.access_token

    def refresh(self) -> None:
        """OAuth 2.0 refresh-token grant (RFC 6749 section 6) at the platform's token URL."""
        token = self.token
        assert token.token_url and token.refresh_token and token.client_id
        form = {
            "grant_type": "refresh_token",
            "refresh_token": token.refresh_token,
            "client_id": token.client_id,
        }
        if token.client_secret:
            form["client_secret"] = token.client_secret
        if token.scope:
            form["scope"] = token.scope
        failed = 0
        while True:
            try:
                response = self.http.post(token.token_url, data=form, timeout=self.timeout,
                                          headers={"Accept": "application/json"})
            except (requests.ConnectionError, requests.Timeout) as exc:
                failed += 1
                if failed >= self.policy.max_attempts:
                    raise ApiError(None, f"token refresh: {type(exc).__name__}",
                                   retryable=True) from None
                self.sleep(self.policy.backoff(failed))
                continue
            if response.status_code == 429 or response.status_code >= 500:
                failed += 1
                if failed >= self.policy.max_attempts:
                    raise ApiError(response.status_code,
                                   "token refresh: " + error_message(response), retryable=True)
                self.sleep(self.policy.backoff(failed))
                continue
            break
        try:
            document = response.json()
        except ValueError:
            document = None
        if response.status_code >= 400 or not isinstance(document, dict) or not isinstance(
            document.get("access_token"), str
        ):
            # invalid_grant: the user revoked access or the refresh token expired.
            raise ApiError(response.status_code,
                           "token refresh refused: " + error_message(response)
                           + "; connect the account again", retryable=False)
        token.access_token = document["access_token"]
        saved = {"access_token": token.access_token}
        expires_in = document.get("expires_in")
        if isinstance(expires_in, int | float | str) and str(expires_in).isdigit():
            token.expires_at = self.now() + dt.timedelta(seconds=int(expires_in))
            saved["expires_at"] = token.expires_at.isoformat()
        if isinstance(document.get("refresh_token"), str):
            token.refresh_token = document["refresh_token"]
            saved["refresh_token"] = token.refresh_token
        if token.save is not None:
            token.save(saved)
