"""Cross-domain continuity: a short-lived signed visitor id that the snippet adds to links
between a site's own domains, so one visitor stays one visitor across them.

The snippet on domain A asks the collector to sign its visitor id and decorates links to the
site's other domains with ``_lt_x=<token>``; the snippet on domain B hands the token back and
adopts the visitor id only when the signature holds and the token has not expired. A tampered
or expired token is refused, and B keeps its own id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from tracker.errors import ValidationError
from tracker.validation import RuleRefused

TOKEN_TTL = dt.timedelta(minutes=30)
QUERY_PARAMETER = "_lt_x"


def _site_key(secret_key: str, site_id: int) -> bytes:
    return hmac.new(secret_key.encode(), f"crossdomain/{site_id}".encode(), hashlib.sha256).digest()


def _mac(secret_key: str, site_id: int, payload: str) -> str:
    return hmac.new(_site_key(secret_key, site_id), payload.encode(), hashlib.sha256).hexdigest()[
        :32
    ]


def sign_visitor(secret_key: str, site_id: int, visitor_id: str, now: dt.datetime) -> str:
    """``<visitor id>.<expiry unix seconds>.<mac>``."""
    payload = f"{visitor_id}.{int((now + TOKEN_TTL).timestamp())}"
    return f"{payload}.{_mac(secret_key, site_id, payload)}"


def verify_token(secret_key: str, site_id: int, token: object, now: dt.datetime) -> str:
    """The visitor id a token carries; :class:`ValidationError` naming ``token`` otherwise."""
    if not isinstance(token, str) or token.count(".") < 2 or len(token) > 160:
        raise ValidationError("malformed cross-domain token", field="token")
    payload, mac = token.rsplit(".", 1)
    visitor_id, expires = payload.rsplit(".", 1)
    if not hmac.compare_digest(mac, _mac(secret_key, site_id, payload)):
        raise RuleRefused("cross-domain token signature does not match", field="token")
    if not expires.isdigit() or int(expires) < now.timestamp():
        raise RuleRefused("cross-domain token expired", field="token")
    return visitor_id
