"""A site's clients for its CRMs' APIs, from its settings; a clear error names the missing
setting when a CRM is not connected (``leadtrail crm connect``)."""

from __future__ import annotations

from crm_sync.http import ApiClient, Sleep
from crm_sync.providers import hubspot, pipedrive, salesforce
from crm_sync.pull import DealSource
from tracker.errors import ValidationError
from tracker.sites.settings import SiteSettings

API_PROVIDERS = ("hubspot", "pipedrive", "salesforce")


def _required(value: str | None, setting: str, provider: str) -> str:
    if not value:
        raise ValidationError(
            f"{setting} is not set: run `leadtrail crm connect SITE {provider}`", field=setting
        )
    return value


def api_client(provider: str, settings: SiteSettings, *, sleep: Sleep) -> ApiClient:
    """The site's client for ``provider``. Raises :class:`ValidationError` naming the setting
    that is missing."""
    if provider == "hubspot":
        token = _required(settings.hubspot_api_token, "hubspot_api_token", provider)
        return hubspot.api_client(token, settings.hubspot_api_url, sleep=sleep)
    if provider == "pipedrive":
        token = _required(settings.pipedrive_api_token, "pipedrive_api_token", provider)
        return pipedrive.api_client(token, settings.pipedrive_api_url, sleep=sleep)
    if provider == "salesforce":
        url = _required(settings.salesforce_instance_url, "salesforce_instance_url", provider)
        token = _required(settings.salesforce_access_token, "salesforce_access_token", provider)
        return salesforce.api_client(url, token, sleep=sleep)
    raise ValidationError(f"expected one of {', '.join(API_PROVIDERS)}", field="provider")


def deal_source(provider: str, settings: SiteSettings, *, sleep: Sleep) -> DealSource:
    """Where ``crm sync`` reads ``provider``'s changed deals."""
    client = api_client(provider, settings, sleep=sleep)
    maps = settings.crm_stage_maps
    if provider == "hubspot":
        return hubspot.DealSearch(client, maps.get("hubspot"))
    if provider == "pipedrive":
        return pipedrive.DealList(client)
    return salesforce.OpportunityQuery(
        client, settings.salesforce_api_version, maps.get("salesforce"), settings.salesforce_fields
    )
