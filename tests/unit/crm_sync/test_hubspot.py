"""HubSpot: signature v3 exactly as HubSpot computes it, and batched deal events."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal

import pytest

from crm_sync.errors import PayloadInvalid, SignatureInvalid, SignatureReason
from crm_sync.providers import hubspot

SECRET = "test-client-secret"
URI = "https://hooks.example.com/crm/hubspot?account=42"
TIMESTAMP = "1700000000123"
NOW = dt.datetime.fromtimestamp(1_700_000_000.123 + 60, dt.UTC)
# The one-line body of the protocols.md §1.4 test vector.
VECTOR_BODY = (
    b'[{"eventId":1,"subscriptionType":"deal.propertyChange","objectId":123,'
    b'"propertyName":"dealstage","propertyValue":"closedwon","occurredAt":1700000000000,'
    b'"attemptNumber":0}]'
)


def hubspot_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Written from HubSpot's description, independently of the module under test."""
    message = f"{method}{uri}{body.decode()}{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify(**overrides: object) -> None:
    arguments: dict[str, object] = {
        "secrets": [SECRET],
        "method": "POST",
        "uri": URI,
        "body": VECTOR_BODY,
        "signature": hubspot_signature(SECRET, "POST", URI, VECTOR_BODY, TIMESTAMP),
        "timestamp": TIMESTAMP,
        "now": NOW,
    }
    arguments.update(overrides)
    hubspot.verify(**arguments)  # type: ignore[arg-type]


def test_the_published_test_vector_is_reproduced() -> None:
    assert (
        hubspot.sign(secret=SECRET, method="POST", uri=URI, body=VECTOR_BODY, timestamp=TIMESTAMP)
        == "3hzH+CZbf3reocSDUnG0diQR8fdBmkQRE8z2Gmx+F60="
    )


def test_a_correctly_signed_fresh_request_is_accepted() -> None:
    verify()


def test_any_of_several_secrets_is_accepted_during_rotation() -> None:
    verify(secrets=["new-secret", SECRET])


def test_the_uri_is_signed_with_hubspots_fixed_escapes_decoded() -> None:
    received = "https://hooks.example.com/webhooks/hubspot/7?next=%2Fdeals%3Fa%3Db&x=%20y"
    as_signed = "https://hooks.example.com/webhooks/hubspot/7?next=/deals?a%3Db&x=%20y"
    signature = hubspot_signature(SECRET, "POST", as_signed, VECTOR_BODY, TIMESTAMP)

    verify(uri=received, signature=signature)
    assert hubspot.signed_uri("%3a%2f%40%21%24%27%28%29%2a%2c%3b%20") == ":/@!$'()*,;%20"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"signature": None}, SignatureReason.MISSING_SIGNATURE),
        ({"signature": ""}, SignatureReason.MISSING_SIGNATURE),
        ({"timestamp": None}, SignatureReason.MISSING_SIGNATURE),
        ({"timestamp": "yesterday"}, SignatureReason.MALFORMED),
        ({"secrets": ["another-apps-secret"]}, SignatureReason.BAD_SIGNATURE),
        ({"secrets": []}, SignatureReason.BAD_SIGNATURE),
        ({"body": VECTOR_BODY.replace(b"closedwon", b"closedlost")}, SignatureReason.BAD_SIGNATURE),
        ({"uri": URI.replace("42", "43")}, SignatureReason.BAD_SIGNATURE),
        ({"method": "GET"}, SignatureReason.BAD_SIGNATURE),
        (
            {"signature": "3hzH+CZbf3reocSDUnG0diQR8fdBmkQRE8z2Gmx+F6é="},
            SignatureReason.BAD_SIGNATURE,
        ),
        ({"now": NOW + dt.timedelta(minutes=6)}, SignatureReason.STALE_TIMESTAMP),
        ({"now": NOW - dt.timedelta(minutes=7)}, SignatureReason.STALE_TIMESTAMP),
    ],
)
def test_each_forgery_is_refused_with_its_reason(
    overrides: dict[str, object], reason: SignatureReason
) -> None:
    with pytest.raises(SignatureInvalid) as refused:
        verify(**overrides)
    assert refused.value.reason is reason


def test_a_signature_replayed_with_a_new_timestamp_does_not_verify() -> None:
    fresh = str(int(NOW.timestamp() * 1000))
    with pytest.raises(SignatureInvalid) as refused:
        verify(timestamp=fresh, now=NOW)
    assert refused.value.reason is SignatureReason.BAD_SIGNATURE


def batch(*events: dict[str, object]) -> bytes:
    base = {"subscriptionId": 7, "portalId": 4242, "appId": 99, "attemptNumber": 0}
    return json.dumps([{**base, **event} for event in events]).encode()


def test_a_batch_gives_one_event_per_deal_event_in_order_received() -> None:
    body = batch(
        {
            "eventId": 101,
            "occurredAt": 1700000000000,
            "subscriptionType": "deal.propertyChange",
            "objectId": 123,
            "propertyName": "dealstage",
            "propertyValue": "closedwon",
            "changeSource": "CRM_UI",
        },
        {
            "eventId": 102,
            "occurredAt": 1700000000500,
            "subscriptionType": "deal.creation",
            "objectId": 124,
            "changeSource": "API",
        },
        {
            "eventId": 103,
            "occurredAt": 1700000000600,
            "subscriptionType": "contact.creation",
            "objectId": 9,
        },
        {
            "eventId": 104,
            "occurredAt": 1700000000700,
            "subscriptionType": "deal.deletion",
            "objectId": 125,
        },
    )

    won, created, deleted = hubspot.parse(body)

    assert (won.external_deal_id, won.stage, won.status) == ("123", "closedwon", "won")
    assert won.fields == {"stage", "status"}
    assert won.occurred_at == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert won.provider_event_id.startswith("101:123:")
    assert created.fields == {"created_at"} and created.created_at == created.occurred_at
    assert created.occurred_at == dt.datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=dt.UTC)
    assert deleted.fields == {"deleted"} and deleted.deleted is True


