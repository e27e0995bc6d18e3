"""A site's settings, typed: every setting is checked when written and loaded as trusted
typed values on read (rules as rule objects, not dicts)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_sync.events import PROVIDERS as CRM_PROVIDERS
from crm_sync.providers import hubspot, pipedrive, salesforce
from crm_sync.push import PUSH_FIELDS
from crm_sync.stages import check_stage_map
from tracker.errors import ValidationError
from tracker.models import Site
from tracker.rules.channels import ChannelRule
from tracker.rules.score_rules import DEFAULT_RULES, ScoreRule, parse_score_rules

_DOMAIN = re.compile(r"^(?=.{1,253}$)(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+|\d{1,3}(\.\d{1,3}){3})$")


# DESIGN section 6's models; j_shaped, inverse_j and custom can be added per site.
DEFAULT_ATTRIBUTION_MODELS = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position_based",
    "w_shaped",
    "full_path",
    "markov",
    "shapley",
)


CONSENT_MODES = ("off", "required")


UNIQUE_VISITOR_COUNTS = ("exact", "approximate")


ConsentMode = Literal["off", "required"]


UniqueVisitorCount = Literal["exact", "approximate"]


# Per CRM provider, the site's own CRM stage -> our stage.
StageMaps = Mapping[str, Mapping[str, str]]


# CRMs LeadTrail can push leads into.
PUSH_PROVIDERS = ("hubspot", "pipedrive")


_FIELD_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


# At most this many secrets of one provider are active at once (the new one and the old one
# while senders switch over, plus one spare).
MAX_ACTIVE_SECRETS = 3


MIN_SECRET_LENGTH = 16


MAX_SECRET_LENGTH = 200


SECRET_SETTINGS = (
    "hubspot_secrets",
    "pipedrive_password",
    "salesforce_token",
    "generic_secrets",
    "hubspot_api_token",
    "pipedrive_api_token",
    "salesforce_access_token",
)


def _no_entries() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """A site's settings with their defaults; stored as JSON on ``sites.settings``.

    Every value is checked once, when written (:meth:`from_mapping`, :meth:`updated`), and
    loaded as is (:meth:`from_json`). Rules come parsed, as their users apply them. Immutable,
    mappings included: :func:`site_settings` hands one value to every caller.
    """

    session_timeout_minutes: float = 30.0
    lookback_days: int = 90
    currency: str = "USD"
    # An IANA name zoneinfo knows (a name, as report SQL and the rollups' state take it).
    timezone: str = "UTC"
    gross_margin_pct: float = 100.0
    mql_threshold: int = 50
    consent_mode: ConsentMode = "off"
    honor_gpc: bool = False
    referral_exclusions: tuple[str, ...] = ()
    # Checked before the GA4 defaults (tracker.rules.channels.classify_channel).
    channel_rules: tuple[ChannelRule, ...] = ()
    # None: the default rules of tracker.rules.score_rules (``scoring_rules`` gives either).
    score_rules: tuple[ScoreRule, ...] | None = None
    # Domains whose links the snippet decorates with a signed visitor id (cross-domain).
    linked_domains: tuple[str, ...] = ()
    # CRM webhooks (docs/crm.md). Secrets are kept in clear because signatures are checked
    # with them; they are never printed back (``redacted_json``) nor logged. Several secrets
    # may be active at once while one is rotated, the newest first.
    hubspot_secrets: tuple[str, ...] = ()
    hubspot_portal_id: int | None = None
    pipedrive_username: str | None = None
    pipedrive_password: str | None = None
    salesforce_org_id: str | None = None
    salesforce_token: str | None = None
    generic_secrets: tuple[str, ...] = ()
    # Per provider, the site's own CRM stage -> our stage (sql, opportunity, customer, lost),
    # checked before crm_sync.stages' defaults.
    crm_stage_maps: StageMaps = field(default_factory=_no_entries)
    # CRM APIs, for ``crm sync`` (deals in) and ``crm push`` (leads out): base URLs and
    # tokens, secret like the webhook ones (docs/crm.md).
    hubspot_api_url: str = hubspot.API_URL
    hubspot_api_token: str | None = None
    pipedrive_api_url: str = pipedrive.API_URL
    pipedrive_api_token: str | None = None
    salesforce_instance_url: str | None = None
    salesforce_access_token: str | None = None
    salesforce_api_version: str = salesforce.API_VERSION
    # The CRMs whose contacts get every new lead and stage change (hubspot, pipedrive).
    crm_push: tuple[str, ...] = ()
    # Our push field (crm_sync.push.PUSH_FIELDS) -> the site's Pipedrive person field key.
    pipedrive_person_fields: Mapping[str, str] = field(default_factory=_no_entries)
    # Which Opportunity fields (API names, custom ones end in __c) hold the contact's email
    # and phone and our lead id: contact_email, contact_phone, lead_id -> API name
    # (crm_sync.providers.salesforce.OpportunityFields; docs/crm.md).
    salesforce_fields: Mapping[str, str] = field(default_factory=_no_entries)
    # Attribution (docs/reports.md): the models whose credits are stored and reported, and
    # per model its keyword parameters (e.g. {"time_decay": {"half_life_days": 14}}).
    # Changing either, or lookback_days, recomputes the stored credits.
    attribution_models: tuple[str, ...] = DEFAULT_ATTRIBUTION_MODELS
    attribution_params: Mapping[str, Mapping[str, Any]] = field(default_factory=_no_entries)
    # How reports count unique visitors: "exact" (a union of the visitors' hashes) or
    # "approximate" (HyperLogLog sketches unioned by PostgreSQL's hll extension, ±1.6 %
    # standard error; docs/reports.md).
    unique_visitors: UniqueVisitorCount = "exact"

    @property
    def scoring_rules(self) -> tuple[ScoreRule, ...]:
        """The rules the site's leads are scored by: its own, else the defaults."""
        return DEFAULT_RULES if self.score_rules is None else self.score_rules

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], prefix: str = "settings") -> SiteSettings:
        """Check ``data`` over the defaults; unknown keys and bad values raise
        :class:`ValidationError` naming ``settings.<key>`` (or a part of it)."""
        return cls(**_checked(data, prefix))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SiteSettings:
        """Settings as :meth:`to_json` stored them, checked when written: nothing is checked
        again. Keys no setting has any more are ignored."""
        return cls(**{key: _SCHEMA[key].load(raw) for key, raw in data.items() if key in _SCHEMA})

    def to_json(self) -> dict[str, Any]:
        return {key: setting.dump(getattr(self, key)) for key, setting in _SCHEMA.items()}

    def redacted_json(self) -> dict[str, Any]:
        """:meth:`to_json` with every CRM secret replaced by a short fingerprint, for output."""
        data = self.to_json()
        for key in SECRET_SETTINGS:
            value = data[key]
            if isinstance(value, list):
                data[key] = [secret_fingerprint(secret) for secret in value]
            elif value is not None:
                data[key] = secret_fingerprint(value)
        return data

    def updated(self, changes: Mapping[str, Any]) -> SiteSettings:
        """These settings with ``changes`` checked (as :meth:`from_mapping` does) and applied;
        the others were checked when they were written."""
        return replace(self, **_checked(changes, "settings"))


