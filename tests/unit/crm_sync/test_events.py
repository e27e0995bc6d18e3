"""The deal event's invariants, the draft that builds it, and the inbox's delivery key."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crm_sync.events import DEAL_FIELDS, DealDraft, DealEvent, delivery_key

AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def make(**overrides: object) -> DealEvent:
    arguments: dict[str, object] = {
        "provider": "generic",
        "external_deal_id": "D-1",
        "provider_event_id": "evt_1",
        "occurred_at": AT,
    }
    arguments.update(overrides)
    return DealEvent(**arguments)  # type: ignore[arg-type]


def test_an_event_carries_exactly_the_fields_it_names() -> None:
    event = make(fields=frozenset({"amount", "stage"}), amount=Decimal("10"), stage=None)

    assert event.values() == {"amount": Decimal("10"), "stage": None}


@pytest.mark.parametrize(
    "overrides",
    [
        {"provider": "zoho"},
        {"external_deal_id": ""},
        {"external_deal_id": "x" * 65},
        {"provider_event_id": "a\nb"},
        {"occurred_at": dt.datetime(2026, 1, 1)},
        {
            "fields": frozenset({"amount"}),
            "amount": Decimal(1),
            "created_at": dt.datetime(2026, 1, 1),
        },
        {"amount": Decimal(5)},  # set but not named in fields
        {"fields": frozenset({"probability"})},
        {"fields": frozenset({"status"})},  # a carried status must be one
        {"fields": frozenset({"status"}), "status": "pending"},
        {"fields": frozenset({"amount"}), "amount": Decimal("NaN")},
        {"fields": frozenset({"amount"}), "amount": Decimal("1e12")},
        {"fields": frozenset({"currency"}), "currency": "eur"},
        {"fields": frozenset({"contact_emails"}), "contact_emails": ("Ada@Example.com",)},
        {"fields": frozenset({"name"}), "name": "x" * 201},
    ],
)
def test_broken_invariants_raise(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make(**overrides)


def test_a_draft_carries_what_was_assigned_even_to_a_default() -> None:
    draft = DealDraft()
    draft.amount = None
    draft.deleted = False
    draft.status = "won"

    event = draft.event("hubspot", "1", "e", AT, lead_id="L")

    assert event.fields == {"amount", "deleted", "status"}
    assert event.lead_id == "L"
    assert set(DealDraft().carried) == set()


def test_a_draft_refuses_names_that_are_not_deal_fields() -> None:
    draft = DealDraft()

    with pytest.raises(AttributeError):
        draft.probability = 1
    assert "probability" not in DEAL_FIELDS


def test_a_delivery_is_keyed_by_its_event_ids_whatever_their_order() -> None:
    first, second = make(provider_event_id="a"), make(provider_event_id="b")

    assert delivery_key([first]) == "evt:a"
    assert delivery_key([first, second]) == delivery_key([second, first, first])
    assert delivery_key([first, second]) != delivery_key([first])
    assert delivery_key([]) is None
    long_key = delivery_key([make(provider_event_id="x" * 128)])
    assert long_key is not None and len(long_key) <= 128
