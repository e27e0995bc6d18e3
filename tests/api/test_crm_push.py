"""Pushing leads onto CRM contacts through the outbox, on SQLite and PostgreSQL, with
HubSpot's and Pipedrive's APIs played by a local HTTP server: the exact requests, an outage
that loses nothing, failures that need an operator, tenancy and erasure."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.api.test_calls import SECRET as CALL_SECRET
from tests.api.test_calls import api as call_api
from tests.api.test_calls import generic_call
from tests.api.test_leads import api, identify, visit
from tests.factories import SiteMaker
from tracker.crm.push import drain_outbox
from tracker.models import CrmOutbox, Lead, VisitSession
from tracker.models.base import utcnow
from tracker.sites.service import CreatedSite

HUBSPOT_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
PIPEDRIVE_TOKEN = "0123456789abcdef0123456789abcdef01234567"
HUBSPOT_AUTH = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
PIPEDRIVE_AUTH = {"x-api-token": PIPEDRIVE_TOKEN}
PERSON_FIELDS = {"lead_id": "a1b2c3lead", "first_channel": "a1b2c3chan", "stage": "a1b2c3stage"}
LANDING = "https://example.com/?utm_source=google&utm_medium=cpc&utm_campaign=spring&utm_term=crm"
SEARCH_ADA = {
    "filterGroups": [
        {"filters": [{"propertyName": "email", "operator": "EQ", "value": "ada@example.com"}]}
    ],
    "properties": ["email"],
    "limit": 1,
}
PERSON_SEARCH = {"term": "ada@example.com", "fields": "email", "exact_match": "true", "limit": "1"}


def base_url(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")


@pytest.fixture
def site(sites: SiteMaker, httpserver: HTTPServer) -> CreatedSite:
    return sites.make(
        crm_push=["hubspot", "pipedrive"],
        hubspot_api_token=HUBSPOT_TOKEN,
        hubspot_api_url=base_url(httpserver),
        pipedrive_api_token=PIPEDRIVE_TOKEN,
        pipedrive_api_url=base_url(httpserver),
        pipedrive_person_fields=PERSON_FIELDS,
    )


def make_ada(client: FlaskClient, site: CreatedSite) -> None:
    visit(client, site, "visitor-ada", LANDING, 5)
    response = identify(client, site, "visitor-ada", "ada@example.com", name="Ada Lovelace")
    assert response.status_code == 200, response.json


def outbox(engine: Engine, site_id: int | None = None) -> list[dict[str, Any]]:
    with Session(engine) as session:
        query = select(CrmOutbox).order_by(CrmOutbox.created_at, CrmOutbox.provider)
        if site_id is not None:
            query = query.where(CrmOutbox.site_id == site_id)
        return [
            {
                "provider": row.provider,
                "reason": row.reason,
                "status": row.status,
                "attempts": row.attempts,
                "error": row.error,
                "external_id": row.external_id,
                "next_attempt_at": row.next_attempt_at,
            }
            for row in session.scalars(query)
        ]


def lead_of(engine: Engine, site_id: int) -> tuple[Lead, VisitSession]:
    with Session(engine) as session:
        lead = session.scalars(select(Lead).where(Lead.site_id == site_id)).one()
        first = session.get(VisitSession, (site_id, lead.first_session_id))
        assert first is not None
        return lead, first


def hubspot_properties(lead: Lead, first: VisitSession, stage: str) -> dict[str, str]:
    return {
        "leadtrail_lead_id": str(lead.id),
        "leadtrail_stage": stage,
        "leadtrail_score": str(lead.score),
        "leadtrail_first_channel": "Paid Search",
        "leadtrail_first_source": "google",
        "leadtrail_first_campaign": "spring",
        "leadtrail_first_keyword": "crm",
        "leadtrail_lead_channel": "Paid Search",
        "leadtrail_landing_page": first.landing_url or "",
    }


def expect_first_delivery(server: HTTPServer, lead: Lead, first: VisitSession) -> None:
    """Both CRMs know nobody with Ada's email: each searches, then creates the contact."""
    server.expect_oneshot_request(
        "/crm/v3/objects/contacts/search", method="POST", json=SEARCH_ADA, headers=HUBSPOT_AUTH
    ).respond_with_json({"total": 0, "results": []})
    server.expect_oneshot_request(
        "/crm/v3/objects/contacts",
        method="POST",
        headers=HUBSPOT_AUTH,
        json={
            "properties": {
                "email": "ada@example.com",
                "firstname": "Ada",
                "lastname": "Lovelace",
                **hubspot_properties(lead, first, "lead"),
            }
        },
    ).respond_with_json({"id": "501", "properties": {}}, status=201)
    server.expect_oneshot_request(
        "/api/v2/persons/search", method="GET", query_string=PERSON_SEARCH, headers=PIPEDRIVE_AUTH
    ).respond_with_json({"success": True, "data": {"items": []}})
    server.expect_oneshot_request(
        "/api/v2/persons",
        method="POST",
        headers=PIPEDRIVE_AUTH,
        json={
            "name": "Ada Lovelace",
            "emails": [{"value": "ada@example.com", "primary": True, "label": "work"}],
            "custom_fields": {
                "a1b2c3lead": str(lead.id),
                "a1b2c3chan": "Paid Search",
                "a1b2c3stage": "lead",
            },
        },
    ).respond_with_json({"success": True, "data": {"id": 77}}, status=201)


