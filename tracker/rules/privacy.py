"""Privacy rules applied before anything is stored: truncated IPs and scrubbed URLs.

Pure functions; the collector calls them on its hot path, so they avoid regex work where a
cheap test settles the case.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that carry contact details, credentials or tokens (lower-cased names).
SENSITIVE_PARAMS = frozenset(
    {
        "email",
        "e-mail",
        "e_mail",
        "mail",
        "emailaddress",
        "email_address",
        "user_email",
        "phone",
        "phone_number",
        "phonenumber",
        "tel",
        "telephone",
        "mobile",
        "cell",
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "auth",
        "authorization",
        "api_key",
        "apikey",
        "key",
        "code",
        "state",
        "session",
        "sessionid",
        "session_id",
        "sid",
        "jwt",
        "otp",
        "ssn",
        "card",
        "cc",
        "first_name",
        "last_name",
        "firstname",
        "lastname",
        "name",
        "address",
        "zip",
    }
)
REDACTED = "[redacted]"
_EMAIL = re.compile(r"[^@\s/?&=]+@[^@\s/?&=]+\.[a-z]{2,}", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")


def truncate_ip(address: str | None) -> str | None:
    """Zero the host part: IPv4 to its /24, IPv6 to its /48. ``None`` for junk."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    return str(network.network_address)


# Parameter names that contain one of these are personal or secret whatever their prefix
# (full_name, user_email, card_number, x-auth-token …).
_SENSITIVE_NAME = re.compile(
    r"e-?mail|phone|mobile|pass|pwd|token|secret|card|cvc|cvv|iban|ssn|otp|auth|"
    r"(first|last|full|sur|given|family)[-_]?name|address|postcode|zip",
    re.IGNORECASE,
)


def _is_sensitive(name: str, value: str) -> bool:
    if name.lower() in SENSITIVE_PARAMS or _SENSITIVE_NAME.search(name):
        return True
    if "@" in value and _EMAIL.search(value):
        return True
    return (
        bool(value)
        and value[-1].isdigit()
        and _PHONE.match(value) is not None
        and sum(ch.isdigit() for ch in value) >= 7
    )


@lru_cache(maxsize=4096)
def scrub_url(url: str | None) -> str | None:
    """Remove query parameters that carry emails, phones or tokens, and any fragment that
    does; keep everything else (UTMs and click ids included) in its original order."""
    if not url:
        return url
    if "?" not in url and "#" not in url and "@" not in url:
        return url
    parts = urlsplit(url)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, REDACTED if _is_sensitive(k, v) else v) for k, v in pairs]
        if kept != pairs:
            query = urlencode(kept, safe="[]")
    fragment = parts.fragment
    if fragment and ("=" in fragment or "@" in fragment):
        fragment = ""
    netloc = parts.netloc.rsplit("@", 1)[-1]  # drop user:password@
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