def secret_fingerprint(secret: str) -> str:
    """How a secret is shown: enough to tell two apart, nothing to rebuild one."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


# How each setting is checked when written, and kept in and read from JSON. A check takes
# the setting's field name (for its error) and a writer's raw value, and gives the typed one.
Check = Callable[[str, Any], Any]


def _as_is(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class _Setting:
    check: Check
    load: Callable[[Any], Any] = _as_is
    dump: Callable[[Any], Any] = _as_is


def _checked(data: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in data.items():
        name = f"{prefix}.{key}"
        if key not in _SCHEMA:
            raise ValidationError("unknown setting", field=name)
        values[key] = _SCHEMA[key].check(name, raw)
    return values


def _number(name: str, raw: Any, low: float, high: float, whole: bool = False) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValidationError("expected a number", field=name)
    if whole and raw != int(raw):
        raise ValidationError("expected a whole number", field=name)
    if not low <= raw <= high:
        raise ValidationError(f"expected a number from {low:g} to {high:g}", field=name)
    return float(raw)


def _number_from(low: float, high: float) -> Check:
    return lambda name, raw: _number(name, raw, low, high)


def _whole_number_from(low: int, high: int) -> Check:
    return lambda name, raw: int(_number(name, raw, low, high, whole=True))


def _one_of(choices: Sequence[str]) -> Check:
    def check(name: str, raw: Any) -> str:
        if not isinstance(raw, str) or raw not in choices:
            raise ValidationError(f"expected {' or '.join(map(repr, choices))}", field=name)
        return raw

    return check


def _optional(check: Check) -> Check:
    """``check`` for a setting that may also be ``null`` (not set)."""
    return lambda name, raw: None if raw is None else check(name, raw)


def _currency(name: str, raw: Any) -> str:
    if not isinstance(raw, str) or not re.fullmatch(r"[A-Z]{3}", raw):
        raise ValidationError("expected a three-letter ISO 4217 code such as USD", field=name)
    return raw


def _timezone(name: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValidationError("expected an IANA time zone name", field=name)
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {raw!r}", field=name) from None
    return raw


def _true_or_false(name: str, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValidationError("expected true or false", field=name)
    return raw


def _referral_exclusions(name: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple):
        raise ValidationError("expected a list of host names", field=name)
    return tuple(normalise_domain(host, name) for host in raw)


def _linked_domains(name: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple):
        raise ValidationError("expected a list of host names", field=name)
    return tuple(normalise_domain(host, f"{name}.{i}") for i, host in enumerate(raw))


def _channel_rules(name: str, raw: Any) -> tuple[ChannelRule, ...]:
    if not isinstance(raw, list | tuple):
        raise ValidationError("expected a list of rules", field=name)
    rules = []
    for index, rule in enumerate(raw):
        if not isinstance(rule, Mapping):
            raise ValidationError("expected an object", field=f"{name}.{index}")
        try:
            rules.append(ChannelRule.from_dict(rule))
        except ValueError as exc:
            raise ValidationError(str(exc), field=f"{name}.{index}") from None
    return tuple(rules)


def _score_rules(name: str, raw: Any) -> tuple[ScoreRule, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list | tuple):
        raise ValidationError("expected a list of rules", field=name)
    return parse_score_rules(raw, name)


def _attribution_models(name: str, raw: Any) -> tuple[str, ...]:
    from attribution import model_names

    known = model_names()
    # Distinct by repr: a writer's list may hold unhashable junk, refused below by index.
    if not isinstance(raw, list | tuple) or not raw or len({repr(m) for m in raw}) != len(raw):
        raise ValidationError("expected a non-empty list of distinct model names", field=name)
    for index, model in enumerate(raw):
        if model not in known:
            raise ValidationError(f"expected one of {', '.join(known)}", field=f"{name}.{index}")
    return tuple(raw)


def _attribution_params(name: str, raw: Any) -> Mapping[str, Mapping[str, Any]]:
    from attribution import AttributionError, create_model, model_names

    known = model_names()
    if not isinstance(raw, Mapping):
        raise ValidationError("expected an object of model -> {parameter: value}", field=name)
    params: dict[str, Mapping[str, Any]] = {}
    for model, values in raw.items():
        if model not in known:
            raise ValidationError(f"expected one of {', '.join(known)}", field=f"{name}.{model}")
        if not isinstance(values, Mapping):
            raise ValidationError("expected an object of parameters", field=f"{name}.{model}")
        try:
            create_model(model, **values)
        except AttributionError as exc:
            raise ValidationError(str(exc), field=f"{name}.{model}") from None
        params[model] = MappingProxyType(dict(values))
    return MappingProxyType(params)


def _secret(name: str, raw: Any) -> str:
    if not isinstance(raw, str) or not MIN_SECRET_LENGTH <= len(raw) <= MAX_SECRET_LENGTH:
        raise ValidationError(
            f"expected a secret of {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters",
            field=name,
        )
    if not raw.isprintable() or raw != raw.strip():
        raise ValidationError(
            "expected printable characters without surrounding spaces", field=name
        )
    return raw


def _secrets(name: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or len(raw) > MAX_ACTIVE_SECRETS:
        raise ValidationError(f"expected a list of at most {MAX_ACTIVE_SECRETS} secrets",
                              field=name)
    return tuple(_secret(f"{name}.{i}", secret) for i, secret in enumerate(raw))


def _api_url(name: str, raw: Any) -> str:
    """An API base URL: http(s), a host, maybe a path; no credentials, query or fragment."""
    parts = urlsplit(raw) if isinstance(raw, str) else None
    if (
        parts is None
        or parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or len(raw) > 300
    ):
        raise ValidationError("expected a base URL such as https://api.example.com", field=name)
    return str(raw).rstrip("/")


def _api_version(name: str, raw: Any) -> str:
    if not isinstance(raw, str) or not re.fullmatch(r"v\d{2,3}\.0", raw):
        raise ValidationError("expected a REST API version such as v62.0", field=name)
    return raw


def _crm_push(name: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or any(p not in PUSH_PROVIDERS for p in raw):
        raise ValidationError(f"expected a list of {', '.join(PUSH_PROVIDERS)}", field=name)
    return tuple(dict.fromkeys(raw))


def _pipedrive_username(name: str, raw: Any) -> str:
    if not isinstance(raw, str) or not 1 <= len(raw.strip()) <= 100 or ":" in raw:
        raise ValidationError("expected a user name of 1 to 100 characters, no colon", field=name)
    return raw.strip()


def _salesforce_org_id(name: str, raw: Any) -> str:
    if not isinstance(raw, str) or not re.fullmatch(r"00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?", raw):
        raise ValidationError("expected a 15- or 18-character org id starting 00D", field=name)
    return raw


def _salesforce_fields(name: str, raw: Any) -> Mapping[str, str]:
    if not isinstance(raw, Mapping):
        raise ValidationError("expected an object of field role -> Salesforce API name", field=name)
    for role, api_name in raw.items():
        if role not in salesforce.FIELD_ROLES:
            raise ValidationError(
                f"expected one of {', '.join(salesforce.FIELD_ROLES)}", field=f"{name}.{role}"
            )
        if not isinstance(api_name, str):
            raise ValidationError("expected a Salesforce API name", field=f"{name}.{role}")
        try:
            salesforce.OpportunityFields.named({role: api_name})
        except ValueError:
            raise ValidationError(
                "expected a Salesforce API name such as ContactEmail__c", field=f"{name}.{role}"
            ) from None
    return MappingProxyType(dict(raw))


def _person_fields(name: str, raw: Any) -> Mapping[str, str]:
    if not isinstance(raw, Mapping):
        raise ValidationError(
            "expected an object of LeadTrail field -> Pipedrive field key", field=name
        )
    for ours, key in raw.items():
        if ours not in PUSH_FIELDS:
            raise ValidationError(
                f"expected one of {', '.join(PUSH_FIELDS)}", field=f"{name}.{ours}"
            )
        if not isinstance(key, str) or not _FIELD_KEY.match(key):
            raise ValidationError("expected a Pipedrive field key", field=f"{name}.{ours}")
    return MappingProxyType(dict(raw))


def _stage_maps(name: str, raw: Any) -> StageMaps:
    if not isinstance(raw, Mapping):
        raise ValidationError("expected an object of provider -> {crm stage: our stage}",
                              field=name)
    maps: dict[str, Mapping[str, str]] = {}
    for provider, mapping in raw.items():
        if provider not in CRM_PROVIDERS:
            raise ValidationError(
                f"expected one of {', '.join(CRM_PROVIDERS)}", field=f"{name}.{provider}"
            )
        if not isinstance(mapping, Mapping):
            raise ValidationError("expected an object", field=f"{name}.{provider}")
        try:
            maps[provider] = MappingProxyType(check_stage_map(mapping))
        except ValueError as exc:
            raise ValidationError(str(exc), field=f"{name}.{provider}") from None
    return MappingProxyType(maps)


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _frozen_nested(value: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType({key: _frozen(inner) for key, inner in value.items()})


def _plain_nested(value: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {key: dict(inner) for key, inner in value.items()}


_STRINGS: dict[str, Callable[[Any], Any]] = {"load": tuple, "dump": list}


_MAPPING: dict[str, Callable[[Any], Any]] = {"load": _frozen, "dump": dict}


_NESTED_MAPPING: dict[str, Callable[[Any], Any]] = {"load": _frozen_nested, "dump": _plain_nested}


# Every setting, in SiteSettings' order (which to_json keeps).
_SCHEMA: Mapping[str, _Setting] = {
    "session_timeout_minutes": _Setting(_number_from(0.05, 24 * 60)),
    "lookback_days": _Setting(_whole_number_from(1, 730)),
    "currency": _Setting(_currency),
    "timezone": _Setting(_timezone),
    "gross_margin_pct": _Setting(_number_from(0, 100)),
    "mql_threshold": _Setting(_whole_number_from(0, 10_000)),
    "consent_mode": _Setting(_one_of(CONSENT_MODES)),
    "honor_gpc": _Setting(_true_or_false),
    "referral_exclusions": _Setting(_referral_exclusions, **_STRINGS),
    "channel_rules": _Setting(
        _channel_rules,
        load=lambda raw: tuple(ChannelRule.from_json(rule) for rule in raw),
        dump=lambda rules: [rule.to_json() for rule in rules],
    ),
    "score_rules": _Setting(
        _score_rules,
        load=lambda raw: None if raw is None else tuple(ScoreRule.from_json(r) for r in raw),
        dump=lambda rules: None if rules is None else [rule.to_json() for rule in rules],
    ),
    "linked_domains": _Setting(_linked_domains, **_STRINGS),
    "hubspot_secrets": _Setting(_secrets, **_STRINGS),
    "hubspot_portal_id": _Setting(_optional(_whole_number_from(1, 10**15))),
    "pipedrive_username": _Setting(_optional(_pipedrive_username)),
    "pipedrive_password": _Setting(_optional(_secret)),
    "salesforce_org_id": _Setting(_optional(_salesforce_org_id)),
    "salesforce_token": _Setting(_optional(_secret)),
    "generic_secrets": _Setting(_secrets, **_STRINGS),
    "crm_stage_maps": _Setting(_stage_maps, **_NESTED_MAPPING),
    "hubspot_api_url": _Setting(_api_url),
    "hubspot_api_token": _Setting(_optional(_secret)),
    "pipedrive_api_url": _Setting(_api_url),
    "pipedrive_api_token": _Setting(_optional(_secret)),
    "salesforce_instance_url": _Setting(_optional(_api_url)),
    "salesforce_access_token": _Setting(_optional(_secret)),
    "salesforce_api_version": _Setting(_api_version),
    "crm_push": _Setting(_crm_push, **_STRINGS),
    "pipedrive_person_fields": _Setting(_person_fields, **_MAPPING),
    "salesforce_fields": _Setting(_salesforce_fields, **_MAPPING),
    "attribution_models": _Setting(_attribution_models, **_STRINGS),
    "attribution_params": _Setting(_attribution_params, **_NESTED_MAPPING),
    "unique_visitors": _Setting(_one_of(UNIQUE_VISITOR_COUNTS)),
}


def normalise_domain(raw: Any, field_name: str = "domain") -> str:
    """Lower-case a host name and check it; ``https://`` and paths are refused, not guessed."""
    if not isinstance(raw, str):
        raise ValidationError("expected a host name such as example.com", field=field_name)
    host = raw.strip().lower().rstrip(".")
    if not _DOMAIN.match(host):
        raise ValidationError(f"{raw!r} is not a host name such as example.com", field=field_name)
    return host


