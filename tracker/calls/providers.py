"""Call webhooks: each provider's signature check and its payload read into one
:class:`CallReport`. Nothing here touches the database; ``now`` is injected.

- Twilio voice status callback: form-encoded; ``X-Twilio-Signature`` is the base64
  HMAC-SHA1, keyed with the account's auth token, of the full URL Twilio posted to followed by
  every POST parameter's name and value, sorted by name (Twilio's request-validation rule).
- CallRail post-call webhook: JSON; the ``Signature`` header carries an HMAC of the raw body
  keyed with the company's signing key. CallRail's support article (support.callrail.com,
  article 5711246459149 "Webhooks", "Security keys for Webhooks") says exactly that: a secret
  token per company, a hash signature of the payload in a request header. It does not name the
  digest: integrations read base64 HMAC-SHA1 (as we send in tests), a few HMAC-SHA256. Every
  variant needs the company's key, so base64 and hex of both digests are accepted: that costs
  no security and keeps a delivery from being refused over a detail no page we have states.
- Ours (``generic``): JSON signed like our CRM webhook (``LeadTrail-Signature: t=…,v1=…``,
  crm_sync.providers.generic).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm_sync import errors as crm_errors
from crm_sync.errors import SignatureReason
from crm_sync.providers import generic
from tracker.calls.phone import to_e164
from tracker.errors import SignatureInvalid, ValidationError
from tracker.validation import check_text, load_json_object, parse_datetime, parse_whole

PROVIDERS = ("twilio", "callrail", "generic")
# Twilio's final call statuses; earlier ones (ringing, in-progress) are acknowledged only.
TWILIO_FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_GENERIC_KEYS = frozenset({"id", "called", "caller", "started_at", "duration_s", "answered"})
# The caller's details stay out of the stored payload (the lead keeps the phone).
_CALLRAIL_PERSONAL = frozenset({"customer_phone_number", "customer_name",
                                "formatted_customer_phone_number", "customer_city"})
# What providers send for a withheld caller id.
_WITHHELD = frozenset({"anonymous", "restricted", "unknown", "+266696687", "private"})


@dataclass(frozen=True, slots=True)
class CallReport:
    provider: str
    call_id: str
    called: str  # E.164: the tracking number dialled
    caller: str | None  # E.164, None when withheld
    started_at: dt.datetime
    duration_s: int
    answered: bool
    payload: Mapping[str, Any]


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _refused(reason: SignatureReason, header: str) -> SignatureInvalid:
    error = SignatureInvalid(reason)
    error.field = header
    return error


def _check_any(given: str | None, expected: Iterable[str], header: str) -> None:
    if not given:
        raise _refused(SignatureReason.MISSING_SIGNATURE, header)
    wanted = list(expected)
    if not wanted:
        raise _refused(SignatureReason.BAD_SIGNATURE, header)
    # Every secret is compared, so the time taken does not say which one matched.
    if not any([_same(given.strip(), candidate) for candidate in wanted]):
        raise _refused(SignatureReason.BAD_SIGNATURE, header)


def twilio_signature(url: str, params: Sequence[tuple[str, str]], token: str) -> str:
    message = url + "".join(f"{name}{value}" for name, value in sorted(params))
    digest = hmac.new(token.encode(), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _caller(raw: Any, field: str) -> str | None:
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in _WITHHELD | {""}):
        return None
    return to_e164(raw, field)


def _whole(raw: Any, field: str) -> int:
    if isinstance(raw, str):
        raw = parse_whole(raw, field, 0, 86_400)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 86_400:
        raise ValidationError("expected whole seconds from 0 to 86400", field=field)
    return raw


def _call_id(raw: Any, field: str) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not 1 <= len(raw) <= 128:
        raise ValidationError("expected a call id of 1 to 128 characters", field=field)
    return check_text(raw, field)


def _plausible(moment: dt.datetime, field: str, now: dt.datetime) -> dt.datetime:
    if not now - dt.timedelta(days=30) <= moment <= now + dt.timedelta(minutes=10):
        raise ValidationError("expected a time within the last 30 days", field=field)
    return moment


def parse_twilio(url: str, form: Sequence[tuple[str, str]], signature: str | None,
                 tokens: Sequence[str], now: dt.datetime) -> CallReport | None:
    """A final voice status callback as a report; None for a status before the end."""
    _check_any(signature, [twilio_signature(url, form, token) for token in tokens],
               "X-Twilio-Signature")
    params = dict(form)
    for name, value in form:
        check_text(value, name)
    status = params.get("CallStatus")
    if status not in TWILIO_FINAL | {"queued", "initiated", "ringing", "in-progress"}:
        raise ValidationError("not a Twilio call status", field="CallStatus")
    if status not in TWILIO_FINAL:
        return None
    duration = _whole(params.get("CallDuration", "0"), "CallDuration")
    ended = now
    if params.get("Timestamp"):
        try:
            ended = email.utils.parsedate_to_datetime(params["Timestamp"]).astimezone(dt.UTC)
        except (TypeError, ValueError):
            raise ValidationError("expected an RFC 2822 date", field="Timestamp") from None
    return CallReport(
        provider="twilio",
        call_id=_call_id(params.get("CallSid"), "CallSid"),
        called=to_e164(params.get("To"), "To"),
        caller=_caller(params.get("From"), "From"),
        started_at=_plausible(ended - dt.timedelta(seconds=duration), "Timestamp", now),
        duration_s=duration,
        answered=status == "completed" and duration > 0,
        payload={k: v for k, v in params.items() if k not in {"From", "Caller"}},
    )


def callrail_signature(body: bytes, key: str) -> str:
    """The base64 HMAC-SHA1 of ``body``: what integrations of CallRail's webhook read."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha1).digest()).decode()


