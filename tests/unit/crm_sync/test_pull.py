"""Pulled records become the same deal events the webhooks make, and the page loop follows
cursors, restarts capped queries and never loops forever."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from crm_sync.errors import ApiError
from crm_sync.events import DealEvent
from crm_sync.providers import hubspot, pipedrive, salesforce
from crm_sync.pull import OVERLAP, Page, PulledDeal, pull_pages, pulled_event_id
from crm_sync.push import LeadContact

T0 = dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)


def deal_at(minutes: int, deal_id: str = "1") -> PulledDeal:
    at = T0 + dt.timedelta(minutes=minutes)
    event = DealEvent("hubspot", deal_id, pulled_event_id(deal_id, at), at)
    return PulledDeal(record={"id": deal_id}, event=event, modified_at=at)


@dataclass
class Script:
    """A source answering from a list of pages and recording what it was asked."""

    pages: list[Page]
    calls: list[tuple[dt.datetime | None, str | None]] = field(default_factory=list)
    provider: str = "hubspot"

    def fetch(self, since: dt.datetime | None, cursor: str | None) -> Page:
        self.calls.append((since, cursor))
        return self.pages[len(self.calls) - 1]


def test_pages_follow_the_cursor_from_the_checkpoint_less_the_overlap() -> None:
    source = Script([Page((deal_at(1),), cursor="c2"), Page((deal_at(2),))])

    pages = list(pull_pages(source, T0))

    assert len(pages) == 2
    assert source.calls == [(T0 - OVERLAP, None), (T0 - OVERLAP, "c2")]


def test_a_capped_query_restarts_from_the_newest_modification_seen() -> None:
    source = Script([Page((deal_at(1), deal_at(5, "2")), restart=True), Page(())])

    list(pull_pages(source, None))

    assert source.calls == [(None, None), (T0 + dt.timedelta(minutes=5), None)]


def test_a_restart_that_cannot_advance_is_an_error_not_a_loop() -> None:
    source = Script([Page((deal_at(1),), restart=True), Page((deal_at(1),), restart=True)])

    with pytest.raises(ApiError):
        list(pull_pages(source, None))


HUBSPOT_RECORD = {
    "id": "123",
    "properties": {
        "dealname": "Acme",
        "amount": "2500.50",
        "deal_currency_code": "EUR",
        "dealstage": "closedwon",
        "closedate": "2026-10-01T08:00:00Z",
        "createdate": "2026-09-01T08:00:00.000Z",
        "hs_is_closed": "true",
        "hs_is_closed_won": "true",
        "hubspot_owner_id": "77",
        "hs_lastmodifieddate": "2026-10-01T09:00:00.123Z",
        "leadtrail_lead_id": None,
    },
    "createdAt": "2026-09-01T08:00:00.000Z",
    "updatedAt": "2026-10-01T09:00:00.123Z",
    "archived": False,
    hubspot.CONTACTS_KEY: [{"id": "900", "email": "ada@example.com", "phone": None}],
}


def test_a_hubspot_search_result_is_the_deals_full_state() -> None:
    pulled = hubspot.pulled_deal(HUBSPOT_RECORD, None)

    event = pulled.event
    assert event.provider_event_id == "pull:123:2026-10-01T09:00:00.123000Z"
    assert (event.status, event.amount, event.currency) == ("won", Decimal("2500.50"), "EUR")
    assert event.closed_at == dt.datetime(2026, 10, 1, 8, tzinfo=dt.UTC)
    assert event.contact_emails == ("ada@example.com",)
    assert event.external_contact_id == "900"
    assert {"name", "stage", "status", "amount", "deleted", "owner"} <= event.fields
    assert hubspot.parse_record(pulled.body()) == [event]


def test_an_open_hubspot_deal_has_no_close_time_even_with_a_closedate() -> None:
    properties = {**HUBSPOT_RECORD["properties"], "hs_is_closed": "false"}  # type: ignore[dict-item]
    properties["hs_is_closed_won"] = "false"

    event = hubspot.pulled_deal({**HUBSPOT_RECORD, "properties": properties}, None).event

    assert (event.status, event.closed_at) == ("open", None)
    assert "closed_at" in event.fields


PIPEDRIVE_RECORD = {
    "id": 8,
    "title": "Acme",
    "value": Decimal("5000"),
    "currency": "EUR",
    "status": "won",
    "stage_id": 3,
    "owner_id": 222,
    "person_id": 17,
    "add_time": "2026-09-01T08:00:00Z",
    "update_time": "2026-10-01T09:00:00Z",
    "won_time": "2026-10-01T09:00:00Z",
    "is_deleted": False,
    pipedrive.PERSON_KEY: {
        "id": 17,
        "emails": [
            {"value": "old@example.com", "primary": False},
            {"value": "Ada@Example.com", "primary": True},
        ],
        "phones": [{"value": "+44 20 7946 0958", "primary": True}],
    },
}


def test_a_pipedrive_v2_deal_with_its_person_is_the_deals_full_state() -> None:
    pulled = pipedrive.pulled_deal(PIPEDRIVE_RECORD)

    event = pulled.event
    assert event.provider_event_id == "pull:8:2026-10-01T09:00:00Z"
    assert (event.status, event.amount, event.deleted) == ("won", Decimal("5000"), False)
    assert event.contact_emails == ("ada@example.com", "old@example.com")
    assert event.contact_phone == "+44 20 7946 0958"
    assert event.external_contact_id == "17"
    assert pipedrive.parse_record(pulled.body()) == [event]


SALESFORCE_RECORD = {
    "attributes": {"type": "Opportunity", "url": "/services/data/v62.0/sobjects/Opportunity/006A"},
    "Id": "006000000000001AAA",
    "Name": "Acme",
    "StageName": "Closed Won",
    "Amount": Decimal("50000.0"),
    "IsClosed": True,
    "IsWon": True,
    "CloseDate": "2026-10-01",
    "CreatedDate": "2026-09-01T08:00:00.000+0000",
    "OwnerId": "005000000000001AAA",
    "LastModifiedDate": "2026-10-01T09:00:00.000+0000",
    "SystemModstamp": "2026-10-01T09:00:05.000+0000",
    "OpportunityContactRoles": {
        "totalSize": 1,
        "done": True,
        "records": [
            {
                "attributes": {"type": "OpportunityContactRole"},
                "ContactId": "003000000000001AAA",
                "Contact": {"attributes": {"type": "Contact"}, "Email": "ada@example.com"},
                "IsPrimary": True,
            }
        ],
    },
}


def test_a_salesforce_record_is_read_like_an_outbound_message() -> None:
    pulled = salesforce.pulled_deal(SALESFORCE_RECORD, None)

    event = pulled.event
    assert pulled.modified_at == dt.datetime(2026, 10, 1, 9, 0, 5, tzinfo=dt.UTC)
    assert event.occurred_at == dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)
    assert (event.status, event.amount) == ("won", Decimal("50000.0"))
    assert event.contact_emails == ("ada@example.com",)
    assert event.external_contact_id == "003000000000001AAA"
    assert salesforce.parse_record(pulled.body()) == [event]


def test_the_soql_query_filters_and_sorts_by_systemmodstamp() -> None:
    query = salesforce.opportunity_query(dt.datetime(2026, 10, 1, 9, 0, 5, 999, tzinfo=dt.UTC))

    assert query.endswith(
        "FROM Opportunity WHERE SystemModstamp >= 2026-10-01T09:00:05Z "
        "ORDER BY SystemModstamp ASC, Id ASC"
    )
    assert "SELECT Id, Name, StageName, Amount" in query


def test_lead_contact_fields_and_names() -> None:
    contact = LeadContact(
        lead_id="L1", email="ada@example.com", stage="mql", score=55, name="Ada King Lovelace"
    )

    assert contact.fields()["score"] == "55"
    assert contact.fields()["first_channel"] == ""
    assert contact.first_and_last_name() == ("Ada", "King Lovelace")
    assert hubspot.contact_properties(contact)["leadtrail_stage"] == "mql"
    assert pipedrive.person_fields(contact, {"score": "abc123"}) == {"abc123": "55"}