def test_a_new_lead_is_queued_in_its_transaction_and_pushed_with_its_touches(
    client: FlaskClient, engine: Engine, site: CreatedSite, httpserver: HTTPServer
) -> None:
    make_ada(client, site)
    queued = outbox(engine)
    lead, first = lead_of(engine, site.site.id)
    expect_first_delivery(httpserver, lead, first)

    result = drain_outbox(engine, sleep=lambda _: None)

    httpserver.check_assertions()
    assert not httpserver.oneshot_handlers  # every expected request came, exactly once
    assert [(row["provider"], row["reason"], row["status"]) for row in queued] == [
        ("hubspot", "created", "pending"),
        ("pipedrive", "created", "pending"),
    ]
    assert (result.sent, result.retrying, result.failed) == (2, 0, 0)
    assert {
        (r["provider"], r["status"], r["attempts"], r["external_id"]) for r in outbox(engine)
    } == {
        ("hubspot", "sent", 1, "501"),
        ("pipedrive", "sent", 1, "77"),
    }
    assert lead_of(engine, site.site.id)[0].crm_ids == {"hubspot": "501", "pipedrive": "77"}
    assert first.landing_url and first.landing_url.startswith("https://example.com/")


def test_a_stage_change_updates_the_known_contacts_directly(
    client: FlaskClient, engine: Engine, site: CreatedSite, httpserver: HTTPServer
) -> None:
    make_ada(client, site)
    lead, first = lead_of(engine, site.site.id)
    expect_first_delivery(httpserver, lead, first)
    drain_outbox(engine, sleep=lambda _: None)
    httpserver.clear()

    changed = api(client, site, "POST", f"/api/v1/leads/{lead.id}/stage", {"stage": "sql"})
    lead, first = lead_of(engine, site.site.id)
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/501",
        method="PATCH",
        headers=HUBSPOT_AUTH,
        json={"properties": hubspot_properties(lead, first, "sql")},
    ).respond_with_json({"id": "501"})
    httpserver.expect_oneshot_request(
        "/api/v2/persons/77",
        method="PATCH",
        headers=PIPEDRIVE_AUTH,
        json={
            "custom_fields": {
                "a1b2c3lead": str(lead.id),
                "a1b2c3chan": "Paid Search",
                "a1b2c3stage": "sql",
            }
        },
    ).respond_with_json({"success": True, "data": {"id": 77}})

    result = drain_outbox(engine, sleep=lambda _: None)

    assert changed.status_code == 200
    httpserver.check_assertions()
    assert not httpserver.oneshot_handlers
    assert len(httpserver.log) == 2  # no search: the contact ids were kept on the lead
    assert result.sent == 2
    assert [r["reason"] for r in outbox(engine)] == ["created", "created", "stage", "stage"]


