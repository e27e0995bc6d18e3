"""A site's call-tracking configuration: default number, minimum duration, provider secrets
and number pools, validated whole (every refusal names its field) and replaced whole."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tracker.calls.phone import DEFAULT_REGION, display_form, to_e164
from tracker.errors import ValidationError
from tracker.models import CallNumber, CallPool, CallSettings
from tracker.sites.settings import secret_fingerprint
from tracker.validation import RuleRefused

SCOPES = ("channel", "campaign", "visitor")
MAX_POOLS = 50
MAX_NUMBERS = 500
MAX_SECRETS = 3
# A hold shorter than a page view is no hold; fractions of a minute serve short tests.
MIN_HOLD_MINUTES = 0.05
MAX_HOLD_MINUTES = 7 * 24 * 60
_POOL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_KEYS = frozenset({"default_number", "default_display", "min_duration_s", "region",
                   "twilio_auth_tokens", "callrail_signing_keys", "generic_secrets", "pools"})
_POOL_KEYS = frozenset({"id", "channel", "campaign", "scope", "hold_minutes", "numbers"})
_SECRET_KEYS = ("twilio_auth_tokens", "callrail_signing_keys", "generic_secrets")


@dataclass(frozen=True, slots=True)
class NumberConfig:
    number: str
    display: str


@dataclass(frozen=True, slots=True)
class PoolConfig:
    id: str
    channel: str | None
    campaign: str | None
    scope: str
    hold_minutes: float
    numbers: tuple[NumberConfig, ...]


@dataclass(frozen=True, slots=True)
class CallConfig:
    default: NumberConfig | None
    min_duration_s: int
    secrets: Mapping[str, tuple[str, ...]]
    pools: tuple[PoolConfig, ...]


def _text(value: Any, field: str, max_length: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise ValidationError(f"expected a string of at most {max_length} characters", field=field)
    return value


def _whole(value: Any, field: str, low: int, high: int) -> int:
    # 5.0 is a JSON integer too (JSON Schema's `integer`, and what some clients send).
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"expected a whole number from {low} to {high}", field=field)
    return value


def _minutes(value: Any, field: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not MIN_HOLD_MINUTES <= value <= MAX_HOLD_MINUTES):
        raise ValidationError(
            f"expected minutes from {MIN_HOLD_MINUTES} to {MAX_HOLD_MINUTES}", field=field
        )
    return float(value)


def _number(raw: Any, field: str, region: str) -> NumberConfig:
    display = None
    if isinstance(raw, dict):
        for key in raw:
            if key not in {"number", "display"}:
                raise ValidationError("unknown field", field=f"{field}.{key}")
        display = _text(raw.get("display"), f"{field}.display", 40)
        field, raw = f"{field}.number", raw.get("number")
    number = to_e164(raw, field, region)
    return NumberConfig(number=number, display=display or display_form(number, region))


def _secrets(raw: Any, field: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_SECRETS:
        raise ValidationError(f"expected a list of at most {MAX_SECRETS} secrets", field=field)
    for index, secret in enumerate(raw):
        if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
            raise ValidationError(
                "expected a secret of 16 to 200 characters", field=f"{field}.{index}"
            )
    return tuple(raw)


def _pool(raw: Any, index: int, region: str) -> PoolConfig:
    where = f"pools.{index}"
    if not isinstance(raw, dict):
        raise ValidationError("expected an object", field=where)
    for key in raw:
        if key not in _POOL_KEYS:
            raise ValidationError("unknown field", field=f"{where}.{key}")
    pool_id = raw.get("id")
    if not isinstance(pool_id, str) or not _POOL_ID.match(pool_id):
        raise ValidationError("expected 1 to 40 of a-z 0-9 _ -", field=f"{where}.id")
    scope = raw.get("scope", "visitor")
    if scope not in SCOPES:
        raise ValidationError(f"expected one of {', '.join(SCOPES)}", field=f"{where}.scope")
    numbers = raw.get("numbers")
    if not isinstance(numbers, list) or not numbers:
        raise ValidationError("expected a non-empty list of numbers", field=f"{where}.numbers")
    return PoolConfig(
        id=pool_id,
        channel=_text(raw.get("channel"), f"{where}.channel", 64),
        campaign=_text(raw.get("campaign"), f"{where}.campaign", 255),
        scope=scope,
        hold_minutes=_minutes(raw.get("hold_minutes", 30), f"{where}.hold_minutes"),
        numbers=tuple(_number(item, f"{where}.numbers.{i}", region)
                      for i, item in enumerate(numbers)),
    )


def parse_config(data: Mapping[str, Any]) -> CallConfig:
    """The whole configuration from a JSON object (docs/calls.md)."""
    for key in data:
        if key not in _KEYS:
            raise ValidationError("unknown field", field=key)
    region = data.get("region", DEFAULT_REGION)
    if not isinstance(region, str) or not re.fullmatch(r"[A-Z]{2}", region):
        raise ValidationError("expected a two-letter country code such as US", field="region")
    pools_raw = data.get("pools", [])
    if not isinstance(pools_raw, list) or len(pools_raw) > MAX_POOLS:
        raise ValidationError(f"expected a list of at most {MAX_POOLS} pools", field="pools")
    pools = tuple(_pool(raw, index, region) for index, raw in enumerate(pools_raw))
    seen_pools: set[str] = set()
    seen_numbers: set[str] = set()
    for index, pool in enumerate(pools):
        if pool.id in seen_pools:
            raise RuleRefused("the same pool id twice", field=f"pools.{index}.id")
        seen_pools.add(pool.id)
        for position, number in enumerate(pool.numbers):
            if number.number in seen_numbers:
                raise RuleRefused("a number belongs to one pool only",
                                  field=f"pools.{index}.numbers.{position}")
            seen_numbers.add(number.number)
    if len(seen_numbers) > MAX_NUMBERS:
        raise RuleRefused(f"more than {MAX_NUMBERS} numbers", field="pools")
    default = None
    if data.get("default_number") not in (None, ""):
        default = _number({"number": data["default_number"],
                           "display": data.get("default_display")}, "default_number", region)
        if default.number in seen_numbers:
            raise RuleRefused("the default number is in a pool", field="default_number")
    return CallConfig(
        default=default,
        min_duration_s=_whole(data.get("min_duration_s", 0), "min_duration_s", 0, 86_400),
        secrets={key: _secrets(data.get(key), key) for key in _SECRET_KEYS},
        pools=pools,
    )


def save_config(session: Session, site_id: int, config: CallConfig) -> None:
    """Replace the site's configuration. Numbers kept in the same pool keep their current
    holder (a visitor browsing now keeps the number they were shown)."""
    settings = session.get(CallSettings, site_id) or CallSettings(site_id=site_id)
    settings.default_number = config.default.number if config.default else None
    settings.default_display = config.default.display if config.default else None
    settings.min_duration_s = config.min_duration_s
    settings.twilio_auth_tokens = list(config.secrets["twilio_auth_tokens"])
    settings.callrail_signing_keys = list(config.secrets["callrail_signing_keys"])
    settings.generic_secrets = list(config.secrets["generic_secrets"])
    session.add(settings)
    session.execute(delete(CallPool).where(CallPool.site_id == site_id))
    for position, pool in enumerate(config.pools):
        session.add(CallPool(site_id=site_id, id=pool.id, position=position, channel=pool.channel,
                             campaign=pool.campaign, scope=pool.scope,
                             hold_minutes=pool.hold_minutes))
    existing = {row.number: row for row in session.scalars(
        select(CallNumber).where(CallNumber.site_id == site_id))}
    wanted = {number.number: (pool.id, number) for pool in config.pools
              for number in pool.numbers}
    for number, row in existing.items():
        if number not in wanted:
            session.delete(row)
    for number, (pool_id, config_number) in wanted.items():
        kept = existing.get(number)
        if kept is None:
            session.add(CallNumber(site_id=site_id, number=number, pool_id=pool_id,
                                   display=config_number.display))
            continue
        if kept.pool_id != pool_id:
            kept.held_key, kept.held_until = None, None
        kept.pool_id, kept.display = pool_id, config_number.display
    session.flush()


def config_json(session: Session, site_id: int) -> dict[str, Any]:
    """The stored configuration; secrets only as fingerprints."""
    settings = session.get(CallSettings, site_id)
    numbers: dict[str, list[dict[str, str]]] = {}
    for row in session.scalars(select(CallNumber).where(CallNumber.site_id == site_id)
                               .order_by(CallNumber.number)):
        numbers.setdefault(row.pool_id, []).append({"number": row.number, "display": row.display})
    pools = [
        {"id": pool.id, "channel": pool.channel, "campaign": pool.campaign, "scope": pool.scope,
         "hold_minutes": pool.hold_minutes, "numbers": numbers.get(pool.id, [])}
        for pool in session.scalars(select(CallPool).where(CallPool.site_id == site_id)
                                    .order_by(CallPool.position))
    ]
    secrets = {key: [secret_fingerprint(s) for s in getattr(settings, key, None) or []]
               for key in _SECRET_KEYS}
    return {
        "default_number": settings.default_number if settings else None,
        "default_display": settings.default_display if settings else None,
        "min_duration_s": settings.min_duration_s if settings else 0,
        **secrets,
        "pools": pools,
    }
