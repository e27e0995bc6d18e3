"""Normalising and hashing emails and phones exactly as each platform specifies.

- Meta CAPI (developers.facebook.com/docs/marketing-api/conversions-api/parameters/
  customer-information-parameters): ``em`` trimmed and lowercased; ``ph`` digits only with
  the country code, no leading zeros; SHA-256 hex.
- Google Ads enhanced conversions (developers.google.com/google-ads/api/docs/conversions/
  enhanced-conversions/leads): email trimmed, lowercased, and for gmail.com / googlemail.com
  the dots of the local part removed; phone in E.164 (``+`` and digits); SHA-256 hex.
- LinkedIn CAPI ``SHA256_EMAIL``: trimmed, lowercased, SHA-256 hex.
"""

from __future__ import annotations

import hashlib

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normal_email(email: str) -> str:
    return email.strip().lower()


def google_email(email: str) -> str:
    local, _, domain = normal_email(email).rpartition("@")
    if domain in GMAIL_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def phone_digits(phone: str) -> str | None:
    """Digits with the country code and no leading zeros (``+44 (0)20…`` keeps the 0 after the
    country code: we cannot tell a trunk prefix apart, so a number must be stored in E.164)."""
    digits = "".join(ch for ch in phone if ch.isdigit()).lstrip("0")
    return digits or None


def meta_email(email: str) -> str:
    return sha256_hex(normal_email(email))


def meta_phone(phone: str) -> str | None:
    digits = phone_digits(phone)
    return sha256_hex(digits) if digits else None


def google_hashed_email(email: str) -> str:
    return sha256_hex(google_email(email))


def google_hashed_phone(phone: str) -> str | None:
    digits = phone_digits(phone)
    return sha256_hex("+" + digits) if digits else None


def linkedin_email(email: str) -> str:
    return sha256_hex(normal_email(email))
