"""CRM webhooks on SQLite and PostgreSQL: verified before anything is stored, stored before
acknowledged, applied once whatever the duplication or order, failures kept and replayable,
and no site can post to another."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import random
import re
import time
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crm_sync.providers import generic, hubspot
from tests.api.test_leads import api
from tests.factories import SiteMaker
from tracker.leads.identity import Identity, upsert_lead
from tracker.models import CrmEvent, Deal, Lead
from tracker.sites.service import CreatedSite

GENERIC_SECRET = "whsec_site_a_0123456789abcdef"
OTHER_SECRET = "whsec_site_b_fedcba9876543210"
HUBSPOT_SECRET = "8c3f1a52-6b0e-4d7e-9a31-5f2c0b7d9e14"
PIPEDRIVE_USER = "leadtrail"
PIPEDRIVE_PASSWORD = "pd-password-0123456789"
ORG = "00D000000000001AAA"
CRM_SETTINGS: dict[str, Any] = {
    "generic_secrets": [GENERIC_SECRET],
    "hubspot_secrets": [HUBSPOT_SECRET],
    "pipedrive_username": PIPEDRIVE_USER,
    "pipedrive_password": PIPEDRIVE_PASSWORD,
    "salesforce_org_id": ORG,
}
T0 = dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)


def at(hours: float) -> str:
    return (T0 + dt.timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


# --- senders: each signs exactly as the provider does ---------------------------------------


def post_generic(
    client: FlaskClient,
    site_id: int,
    document: object,
    secret: str = GENERIC_SECRET,
    t: int | None = None,
) -> Any:
    body = json.dumps(document).encode()
    header = generic.sign(body, secret, int(time.time()) if t is None else t)
    return client.post(
        f"/webhooks/generic/{site_id}",
        data=body,
        headers={"LeadTrail-Signature": header, "Content-Type": "application/json"},
    )


def post_hubspot(
    client: FlaskClient,
    site_id: int,
    events: list[dict[str, Any]],
    secret: str = HUBSPOT_SECRET,
    timestamp_ms: int | None = None,
) -> Any:
    body = json.dumps(events).encode()
    timestamp = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    uri = f"http://localhost/webhooks/hubspot/{site_id}"
    signature = hubspot.sign(secret=secret, method="POST", uri=uri, body=body, timestamp=timestamp)
    return client.post(
        f"/webhooks/hubspot/{site_id}",
        data=body,
        headers={
            "X-HubSpot-Signature-v3": signature,
            "X-HubSpot-Request-Timestamp": timestamp,
            "Content-Type": "application/json",
        },
    )


def post_pipedrive(
    client: FlaskClient, site_id: int, document: object, password: str = PIPEDRIVE_PASSWORD
) -> Any:
    token = base64.b64encode(f"{PIPEDRIVE_USER}:{password}".encode()).decode()
    return client.post(
        f"/webhooks/pipedrive/{site_id}",
        data=json.dumps(document).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )


def post_salesforce(client: FlaskClient, site_id: int, body: bytes, query: str = "") -> Any:
    return client.post(
        f"/webhooks/salesforce/{site_id}{query}",
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
    )


def generic_event(event_id: str, kind: str, hours: float, **deal: object) -> dict[str, object]:
    return {"id": event_id, "type": kind, "occurred_at": at(hours), "deal": {"id": "D-1", **deal}}


def hubspot_change(event_id: int, hours: float, name: str, value: str) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 7,
        "portalId": 4242,
        "appId": 99,
        "occurredAt": int((T0 + dt.timedelta(hours=hours)).timestamp() * 1000),
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": 123,
        "propertyName": name,
        "propertyValue": value,
        "changeSource": "CRM_UI",
    }


def salesforce_message(notifications: str, org: str = ORG) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   {notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


def salesforce_notification(notification_id: str, kind: str, fields: str) -> str:
    return f"""<Notification><Id>{notification_id}</Id>
    <sObject xsi:type="sf:{kind}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}
    </sObject></Notification>"""


WON_OPPORTUNITY = salesforce_notification(
    "04l000000000001AAA",
    "Opportunity",
    """<sf:Id>006000000000001AAA</sf:Id><sf:Amount>50000.0</sf:Amount>
    <sf:CloseDate>2026-10-01</sf:CloseDate><sf:IsClosed>true</sf:IsClosed>
    <sf:IsWon>true</sf:IsWon><sf:StageName>Closed Won</sf:StageName>
    <sf:CurrencyIsoCode>EUR</sf:CurrencyIsoCode>
    <sf:LastModifiedDate>2026-10-01T09:00:00.000Z</sf:LastModifiedDate>""",
)

PIPEDRIVE_V2_WON = {
    "meta": {
        "action": "change",
        "entity": "deal",
        "entity_id": "8",
        "id": "7a40ac1f-0000-0000-0000-000000000000",
        "timestamp": "2026-10-01T09:00:00.000Z",
        "version": "2.0",
        "attempt": 1,
    },
    "data": {
        "id": 8,
        "status": "won",
        "value": 5000,
        "currency": "EUR",
        "person_id": 17,
        "won_time": "2026-10-01T09:00:00Z",
        "owner_id": 222,
    },
    "previous": {"status": "open"},
}
PIPEDRIVE_V1_WON = {
    "v": 1,
    "event": "updated.deal",
    "retry": 0,
    "meta": {
        "v": 1,
        "action": "updated",
        "object": "deal",
        "id": 9,
        "timestamp": 1790845200,
        "timestamp_micro": 1790845200000001,
    },
    "current": {
        "id": 9,
        "status": "won",
        "value": 700,
        "currency": "EUR",
        "won_time": "2026-10-01 09:00:00",
        "user_id": 222,
    },
    "previous": {"id": 9, "status": "open", "value": 700},
}


# --- reading the database ---------------------------------------------------------------


def inbox_rows(engine: Engine, site_id: int) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(CrmEvent).where(CrmEvent.site_id == site_id).order_by(CrmEvent.received_at)
        )
        return [
            {
                "id": row.id,
                "status": row.status,
                "attempts": row.attempts,
                "error": row.error,
                "body": row.body,
                "headers": row.headers,
            }
            for row in rows
        ]


def deals(engine: Engine, site_id: int) -> dict[str, dict[str, Any]]:
    with Session(engine) as session:
        return {
            deal.external_id: {
                "status": deal.status,
                "amount": deal.amount,
                "currency": deal.currency,
                "stage": deal.stage,
                "deleted": deal.deleted,
                "closed_at": deal.closed_at,
                "lead_id": deal.lead_id,
            }
            for deal in session.scalars(select(Deal).where(Deal.site_id == site_id))
        }


def count(engine: Engine, model: type[Any]) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def site(sites: SiteMaker) -> CreatedSite:
    return sites.make(**CRM_SETTINGS)


# --- verification ---------------------------------------------------------------------


def forged(client: FlaskClient, site_id: int, case: str) -> Any:
    won = generic_event("evt_1", "deal.won", 0, amount="100", currency="EUR")
    body = json.dumps(won).encode()
    now = int(time.time())
    if case == "generic_unsigned":
        return client.post(f"/webhooks/generic/{site_id}", data=body)
    if case == "generic_wrong_secret":
        return post_generic(client, site_id, won, secret="whsec_someone_elses_secret")
    if case == "generic_replayed_late":
        return post_generic(client, site_id, won, t=now - 600)
    if case == "generic_malformed_header":
        headers = {"LeadTrail-Signature": "sha256=abc"}
        return client.post(f"/webhooks/generic/{site_id}", data=body, headers=headers)
    if case == "generic_body_changed":
        header = generic.sign(body, GENERIC_SECRET, now)
        tampered = body.replace(b'"100"', b'"100000"')
        return client.post(
            f"/webhooks/generic/{site_id}",
            data=tampered,
            headers={"LeadTrail-Signature": header},
        )
    if case == "hubspot_wrong_secret":
        return post_hubspot(client, site_id, [hubspot_change(1, 0, "amount", "1")], "x" * 36)
    if case == "hubspot_stale":
        stale = int(time.time() * 1000) - 6 * 60 * 1000
        return post_hubspot(
            client, site_id, [hubspot_change(1, 0, "amount", "1")], timestamp_ms=stale
        )
    if case == "pipedrive_wrong_password":
        return post_pipedrive(client, site_id, PIPEDRIVE_V2_WON, password="guessed-password-123")
    if case == "pipedrive_no_credentials":
        return client.post(f"/webhooks/pipedrive/{site_id}", json=PIPEDRIVE_V2_WON)
    if case == "salesforce_other_org":
        return post_salesforce(
            client, site_id, salesforce_message(WON_OPPORTUNITY, "00D000000000009ZZZ")
        )
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "status", "reason", "field"),
    [
        ("generic_unsigned", 401, "missing_signature", "LeadTrail-Signature"),
        ("generic_wrong_secret", 401, "bad_signature", "LeadTrail-Signature"),
        ("generic_replayed_late", 401, "stale_timestamp", "LeadTrail-Signature"),
        ("generic_malformed_header", 400, "malformed", "LeadTrail-Signature"),
        ("generic_body_changed", 401, "bad_signature", "LeadTrail-Signature"),
        ("hubspot_wrong_secret", 401, "bad_signature", "X-HubSpot-Signature-v3"),
        ("hubspot_stale", 401, "stale_timestamp", "X-HubSpot-Request-Timestamp"),
        ("pipedrive_wrong_password", 401, "bad_credentials", "Authorization"),
        ("pipedrive_no_credentials", 401, "missing_signature", "Authorization"),
        ("salesforce_other_org", 403, "wrong_org", "OrganizationId"),
    ],
)
def test_a_forged_request_is_refused_with_its_reason_and_stores_nothing(
    client: FlaskClient,
    engine: Engine,
    site: CreatedSite,
    case: str,
    status: int,
    reason: str,
    field: str,
) -> None:
    response = forged(client, site.site.id, case)

    assert response.status_code == status
    assert response.json["error"]["code"] == "signature_invalid"
    assert response.json["error"]["reason"] == reason
    assert response.json["error"]["field"] == field
    assert count(engine, CrmEvent) == 0
    assert count(engine, Deal) == 0


def test_salesforce_checks_the_url_token_when_the_site_sets_one(
    client: FlaskClient, engine: Engine, sites: SiteMaker
) -> None:
    site_id = sites.make(salesforce_org_id=ORG, salesforce_token="sf-url-token-0123456789").site.id
    body = salesforce_message(WON_OPPORTUNITY)

    missing = post_salesforce(client, site_id, body)
    wrong = post_salesforce(client, site_id, body, "?token=sf-url-token-guess")
    right = post_salesforce(client, site_id, body, "?token=sf-url-token-0123456789")

    assert (missing.status_code, missing.json["error"]["reason"]) == (401, "missing_signature")
    assert (wrong.status_code, wrong.json["error"]["reason"]) == (401, "bad_credentials")
    assert right.status_code == 200
    assert [row["headers"]["path"] for row in inbox_rows(engine, site_id)] == [
        f"/webhooks/salesforce/{site_id}"
    ]


def test_unknown_provider_site_or_provider_not_set_up_is_404(
    client: FlaskClient, sites: SiteMaker, engine: Engine
) -> None:
    bare = sites.make().site.id
    body = generic_event("evt_1", "deal.won", 0)

    responses = [
        client.post(f"/webhooks/zoho/{bare}", data=b"{}"),
        post_generic(client, bare + 1000, body),
        post_generic(client, bare, body),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert [r.json["error"]["field"] for r in responses] == ["provider", "site_id", "provider"]
    assert count(engine, CrmEvent) == 0


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({**generic_event("evt_1", "deal.won", 0), "colour": "red"}, "colour"),
        (generic_event("evt_1", "deal.won", 0, probability=0.4), "deal.probability"),
        (generic_event("evt_1", "deal.updated", 0, amount="lots"), "deal.amount"),
        (generic_event("evt_1", "deal.updated", 0, lead_id="not-a-uuid"), "lead_id"),
    ],
)
def test_a_signed_but_malformed_body_is_400_naming_the_field_and_stores_nothing(
    client: FlaskClient, engine: Engine, site: CreatedSite, document: object, field: str
) -> None:
    response = post_generic(client, site.site.id, document)

    assert response.status_code == 400
    assert response.json["error"]["field"] == field
    assert count(engine, CrmEvent) == 0


@pytest.mark.parametrize(
    ("provider", "field"),
    [
        ("generic", "deal.name"),
        ("hubspot", "propertyValue"),
        ("pipedrive", "data.title"),
    ],
)
@pytest.mark.parametrize("bad", ["Big\u0000deal", "Big \ud83d deal"])
def test_a_value_that_could_never_be_stored_is_refused_before_it_is_acknowledged(
    client: FlaskClient, engine: Engine, site: CreatedSite, provider: str, field: str, bad: str
) -> None:
    # Acknowledged means it will apply: a NUL (PostgreSQL refuses it) or a lone surrogate (no
    # database encodes it) would leave the delivery failed forever, so it is a 400 now.
    if provider == "generic":
        response = post_generic(
            client, site.site.id, generic_event("evt_1", "deal.created", 0, name=bad)
        )
    elif provider == "hubspot":
        response = post_hubspot(client, site.site.id, [hubspot_change(1, 0, "dealname", bad)])
    else:
        document = {**PIPEDRIVE_V2_WON, "data": {**PIPEDRIVE_V2_WON["data"], "title": bad}}
        response = post_pipedrive(client, site.site.id, document)

    assert response.status_code == 400
    assert response.json["error"]["field"].endswith(field)
    assert count(engine, CrmEvent) == 0
    assert deals(engine, site.site.id) == {}


@pytest.mark.parametrize("provider", ["generic", "hubspot", "pipedrive", "salesforce"])
def test_an_oversized_body_is_refused_with_a_json_error(
    client: FlaskClient, engine: Engine, site: CreatedSite, provider: str
) -> None:
    body = b"[" + b" " * (1_048_576 + 10) + b"]"
    header = generic.sign(body, GENERIC_SECRET, int(time.time()))

    response = client.post(
        f"/webhooks/{provider}/{site.site.id}", data=body, headers={"LeadTrail-Signature": header}
    )

    assert response.status_code == 413
    assert response.is_json
    assert response.json["error"]["code"] in {"too_large", "request_entity_too_large"}
    assert response.json["error"]["message"]
    assert count(engine, CrmEvent) == 0


# --- store, acknowledge, apply -----------------------------------------------------------


def test_each_provider_stores_acknowledges_and_applies_a_won_deal(
    client: FlaskClient, engine: Engine, site: CreatedSite
) -> None:
    site_id = site.site.id

    responses = {
        "generic": post_generic(
            client, site_id, generic_event("evt_1", "deal.won", 0, amount="100", currency="EUR")
        ),
        "hubspot": post_hubspot(
            client,
            site_id,
            [
                hubspot_change(1, 0, "amount", "2500"),
                hubspot_change(2, 1, "dealstage", "closedwon"),
            ],
        ),
        "pipedrive_v2": post_pipedrive(client, site_id, PIPEDRIVE_V2_WON),
        "pipedrive_v1": post_pipedrive(client, site_id, PIPEDRIVE_V1_WON),
        "salesforce": post_salesforce(client, site_id, salesforce_message(WON_OPPORTUNITY)),
    }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 200)
    assert responses["salesforce"].content_type.startswith("text/xml")
    assert b"<Ack>true</Ack>" in responses["salesforce"].data
    assert responses["generic"].json["received"] is True
    assert [row["status"] for row in inbox_rows(engine, site_id)] == ["applied"] * 5
    state = deals(engine, site_id)
    assert {key: (d["status"], d["amount"]) for key, d in state.items()} == {
        "D-1": ("won", decimal.Decimal("100")),
        "123": ("won", decimal.Decimal("2500")),
        "8": ("won", decimal.Decimal("5000")),
        "9": ("won", decimal.Decimal("700")),
        "006000000000001AAA": ("won", decimal.Decimal("50000")),
    }
    assert "Authorization" not in json.dumps(
        [row["headers"] for row in inbox_rows(engine, site_id)]
    )


def test_the_stored_body_is_the_exact_bytes_received(
    client: FlaskClient, engine: Engine, site: CreatedSite
) -> None:
    document = generic_event("evt_1", "deal.won", 0, amount="100")

    post_generic(client, site.site.id, document)

    (row,) = inbox_rows(engine, site.site.id)
    assert row["body"] == json.dumps(document).encode()


def test_the_same_delivery_three_times_is_stored_and_applied_once(
    client: FlaskClient, engine: Engine, site: CreatedSite
) -> None:
    event = generic_event("evt_1", "deal.won", 0, amount="100")
    batch = [hubspot_change(5, 0, "amount", "300"), hubspot_change(6, 1, "dealstage", "closedwon")]

    generic_responses = [post_generic(client, site.site.id, event) for _ in range(3)]
    hubspot_responses = []
    for attempt in range(3):  # HubSpot's retries change attemptNumber, so the body differs
        retried = [{**item, "attemptNumber": attempt} for item in batch]
        hubspot_responses.append(post_hubspot(client, site.site.id, retried))

    assert [r.json["duplicate"] for r in generic_responses] == [False, True, True]
    assert [r.json["duplicate"] for r in hubspot_responses] == [False, True, True]
    rows = inbox_rows(engine, site.site.id)
    assert [(row["status"], row["attempts"]) for row in rows] == [("applied", 1)] * 2
    assert {(d["status"], d["amount"]) for d in deals(engine, site.site.id).values()} == {
        ("won", decimal.Decimal("100")),
        ("won", decimal.Decimal("300")),
    }


LIFECYCLE = [
    generic_event("e1", "deal.created", 0, amount="1000", currency="USD", email="ada@example.com"),
    generic_event("e2", "deal.updated", 5, amount="1500"),
    generic_event("e3", "deal.won", 9, stage="closed_won"),
    generic_event("e4", "deal.updated", 12, amount="1200"),  # partial refund after winning
]


@pytest.mark.parametrize("seed", range(3))
def test_duplicated_and_shuffled_deliveries_converge_to_the_same_deal(
    client: FlaskClient, engine: Engine, sites: SiteMaker, seed: int
) -> None:
    in_order = sites.make(generic_secrets=[GENERIC_SECRET]).site.id
    shuffled_site = sites.make(generic_secrets=[GENERIC_SECRET]).site.id
    shuffled = LIFECYCLE * 3
    random.Random(seed).shuffle(shuffled)

    for event in LIFECYCLE:
        post_generic(client, in_order, event)
    for event in shuffled:
        post_generic(client, shuffled_site, event)

    expected = deals(engine, in_order)["D-1"]
    assert (expected["status"], expected["amount"]) == ("won", decimal.Decimal("1200"))
    assert deals(engine, shuffled_site)["D-1"] == expected
    assert len(inbox_rows(engine, shuffled_site)) == len(LIFECYCLE)


def test_hubspot_property_changes_in_any_order_keep_each_fields_newest_value(
    client: FlaskClient, engine: Engine, site: CreatedSite
) -> None:
    changes = [
        hubspot_change(1, 0, "dealstage", "appointmentscheduled"),
        hubspot_change(2, 1, "amount", "900"),
        hubspot_change(3, 2, "dealstage", "closedwon"),
        hubspot_change(4, 3, "amount", "1100"),
    ]

    for change in reversed(changes):  # newest first, one delivery each
        post_hubspot(client, site.site.id, [change])

    deal = deals(engine, site.site.id)["123"]
    assert (deal["stage"], deal["status"], deal["amount"]) == (
        "closedwon",
        "won",
        decimal.Decimal("1100"),
    )


def test_amount_changes_refunds_reopening_and_deletion_are_reflected_in_the_deal(
    client: FlaskClient, engine: Engine, site: CreatedSite
) -> None:
    steps = [
        (generic_event("s1", "deal.won", 1, amount="1000", currency="EUR"), ("won", "1000", False)),
        (generic_event("s2", "deal.updated", 2, amount="1250"), ("won", "1250", False)),
        # refunded beyond the sale
        (generic_event("s3", "deal.updated", 3, amount="-50"), ("won", "-50", False)),
        (generic_event("s4", "deal.updated", 4, amount="900"), ("won", "900", False)),
        (generic_event("s5", "deal.reopened", 5), ("open", "900", False)),
        (generic_event("s6", "deal.won", 6), ("won", "900", False)),
        (generic_event("s7", "deal.deleted", 7), ("won", "900", True)),
    ]
    seen = []

    for event, _ in steps:
        assert post_generic(client, site.site.id, event).status_code == 200
        deal = deals(engine, site.site.id)["D-1"]
        seen.append((deal["status"], deal["amount"], deal["deleted"]))

    assert seen == [
        (status, decimal.Decimal(amount), deleted) for _, (status, amount, deleted) in steps
    ]


def test_a_deal_before_its_lead_is_linked_when_the_lead_appears(
    client: FlaskClient, engine: Engine, site: CreatedSite, db_session: Session
) -> None:
    post_generic(
        client,
        site.site.id,
        generic_event("evt_1", "deal.won", 0, amount="100", email="Ada@Example.com"),
    )
    assert deals(engine, site.site.id)["D-1"]["lead_id"] is None

    with db_session.begin():
        lead, _ = upsert_lead(
            db_session, site.site.id, Identity(email="ada@example.com"), T0, "form"
        )
        lead_id = lead.id

    assert deals(engine, site.site.id)["D-1"]["lead_id"] == lead_id
    with Session(engine) as session:
        assert session.get(Lead, (site.site.id, lead_id)).stage == "customer"  # type: ignore[union-attr]


def test_the_lead_api_lists_the_leads_deals_as_last_applied(
    client: FlaskClient, site: CreatedSite, db_session: Session
) -> None:
    with db_session.begin():
        lead, _ = upsert_lead(
            db_session, site.site.id, Identity(email="ada@example.com"), T0, "form"
        )
        lead_id = lead.id
    for event in LIFECYCLE:
        assert post_generic(client, site.site.id, event).status_code == 200
    someone_elses = {**generic_event("o1", "deal.created", 1),
                     "deal": {"id": "D-2", "amount": "50", "email": "bob@example.com"}}
    assert post_generic(client, site.site.id, someone_elses).status_code == 200

    journey = api(client, site, "GET", f"/api/v1/leads/{lead_id}").json

    assert journey["deals"] == [{
        "id": journey["deals"][0]["id"],
        "provider": "generic",
        "external_id": "D-1",
        "name": None,
        "amount": 1200.0,
        "currency": "USD",
        "stage": "closed_won",
        "status": "won",
        "owner": None,
        "created_at": at(0),
        "closed_at": at(9),
    }]


def test_a_salesforce_lead_conversion_links_its_opportunity_to_the_lead(
    client: FlaskClient, engine: Engine, site: CreatedSite, db_session: Session
) -> None:
    with db_session.begin():
        lead, _ = upsert_lead(
            db_session, site.site.id, Identity(email="ada@example.com"), T0, "form"
        )
        lead_id = lead.id
    conversion = salesforce_notification(
        "04l000000000002AAA",
        "Lead",
        """<sf:Id>00Q000000000001AAA</sf:Id><sf:Email>ada@example.com</sf:Email>
        <sf:IsConverted>true</sf:IsConverted>
        <sf:ConvertedOpportunityId>006000000000001AAA</sf:ConvertedOpportunityId>
        <sf:LastModifiedDate>2026-10-01T08:00:00.000Z</sf:LastModifiedDate>""",
    )

    post_salesforce(client, site.site.id, salesforce_message(WON_OPPORTUNITY))
    post_salesforce(client, site.site.id, salesforce_message(conversion))

    deal = deals(engine, site.site.id)["006000000000001AAA"]
    assert (deal["lead_id"], deal["status"], deal["amount"]) == (
        lead_id, "won", decimal.Decimal("50000")
    )


def test_a_lead_id_is_used_only_when_the_lead_is_this_sites(
    client: FlaskClient, engine: Engine, sites: SiteMaker, db_session: Session
) -> None:
    mine = sites.make(generic_secrets=[GENERIC_SECRET]).site.id
    other = sites.make().site.id
    with db_session.begin():
        own_lead, _ = upsert_lead(db_session, mine, Identity(email="a@example.com"), T0, "form")
        foreign, _ = upsert_lead(db_session, other, Identity(email="b@example.com"), T0, "form")
        own_id, foreign_id = own_lead.id, foreign.id

    post_generic(client, mine, generic_event("e1", "deal.won", 0, lead_id=str(own_id)))
    post_generic(
        client,
        mine,
        {
            **generic_event("e2", "deal.won", 0, lead_id=str(foreign_id)),
            "deal": {"id": "D-2", "lead_id": str(foreign_id)},
        },
    )

    state = deals(engine, mine)
    assert state["D-1"]["lead_id"] == own_id
    assert state["D-2"]["lead_id"] is None


# --- failures and replay ----------------------------------------------------------------


@pytest.fixture
def failing_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """The database refuses deal writes (an outage), until the test undoes it."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("deal store unavailable")

    monkeypatch.setattr("tracker.crm.inbox.apply_deal_update", refuse)


