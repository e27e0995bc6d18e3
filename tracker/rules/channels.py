"""Traffic-source classification: a landing page and its referrer → source, medium, campaign,
keyword, click id and GA4 default channel group. Pure; imports only the standard library.

Precedence (DESIGN section 5): explicit UTM parameters, then ad click ids, then the referrer
(search engines with their keyword parameter, social networks, video and shopping sites,
webmail), else Direct. Site rules are checked before the defaults; the defaults are Google's
GA4 default channel group rules in Google's listed order
(support.google.com/analytics/answer/9756891, rules as of 2024-10, see
research/protocols.md §5). Source and medium are lower-cased before matching; campaign, term
and content keep their case.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

CHANNEL_RULES_VERSION = "ga4-2024-10+lt2"
CLICK_ID_PARAMS: tuple[str, ...] = (
    "gclid",
    "gbraid",
    "wbraid",
    "dclid",
    "msclkid",
    "fbclid",
    "ttclid",
    "li_fat_id",
    "twclid",
    "epik",
    "rdt_cid",
)
UTM_PARAMS: tuple[str, ...] = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "utm_id",
)
MAX_VALUE_LENGTH = 200
DATA = Path(__file__).with_name("data")

# Click id → (source, medium) as the ad platform's auto-tagging means it. gclid, gbraid and
# wbraid are Google Ads (research §5.2: google/cpc unless the campaign says cross-network);
# msclkid is Microsoft Advertising; dclid is Display & Video 360 / Campaign Manager.
# fbclid is also appended to organic Facebook links (research §5.4); DESIGN section 5 maps it
# to Meta's paid channel, which is what a site using Meta ads expects; override with a rule.
CLICK_ID_SOURCES: Mapping[str, tuple[str, str]] = {
    "gclid": ("google", "cpc"),
    "gbraid": ("google", "cpc"),
    "wbraid": ("google", "cpc"),
    "dclid": ("dv360", "display"),
    "msclkid": ("bing", "cpc"),
    "fbclid": ("facebook", "paid"),
    "ttclid": ("tiktok", "paid"),
    "li_fat_id": ("linkedin", "paid"),
    "twclid": ("twitter", "paid"),
    "epik": ("pinterest", "paid"),
    "rdt_cid": ("reddit", "paid"),
}

# GA4's shared patterns (research §5.1).
PAID = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
SHOP_CAMPAIGN = re.compile(r"^(.*(([^a-df-z]|^)shop|shopping).*)$")
DISPLAY_MEDIA = frozenset({"display", "banner", "expandable", "interstitial", "cpm"})
SOCIAL_MEDIA = frozenset(
    {"social", "social-network", "social-media", "sm", "social network", "social media"}
)
EMAIL = re.compile(r"^(email|e-mail|e_mail|e mail)$")
VIDEO_MEDIUM = re.compile(r"^(.*video.*)$")


@dataclass(frozen=True, slots=True)
class SourceInfo:
    source: str
    category: str  # search | social | video | shopping | email
    keyword_params: tuple[str, ...]


def _load_sources() -> tuple[dict[str, SourceInfo], dict[str, SourceInfo]]:
    exact: dict[str, SourceInfo] = {}
    any_tld: dict[str, SourceInfo] = {}
    with (DATA / "sources.csv").open(encoding="utf-8") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        for row in csv.DictReader(lines):
            params = tuple(p for p in (row["keyword_params"] or "").split(";") if p)
            info = SourceInfo(row["source"], row["category"], params)
            match = row["match"].strip().lower()
            if match.endswith(".*"):
                any_tld[match[:-2]] = info
            else:
                exact[match] = info
    return exact, any_tld


def _load_exclusions() -> frozenset[str]:
    with (DATA / "referral_exclusions.csv").open(encoding="utf-8") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        return frozenset(row["host"].strip().lower() for row in csv.DictReader(lines))


SOURCES, SOURCES_ANY_TLD = _load_sources()
DEFAULT_REFERRAL_EXCLUSIONS = _load_exclusions()


@lru_cache(maxsize=4096)
def lookup_source(value: str | None) -> SourceInfo | None:
    """What a source name or referrer host is: exact, then parent domains, then ``name.*``
    (google.co.uk → google). ``None`` for an ordinary website."""
    if not value:
        return None
    key = value.strip().lower().removeprefix("www.")
    if key in SOURCES:
        return SOURCES[key]
    labels = key.split(".")
    for start in range(1, len(labels) - 1):
        parent = ".".join(labels[start:])
        if parent in SOURCES:
            return SOURCES[parent]
    for index, label in enumerate(labels[:-1]):
        if label in SOURCES_ANY_TLD and all(len(rest) <= 3 for rest in labels[index + 1 :]):
            return SOURCES_ANY_TLD[label]
    return None


def _host_in(host: str, domains: Sequence[str] | frozenset[str]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def is_excluded_referrer(
    host: str, site_domains: Sequence[str] = (), referral_exclusions: Sequence[str] = ()
) -> bool:
    """The site's own domains (and subdomains), payment and sign-in providers, and the site's
    extra exclusions never count as a referral."""
    host = host.lower().removeprefix("www.")
    return (
        _host_in(host, site_domains)
        or _host_in(host, DEFAULT_REFERRAL_EXCLUSIONS)
        or _host_in(host, tuple(d.lower() for d in referral_exclusions))
    )


@dataclass(frozen=True, slots=True)
class TouchInput:
    """What one landing tells us, raw."""

    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    utm_id: str | None = None
    click_id_kind: str | None = None
    click_id: str | None = None
    referrer_url: str | None = None
    referrer_host: str | None = None

    @property
    def has_source(self) -> bool:
        return bool(
            self.utm_source
            or self.utm_medium
            or self.utm_campaign
            or self.click_id
            or self.referrer_host
        )


# What a site's channel rule can match, each a regular expression.
_RULE_PATTERNS = ("source", "medium", "campaign", "referrer_host")


@dataclass(frozen=True, slots=True)
class ChannelRule:
    """A site's own rule: every given pattern must fully match (case-insensitive)."""

    channel: str
    source: re.Pattern[str] | None = None
    medium: re.Pattern[str] | None = None
    campaign: re.Pattern[str] | None = None
    referrer_host: re.Pattern[str] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ChannelRule:
        """A rule as a site's settings give it. Raises ValueError naming the bad key."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(f"unknown key {key!r}")
        channel = data.get("channel")
        if not isinstance(channel, str) or not 1 <= len(channel) <= 40:
            raise ValueError("'channel' must be a name of 1 to 40 characters")
        patterns: dict[str, re.Pattern[str] | None] = {}
        for key in _RULE_PATTERNS:
            raw = data.get(key)
            if raw is None:
                patterns[key] = None
                continue
            if not isinstance(raw, str):
                raise ValueError(f"{key!r} must be a regular expression")
            try:
                patterns[key] = re.compile(raw, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"{key!r} is not a valid regular expression: {exc}") from None
        if not any(patterns.values()):
            raise ValueError("give at least one of source, medium, campaign, referrer_host")
        return cls(channel=channel, **patterns)

    @classmethod
    def from_json(cls, data: Mapping[str, str | None]) -> ChannelRule:
        """A rule as stored, checked by :meth:`from_dict` when it was written: no checks.
        (Rules stored before :meth:`to_json` existed may carry ``null`` patterns.)"""
        patterns = {key: data.get(key) for key in _RULE_PATTERNS}
        compiled = {
            key: re.compile(raw, re.IGNORECASE) for key, raw in patterns.items() if raw is not None
        }
        return cls(channel=str(data["channel"]), **compiled)

    def to_json(self) -> dict[str, str]:
        patterns = {key: getattr(self, key) for key in _RULE_PATTERNS}
        return {
            "channel": self.channel,
            **{key: pattern.pattern for key, pattern in patterns.items() if pattern is not None},
        }

    def matches(self, c: Classification, referrer_host: str | None) -> bool:
        checks = (
            (self.source, c.source),
            (self.medium, c.medium),
            (self.campaign, c.campaign),
            (self.referrer_host, referrer_host),
        )
        return all(p is None or (v is not None and p.fullmatch(v)) for p, v in checks)


@dataclass(frozen=True, slots=True)
class Classification:
    channel: str
    source: str | None
    medium: str | None
    campaign: str | None
    term: str | None
    content: str | None
    click_id_kind: str | None
    click_id: str | None
    rules_version: str


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()[:MAX_VALUE_LENGTH]
    return value or None


def _query(url: str | None) -> dict[str, list[str]]:
    if not url or "?" not in url:
        return {}
    try:
        return parse_qs(urlsplit(url).query, keep_blank_values=False)
    except ValueError:
        return {}


def parse_touch(
    landing_url: str | None,
    referrer_url: str | None,
    site_domains: Sequence[str] = (),
    referral_exclusions: Sequence[str] = (),
) -> TouchInput:
    """UTMs and the first click id from the landing URL; the referrer only when external.
    Never raises: junk is treated as absent."""
    query = _query(landing_url)
    utm = {name: _clean(query[name][0]) if name in query else None for name in UTM_PARAMS}
    kind = next((name for name in CLICK_ID_PARAMS if query.get(name)), None)
    click_id = query[kind][0][:512] if kind else None
    host = None
    if referrer_url:
        try:
            host = (urlsplit(referrer_url).hostname or "").lower() or None
        except ValueError:
            host = None
    if host and is_excluded_referrer(host, site_domains, referral_exclusions):
        host = None
    return TouchInput(
        **utm,
        click_id_kind=kind,
        click_id=click_id,
        referrer_url=referrer_url if host else None,
        referrer_host=host,
    )


def _search_term(info: SourceInfo, referrer_url: str | None) -> str | None:
    query = _query(referrer_url)
    for param in info.keyword_params:
        if query.get(param):
            return _clean(query[param][0])
    return None


def _source_and_medium(touch: TouchInput) -> tuple[str | None, str | None, str | None]:
    """(source, medium, search term from the referrer) by precedence."""
    if touch.utm_source or touch.utm_medium or touch.utm_campaign:
        source = (touch.utm_source or "").lower() or None
        medium = (touch.utm_medium or "").lower() or None
        if source is None and touch.referrer_host:
            source = touch.referrer_host.removeprefix("www.")
        return source or "(not set)", medium or "(not set)", None
    if touch.click_id_kind:
        source, medium = CLICK_ID_SOURCES[touch.click_id_kind]
        return source, medium, None
    if touch.referrer_host:
        host = touch.referrer_host.removeprefix("www.")
        info = lookup_source(host)
        if info is None:
            return host, "referral", None
        medium = {"search": "organic", "social": "social", "email": "email"}.get(
            info.category, "referral"
        )
        term = _search_term(info, touch.referrer_url) if info.category == "search" else None
        return info.source, medium, term
    return "(direct)", "(none)", None


def _default_channel(source: str, medium: str, campaign: str) -> str:
    """GA4's default channel group, rules in Google's listed order (research §5.1)."""
    info = lookup_source(source)
    category = info.category if info else None
    paid = PAID.match(medium) is not None
    shop_campaign = SHOP_CAMPAIGN.match(campaign) is not None
    if source == "(direct)" and medium in {"(not set)", "(none)"}:
        return "Direct"  # 1
    if "cross-network" in campaign:
        return "Cross-network"  # 2
    if (category == "shopping" or shop_campaign) and paid:
        return "Paid Shopping"  # 3
    for wanted, channel in (
        ("search", "Paid Search"),
        ("social", "Paid Social"),
        ("video", "Paid Video"),
    ):
        if category == wanted and paid:
            return channel  # 4, 5, 6
    if medium in DISPLAY_MEDIA:
        return "Display"  # 7
    if paid:
        return "Paid Other"  # 8
    if category == "shopping" or shop_campaign:
        return "Organic Shopping"  # 9
    if category == "social" or medium in SOCIAL_MEDIA:
        return "Organic Social"  # 10
    if category == "video" or VIDEO_MEDIUM.match(medium):
        return "Organic Video"  # 11
    if category == "search" or medium == "organic":
        return "Organic Search"  # 12
    if medium in {"referral", "app", "link"}:
        return "Referral"  # 13
    if EMAIL.match(source) or EMAIL.match(medium) or category == "email":
        return "Email"  # 14 (+ webmail referrers, our addition)
    if medium == "affiliate":
        return "Affiliates"  # 15
    if medium == "audio":
        return "Audio"  # 16
    if source == "sms" or medium == "sms":
        return "SMS"  # 17
    if (
        medium.endswith("push")
        or "mobile" in medium
        or "notification" in medium
        or source == "firebase"
    ):
        return "Mobile Push Notifications"  # 18
    return "Unassigned"


def classify_channel(touch: TouchInput, site_rules: Sequence[ChannelRule] = ()) -> Classification:
    """Source, medium, campaign, keyword and channel of one touch. Pure and deterministic."""
    source, medium, referrer_term = _source_and_medium(touch)
    base = Classification(
        channel="Unassigned",
        source=source,
        medium=medium,
        # GA4 reads utm_id as the campaign's id: a link tagged with the id alone (as an ad
        # platform's {campaignid} tag makes it) still has a campaign, which spend mapped
        # with `campaign_from=id` meets (docs/spend.md).
        campaign=_clean(touch.utm_campaign) or _clean(touch.utm_id),
        term=_clean(touch.utm_term) or referrer_term,
        content=_clean(touch.utm_content),
        click_id_kind=touch.click_id_kind,
        click_id=touch.click_id,
        rules_version=CHANNEL_RULES_VERSION,
    )
    channel = next((r.channel for r in site_rules if r.matches(base, touch.referrer_host)), None)
    if channel is None:
        channel = _default_channel(source or "", medium or "", (base.campaign or "").lower())
    return Classification(
        **{**{f.name: getattr(base, f.name) for f in fields(base)}, "channel": channel}
    )
