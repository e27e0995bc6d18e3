"""A destination's settings, validated on write: which of our milestones become which platform
conversion, valued how, and the platform's ids. Pure: no database, no web.

Defaults follow each platform's recommended setup (docs/destinations.md): GA4's lead-generation
recommended events and ``purchase``; Meta's standard ``Lead`` and ``Purchase``. Google Ads,
Microsoft Ads and LinkedIn name conversions by ids made in their UI, so they have none.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tracker.errors import ValidationError

PLATFORMS = ("ga4", "meta", "google_ads", "microsoft_ads", "linkedin")
MILESTONES = ("lead", "mql", "sql", "opportunity", "won")
VALUE_RULES = ("none", "fixed", "deal", "expected")
# What each platform can do to a conversion already sent (Google Ads conversion adjustments
# RETRACTION/RESTATEMENT; Microsoft Ads ApplyOfflineConversionAdjustments Retract/Restate;
# GA4 a `refund` of the transaction). Meta and LinkedIn have no adjustment.
ADJUSTMENTS: Mapping[str, frozenset[str]] = {
    "ga4": frozenset({"retraction"}),
    "google_ads": frozenset({"restatement", "retraction"}),
    "microsoft_ads": frozenset({"restatement", "retraction"}),
    "meta": frozenset(),
    "linkedin": frozenset(),
}
DEFAULT_MILESTONES: Mapping[str, Mapping[str, Mapping[str, Any]]] = {
    "ga4": {
        "lead": {"name": "generate_lead", "value": {"rule": "none"}},
        "sql": {"name": "qualify_lead", "value": {"rule": "none"}},
        "won": {"name": "purchase", "value": {"rule": "deal"}},
    },
    "meta": {
        "lead": {"name": "Lead", "value": {"rule": "none"}},
        "won": {"name": "Purchase", "value": {"rule": "deal"}},
    },
}
# Settings each platform requires, and those it takes besides.
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "ga4": ("measurement_id",),
    "meta": ("pixel_id",),
    "google_ads": ("customer_id",),
    "microsoft_ads": ("customer_id", "account_id"),
    "linkedin": (),
}
OPTIONAL = ("currency", "test_event_code", "api_url", "api_version", "validate",
            "login_customer_id")
CREDENTIALS: Mapping[str, tuple[str, ...]] = {
    "ga4": ("api_secret",),
    "meta": ("access_token",),
    "google_ads": ("developer_token",),
    "microsoft_ads": ("developer_token",),
    "linkedin": (),
}
# Credentials that are secret: stored, never printed back.
SECRET_KEYS = frozenset({"api_secret", "access_token", "refresh_token", "client_secret",
                         "developer_token"})
MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class ValueRule:
    """How a milestone is valued: nothing, a fixed amount, the deal's amount, or an expected
    value (``amount`` × ``probability``, e.g. average deal size × an SQL's win rate)."""

    rule: str = "none"
    amount: decimal.Decimal | None = None
    probability: decimal.Decimal | None = None

    def value(self, deal_amount: decimal.Decimal | None) -> decimal.Decimal | None:
        if self.rule == "fixed":
            return self.amount
        if self.rule == "expected" and self.amount is not None:
            return (self.amount * (self.probability or decimal.Decimal(1))).quantize(
                decimal.Decimal("0.0001"))
        if self.rule == "deal":
            return deal_amount
        return None


@dataclass(frozen=True, slots=True)
class Mapping_:
    """One milestone's conversion on the platform: an event name, or a conversion action id
    (Google Ads), goal name (Microsoft) or conversion URN (LinkedIn)."""

    name: str
    value: ValueRule


def milestone_map(settings: Mapping[str, Any]) -> dict[str, Mapping_]:
    """The validated milestone mapping of stored settings."""
    found: dict[str, Mapping_] = {}
    for milestone, entry in (settings.get("milestones") or {}).items():
        rule = entry.get("value") or {}
        found[milestone] = Mapping_(
            name=str(entry["name"]),
            value=ValueRule(
                rule=str(rule.get("rule", "none")),
                amount=_decimal(rule.get("amount"), "amount"),
                probability=_decimal(rule.get("probability"), "probability"),
            ),
        )
    return found


def _decimal(raw: Any, field: str) -> decimal.Decimal | None:
    if raw is None:
        return None
    try:
        value = decimal.Decimal(str(raw))
    except decimal.InvalidOperation:
        raise ValidationError("expected a number", field=field) from None
    if not value.is_finite() or value < 0:
        raise ValidationError("expected a non-negative number", field=field)
    return value


def clean_settings(platform: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Validated settings for ``platform`` with its default milestones filled in; raises
    :class:`ValidationError` naming the field."""
    if platform not in PLATFORMS:
        raise ValidationError(f"expected one of {', '.join(PLATFORMS)}", field="platform")
    known = {"milestones", *REQUIRED[platform], *OPTIONAL}
    for key in given:
        if key not in known:
            raise ValidationError("unknown setting", field=f"settings.{key}")
    clean: dict[str, Any] = {}
    for key in REQUIRED[platform]:
        value = given.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"{platform} needs {key}", field=f"settings.{key}")
        clean[key] = value.strip()
    for key in OPTIONAL:
        if key in given and given[key] is not None:
            if key == "validate":
                clean[key] = bool(given[key])
            elif not isinstance(given[key], str):
                raise ValidationError("expected a string", field=f"settings.{key}")
            else:
                clean[key] = given[key].strip()
    if "currency" in clean and (len(clean["currency"]) != 3 or not clean["currency"].isalpha()):
        raise ValidationError("expected an ISO 4217 code", field="settings.currency")
    raw = given.get("milestones")
    milestones = dict(DEFAULT_MILESTONES.get(platform, {})) if raw is None else raw
    if not isinstance(milestones, Mapping) or not milestones:
        raise ValidationError("map at least one milestone", field="settings.milestones")
    clean["milestones"] = {}
    for milestone, entry in milestones.items():
        field = f"settings.milestones.{milestone}"
        if milestone not in MILESTONES:
            raise ValidationError(f"expected one of {', '.join(MILESTONES)}", field=field)
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping):
            raise ValidationError("expected a name or {name, value}", field=field)
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
            raise ValidationError("expected the platform's conversion name", field=f"{field}.name")
        rule = dict(entry.get("value") or {"rule": "deal" if milestone == "won" else "none"})
        if rule.get("rule") not in VALUE_RULES:
            raise ValidationError(f"expected one of {', '.join(VALUE_RULES)}",
                                  field=f"{field}.value.rule")
        if rule["rule"] == "deal" and milestone != "won":
            raise ValidationError("only won has a deal amount", field=f"{field}.value.rule")
        if rule["rule"] in ("fixed", "expected") and _decimal(rule.get("amount"),
                                                               f"{field}.value.amount") is None:
            raise ValidationError(
                "a fixed or expected value needs it", field=f"{field}.value.amount"
            )
        _decimal(rule.get("probability"), f"{field}.value.probability")
        clean["milestones"][milestone] = {"name": name.strip(), "value": rule}
    return clean


def clean_credentials(platform: str, given: Mapping[str, Any],
                      borrowed: bool = False) -> dict[str, str]:
    """Validated credentials; with ``borrowed`` (an ad account's OAuth tokens are used) only
    the platform's own extra secrets are needed."""
    clean = {str(k): str(v) for k, v in given.items() if v is not None}
    needed = CREDENTIALS[platform]
    if platform in ("google_ads", "microsoft_ads", "linkedin") and not borrowed:
        needed = (*needed, "refresh_token", "client_id")
    if borrowed:
        needed = ()
    for key in needed:
        if not clean.get(key):
            raise ValidationError(f"{platform} needs {key}", field=f"credentials.{key}")
    return clean