def test_a_failed_apply_is_acknowledged_kept_and_replayed_by_the_cli(
    client: FlaskClient,
    engine: Engine,
    site: CreatedSite,
    runner: FlaskCliRunner,
    failing_apply: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = generic_event("evt_1", "deal.won", 0, amount="100")

    response = post_generic(client, site.site.id, document)

    assert response.status_code == 200
    (row,) = inbox_rows(engine, site.site.id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["error"] == "ConnectionError: deal store unavailable"
    assert row["body"] == json.dumps(document).encode()
    assert deals(engine, site.site.id) == {}

    failed_again = runner.invoke(args=["crm", "replay", "--site", str(site.site.id)])
    monkeypatch.undo()
    replayed = runner.invoke(args=["crm", "replay", "--site", str(site.site.id)])

    assert failed_again.exit_code == 1 and "0 applied, 1 failed" in failed_again.output
    assert replayed.exit_code == 0, replayed.output
    assert "1 applied, 0 failed" in replayed.output
    (row,) = inbox_rows(engine, site.site.id)
    assert (row["status"], row["attempts"], row["error"]) == ("applied", 3, None)
    deal = deals(engine, site.site.id)["D-1"]
    assert (deal["status"], deal["amount"]) == ("won", decimal.Decimal("100"))


def test_failed_events_are_listed_and_replayed_through_the_api(
    client: FlaskClient,
    engine: Engine,
    site: CreatedSite,
    failing_apply: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = {"Authorization": f"Bearer {site.api_key}"}
    post_generic(client, site.site.id, generic_event("evt_1", "deal.won", 0, amount="100"))
    post_generic(
        client, site.site.id, {**generic_event("evt_2", "deal.won", 0), "deal": {"id": "D-2"}}
    )
    monkeypatch.undo()

    listed = client.get("/api/v1/crm/events?status=failed", headers=auth)
    one = client.post(f"/api/v1/crm/events/{listed.json['events'][0]['id']}/replay", headers=auth)
    rest = client.post("/api/v1/crm/events/replay", headers=auth)

    assert [event["status"] for event in listed.json["events"]] == ["failed", "failed"]
    assert "body" not in listed.json["events"][0]
    assert one.status_code == 200 and one.json["event"]["status"] == "applied"
    assert rest.json == {"applied": 1, "failed": 0}
    assert set(deals(engine, site.site.id)) == {"D-1", "D-2"}
    assert client.get("/api/v1/crm/events?status=failed", headers=auth).json["events"] == []


def test_a_redelivery_of_a_failed_event_applies_it(
    client: FlaskClient,
    engine: Engine,
    site: CreatedSite,
    failing_apply: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = generic_event("evt_1", "deal.won", 0, amount="100")
    post_generic(client, site.site.id, event)
    monkeypatch.undo()

    again = post_generic(client, site.site.id, event)

    assert again.json["duplicate"] is True
    (row,) = inbox_rows(engine, site.site.id)
    assert (row["status"], row["attempts"]) == ("applied", 2)


# --- tenancy ----------------------------------------------------------------------------


def test_one_sites_secrets_cannot_post_to_another_site(
    client: FlaskClient, engine: Engine, sites: SiteMaker
) -> None:
    site_a = sites.make(**CRM_SETTINGS).site.id
    site_b = sites.make(
        generic_secrets=[OTHER_SECRET],
        hubspot_secrets=["b" * 36],
        pipedrive_username=PIPEDRIVE_USER,
        pipedrive_password="site-b-password-9876543210",
        salesforce_org_id="00D000000000002BBB",
    ).site.id
    event = generic_event("evt_1", "deal.won", 0, amount="100")

    responses = [
        post_generic(client, site_b, event),
        post_hubspot(client, site_b, [hubspot_change(1, 0, "amount", "5")]),
        post_pipedrive(client, site_b, PIPEDRIVE_V2_WON),
        post_salesforce(client, site_b, salesforce_message(WON_OPPORTUNITY)),
    ]

    assert [r.status_code for r in responses] == [401, 401, 401, 403]
    assert inbox_rows(engine, site_b) == [] and deals(engine, site_b) == {}
    assert post_generic(client, site_a, event).status_code == 200
    assert deals(engine, site_b) == {}


def test_the_inbox_api_never_shows_or_replays_another_sites_events(
    client: FlaskClient, engine: Engine, sites: SiteMaker
) -> None:
    site_a = sites.make(**CRM_SETTINGS)
    site_b = sites.make(**CRM_SETTINGS)
    post_generic(client, site_b.site.id, generic_event("evt_1", "deal.won", 0))
    (row_b,) = inbox_rows(engine, site_b.site.id)
    auth_a = {"Authorization": f"Bearer {site_a.api_key}"}

    listed = client.get("/api/v1/crm/events", headers=auth_a)
    replay_b = client.post(f"/api/v1/crm/events/{row_b['id']}/replay", headers=auth_a)
    unauthenticated = client.get("/api/v1/crm/events")

    assert listed.json["events"] == []
    assert replay_b.status_code == 404
    assert unauthenticated.status_code == 401


# --- secrets from the CLI ---------------------------------------------------------------


def test_secrets_are_generated_rotated_and_retired_from_the_cli(
    client: FlaskClient, engine: Engine, sites: SiteMaker, runner: FlaskCliRunner
) -> None:
    site_id = sites.make().site.id
    event = generic_event("evt_1", "deal.updated", 0, amount="1")

    first = runner.invoke(args=["crm", "secret", str(site_id), "generic"])
    old = re.search(r"secret:\s+(\S+)", first.output).group(1)  # type: ignore[union-attr]
    second = runner.invoke(args=["crm", "secret", str(site_id), "generic", "--keep-old"])
    new = re.search(r"secret:\s+(\S+)", second.output).group(1)  # type: ignore[union-attr]
    during = [
        post_generic(client, site_id, {**event, "id": f"r{i}"}, s) for i, s in enumerate([old, new])
    ]
    retired = runner.invoke(args=["crm", "retire", str(site_id), "generic"])
    after = [
        post_generic(client, site_id, {**event, "id": f"a{i}"}, s) for i, s in enumerate([old, new])
    ]

    assert first.exit_code == 0 and second.exit_code == 0 and retired.exit_code == 0
    assert old.startswith("whsec_") and old != new
    assert f"/webhooks/generic/{site_id}" in first.output
    assert [r.status_code for r in during] == [200, 200]
    assert [r.status_code for r in after] == [401, 200]


def test_secrets_are_never_printed_back(runner: FlaskCliRunner, sites: SiteMaker) -> None:
    site_id = str(sites.make(**CRM_SETTINGS).site.id)

    configured = runner.invoke(
        args=["sites", "configure", site_id, "--set", "hubspot_portal_id=4242"]
    )
    shown = runner.invoke(args=["crm", "show", site_id])
    hubspot_set = runner.invoke(args=["crm", "secret", site_id, "hubspot", "--value", "c" * 36])

    for result in (configured, shown, hubspot_set):
        assert result.exit_code == 0, result.output
        for secret in (GENERIC_SECRET, HUBSPOT_SECRET, PIPEDRIVE_PASSWORD, "c" * 36):
            assert secret not in result.output
    assert "sha256:" in configured.output and '"hubspot_portal_id": 4242' in configured.output
    assert f"/webhooks/salesforce/{site_id}" in shown.output


def test_bad_crm_settings_are_refused_naming_the_setting(
    runner: FlaskCliRunner, sites: SiteMaker
) -> None:
    site_id = str(sites.make().site.id)
    cases = {
        'generic_secrets=["short"]': "settings.generic_secrets.0",
        'salesforce_org_id="001xyz"': "settings.salesforce_org_id",
        'crm_stage_maps={"hubspot": {"123": "won"}}': "settings.crm_stage_maps.hubspot",
        'crm_stage_maps={"zoho": {}}': "settings.crm_stage_maps.zoho",
    }

    for setting, field in cases.items():
        result = runner.invoke(args=["sites", "configure", site_id, "--set", setting])
        assert result.exit_code == 2 and field in result.output, (setting, result.output)


def test_a_site_stage_map_decides_a_custom_hubspot_stage(
    client: FlaskClient, engine: Engine, sites: SiteMaker
) -> None:
    site_id = sites.make(
        hubspot_secrets=[HUBSPOT_SECRET], crm_stage_maps={"hubspot": {"8812345": "customer"}}
    ).site.id

    post_hubspot(
        client,
        site_id,
        [hubspot_change(1, 0, "amount", "400"), hubspot_change(2, 1, "dealstage", "8812345")],
    )

    deal = deals(engine, site_id)["123"]
    assert (deal["status"], deal["amount"]) == ("won", decimal.Decimal("400"))


def test_a_hubspot_portal_other_than_the_sites_is_refused(
    client: FlaskClient, engine: Engine, sites: SiteMaker
) -> None:
    site_id = sites.make(hubspot_secrets=[HUBSPOT_SECRET], hubspot_portal_id=1).site.id

    response = post_hubspot(client, site_id, [hubspot_change(1, 0, "amount", "400")])

    assert (response.status_code, response.json["error"]["reason"]) == (403, "wrong_org")
    assert count(engine, CrmEvent) == 0


def test_an_event_id_is_unique_per_site_not_across_sites(
    client: FlaskClient, engine: Engine, sites: SiteMaker
) -> None:
    site_a = sites.make(generic_secrets=[GENERIC_SECRET]).site.id
    site_b = sites.make(generic_secrets=[GENERIC_SECRET]).site.id
    event = generic_event("evt_same", "deal.won", 0, amount="10")

    assert post_generic(client, site_a, event).json["duplicate"] is False
    assert post_generic(client, site_b, event).json["duplicate"] is False
    assert uuid.UUID(inbox_rows(engine, site_b)[0]["id"].hex)
