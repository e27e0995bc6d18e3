"""Pipedrive: Basic credentials per site, and the v1 and v2 deal webhook shapes."""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal

import pytest

from crm_sync.errors import PayloadInvalid, SignatureInvalid, SignatureReason
from crm_sync.providers import pipedrive

USER = "leadtrail"
PASSWORD = "s3cret-pass:with-colon"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_configured_credentials_are_accepted() -> None:
    pipedrive.verify(authorization=basic(USER, PASSWORD), username=USER, password=PASSWORD)


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, SignatureReason.MISSING_SIGNATURE),
        ("", SignatureReason.MISSING_SIGNATURE),
        ("Bearer abc", SignatureReason.MALFORMED),
        ("Basic !!!not-base64", SignatureReason.MALFORMED),
        ("Basic " + base64.b64encode(b"no-colon").decode(), SignatureReason.MALFORMED),
        (basic(USER, "wrong"), SignatureReason.BAD_CREDENTIALS),
        (basic("someone", PASSWORD), SignatureReason.BAD_CREDENTIALS),
        (basic(USER, PASSWORD + "x"), SignatureReason.BAD_CREDENTIALS),
    ],
)
def test_wrong_or_missing_credentials_are_refused_with_their_reason(
    authorization: str | None, reason: SignatureReason
) -> None:
    with pytest.raises(SignatureInvalid) as refused:
        pipedrive.verify(authorization=authorization, username=USER, password=PASSWORD)
    assert refused.value.reason is reason


def test_a_site_without_credentials_accepts_nobody() -> None:
    with pytest.raises(SignatureInvalid) as refused:
        pipedrive.verify(authorization=basic("", ""), username="", password="")
    assert refused.value.reason is SignatureReason.BAD_CREDENTIALS


# The v1 skeleton of protocols.md §3.2, with a full deal.
V1_WON = {
    "v": 1,
    "event": "updated.deal",
    "retry": 0,
    "meta": {
        "v": 1,
        "action": "updated",
        "object": "deal",
        "id": 8,
        "company_id": 111,
        "user_id": 222,
        "host": "acme.pipedrive.com",
        "timestamp": 1700000000,
        "timestamp_micro": 1700000000123456,
        "change_source": "app",
        "permitted_user_ids": [222],
        "is_bulk_update": False,
        "webhook_id": 333,
    },
    "current": {
        "id": 8,
        "title": "Acme deal",
        "status": "won",
        "value": 5000,
        "currency": "EUR",
        "add_time": "2023-11-01 09:00:00",
        "won_time": "2023-11-14 22:13:20",
        "lost_time": None,
        "close_time": "2023-11-14 22:13:20",
        "stage_id": 5,
        "person_id": 17,
        "user_id": 222,
    },
    "previous": {"id": 8, "status": "open", "value": 5000, "currency": "EUR"},
}

# The v2 skeleton of protocols.md §3.3.
V2_WON = {
    "meta": {
        "action": "change",
        "entity": "deal",
        "entity_id": "8",
        "id": "7a40ac1f-0000-0000-0000-000000000000",
        "correlation_id": "0c0f",
        "company_id": "111",
        "user_id": "222",
        "timestamp": "2023-11-14T22:13:20.123Z",
        "version": "2.0",
        "webhook_id": "333",
        "webhook_owner_id": "222",
        "attempt": 1,
        "change_source": "app",
        "is_bulk_edit": False,
        "type": "general",
        "host": "acme.pipedrive.com",
    },
    "data": {
        "id": 8,
        "title": "Acme deal",
        "status": "won",
        "value": 5000,
        "currency": "EUR",
        "add_time": "2023-11-01T09:00:00Z",
        "won_time": "2023-11-14T22:13:20Z",
        "first_won_time": "2023-11-14T22:13:20Z",
        "stage_id": 5,
        "pipeline_id": 1,
        "person_id": 17,
        "org_id": 3,
        "owner_id": 222,
        "custom_fields": {"3d0f": {"type": "monetary", "value": 200, "currency": "EUR"}},
    },
    "previous": {"status": "open", "update_time": "2023-11-14T22:10:00Z"},
}

WON_VALUES = {
    "name": "Acme deal",
    "status": "won",
    "amount": Decimal(5000),
    "currency": "EUR",
    "stage": "5",
    "created_at": dt.datetime(2023, 11, 1, 9, tzinfo=dt.UTC),
    "closed_at": dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC),
    "owner": "222",
    "deleted": False,
    "external_contact_id": "17",
}


def body(document: dict[str, object]) -> bytes:
    return json.dumps(document).encode()


def test_a_v1_won_deal_carries_its_full_state() -> None:
    (event,) = pipedrive.parse(body(V1_WON))

    assert (event.external_deal_id, event.provider) == ("8", "pipedrive")
    assert event.values() == WON_VALUES
    assert event.occurred_at == dt.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=dt.UTC)


def test_a_v2_won_deal_carries_the_same_state() -> None:
    (event,) = pipedrive.parse(body(V2_WON))

    assert event.external_deal_id == "8"
    assert event.provider_event_id == "7a40ac1f-0000-0000-0000-000000000000"
    assert event.values() == WON_VALUES
    assert event.occurred_at == dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC)


def test_identical_v1_deliveries_share_an_event_id() -> None:
    first, second = pipedrive.parse(body(V1_WON)), pipedrive.parse(body({**V1_WON, "retry": 1}))

    assert first[0].provider_event_id == second[0].provider_event_id


def test_a_reopened_deal_is_open_and_no_longer_closed() -> None:
    data = {**V2_WON["data"], "status": "open", "won_time": None}  # type: ignore[dict-item]

    (event,) = pipedrive.parse(body({**V2_WON, "data": data}))

    assert event.status == "open" and "closed_at" in event.fields and event.closed_at is None