def test_an_amount_change_carries_only_the_amount() -> None:
    body = batch(
        {
            "eventId": 5,
            "occurredAt": 1700000000000,
            "subscriptionType": "deal.propertyChange",
            "objectId": 123,
            "propertyName": "amount",
            "propertyValue": "1500.50",
        }
    )

    (event,) = hubspot.parse(body)

    assert event.fields == {"amount"}
    assert event.values() == {"amount": Decimal("1500.50")}
    assert event.stage is None and event.status is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("amount", "", {"amount": None}),
        ("amount", "-200", {"amount": Decimal("-200")}),
        ("closedate", "1700006400000", {"closed_at": dt.datetime(2023, 11, 15, tzinfo=dt.UTC)}),
        (
            "closedate",
            "2023-11-15T00:00:00Z",
            {"closed_at": dt.datetime(2023, 11, 15, tzinfo=dt.UTC)},
        ),
        ("hubspot_owner_id", "77", {"owner": "77"}),
        ("dealname", "Acme renewal", {"name": "Acme renewal"}),
        ("deal_currency_code", "eur", {"currency": "EUR"}),
        (
            "dealstage",
            "presentationscheduled",
            {"stage": "presentationscheduled", "status": "open"},
        ),
        ("dealstage", "closedlost", {"stage": "closedlost", "status": "lost"}),
        ("dealstage", "12345678", {"stage": "12345678"}),
    ],
)
def test_each_tracked_property_sets_its_field(
    name: str, value: str, expected: dict[str, object]
) -> None:
    body = batch(
        {
            "eventId": 9,
            "occurredAt": 1700000000000,
            "subscriptionType": "deal.propertyChange",
            "objectId": 1,
            "propertyName": name,
            "propertyValue": value,
        }
    )

    (event,) = hubspot.parse(body)

    assert event.values() == expected


def test_a_site_stage_map_gives_custom_stages_a_status() -> None:
    body = batch(
        {
            "eventId": 9,
            "occurredAt": 1700000000000,
            "subscriptionType": "deal.propertyChange",
            "objectId": 1,
            "propertyName": "dealstage",
            "propertyValue": "12345678",
        }
    )

    (event,) = hubspot.parse(body, stage_map={"12345678": "customer"})

    assert event.status == "won"


def test_untracked_properties_and_other_objects_are_acknowledged_but_ignored() -> None:
    body = batch(
        {
            "eventId": 9,
            "occurredAt": 1700000000000,
            "subscriptionType": "deal.propertyChange",
            "objectId": 1,
            "propertyName": "pipeline",
            "propertyValue": "default",
        },
        {
            "eventId": 10,
            "occurredAt": 1700000000000,
            "eventType": "contact.propertyChange",
            "objectId": 2,
            "propertyName": "email",
            "propertyValue": "a@b.co",
        },
    )

    assert hubspot.parse(body) == []


def test_the_older_event_type_field_name_is_accepted() -> None:
    body = batch(
        {"eventId": 1, "occurredAt": 1700000000000, "eventType": "deal.creation", "objectId": 3}
    )

    assert [event.external_deal_id for event in hubspot.parse(body)] == ["3"]


def test_events_of_another_portal_are_refused_when_the_site_names_its_portal() -> None:
    body = batch(
        {
            "eventId": 1,
            "occurredAt": 1700000000000,
            "subscriptionType": "deal.creation",
            "objectId": 3,
        }
    )

    assert len(hubspot.parse(body, portal_id=4242)) == 1
    with pytest.raises(SignatureInvalid) as refused:
        hubspot.parse(body, portal_id=1)
    assert refused.value.reason is SignatureReason.WRONG_ORG


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{}", "body"),
        (b"[1]", "0"),
        (b"not json", "body"),
        (b'[{"subscriptionType": "deal.creation", "objectId": 1, "eventId": 1}]', "0.occurredAt"),
        (
            b'[{"subscriptionType": "deal.creation", "objectId": 1, "eventId": 1,'
            b' "occurredAt": 1700000000}]',
            "0.occurredAt",
        ),
        (
            b'[{"subscriptionType": "deal.creation", "eventId": 1, "occurredAt": 1700000000000}]',
            "0.objectId",
        ),
        (
            b'[{"subscriptionType": "deal.propertyChange", "objectId": 1, "eventId": 1,'
            b' "occurredAt": 1700000000000, "propertyName": "amount", "propertyValue": "lots"}]',
            "0.propertyValue",
        ),
        (
            b'[{"subscriptionType": "deal.propertyChange", "objectId": 1, "eventId": 1,'
            b' "occurredAt": 1700000000000, "propertyName": "amount", "propertyValue": "NaN"}]',
            "0.propertyValue",
        ),
    ],
)
def test_malformed_batches_are_refused_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(PayloadInvalid) as refused:
        hubspot.parse(body)
    assert refused.value.field == field