def site_settings(site: Site) -> SiteSettings:
    """The site's settings, typed. They were checked when written, so nothing is checked
    again; the value is built once per stored version and kept with the loaded row, so a
    request's repeated calls cost a lookup."""
    stored = site.settings or {}
    known = _settings_of_row.get(site)
    # ``site.settings`` is replaced when written (update_site_settings) or reloaded, never
    # changed in place (the JSON column would not notice that either): the same object is
    # the same version.
    if known is not None and known[0] is stored:
        return known[1]
    typed = _stored_settings(json.dumps(stored))
    _settings_of_row[site] = (stored, typed)
    return typed


def store_settings(site: Site, typed: SiteSettings) -> None:
    """Write checked settings to the row; its next reads get ``typed`` itself."""
    site.settings = typed.to_json()
    _settings_of_row[site] = (site.settings, typed)


# Per loaded row (a row lives as long as its session), its settings as last read or written.
_settings_of_row: WeakKeyDictionary[Site, tuple[Mapping[str, Any], SiteSettings]] = (
    WeakKeyDictionary()
)


# Across sessions, keyed by the stored JSON alone: equal JSON makes equal (immutable)
# settings, which sites may share. An entry is a few kilobytes; a process serving more sites
# than this rebuilds some now and then.
@lru_cache(maxsize=1024)
def _stored_settings(stored: str) -> SiteSettings:
    return SiteSettings.from_json(json.loads(stored))