def test_a_lost_deal_closes_at_its_lost_time() -> None:
    data = {**V2_WON["data"], "status": "lost", "lost_time": "2023-11-20T10:00:00Z"}  # type: ignore[dict-item]

    (event,) = pipedrive.parse(body({**V2_WON, "data": data}))

    assert event.status == "lost"
    assert event.closed_at == dt.datetime(2023, 11, 20, 10, tzinfo=dt.UTC)


def test_a_v2_delete_marks_the_deal_deleted() -> None:
    meta = {**V2_WON["meta"], "action": "delete"}  # type: ignore[dict-item]
    document = {"meta": meta, "data": None, "previous": V2_WON["data"]}

    (event,) = pipedrive.parse(body(document))

    assert event.external_deal_id == "8"
    assert event.values() == {"deleted": True}


def test_a_v1_delete_and_a_v1_deleted_status_mark_the_deal_deleted() -> None:
    meta = {**V1_WON["meta"], "action": "deleted"}  # type: ignore[dict-item]
    deleted = {**V1_WON, "meta": meta, "current": None}
    soft = {**V1_WON, "current": {"id": 8, "status": "deleted"}}

    assert pipedrive.parse(body(deleted))[0].values() == {"deleted": True}
    assert pipedrive.parse(body(soft))[0].values() == {"deleted": True}


def test_a_v1_rest_shaped_person_gives_contact_email_and_phone() -> None:
    person = {
        "value": 17,
        "name": "Ada",
        "email": [
            {"label": "home", "value": "ada@home.example", "primary": False},
            {"label": "work", "value": "Ada@Example.com", "primary": True},
        ],
        "phone": [{"value": "+44 20 7946 0958", "primary": True}],
    }
    current = {**V1_WON["current"], "person_id": person, "user_id": {"id": 222}}  # type: ignore[dict-item]

    (event,) = pipedrive.parse(body({**V1_WON, "current": current}))

    assert event.contact_emails == ("ada@example.com", "ada@home.example")
    assert event.contact_phone == "+44 20 7946 0958"
    assert event.external_contact_id == "17" and event.owner == "222"


def test_a_v2_change_without_a_field_does_not_carry_it() -> None:
    data = {"id": 8, "value": 7500, "currency": "EUR"}

    (event,) = pipedrive.parse(body({**V2_WON, "data": data}))

    assert event.fields == {"amount", "currency"}


@pytest.mark.parametrize(
    "document",
    [
        {**V2_WON, "meta": {**V2_WON["meta"], "entity": "person"}},  # type: ignore[dict-item]
        {**V1_WON, "meta": {**V1_WON["meta"], "object": "person"}},  # type: ignore[dict-item]
    ],
)
def test_other_objects_give_no_events(document: dict[str, object]) -> None:
    assert pipedrive.parse(body(document)) == []


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"hello": 1}, "meta"),
        ({**V1_WON, "current": None}, "current"),
        ({"meta": {"entity": "deal"}}, "body"),
        ({**V2_WON, "meta": {**V2_WON["meta"], "action": "explode"}}, "meta.action"),  # type: ignore[dict-item]
        ({**V2_WON, "meta": {**V2_WON["meta"], "timestamp": "soon"}}, "meta.timestamp"),  # type: ignore[dict-item]
        ({**V2_WON, "data": {**V2_WON["data"], "status": "maybe"}}, "data.status"),  # type: ignore[dict-item]
        ({**V2_WON, "data": {**V2_WON["data"], "value": "a lot"}}, "data.value"),  # type: ignore[dict-item]
        ({**V2_WON, "data": {**V2_WON["data"], "currency": "EURO"}}, "data.currency"),  # type: ignore[dict-item]
        (
            {**V1_WON, "meta": {**V1_WON["meta"], "timestamp_micro": None, "timestamp": 17}},  # type: ignore[dict-item]
            "meta.timestamp",
        ),
    ],
)
def test_malformed_bodies_are_refused_naming_the_field(
    document: dict[str, object], field: str
) -> None:
    with pytest.raises(PayloadInvalid) as refused:
        pipedrive.parse(body(document))
    assert refused.value.field == field


def test_person_webhooks_report_the_persons_emails_and_phone() -> None:
    v2 = {
        "meta": {"action": "change", "entity": "person", "entity_id": "17", "version": "2.0",
                 "id": "5b1e0000-0000-0000-0000-000000000017",
                 "timestamp": "2026-10-01T09:05:00.000Z"},
        "data": {"id": 17, "emails": [{"value": "x@example.com", "primary": False},
                                       {"value": "Ada@Example.com", "primary": True}],
                 "phones": [{"value": "+44 20 7946 0000", "primary": True}]},
    }
    v1 = {
        "v": 1,
        "meta": {"v": 1, "action": "updated", "object": "person", "id": 17,
                 "timestamp": 1790845500},
        "current": {"id": 17, "email": [{"value": "ada@example.com", "primary": True}],
                    "phone": [{"value": "+44 20 7946 0000", "primary": True}]},
    }

    (from_v2,) = pipedrive.parse_contacts(body(v2))
    (from_v1,) = pipedrive.parse_contacts(body(v1))

    for contact in (from_v2, from_v1):
        assert contact.external_contact_id == "17"
        assert contact.contact_emails[0] == "ada@example.com"
        assert contact.contact_phone == "+44 20 7946 0000"
    assert pipedrive.parse(body(v2)) == []
    assert pipedrive.parse_contacts(body({**v2, "meta": {**v2["meta"], "entity": "deal"}})) == []
