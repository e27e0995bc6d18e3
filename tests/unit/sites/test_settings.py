"""Site settings: every setting's check when written (the typed value it gives, and the field
each bad value is refused under), loading what was stored without checks, and one value per
stored version."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from tracker.errors import ValidationError
from tracker.models import Site
from tracker.rules.channels import ChannelRule
from tracker.rules.score_rules import DEFAULT_RULES, ScoreRule
from tracker.sites.settings import DEFAULT_ATTRIBUTION_MODELS, SiteSettings, site_settings

SETTINGS = [f.name for f in dataclasses.fields(SiteSettings)]
SECRET = "s" * 16
OTHER_SECRET = "t" * 40

# (setting, a writer's value, the typed value it becomes)
VALID: list[tuple[str, Any, Any]] = [
    ("session_timeout_minutes", 45, 45.0),
    ("session_timeout_minutes", 0.05, 0.05),
    ("session_timeout_minutes", 1440, 1440.0),
    ("lookback_days", 1, 1),
    ("lookback_days", 730.0, 730),
    ("currency", "EUR", "EUR"),
    ("timezone", "Europe/Berlin", "Europe/Berlin"),
    ("timezone", "UTC", "UTC"),
    ("gross_margin_pct", 0, 0.0),
    ("gross_margin_pct", 62.5, 62.5),
    ("mql_threshold", 0, 0),
    ("mql_threshold", 10_000, 10_000),
    ("consent_mode", "required", "required"),
    ("consent_mode", "off", "off"),
    ("honor_gpc", True, True),
    ("referral_exclusions", ["Pay.Example.COM.", "sso.example.org"],
     ("pay.example.com", "sso.example.org")),
    ("referral_exclusions", [], ()),
    ("channel_rules", [{"channel": "Partners", "source": "partner-.*", "medium": None}],
     (ChannelRule("Partners", source=re.compile("partner-.*", re.IGNORECASE)),)),
    ("channel_rules", [{"channel": "Events", "campaign": "expo", "referrer_host": "x.com"}],
     (ChannelRule("Events", campaign=re.compile("expo", re.IGNORECASE),
                  referrer_host=re.compile("x.com", re.IGNORECASE)),)),
    ("score_rules", None, None),
    ("score_rules", [], ()),
    ("score_rules",
     [{"name": "trial", "kind": "custom", "event_name": "trial_started", "points": 40},
      {"name": "docs", "kind": "pageview", "path": "/docs.*", "points": 2, "cap": 10,
       "half_life_days": 7}],
     (ScoreRule("trial", "custom", 40, event_name="trial_started"),
      ScoreRule("docs", "pageview", 2, 10, 7, re.compile("/docs.*", re.IGNORECASE)))),
    ("linked_domains", ["Shop.Example.com"], ("shop.example.com",)),
    ("hubspot_secrets", [SECRET, OTHER_SECRET], (SECRET, OTHER_SECRET)),
    ("hubspot_portal_id", 4242, 4242),
    ("hubspot_portal_id", None, None),
    ("pipedrive_username", " leadtrail ", "leadtrail"),
    ("pipedrive_username", None, None),
    ("pipedrive_password", SECRET, SECRET),
    ("pipedrive_password", None, None),
    ("salesforce_org_id", "00D000000000001", "00D000000000001"),
    ("salesforce_org_id", "00D000000000001AAA", "00D000000000001AAA"),
    ("salesforce_org_id", None, None),
    ("salesforce_token", SECRET, SECRET),
    ("generic_secrets", [], ()),
    ("generic_secrets", [SECRET] * 3, (SECRET,) * 3),
    ("crm_stage_maps", {"hubspot": {"8812345": "customer"}, "pipedrive": {"1": "sql"}},
     {"hubspot": {"8812345": "customer"}, "pipedrive": {"1": "sql"}}),
    ("hubspot_api_url", "https://eu.hubapi.com/", "https://eu.hubapi.com"),
    ("hubspot_api_token", SECRET, SECRET),
    ("pipedrive_api_url", "http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api"),
    ("pipedrive_api_token", None, None),
    ("salesforce_instance_url", "https://acme.my.salesforce.com",
     "https://acme.my.salesforce.com"),
    ("salesforce_instance_url", None, None),
    ("salesforce_access_token", SECRET, SECRET),
    ("salesforce_api_version", "v61.0", "v61.0"),
    ("crm_push", ["pipedrive", "hubspot", "pipedrive"], ("pipedrive", "hubspot")),
    ("crm_push", [], ()),
    ("pipedrive_person_fields", {"lead_id": "abc123_lead", "stage": "stage_key"},
     {"lead_id": "abc123_lead", "stage": "stage_key"}),
    ("salesforce_fields", {"contact_email": "Buyer_Email__c", "lead_id": "Lead_Ref__c"},
     {"contact_email": "Buyer_Email__c", "lead_id": "Lead_Ref__c"}),
    ("attribution_models", ["linear", "markov"], ("linear", "markov")),
    ("attribution_params", {"time_decay": {"half_life_days": 14}},
     {"time_decay": {"half_life_days": 14}}),
    ("attribution_params", {}, {}),
    ("unique_visitors", "approximate", "approximate"),
    ("unique_visitors", "exact", "exact"),
]

# (setting, a bad value, the field its error names), each kind of bad value once.
INVALID: list[tuple[str, Any, str]] = [
    ("session_timeout_minutes", "30", "settings.session_timeout_minutes"),
    ("session_timeout_minutes", True, "settings.session_timeout_minutes"),
    ("session_timeout_minutes", 0.01, "settings.session_timeout_minutes"),
    ("session_timeout_minutes", 1441, "settings.session_timeout_minutes"),
    ("lookback_days", 1.5, "settings.lookback_days"),
    ("lookback_days", 0, "settings.lookback_days"),
    ("lookback_days", 731, "settings.lookback_days"),
    ("lookback_days", None, "settings.lookback_days"),
    ("currency", "usd", "settings.currency"),
    ("currency", "EURO", "settings.currency"),
    ("currency", 840, "settings.currency"),
    ("timezone", "Mars/Olympus", "settings.timezone"),
    ("timezone", "../etc/passwd", "settings.timezone"),
    ("timezone", "", "settings.timezone"),
    ("timezone", 1, "settings.timezone"),
    ("gross_margin_pct", -1, "settings.gross_margin_pct"),
    ("gross_margin_pct", 100.5, "settings.gross_margin_pct"),
    ("gross_margin_pct", "50", "settings.gross_margin_pct"),
    ("mql_threshold", -1, "settings.mql_threshold"),
    ("mql_threshold", 10_001, "settings.mql_threshold"),
    ("mql_threshold", 2.5, "settings.mql_threshold"),
    ("consent_mode", "on", "settings.consent_mode"),
    ("consent_mode", ["off"], "settings.consent_mode"),
    ("consent_mode", None, "settings.consent_mode"),
    ("honor_gpc", "true", "settings.honor_gpc"),
    ("honor_gpc", 1, "settings.honor_gpc"),
    ("referral_exclusions", "pay.example.com", "settings.referral_exclusions"),
    ("referral_exclusions", ["https://pay.example.com"], "settings.referral_exclusions"),
    ("referral_exclusions", [7], "settings.referral_exclusions"),
    ("channel_rules", {"channel": "X"}, "settings.channel_rules"),
    ("channel_rules", ["X"], "settings.channel_rules.0"),
    ("channel_rules", [{"channel": "X"}], "settings.channel_rules.0"),
    ("channel_rules", [{"channel": "X", "source": "("}], "settings.channel_rules.0"),
    ("channel_rules", [{"channel": "X", "source": 5}], "settings.channel_rules.0"),
    ("channel_rules", [{"channel": "X", "colour": "red"}], "settings.channel_rules.0"),
    ("channel_rules", [{"channel": "", "source": "a"}], "settings.channel_rules.0"),
    ("channel_rules", [{"channel": "X" * 41, "source": "a"}], "settings.channel_rules.0"),
    ("channel_rules", [{"channel": "A", "source": "a"}, {"medium": "b"}],
     "settings.channel_rules.1"),
    ("score_rules", "pricing", "settings.score_rules"),
    ("score_rules", ["pricing"], "settings.score_rules.0"),
    ("score_rules", [{"name": "x", "kind": "visit", "points": 1}],
     "settings.score_rules.0.kind"),
    ("score_rules", [{"name": "x", "kind": "pageview", "points": "ten"}],
     "settings.score_rules.0.points"),
    ("score_rules", [{"name": "x", "kind": "pageview", "points": 1001}],
     "settings.score_rules.0.points"),
    ("score_rules", [{"name": "x", "kind": "pageview", "points": 1, "path": "("}],
     "settings.score_rules.0.path"),
    ("score_rules", [{"name": "x", "kind": "pageview", "points": 1, "colour": "red"}],
     "settings.score_rules.0.colour"),
    ("score_rules", [{"name": "", "kind": "pageview", "points": 1}],
     "settings.score_rules.0.name"),
    ("score_rules", [{"name": "x", "kind": "pageview", "points": 1, "cap": -1}],
     "settings.score_rules.0.cap"),
    ("score_rules", [{"name": "x", "kind": "pageview", "points": 1, "half_life_days": 0}],
     "settings.score_rules.0.half_life_days"),
    ("score_rules", [{"name": "x", "kind": "custom", "points": 1, "event_name": 5}],
     "settings.score_rules.0.event_name"),
    ("score_rules", [{"name": "x", "kind": "custom", "points": 1, "event_name": "e" * 101}],
     "settings.score_rules.0.event_name"),
    ("score_rules", [{"name": "x", "kind": "form_submit", "points": 1}, {"name": "y"}],
     "settings.score_rules.1.kind"),
    ("linked_domains", "shop.example.com", "settings.linked_domains"),
    ("linked_domains", ["shop.example.com", "not a host"], "settings.linked_domains.1"),
    ("hubspot_secrets", SECRET, "settings.hubspot_secrets"),
    ("hubspot_secrets", [SECRET] * 4, "settings.hubspot_secrets"),
    ("hubspot_secrets", [SECRET, "short"], "settings.hubspot_secrets.1"),
    ("hubspot_secrets", [" " + SECRET], "settings.hubspot_secrets.0"),
    ("hubspot_secrets", [SECRET + "\x00"], "settings.hubspot_secrets.0"),
    ("hubspot_secrets", ["x" * 201], "settings.hubspot_secrets.0"),
    ("hubspot_portal_id", "4242", "settings.hubspot_portal_id"),
    ("hubspot_portal_id", 0, "settings.hubspot_portal_id"),
    ("hubspot_portal_id", 1.5, "settings.hubspot_portal_id"),
    ("pipedrive_username", "", "settings.pipedrive_username"),
    ("pipedrive_username", "lead:trail", "settings.pipedrive_username"),
    ("pipedrive_username", "u" * 101, "settings.pipedrive_username"),
    ("pipedrive_username", 5, "settings.pipedrive_username"),
    ("pipedrive_password", "short", "settings.pipedrive_password"),
    ("pipedrive_password", 12345678901234567, "settings.pipedrive_password"),
    ("salesforce_org_id", "001000000000001", "settings.salesforce_org_id"),
    ("salesforce_org_id", "00D0000000000011", "settings.salesforce_org_id"),
    ("salesforce_org_id", 5, "settings.salesforce_org_id"),
    ("salesforce_token", "short", "settings.salesforce_token"),
    ("generic_secrets", {"a": SECRET}, "settings.generic_secrets"),
    ("generic_secrets", [None], "settings.generic_secrets.0"),
    ("crm_stage_maps", [], "settings.crm_stage_maps"),
    ("crm_stage_maps", {"zoho": {}}, "settings.crm_stage_maps.zoho"),
    ("crm_stage_maps", {"hubspot": ["sql"]}, "settings.crm_stage_maps.hubspot"),
    ("crm_stage_maps", {"hubspot": {"123": "won"}}, "settings.crm_stage_maps.hubspot"),
    ("crm_stage_maps", {"hubspot": {" ": "sql"}}, "settings.crm_stage_maps.hubspot"),
    ("hubspot_api_url", "ftp://api.example.com", "settings.hubspot_api_url"),
    ("hubspot_api_url", "https://user:pw@api.example.com", "settings.hubspot_api_url"),
    ("hubspot_api_url", "https://api.example.com/?q=1", "settings.hubspot_api_url"),
    ("hubspot_api_url", "https://api.example.com/#top", "settings.hubspot_api_url"),
    ("hubspot_api_url", "https://api.example.com/" + "a" * 300, "settings.hubspot_api_url"),
    ("hubspot_api_url", None, "settings.hubspot_api_url"),
    ("hubspot_api_token", "short", "settings.hubspot_api_token"),
    ("pipedrive_api_url", "api.pipedrive.com", "settings.pipedrive_api_url"),
    ("pipedrive_api_token", ["x" * 20], "settings.pipedrive_api_token"),
    ("salesforce_instance_url", "acme.my.salesforce.com", "settings.salesforce_instance_url"),
    ("salesforce_access_token", "short", "settings.salesforce_access_token"),
    ("salesforce_api_version", "62.0", "settings.salesforce_api_version"),
    ("salesforce_api_version", "v62.1", "settings.salesforce_api_version"),
    ("salesforce_api_version", None, "settings.salesforce_api_version"),
    ("crm_push", ["salesforce"], "settings.crm_push"),
    ("crm_push", "hubspot", "settings.crm_push"),
    ("pipedrive_person_fields", [], "settings.pipedrive_person_fields"),
    ("pipedrive_person_fields", {"colour": "abc"}, "settings.pipedrive_person_fields.colour"),
    ("pipedrive_person_fields", {"lead_id": "bad key!"},
     "settings.pipedrive_person_fields.lead_id"),
    ("pipedrive_person_fields", {"lead_id": 5}, "settings.pipedrive_person_fields.lead_id"),
    ("salesforce_fields", [], "settings.salesforce_fields"),
    ("salesforce_fields", {"owner": "Owner__c"}, "settings.salesforce_fields.owner"),
    ("salesforce_fields", {"contact_email": 5}, "settings.salesforce_fields.contact_email"),
    ("salesforce_fields", {"contact_email": "Contact Email"},
     "settings.salesforce_fields.contact_email"),
    ("attribution_models", [], "settings.attribution_models"),
    ("attribution_models", "linear", "settings.attribution_models"),
    ("attribution_models", ["linear", "linear"], "settings.attribution_models"),
    ("attribution_models", ["linear", "bogus"], "settings.attribution_models.1"),
    ("attribution_models", [["linear"]], "settings.attribution_models.0"),
    ("attribution_params", [], "settings.attribution_params"),
    ("attribution_params", {"bogus": {}}, "settings.attribution_params.bogus"),
    ("attribution_params", {"linear": 5}, "settings.attribution_params.linear"),
    ("attribution_params", {"time_decay": {"half_life_days": -1}},
     "settings.attribution_params.time_decay"),
    ("attribution_params", {"linear": {"colour": 1}}, "settings.attribution_params.linear"),
    ("unique_visitors", "estimate", "settings.unique_visitors"),
    ("unique_visitors", None, "settings.unique_visitors"),
]


def test_every_setting_has_valid_and_invalid_cases() -> None:
    assert {setting for setting, _, _ in VALID} == set(SETTINGS)
    assert {setting for setting, _, _ in INVALID} == set(SETTINGS)


@pytest.mark.parametrize(("setting", "raw", "typed"), VALID)
def test_a_valid_value_is_stored_typed(setting: str, raw: Any, typed: Any) -> None:
    settings = SiteSettings.from_mapping({setting: raw})

    assert getattr(settings, setting) == typed


@pytest.mark.parametrize(("setting", "raw", "typed"), VALID)
def test_what_is_stored_loads_back_as_written(setting: str, raw: Any, typed: Any) -> None:
    written = SiteSettings.from_mapping({setting: raw})

    loaded = SiteSettings.from_json(written.to_json())

    assert loaded == written
    assert loaded.to_json() == written.to_json()


@pytest.mark.parametrize(("setting", "raw", "field"), INVALID)
def test_a_bad_value_is_refused_naming_its_field(setting: str, raw: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SiteSettings.from_mapping({setting: raw})

    assert caught.value.field == field


@pytest.mark.parametrize(("setting", "raw", "field"), INVALID)
def test_a_bad_change_is_refused_naming_its_field(setting: str, raw: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SiteSettings().updated({setting: raw})

    assert caught.value.field == field


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        SiteSettings.from_mapping({"colour": "red"})

    assert caught.value.field == "settings.colour"


def test_the_defaults() -> None:
    settings = SiteSettings.from_mapping({})

    assert settings == SiteSettings()
    assert settings.attribution_models == DEFAULT_ATTRIBUTION_MODELS
    assert settings.scoring_rules == DEFAULT_RULES
    assert SiteSettings.from_json(settings.to_json()) == settings


def test_the_sites_own_score_rules_replace_the_defaults() -> None:
    rule = {"name": "trial", "kind": "custom", "event_name": "trial_started", "points": 40}

    settings = SiteSettings.from_mapping({"score_rules": [rule]})

    assert settings.scoring_rules == (ScoreRule("trial", "custom", 40, event_name="trial_started"),)


def test_json_keeps_the_settings_order() -> None:
    assert list(SiteSettings().to_json()) == SETTINGS


def test_a_change_is_checked_and_the_others_are_kept() -> None:
    before = SiteSettings.from_mapping({"currency": "EUR", "lookback_days": 30})

    after = before.updated({"lookback_days": 60})

    assert (after.currency, after.lookback_days) == ("EUR", 60)
    assert before.lookback_days == 30


def test_stored_settings_are_not_checked_again() -> None:
    # Stored settings were checked when written; reading them trusts them as they are.
    loaded = SiteSettings.from_json({"lookback_days": 5000, "retired_setting": True})

    assert loaded.lookback_days == 5000


def test_rules_stored_with_empty_keys_load() -> None:
    # Rules were once stored exactly as given, null patterns included.
    loaded = SiteSettings.from_json(
        {"channel_rules": [{"channel": "Partners", "source": "p.*", "medium": None}],
         "score_rules": [{"name": "x", "kind": "form_submit", "points": 3, "cap": None}]}
    )

    assert loaded.channel_rules == (ChannelRule("Partners", re.compile("p.*", re.IGNORECASE)),)
    assert loaded.score_rules == (ScoreRule("x", "form_submit", 3),)


def test_settings_cannot_be_changed_in_place() -> None:
    settings = SiteSettings.from_mapping(
        {"crm_stage_maps": {"hubspot": {"1": "sql"}},
         "attribution_params": {"linear": {}}, "salesforce_fields": {}}
    )

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.currency = "EUR"  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.crm_stage_maps["hubspot"]["2"] = "sql"  # type: ignore[index]
    with pytest.raises(TypeError):
        settings.attribution_params["linear"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        settings.salesforce_fields["lead_id"] = "X__c"  # type: ignore[index]


def test_a_site_reads_one_value_per_stored_version() -> None:
    site = Site(id=7, settings=SiteSettings.from_mapping({"currency": "EUR"}).to_json())

    first, again = site_settings(site), site_settings(site)
    site.settings = first.updated({"currency": "GBP"}).to_json()
    changed = site_settings(site)

    assert again is first
    assert first.currency == "EUR"
    assert changed.currency == "GBP"


def test_a_site_without_settings_has_the_defaults() -> None:
    assert site_settings(Site(id=8, settings={})) == SiteSettings()
