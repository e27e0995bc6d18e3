"""CRM stages to ours: out-of-the-box defaults per CRM, per-site overrides, status first."""

from __future__ import annotations

import pytest

from crm_sync.stages import (
    DEFAULT_STAGE_MAPS,
    OUR_STAGES,
    check_stage_map,
    map_stage,
    status_for_stage,
)


@pytest.mark.parametrize(
    ("provider", "stage", "ours"),
    [
        ("hubspot", "appointmentscheduled", "sql"),
        ("hubspot", "contractsent", "opportunity"),
        ("hubspot", "closedwon", "customer"),
        ("hubspot", "closedlost", "lost"),
        ("salesforce", "Prospecting", "sql"),
        ("salesforce", "Proposal/Price Quote", "opportunity"),
        ("salesforce", "Closed Won", "customer"),
        ("salesforce", "closed lost", "lost"),
        ("pipedrive", "Proposal Made", "opportunity"),
        ("generic", "closed_won", "customer"),
        ("generic", "opportunity", "opportunity"),
        ("hubspot", "Closed Won", None),  # HubSpot sends stage ids, not labels
        ("salesforce", "Our Own Stage", None),
        ("hubspot", None, None),
    ],
)
def test_default_maps_fit_each_crms_stock_pipeline(
    provider: str, stage: str | None, ours: str | None
) -> None:
    assert map_stage(provider, stage) == ours


def test_every_default_maps_to_one_of_our_stages() -> None:
    for mapping in DEFAULT_STAGE_MAPS.values():
        assert set(mapping.values()) <= set(OUR_STAGES)


def test_site_overrides_come_before_the_defaults() -> None:
    overrides = {"closedwon": "opportunity", "42": "customer"}

    assert map_stage("hubspot", "closedwon", overrides=overrides) == "opportunity"
    assert map_stage("pipedrive", "42", overrides=overrides) == "customer"
    assert map_stage("hubspot", "contractsent", overrides=overrides) == "opportunity"


def test_a_won_or_lost_status_decides_over_the_stage() -> None:
    assert map_stage("pipedrive", "3", status="won") == "customer"
    assert map_stage("salesforce", "Prospecting", status="lost") == "lost"
    assert map_stage("salesforce", "Prospecting", status="open") == "sql"


@pytest.mark.parametrize(
    ("stage", "status"),
    [("closedwon", "won"), ("closedlost", "lost"), ("qualifiedtobuy", "open"), ("987", None)],
)
def test_a_mapped_stage_implies_a_status(stage: str, status: str | None) -> None:
    assert status_for_stage("hubspot", stage) == status


def test_a_site_map_is_checked() -> None:
    assert check_stage_map({"Signed": "customer"}) == {"Signed": "customer"}
    with pytest.raises(ValueError, match="Signed"):
        check_stage_map({"Signed": "won"})
    with pytest.raises(ValueError):
        check_stage_map({"": "sql"})
