"""From a CRM's own pipeline stage to ours (sql, opportunity, customer, lost).

Defaults cover each CRM's out-of-the-box sales pipeline; a site overrides or extends them with
its own ``{crm stage: our stage}`` map (custom pipelines, HubSpot's numeric stage ids,
Pipedrive's ``stage_id``). Keys match case-insensitively. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping

from crm_sync.events import DealStatus

OUR_STAGES: tuple[str, ...] = ("sql", "opportunity", "customer", "lost")

DEFAULT_STAGE_MAPS: Mapping[str, Mapping[str, str]] = {
    # HubSpot's default deal pipeline, by internal stage id (what ``dealstage`` carries).
    "hubspot": {
        "appointmentscheduled": "sql",
        "qualifiedtobuy": "sql",
        "presentationscheduled": "opportunity",
        "decisionmakerboughtin": "opportunity",
        "contractsent": "opportunity",
        "closedwon": "customer",
        "closedlost": "lost",
    },
    # Salesforce's standard Opportunity ``StageName`` picklist.
    "salesforce": {
        "prospecting": "sql",
        "qualification": "sql",
        "needs analysis": "opportunity",
        "value proposition": "opportunity",
        "id. decision makers": "opportunity",
        "perception analysis": "opportunity",
        "proposal/price quote": "opportunity",
        "negotiation/review": "opportunity",
        "closed won": "customer",
        "closed lost": "lost",
    },
    # Pipedrive's default pipeline by stage name. Webhooks carry only ``stage_id``, so a
    # Pipedrive site maps its ids ("1": "sql"); won and lost come from the deal's status.
    "pipedrive": {
        "qualified": "sql",
        "contact made": "sql",
        "demo scheduled": "opportunity",
        "proposal made": "opportunity",
        "negotiations started": "opportunity",
    },
    # Our generic format: our own names, plus the usual spellings of won and lost.
    "generic": {
        "sql": "sql",
        "opportunity": "opportunity",
        "customer": "customer",
        "lost": "lost",
        "closed_won": "customer",
        "closed won": "customer",
        "won": "customer",
        "closed_lost": "lost",
        "closed lost": "lost",
    },
}

_STATUS_STAGE: Mapping[str, str] = {"won": "customer", "lost": "lost"}
_STAGE_STATUS: Mapping[str, DealStatus] = {
    "sql": "open",
    "opportunity": "open",
    "customer": "won",
    "lost": "lost",
}


def check_stage_map(mapping: Mapping[str, object]) -> dict[str, str]:
    """A site's override map, validated: string keys, values among :data:`OUR_STAGES`.

    Raises ``ValueError`` naming the offending key.
    """
    checked: dict[str, str] = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 200:
            raise ValueError(f"stage map key {key!r} must be a non-empty string")
        if value not in OUR_STAGES:
            raise ValueError(f"stage map value for {key!r} must be one of {', '.join(OUR_STAGES)}")
        checked[key] = str(value)
    return checked


def map_stage(
    provider: str,
    stage: str | None,
    *,
    status: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> str | None:
    """Our stage for a deal at CRM stage ``stage``, or ``None`` when unknown.

    A won or lost ``status`` decides on its own (CRMs derive it from the stage's definition,
    which is more reliable than its label); otherwise the site's ``overrides`` come before the
    provider's defaults.
    """
    if status is not None and status in _STATUS_STAGE:
        return _STATUS_STAGE[status]
    if stage is None:
        return None
    key = stage.strip().casefold()
    for mapping in (overrides or {}, DEFAULT_STAGE_MAPS.get(provider, {})):
        for name, ours in mapping.items():
            if name.strip().casefold() == key:
                return ours
    return None


def status_for_stage(
    provider: str, stage: str | None, overrides: Mapping[str, str] | None = None
) -> DealStatus | None:
    """The deal status a stage implies (customer → won, lost → lost, else open), or ``None``
    for a stage no map knows: an unmapped stage leaves the status as it was."""
    ours = map_stage(provider, stage, overrides=overrides)
    return None if ours is None else _STAGE_STATUS[ours]
