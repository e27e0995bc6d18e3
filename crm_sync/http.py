"""A JSON client for CRM REST APIs with the retry rules they all ask for.

A ``429`` waits for ``Retry-After`` (seconds or an HTTP date; HubSpot, Pipedrive and
Salesforce all send it) and a ``5xx``, a timeout or a dropped connection backs off
exponentially; anything else is final. ``sleep`` is injected, so tests never wait. Errors
carry no token and mask the email addresses CRMs echo back. Imports only the standard
library, ``requests`` and this package.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import cast
from urllib.parse import urlsplit

import requests

from crm_sync.errors import ApiError

Sleep = Callable[[float], None]
JsonObject = Mapping[str, object]
Params = Mapping[str, str | int]

DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_MESSAGE_LENGTH = 300
_EMAIL = re.compile(r"[^@\s\"'<>(),;:]+@[^@\s\"'<>(),;:]+\.[A-Za-z]{2,}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry one call.

    ``max_attempts`` counts every try, the first included. A failed try ``n`` (1-based) waits
    ``backoff_seconds * 2 ** (n - 1)``, at most ``max_backoff_seconds``; a ``Retry-After``
    longer than ``max_retry_after_seconds`` is not waited for (the call fails, retryable).
    """

    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_retry_after_seconds: float = 300.0

    def backoff(self, failed_tries: int) -> float:
        delay: float = self.backoff_seconds * 2 ** max(failed_tries - 1, 0)
        return min(delay, self.max_backoff_seconds)


def mask_emails(text: str) -> str:
    """``text`` with every email address replaced by ``<email>``."""
    return _EMAIL.sub("<email>", text)


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - now).total_seconds(), 0.0)


class ApiClient:
    """Calls one CRM API: ``base_url`` plus a path, with the account's auth ``headers``.

    Absolute URLs (paging links) are followed only on ``base_url``'s own origin, so a
    response can never send the token elsewhere.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        http: requests.Session | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Accept": "application/json", **headers}
        self.http = http or requests.Session()
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.timeout = timeout

    def url(self, path: str) -> str:
        if path.startswith("/"):
            return self.base_url + path
        given, base = urlsplit(path), urlsplit(self.base_url)
        if (given.scheme, given.netloc) != (base.scheme, base.netloc):
            raise ApiError(None, "a paging link points outside the API's origin", retryable=False)
        return path

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: JsonObject | None = None,
    ) -> JsonObject:
        """The JSON object the API answered (``{}`` for an empty ``2xx``).

        Raises :class:`ApiError` for a final ``4xx``, for a non-JSON answer, and once the
        retries of a retryable failure are spent.
        """
        url = self.url(path)
        failed = 0
        while True:
            failure = self._try(method, url, params, body)
            if not isinstance(failure, _Failure):
                return failure
            failed += 1
            if not failure.error.retryable or failed >= self.policy.max_attempts:
                raise failure.error
            wait = failure.retry_after
            if wait is None:
                wait = self.policy.backoff(failed)
            elif wait > self.policy.max_retry_after_seconds:
                raise failure.error
            self.sleep(wait)

    def _try(
        self, method: str, url: str, params: Params | None, body: JsonObject | None
    ) -> dict[str, object] | _Failure:
        data = None if body is None else json.dumps(body, default=_json_default).encode()
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self.http.request(
                method, url, params=params, data=data, headers=headers, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            return _Failure(ApiError(None, f"{type(exc).__name__}: no answer", retryable=True))
        status = response.status_code
        if status == 429 or status >= 500:
            after = retry_after_seconds(
                response.headers.get("Retry-After"), dt.datetime.now(dt.UTC)
            )
            return _Failure(ApiError(status, _message(response), retryable=True), after)
        if status >= 400:
            return _Failure(ApiError(status, _message(response), retryable=False))
        if not response.content:
            return {}
        try:
            document = response.json(parse_float=Decimal)
        except ValueError:
            return _Failure(ApiError(status, "the answer is not JSON", retryable=False))
        if not isinstance(document, dict):
            return _Failure(ApiError(status, "the answer is not a JSON object", retryable=False))
        return cast(dict[str, object], document)


@dataclass(frozen=True, slots=True)
class _Failure:
    error: ApiError
    retry_after: float | None = None


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _message(response: requests.Response) -> str:
    """The CRM's own error message when it sent one (``message``, Salesforce's list of
    ``{message}``, Pipedrive's ``error``), else the reason phrase; emails masked."""
    text = response.reason or "error"
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, list) and document and isinstance(document[0], dict):
        document = document[0]
    if isinstance(document, dict):
        for key in ("message", "error", "error_info"):
            value = document.get(key)
            if isinstance(value, str) and value:
                text = value
                break
    return mask_emails(" ".join(text.split()))[:MAX_MESSAGE_LENGTH]