def test_an_outage_keeps_rows_queued_with_backoff_and_a_later_drain_delivers_them(
    client: FlaskClient, engine: Engine, site: CreatedSite, httpserver: HTTPServer
) -> None:
    make_ada(client, site)
    lead, first = lead_of(engine, site.site.id)
    httpserver.expect_request("/crm/v3/objects/contacts/search").respond_with_json(
        {"message": "internal error"}, status=500
    )
    httpserver.expect_request("/api/v2/persons/search").respond_with_json(
        {"success": False, "error": "Service unavailable"}, status=503
    )
    sleeps: list[float] = []
    now = utcnow()

    down = drain_outbox(engine, now=now, sleep=sleeps.append)
    rows = outbox(engine)
    again = drain_outbox(engine, now=now + dt.timedelta(seconds=30), sleep=sleeps.append)

    assert (down.sent, down.retrying, down.failed) == (0, 2, 0)
    assert sleeps == [1.0, 2.0, 4.0, 8.0] * 2  # each call retried inside the drain
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 1)] * 2
    assert {r["error"] for r in rows} == {
        "HTTP 500: internal error",
        "HTTP 503: Service unavailable",
    }
    assert {r["next_attempt_at"] for r in rows} == {now + dt.timedelta(minutes=1)}
    assert (again.sent, again.retrying, again.failed) == (0, 0, 0)  # not due yet

    httpserver.clear()
    expect_first_delivery(httpserver, lead, first)
    later = drain_outbox(engine, now=now + dt.timedelta(minutes=2), sleep=sleeps.append)

    httpserver.check_assertions()
    assert (later.sent, later.retrying, later.failed) == (2, 0, 0)
    assert [(r["status"], r["attempts"], r["error"]) for r in outbox(engine)] == [
        ("sent", 2, None)
    ] * 2


def test_a_refusal_fails_for_good_and_the_command_requeues_after_a_fix(
    client: FlaskClient,
    engine: Engine,
    runner: FlaskCliRunner,
    sites: SiteMaker,
    httpserver: HTTPServer,
) -> None:
    site = sites.make(
        crm_push=["hubspot"], hubspot_api_token=HUBSPOT_TOKEN, hubspot_api_url=base_url(httpserver)
    )
    make_ada(client, site)
    httpserver.expect_oneshot_request("/crm/v3/objects/contacts/search").respond_with_json(
        {"status": "error", "message": "Authentication credentials not found."}, status=401
    )

    refused = runner.invoke(args=["crm", "push", "--site", str(site.site.id)])

    assert refused.exit_code == 1, refused.output
    assert "0 sent, 0 to retry, 1 failed" in refused.output
    assert [(r["status"], r["error"]) for r in outbox(engine)] == [
        ("failed", "HTTP 401: Authentication credentials not found.")
    ]
    httpserver.expect_oneshot_request("/crm/v3/objects/contacts/search").respond_with_json(
        {"total": 1, "results": [{"id": "888", "properties": {"email": "ada@example.com"}}]}
    )
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/888", method="PATCH"
    ).respond_with_json({"id": "888"})

    fixed = runner.invoke(args=["crm", "push", "--site", str(site.site.id), "--retry-failed"])

    assert fixed.exit_code == 0, fixed.output
    assert "requeued 1 failed row(s)" in fixed.output
    assert "1 sent, 0 to retry, 0 failed; outbox: 0 pending, 0 failed" in fixed.output
    assert [(r["status"], r["external_id"]) for r in outbox(engine)] == [("sent", "888")]


def test_a_create_that_races_another_updates_the_existing_contact(
    client: FlaskClient, engine: Engine, sites: SiteMaker, httpserver: HTTPServer
) -> None:
    site = sites.make(
        crm_push=["hubspot"], hubspot_api_token=HUBSPOT_TOKEN, hubspot_api_url=base_url(httpserver)
    )
    make_ada(client, site)
    httpserver.expect_oneshot_request("/crm/v3/objects/contacts/search").respond_with_json(
        {"total": 0, "results": []}
    )
    httpserver.expect_oneshot_request("/crm/v3/objects/contacts", method="POST").respond_with_json(
        {
            "status": "error",
            "message": "Contact already exists. Existing ID: 4242",
            "category": "CONFLICT",
        },
        status=409,
    )
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/4242", method="PATCH"
    ).respond_with_json({"id": "4242"})

    drain_outbox(engine, sleep=lambda _: None)

    httpserver.check_assertions()
    assert not httpserver.oneshot_handlers
    assert [(r["status"], r["external_id"]) for r in outbox(engine)] == [("sent", "4242")]


def test_a_site_that_does_not_push_queues_nothing(
    client: FlaskClient, engine: Engine, sites: SiteMaker
) -> None:
    make_ada(client, sites.make())

    assert outbox(engine) == []


def test_a_site_not_connected_fails_its_rows_naming_the_setting(
    client: FlaskClient, engine: Engine, sites: SiteMaker
) -> None:
    make_ada(client, sites.make(crm_push=["pipedrive"]))

    result = drain_outbox(engine)

    assert result.failed == 1
    assert outbox(engine)[0]["error"].startswith("pipedrive_api_token is not set")


