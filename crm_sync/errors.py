"""The two ways a CRM delivery is refused: it is not authentic (:class:`SignatureInvalid`)
or it is authentic but not something we can read (:class:`PayloadInvalid`); and the one way
a call to a CRM's API fails (:class:`ApiError`).

Pure: imports nothing outside the standard library.
"""

from __future__ import annotations

from enum import StrEnum


class SignatureReason(StrEnum):
    """Why a delivery failed authentication; one value per 4xx reason in logs and metrics."""

    MISSING_SIGNATURE = "missing_signature"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    WRONG_ORG = "wrong_org"
    BAD_CREDENTIALS = "bad_credentials"
    MALFORMED = "malformed"


class CrmSyncError(Exception):
    """Base of the errors this package raises: a delivery it refuses, an API call that failed."""


class SignatureInvalid(CrmSyncError):
    """The delivery is not proven to come from the configured CRM account.

    ``detail`` says more for logs; it never contains a secret or the expected signature.
    """

    def __init__(self, reason: SignatureReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class PayloadInvalid(CrmSyncError):
    """The body cannot be read as the provider's format; ``field`` is a dotted path into it
    (``0.occurredAt``, ``deal.amount``) or ``body`` for the whole document."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ApiError(CrmSyncError):
    """A CRM API call failed after the retries it deserved.

    ``status`` is the last HTTP status (``None`` when no answer came: a timeout, a refused
    connection). ``retryable`` says whether trying again later may succeed (rate limits,
    5xx, network failures) or needs an operator first (a wrong token, a missing property).
    ``message`` is safe to store and log: it never holds a token, and email addresses the
    CRM echoes back are masked.
    """

    def __init__(self, status: int | None, message: str, *, retryable: bool,
                 retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}" if status is not None else message)
        self.status = status
        self.message = message
        self.retryable = retryable
        # Seconds the server asked us to wait (``Retry-After``), for callers that retry later.
        self.retry_after = retry_after
