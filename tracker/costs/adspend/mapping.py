"""Platform rows → our channel / source / medium / campaign / keyword, the way the collector
classifies the clicks those rows bought (docs/spend.md has the table).

* source and medium: what the platform's auto-tagging means to the collector
  (``tracker.rules.channels.CLICK_ID_SOURCES``: gclid → google / cpc, msclkid → bing / cpc, fbclid
  → facebook / paid, li_fat_id → linkedin / paid). A site that tags its ads with its own
  ``utm_source`` / ``utm_medium`` sets those instead.
* campaign: the campaign's name (``utm_campaign={campaign name}``; Meta's
  ``{{campaign.name}}``), or its id for sites tagging ``utm_campaign={campaignid}``
  (ValueTrack) — ``campaign_from``.
* keyword: Google and Microsoft's keyword text (ValueTrack ``utm_term={keyword}``); Meta's ad
  name (``utm_term={{ad.name}}``); LinkedIn's creative id (``utm_term={{CREATIVE_ID}}``)
  — ``keyword_from``.
* channel: the collector's own rules (the site's channel rules first, then GA4's defaults)
  on that source, medium and campaign, so spend and sessions land in the same channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracker.costs.adspend.rows import SpendRow
from tracker.errors import ValidationError
from tracker.rules.channels import CLICK_ID_SOURCES, ChannelRule, TouchInput, classify_channel

PLATFORMS = ("google_ads", "meta", "microsoft_ads", "linkedin")
CAMPAIGN_FROM = ("name", "id", "none")
KEYWORD_FROM = ("keyword", "ad_name", "ad_id", "group_name", "none")
_CLICK_IDS = {"google_ads": "gclid", "microsoft_ads": "msclkid", "meta": "fbclid",
              "linkedin": "li_fat_id"}
_KEYWORD_DEFAULT = {"google_ads": "keyword", "microsoft_ads": "keyword", "meta": "ad_name",
                    "linkedin": "ad_id"}
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class SpendMapping:
    """How one account's rows map (:func:`account_mapping`)."""

    source: str
    medium: str
    campaign_from: str
    keyword_from: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "medium": self.medium,
                "campaign_from": self.campaign_from, "keyword_from": self.keyword_from}


def default_mapping(platform: str) -> SpendMapping:
    source, medium = CLICK_ID_SOURCES[_CLICK_IDS[platform]]
    return SpendMapping(source, medium, "name", _KEYWORD_DEFAULT[platform])


def account_mapping(platform: str, overrides: Mapping[str, Any]) -> SpendMapping:
    """The platform's defaults with the site's ``overrides``; :class:`ValidationError` names
    ``mapping.<key>`` for a bad one."""
    values = default_mapping(platform).to_json()
    for key, value in overrides.items():
        name = f"mapping.{key}"
        if key not in values:
            raise ValidationError(f"unknown; expected {', '.join(values)}", field=name)
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("expected a value", field=name)
        if key == "campaign_from" and value not in CAMPAIGN_FROM:
            raise ValidationError(f"expected one of {', '.join(CAMPAIGN_FROM)}", field=name)
        if key == "keyword_from" and value not in KEYWORD_FROM:
            raise ValidationError(f"expected one of {', '.join(KEYWORD_FROM)}", field=name)
        if key in {"source", "medium"}:
            # The collector lower-cases utm_source and utm_medium before matching.
            value = value.strip().lower()
            if len(value) > MAX_TEXT:
                raise ValidationError(f"longer than {MAX_TEXT} characters", field=name)
        values[key] = value
    return SpendMapping(**values)


CostKey = tuple[str, str, str, str, str]  # channel, source, medium, campaign, keyword


def cost_key(row: SpendRow, mapping: SpendMapping, rules: Sequence[ChannelRule]) -> CostKey:
    """Where ``row``'s spend lands in the reports."""
    campaign = {"name": row.campaign, "id": row.campaign_id, "none": ""}[mapping.campaign_from]
    keyword = {
        "keyword": row.item,
        "ad_name": row.item,
        "ad_id": row.item_id,
        "group_name": row.group,
        "none": "",
    }[mapping.keyword_from]
    campaign, keyword = campaign.strip()[:MAX_TEXT], keyword.strip()[:MAX_TEXT]
    touch = TouchInput(utm_source=mapping.source, utm_medium=mapping.medium,
                       utm_campaign=campaign or None)
    channel = classify_channel(touch, rules).channel
    return channel, mapping.source, mapping.medium, campaign, keyword