def test_a_drain_for_one_site_never_delivers_anothers_rows(
    client: FlaskClient,
    engine: Engine,
    sites: SiteMaker,
    httpserver: HTTPServer,
) -> None:
    settings = {
        "crm_push": ["hubspot"],
        "hubspot_api_token": HUBSPOT_TOKEN,
        "hubspot_api_url": base_url(httpserver),
    }
    mine, theirs = sites.make(**settings), sites.make(**settings)
    make_ada(client, mine)
    make_ada(client, theirs)
    httpserver.expect_request("/crm/v3/objects/contacts/search").respond_with_json(
        {"total": 1, "results": [{"id": "1"}]}
    )
    httpserver.expect_request("/crm/v3/objects/contacts/1", method="PATCH").respond_with_json({})

    drain_outbox(engine, site_id=mine.site.id)

    assert [r["status"] for r in outbox(engine, mine.site.id)] == ["sent"]
    assert [r["status"] for r in outbox(engine, theirs.site.id)] == ["pending"]


def test_erasing_a_person_removes_their_queued_pushes(
    client: FlaskClient, engine: Engine, site: CreatedSite
) -> None:
    make_ada(client, site)

    erased = api(client, site, "POST", "/api/v1/gdpr/erase", {"email": "ada@example.com"})

    assert erased.status_code == 200
    assert outbox(engine) == []


def test_rows_of_a_lead_that_is_gone_fail_instead_of_recreating_it(
    engine: Engine, site: CreatedSite
) -> None:
    now = utcnow()
    with Session(engine) as session, session.begin():
        session.add(
            CrmOutbox(
                site_id=site.site.id,
                id=uuid.uuid4(),
                provider="hubspot",
                lead_id=uuid.uuid4(),
                reason="created",
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )

    result = drain_outbox(engine, now=now)

    assert result.failed == 1
    assert outbox(engine)[0]["error"] == "the lead no longer exists"


def test_a_caller_known_only_by_phone_is_found_and_created_by_phone(
    client: FlaskClient, engine: Engine, site: CreatedSite, httpserver: HTTPServer
) -> None:
    """Never the lead's placeholder address (``…@phone.invalid``): HubSpot would refuse it
    and Pipedrive would keep it as a real one."""
    config = {"default_number": "+1 415 555 0100", "generic_secrets": [CALL_SECRET]}
    assert call_api(client, site, "PUT", "/api/v1/calls/config", config).status_code == 200
    answered = generic_call(client, site, called="+14155550100", caller="+1 650 555 0199")
    assert answered.json["status"] == "applied" and answered.json["lead_id"]
    by_phone = {"propertyName": "phone", "operator": "EQ", "value": "+16505550199"}
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/search", method="POST", headers=HUBSPOT_AUTH,
        json={"filterGroups": [{"filters": [by_phone]}], "properties": ["phone"], "limit": 1},
    ).respond_with_json({"total": 0, "results": []})
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts", method="POST", headers=HUBSPOT_AUTH,
    ).respond_with_json({"id": "601", "properties": {}}, status=201)
    httpserver.expect_oneshot_request(
        "/api/v2/persons/search", method="GET", headers=PIPEDRIVE_AUTH, query_string={
            "term": "+16505550199", "fields": "phone", "exact_match": "true", "limit": "1"},
    ).respond_with_json({"success": True, "data": {"items": []}})
    httpserver.expect_oneshot_request(
        "/api/v2/persons", method="POST", headers=PIPEDRIVE_AUTH,
    ).respond_with_json({"success": True, "data": {"id": 88}}, status=201)

    result = drain_outbox(engine, sleep=lambda _: None)

    httpserver.check_assertions()
    assert not httpserver.oneshot_handlers
    assert (result.sent, result.failed) == (2, 0)
    created = {request.path: request.get_json() for request, _ in httpserver.log
               if request.method == "POST" and not request.path.endswith("/search")}
    contact = created["/crm/v3/objects/contacts"]["properties"]
    assert contact["phone"] == "+16505550199" and "email" not in contact
    assert contact["leadtrail_lead_id"] == answered.json["lead_id"]
    person = created["/api/v2/persons"]
    assert person["name"] == "+16505550199" and "emails" not in person
    assert person["phones"] == [{"value": "+16505550199", "primary": True, "label": "work"}]
    assert "phone.invalid" not in str(httpserver.log)
