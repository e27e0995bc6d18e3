"""Which lead a CRM deal belongs to, on SQLite and PostgreSQL: Pipedrive v2 deals naming
their person by id only (resolved through the site's Pipedrive API, played by a local HTTP
server, or linked when the person becomes known), Salesforce's custom ``__c`` fields and
converted leads, and a link ordered by CRM time like every other deal field."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.api.test_leads import api, identify, visit
from tests.api.test_webhooks import (
    CRM_SETTINGS,
    PIPEDRIVE_V2_WON,
    T0,
    WON_OPPORTUNITY,
    deals,
    generic_event,
    post_generic,
    post_pipedrive,
    post_salesforce,
    salesforce_message,
    salesforce_notification,
)
from tests.factories import SiteMaker
from tracker.crm.push import drain_outbox
from tracker.leads.identity import Identity, upsert_lead
from tracker.models import CrmContact, Lead
from tracker.sites.service import CreatedSite
from tracker.worker.queue import QUEUE
from tracker.worker.runner import Worker

# Reads with connections of its own: it needs real commits.
pytestmark = pytest.mark.committed

PIPEDRIVE_TOKEN = "0123456789abcdef0123456789abcdef01234567"
PERSON_17 = {
    "id": 17,
    "name": "Ada Lovelace",
    "emails": [{"value": "ada@example.com", "primary": True, "label": "work"}],
    "phones": [],
    "update_time": "2026-10-01T08:00:00Z",
}
OPPORTUNITY_ID = "006000000000001AAA"


def make_lead(db_session: Session, site_id: int, email: str) -> uuid.UUID:
    with db_session.begin():
        lead, _ = upsert_lead(db_session, site_id, Identity(email=email), T0, "form")
        return lead.id


def person_webhook(person: dict[str, Any], event_id: str, timestamp: str) -> dict[str, Any]:
    return {
        "meta": {"action": "change", "entity": "person", "entity_id": str(person["id"]),
                 "id": event_id, "timestamp": timestamp, "version": "2.0", "attempt": 1},
        "data": person,
        "previous": {"emails": []},
    }


# --- Pipedrive v2: person_id only ---------------------------------------------------------


def queued(engine: Engine, site_id: int) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [(kind, attempts) for kind, attempts in conn.execute(
            select(QUEUE.c.kind, QUEUE.c.attempts)
            .where(QUEUE.c.site_id == site_id, QUEUE.c.kind == "crm_persons"))]


def _pipedrive_api_site(sites: SiteMaker, httpserver: HTTPServer) -> int:
    """A site taking Pipedrive webhooks, with an API connection to ``httpserver``."""
    return sites.make(
        **CRM_SETTINGS,
        pipedrive_api_token=PIPEDRIVE_TOKEN,
        pipedrive_api_url=httpserver.url_for("/").rstrip("/"),
    ).site.id


def test_a_pipedrive_person_id_is_resolved_through_the_api_connection(
    client: FlaskClient, engine: Engine, sites: SiteMaker, db_session: Session,
    httpserver: HTTPServer,
) -> None:
    site_id = _pipedrive_api_site(sites, httpserver)
    ada = make_lead(db_session, site_id, "ada@example.com")
    httpserver.expect_oneshot_request(
        "/api/v2/persons", method="GET", query_string={"ids": "17", "limit": "1"},
        headers={"x-api-token": PIPEDRIVE_TOKEN},
    ).respond_with_json({"success": True, "data": [PERSON_17]})
    another_deal = {
        **PIPEDRIVE_V2_WON,
        "meta": {**PIPEDRIVE_V2_WON["meta"], "id": "7a40ac1f-0000-0000-0000-0000000000b2"},
        "data": {**PIPEDRIVE_V2_WON["data"], "id": 99},
    }

    first = post_pipedrive(client, site_id, PIPEDRIVE_V2_WON)
    waiting = deals(engine, site_id)["8"]["lead_id"]
    asked_by_the_request = len(httpserver.log)
    Worker(engine).run_once()
    second = post_pipedrive(client, site_id, another_deal)
    Worker(engine).run_once()

    state = deals(engine, site_id)
    assert first.status_code == second.status_code == 200
    assert waiting is None and asked_by_the_request == 0  # the network is the worker's
    assert (state["8"]["lead_id"], state["8"]["status"], state["8"]["amount"]) == (
        ada, "won", decimal.Decimal("5000")
    )
    assert state["99"]["lead_id"] == ada
    httpserver.check_assertions()
    assert len(httpserver.log) == 1  # the person is known from then on: looked up once
    assert queued(engine, site_id) == []


def test_a_failing_pipedrive_api_keeps_the_lookup_queued_until_it_answers(
    client: FlaskClient, engine: Engine, sites: SiteMaker, db_session: Session,
    httpserver: HTTPServer,
) -> None:
    site_id = _pipedrive_api_site(sites, httpserver)
    ada = make_lead(db_session, site_id, "ada@example.com")
    httpserver.expect_oneshot_request("/api/v2/persons").respond_with_data("down", status=503)
    httpserver.expect_oneshot_request("/api/v2/persons").respond_with_json(
        {"success": True, "data": [PERSON_17]})

    stored = post_pipedrive(client, site_id, PIPEDRIVE_V2_WON)
    failed = Worker(engine).run_once()
    after_failure = deals(engine, site_id)["8"]["lead_id"]
    kept = queued(engine, site_id)
    Worker(engine, lookahead=dt.timedelta(hours=2)).run_once()  # past the retry delay

    assert stored.status_code == 200
    assert failed.failures == 1 and after_failure is None
    assert [(kind, attempts) for kind, attempts in kept] == [("crm_persons", 1)]
    assert deals(engine, site_id)["8"]["lead_id"] == ada
    assert queued(engine, site_id) == []


@pytest.mark.parametrize("api", ["none", "failing"])
def test_a_deal_naming_an_unknown_person_waits_and_links_when_the_person_is_known(
    client: FlaskClient, engine: Engine, sites: SiteMaker, db_session: Session,
    httpserver: HTTPServer, api: str,
) -> None:
    settings: dict[str, Any] = dict(CRM_SETTINGS)
    if api == "failing":
        settings |= {"pipedrive_api_token": PIPEDRIVE_TOKEN,
                     "pipedrive_api_url": httpserver.url_for("/").rstrip("/")}
        httpserver.expect_request("/api/v2/persons").respond_with_data("down", status=503)
    site_id = sites.make(**settings).site.id

    stored = post_pipedrive(client, site_id, PIPEDRIVE_V2_WON)
    waiting = deals(engine, site_id)["8"]["lead_id"]
    reported = post_pipedrive(
        client, site_id,
        person_webhook(PERSON_17, "5b1e0000-0000-0000-0000-000000000017", "2026-10-01T09:05:00Z"),
    )
    still_waiting = deals(engine, site_id)["8"]["lead_id"]
    ada = make_lead(db_session, site_id, "ada@example.com")

    assert stored.status_code == reported.status_code == 200
    assert waiting is None and still_waiting is None  # Ada is not a lead yet
    assert deals(engine, site_id)["8"]["lead_id"] == ada


def test_a_person_webhook_links_a_deal_waiting_for_an_existing_lead(
    client: FlaskClient, engine: Engine, sites: SiteMaker, db_session: Session
) -> None:
    site_id = sites.make(**CRM_SETTINGS).site.id
    ada = make_lead(db_session, site_id, "ada@example.com")
    post_pipedrive(client, site_id, PIPEDRIVE_V2_WON)
    assert deals(engine, site_id)["8"]["lead_id"] is None

    post_pipedrive(
        client, site_id,
        person_webhook(PERSON_17, "5b1e0000-0000-0000-0000-000000000017", "2026-10-01T09:05:00Z"),
    )

    assert deals(engine, site_id)["8"]["lead_id"] == ada


# --- Salesforce: custom fields and converted leads -------------------------------------------


@pytest.mark.parametrize(
    ("configured", "field"),
    [({}, "ContactEmail__c"), ({"contact_email": "Buyer_Email__c"}, "Buyer_Email__c")],
)
def test_salesforce_reads_the_contact_email_from_its_custom_field(
    client: FlaskClient, engine: Engine, sites: SiteMaker, db_session: Session,
    configured: dict[str, str], field: str,
) -> None:
    site_id = sites.make(**CRM_SETTINGS, salesforce_fields=configured).site.id
    ada = make_lead(db_session, site_id, "ada@example.com")
    opportunity = salesforce_notification(
        "04l000000000003AAA",
        "Opportunity",
        f"""<sf:Id>{OPPORTUNITY_ID}</sf:Id><sf:Amount>900.0</sf:Amount>
        <sf:IsClosed>true</sf:IsClosed><sf:IsWon>true</sf:IsWon>
        <sf:{field}>Ada@Example.com</sf:{field}>
        <sf:LastModifiedDate>2026-10-01T09:00:00.000Z</sf:LastModifiedDate>""",
    )

    response = post_salesforce(client, site_id, salesforce_message(opportunity))

    assert response.status_code == 200
    assert deals(engine, site_id)[OPPORTUNITY_ID]["lead_id"] == ada


def test_salesforce_field_names_are_checked_when_configured(
    runner: FlaskCliRunner, sites: SiteMaker
) -> None:
    site_id = str(sites.make().site.id)
    cases = {
        'salesforce_fields={"contact_email": "Contact Email"}':
            "settings.salesforce_fields.contact_email",
        'salesforce_fields={"owner": "Owner__c"}': "settings.salesforce_fields.owner",
    }

    for setting, field in cases.items():
        result = runner.invoke(args=["sites", "configure", site_id, "--set", setting])
        assert result.exit_code == 2 and field in result.output, (setting, result.output)


SALESFORCE_LEAD = salesforce_notification(
    "04l000000000004AAA",
    "Lead",
    """<sf:Id>00Q000000000001AAA</sf:Id><sf:Email>ada@example.com</sf:Email>
    <sf:IsConverted>false</sf:IsConverted>
    <sf:LastModifiedDate>2026-10-01T07:00:00.000Z</sf:LastModifiedDate>""",
)
# The conversion's message carries no email: only the lead record links the opportunity.
CONVERSION_WITHOUT_EMAIL = salesforce_notification(
    "04l000000000005AAA",
    "Lead",
    f"""<sf:Id>00Q000000000001AAA</sf:Id><sf:IsConverted>true</sf:IsConverted>
    <sf:ConvertedOpportunityId>{OPPORTUNITY_ID}</sf:ConvertedOpportunityId>
    <sf:LastModifiedDate>2026-10-01T08:00:00.000Z</sf:LastModifiedDate>""",
)


@pytest.mark.parametrize("order", ["lead_first", "conversion_first"])
def test_an_opportunity_is_linked_to_the_lead_it_was_converted_from(
    client: FlaskClient, engine: Engine, sites: SiteMaker, db_session: Session, order: str
) -> None:
    site_id = sites.make(**CRM_SETTINGS).site.id
    ada = make_lead(db_session, site_id, "ada@example.com")
    messages = [SALESFORCE_LEAD, WON_OPPORTUNITY, CONVERSION_WITHOUT_EMAIL]
    if order == "conversion_first":
        messages.reverse()

    for message in messages:
        assert post_salesforce(client, site_id, salesforce_message(message)).status_code == 200

    deal = deals(engine, site_id)[OPPORTUNITY_ID]
    assert (deal["lead_id"], deal["status"], deal["amount"]) == (
        ada, "won", decimal.Decimal("50000")
    )


# --- the lead link, ordered by CRM time ----------------------------------------------------


@pytest.mark.parametrize("order", ["in_order", "reversed"])
@pytest.mark.parametrize("named_by", ["email", "lead_id"])
def test_the_lead_link_follows_the_newest_crm_update_whatever_the_delivery_order(
    client: FlaskClient, engine: Engine, site: CreatedSite, db_session: Session,
    order: str, named_by: str,
) -> None:
    ada = make_lead(db_session, site.site.id, "ada@example.com")
    bob = make_lead(db_session, site.site.id, "bob@example.com")
    names = {"email": ("ada@example.com", "bob@example.com"), "lead_id": (str(ada), str(bob))}
    older = generic_event(
        "evt_1", "deal.updated", 1, amount="100", **{named_by: names[named_by][0]}
    )
    newer = generic_event("evt_2", "deal.updated", 2, **{named_by: names[named_by][1]})
    deliveries = [older, newer] if order == "in_order" else [newer, older]

    for document in deliveries:
        assert post_generic(client, site.site.id, document).status_code == 200

    assert deals(engine, site.site.id)["D-1"]["lead_id"] == bob


@pytest.fixture
def site(sites: SiteMaker) -> CreatedSite:
    return sites.make(**CRM_SETTINGS)


def test_a_person_known_on_one_site_links_nothing_on_another(
    client: FlaskClient, engine: Engine, sites: SiteMaker, db_session: Session
) -> None:
    mine = sites.make(**CRM_SETTINGS).site.id
    theirs = sites.make(**CRM_SETTINGS).site.id
    make_lead(db_session, mine, "ada@example.com")
    make_lead(db_session, theirs, "bob@example.com")
    post_pipedrive(client, theirs, PIPEDRIVE_V2_WON)

    post_pipedrive(
        client, mine,
        person_webhook(PERSON_17, "5b1e0000-0000-0000-0000-000000000017", "2026-10-01T09:05:00Z"),
    )

    assert deals(engine, theirs)["8"]["lead_id"] is None
    with Session(engine) as session:
        assert session.scalars(select(CrmContact.site_id)).all() == [mine]


def test_a_deal_waiting_for_its_person_links_when_we_push_the_lead_into_it(
    client: FlaskClient, engine: Engine, sites: SiteMaker, httpserver: HTTPServer
) -> None:
    site = sites.make(
        **CRM_SETTINGS,
        crm_push=["pipedrive"],
        pipedrive_api_token=PIPEDRIVE_TOKEN,
        pipedrive_api_url=httpserver.url_for("/").rstrip("/"),
    )
    site_id = site.site.id
    won_by_77 = {**PIPEDRIVE_V2_WON, "data": {**PIPEDRIVE_V2_WON["data"], "person_id": 77}}
    # Person 77 is not visible to the token yet (the API lists no such person).
    httpserver.expect_oneshot_request("/api/v2/persons").respond_with_json(
        {"success": True, "data": []}
    )
    post_pipedrive(client, site_id, won_by_77)
    visit(client, site, "visitor-ada", "https://example.com/", 5)
    identify(client, site, "visitor-ada", "ada@example.com", name="Ada Lovelace")
    httpserver.expect_oneshot_request("/api/v2/persons/search").respond_with_json(
        {"success": True, "data": {"items": [{"item": {"id": 77}}]}}
    )
    httpserver.expect_oneshot_request("/api/v2/persons/77", method="GET").respond_with_json(
        {"success": True, "data": {"id": 77}}
    )
    waiting = deals(engine, site_id)["8"]["lead_id"]

    drained = drain_outbox(engine, site_id=site_id)

    with Session(engine) as session:
        ada = session.scalars(select(Lead.id).where(Lead.site_id == site_id)).one()
    assert waiting is None and drained.sent == 1
    assert deals(engine, site_id)["8"]["lead_id"] == ada
    httpserver.check_assertions()


def test_erasing_a_person_forgets_what_crms_said_of_them(
    client: FlaskClient, engine: Engine, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make(**CRM_SETTINGS)
    make_lead(db_session, site.site.id, "ada@example.com")
    post_pipedrive(
        client, site.site.id,
        person_webhook(PERSON_17, "5b1e0000-0000-0000-0000-000000000017", "2026-10-01T09:05:00Z"),
    )

    erased = api(client, site, "POST", "/api/v1/gdpr/erase", {"email": "ada@example.com"})

    assert erased.status_code == 200
    with Session(engine) as session:
        assert session.scalars(select(CrmContact)).all() == []


def deal_webhook(deal: dict[str, Any], event_id: str, timestamp: str) -> dict[str, Any]:
    return {"meta": {**PIPEDRIVE_V2_WON["meta"], "id": event_id, "timestamp": timestamp},
            "data": deal, "previous": {}}


PERSON_16_ADA = {**PIPEDRIVE_V2_WON["data"], "person_id": 16, "person_email": "ada@example.com"}
PERSON_17_ONLY = {**PIPEDRIVE_V2_WON["data"], "person_id": 17}
BOB_17 = {**PERSON_17, "emails": [{"value": "bob@example.com", "primary": True}]}


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["ada_deal", "person_17_deal", "person_17_is_bob"]))
)
def test_a_deal_handed_to_a_person_known_later_follows_them_in_any_delivery_order(
    client: FlaskClient, engine: Engine, site: CreatedSite, db_session: Session,
    order: tuple[str, ...],
) -> None:
    # 09:00 the deal is Ada's; 09:10 it is handed to person 17, whom a later person webhook
    # shows to be Bob. Whatever the order they arrive in, the deal ends up Bob's.
    make_lead(db_session, site.site.id, "ada@example.com")
    bob = make_lead(db_session, site.site.id, "bob@example.com")
    deliveries = {
        "ada_deal": deal_webhook(PERSON_16_ADA, "e1000000-0000-0000-0000-0000000000a1",
                                 "2026-10-01T09:00:00Z"),
        "person_17_deal": deal_webhook(PERSON_17_ONLY, "e1000000-0000-0000-0000-0000000000a2",
                                       "2026-10-01T09:10:00Z"),
        "person_17_is_bob": person_webhook(
            BOB_17, "e1000000-0000-0000-0000-0000000000a3", "2026-10-01T09:20:00Z"
        ),
    }

    for name in order:
        assert post_pipedrive(client, site.site.id, deliveries[name]).status_code == 200

    assert deals(engine, site.site.id)["8"]["lead_id"] == bob