def callrail_signatures(body: bytes, key: str) -> list[str]:
    """Every signature of ``body`` under ``key`` accepted (see the module's note): base64
    and hex of HMAC-SHA1 and HMAC-SHA256."""
    accepted = []
    for digest in (hashlib.sha1, hashlib.sha256):
        mac = hmac.new(key.encode(), body, digest).digest()
        accepted += [base64.b64encode(mac).decode(), mac.hex()]
    return accepted


def parse_callrail(body: bytes, signature: str | None, keys: Sequence[str],
                   now: dt.datetime) -> CallReport:
    _check_any(signature, [sig for key in keys for sig in callrail_signatures(body, key)],
               "Signature")
    data = load_json_object(body)
    call_id = data.get("resource_id") or data.get("id")
    answered = data.get("answered")
    if answered is not None and not isinstance(answered, bool):
        raise ValidationError("expected true or false", field="answered")
    duration = _whole(data.get("duration") or 0, "duration")
    return CallReport(
        provider="callrail",
        call_id=_call_id(call_id, "resource_id"),
        called=to_e164(data.get("tracking_phone_number"), "tracking_phone_number"),
        caller=_caller(data.get("customer_phone_number"), "customer_phone_number"),
        started_at=_plausible(parse_datetime(data.get("start_time"), "start_time"), "start_time",
                              now),
        duration_s=duration,
        answered=bool(answered) if answered is not None else duration > 0,
        payload={k: v for k, v in data.items() if k not in _CALLRAIL_PERSONAL},
    )


def parse_generic(body: bytes, signature: str | None, secrets: Sequence[str],
                  now: dt.datetime) -> CallReport:
    try:
        generic.verify(body, signature, secrets=secrets, now=now)
    except crm_errors.SignatureInvalid as error:
        raise _refused(error.reason, generic.SIGNATURE_HEADER) from None
    data = load_json_object(body)
    for key in data:
        if key not in _GENERIC_KEYS:
            raise ValidationError("unknown field", field=key)
    answered = data.get("answered", True)
    if not isinstance(answered, bool):
        raise ValidationError("expected true or false", field="answered")
    duration = _whole(data.get("duration_s", 0), "duration_s")
    return CallReport(
        provider="generic",
        call_id=_call_id(data.get("id"), "id"),
        called=to_e164(data.get("called"), "called"),
        caller=_caller(data.get("caller"), "caller"),
        started_at=_plausible(parse_datetime(data.get("started_at"), "started_at"), "started_at",
                              now),
        duration_s=duration,
        answered=answered and duration > 0,
        payload={k: v for k, v in data.items() if k != "caller"},
    )
