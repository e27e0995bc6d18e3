"""``crm sync`` against each CRM's REST API played by a local HTTP server (pytest-httpserver),
on SQLite and PostgreSQL: exact requests, paging, a 429 with Retry-After and a 500 on the way,
resuming after an interruption, and every deal applied once — also when it came by webhook.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any

import pytest
from flask.testing import FlaskCliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug import Response

from crm_sync.errors import ApiError
from crm_sync.providers import hubspot
from tests.api.test_webhooks import (
    HUBSPOT_SECRET,
    PIPEDRIVE_PASSWORD,
    PIPEDRIVE_USER,
    PIPEDRIVE_V2_WON,
    hubspot_change,
    post_hubspot,
    post_pipedrive,
)
from tests.api.test_webhooks import deals as deal_states
from tests.factories import SiteMaker
from tracker.crm.pull import PageSynced, sync_deals
from tracker.errors import ValidationError
from tracker.leads.identity import Identity, upsert_lead
from tracker.models import CrmCheckpoint, CrmEvent, Deal
from tracker.sites.service import CreatedSite

HUBSPOT_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
PIPEDRIVE_TOKEN = "0123456789abcdef0123456789abcdef01234567"
SALESFORCE_TOKEN = "00D000000000001!AQ4AQFakeSessionTokenForTests0123456789"
T0 = dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)
SEARCH = "/crm/v3/objects/deals/search"
ASSOCIATIONS = "/crm/v4/associations/deals/contacts/batch/read"
CONTACTS = "/crm/v3/objects/contacts/batch/read"


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def millis(moment: dt.datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def base_url(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")


def run(engine: Engine, site_id: int, provider: str, **kwargs: Any) -> list[PageSynced]:
    return list(sync_deals(engine, site_id, provider, **kwargs))


def inbox(engine: Engine, site_id: int) -> list[tuple[str, str, str, int]]:
    with Session(engine) as session:
        rows = session.execute(
            select(CrmEvent.source, CrmEvent.delivery_key, CrmEvent.status, CrmEvent.attempts)
            .where(CrmEvent.site_id == site_id)
            .order_by(CrmEvent.delivery_key)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def won_amounts(engine: Engine, site_id: int) -> dict[str, decimal.Decimal | None]:
    """The amount of each won deal that is not deleted, by its CRM id."""
    with Session(engine) as session:
        found = session.scalars(
            select(Deal).where(Deal.site_id == site_id, Deal.status == "won", ~Deal.deleted)
        )
        return {deal.external_id: deal.amount for deal in found}


def make_lead(engine: Engine, site_id: int, email: str) -> str:
    with Session(engine) as session, session.begin():
        lead, _ = upsert_lead(session, site_id, Identity(email=email), T0, "form")
        return str(lead.id)


def unavailable(status: int = 500) -> Response:
    return Response('{"message": "unavailable"}', status=status, content_type="application/json")


# --- HubSpot ---------------------------------------------------------------------------------


def hubspot_deal(deal_id: str, at: dt.datetime, amount: str, stage: str = "closedwon") -> dict:
    won = "true" if stage == "closedwon" else "false"
    closed = "true" if stage in ("closedwon", "closedlost") else "false"
    return {
        "id": deal_id,
        "properties": {
            "dealname": f"Deal {deal_id}",
            "amount": amount,
            "deal_currency_code": "EUR",
            "dealstage": stage,
            "closedate": iso(at),
            "createdate": iso(T0 - dt.timedelta(days=30)),
            "hs_is_closed": closed,
            "hs_is_closed_won": won,
            "hubspot_owner_id": "77",
            "hs_lastmodifieddate": iso(at),
            "leadtrail_lead_id": None,
        },
        "createdAt": iso(T0 - dt.timedelta(days=30)),
        "updatedAt": iso(at),
        "archived": False,
    }


def search_body(since: dt.datetime | None = None, after: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": list(hubspot.DEAL_PROPERTIES),
        "limit": 200,
    }
    if since is not None:
        filters = [
            {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": millis(since)}
        ]
        body["filterGroups"] = [{"filters": filters}]
    if after is not None:
        body["after"] = after
    return body


def search_page(results: list[dict], after: str | None, total: int) -> dict[str, Any]:
    page: dict[str, Any] = {"total": total, "results": results}
    if after is not None:
        page["paging"] = {"next": {"after": after, "link": f"https://api.hubapi.com?after={after}"}}
    return page


HUBSPOT_AUTH = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}


def expect_hubspot_page(
    server: HTTPServer,
    body: dict[str, Any],
    answer: dict[str, Any],
    contacts: dict[str, list[tuple[str, str]]],
) -> None:
    """The search, then the association and contact batch reads its deals cause."""
    server.expect_ordered_request(
        SEARCH, method="POST", json=body, headers=HUBSPOT_AUTH
    ).respond_with_json(answer)
    ids = [deal["id"] for deal in answer["results"]]
    if not ids:
        return
    server.expect_ordered_request(
        ASSOCIATIONS, method="POST", json={"inputs": [{"id": i} for i in ids]}, headers=HUBSPOT_AUTH
    ).respond_with_json(
        {
            "status": "COMPLETE",
            "results": [
                {
                    "from": {"id": deal_id},
                    "to": [
                        {"toObjectId": int(cid), "associationTypes": [{"typeId": 3}]}
                        for cid, _ in people
                    ],
                }
                for deal_id, people in contacts.items()
            ],
        }
    )
    people = sorted({person for found in contacts.values() for person in found})
    if people:
        server.expect_ordered_request(
            CONTACTS,
            method="POST",
            json={"properties": ["email", "phone"], "inputs": [{"id": cid} for cid, _ in people]},
            headers=HUBSPOT_AUTH,
        ).respond_with_json(
            {
                "status": "COMPLETE",
                "results": [{"id": cid, "properties": {"email": mail}} for cid, mail in people],
            }
        )


@pytest.fixture
def hubspot_site(sites: SiteMaker, httpserver: HTTPServer) -> CreatedSite:
    return sites.make(
        hubspot_api_token=HUBSPOT_TOKEN,
        hubspot_api_url=base_url(httpserver),
        hubspot_secrets=[HUBSPOT_SECRET],
    )


def test_hubspot_pages_through_a_429_and_a_500_resumes_after_an_interruption_and_applies_once(
    engine: Engine, hubspot_site: CreatedSite, httpserver: HTTPServer
) -> None:
    site_id = hubspot_site.site.id
    lead_id = make_lead(engine, site_id, "ada@example.com")
    sleeps: list[float] = []
    ada = [("900", "ada@example.com")]
    # First run: page 1; page 2 after a 429 (Retry-After: 3) and a 500; page 3 keeps failing.
    expect_hubspot_page(
        httpserver,
        search_body(),
        search_page(
            [
                hubspot_deal("101", minutes(1), "1000"),
                hubspot_deal("102", minutes(2), "9", "qualifiedtobuy"),
            ],
            "2",
            5,
        ),
        {"101": ada, "102": []},
    )
    httpserver.expect_ordered_request(
        SEARCH, method="POST", json=search_body(after="2")
    ).respond_with_response(Response("", status=429, headers={"Retry-After": "3"}))
    httpserver.expect_ordered_request(
        SEARCH, method="POST", json=search_body(after="2")
    ).respond_with_response(unavailable(500))
    expect_hubspot_page(
        httpserver,
        search_body(after="2"),
        search_page([hubspot_deal("103", minutes(3), "500")], "3", 5),
        {"103": []},
    )
    httpserver.expect_request(
        SEARCH, method="POST", json=search_body(after="3")
    ).respond_with_response(unavailable(503))

    pages: list[PageSynced] = []
    with pytest.raises(ApiError) as stopped:
        for page in sync_deals(engine, site_id, "hubspot", sleep=sleeps.append):
            pages.append(page)

    assert stopped.value.status == 503
    # Retry-After, then 1 s doubling per failed try of one call (the 429 counts as one).
    assert sleeps == [3.0, 2.0, 1.0, 2.0, 4.0, 8.0]
    assert [(p.deals, p.stored, p.applied, p.failed, p.total) for p in pages] == [
        (2, 2, 2, 0, 5),
        (1, 1, 1, 0, 5),
    ]
    assert pages[-1].checkpoint == minutes(3)
    httpserver.check_assertions()

    # Second run: from the checkpoint less the overlap; two versions come again, one is new.
    httpserver.clear()
    expect_hubspot_page(
        httpserver,
        search_body(since=minutes(1)),
        search_page(
            [
                hubspot_deal("101", minutes(1), "1000"),
                hubspot_deal("103", minutes(3), "500"),
                hubspot_deal("104", minutes(4), "250"),
            ],
            None,
            3,
        ),
        {"101": ada, "103": [], "104": []},
    )

    resumed = run(engine, site_id, "hubspot", sleep=sleeps.append)

    httpserver.check_assertions()
    assert [(p.deals, p.stored, p.applied) for p in resumed] == [(3, 1, 1)]
    rows = inbox(engine, site_id)
    assert len(rows) == 4  # one row per deal version, whatever the repeats
    assert {(source, status, attempts) for source, _, status, attempts in rows} == {
        ("pull", "applied", 1)
    }
    state = deal_states(engine, site_id)
    assert {key: d["status"] for key, d in state.items()} == {
        "101": "won", "102": "open", "103": "won", "104": "won"
    }
    assert str(state["101"]["lead_id"]) == lead_id
    assert won_amounts(engine, site_id) == {
        "101": decimal.Decimal("1000"),
        "103": decimal.Decimal("500"),
        "104": decimal.Decimal("250"),
    }
    with Session(engine) as session:
        mark = session.get(CrmCheckpoint, (site_id, "hubspot"))
        assert mark is not None
        assert (mark.since, mark.pages, mark.deals) == (minutes(4), 3, 6)


def test_a_deal_seen_by_webhook_and_by_pull_counts_once(
    client: Any, engine: Engine, hubspot_site: CreatedSite, httpserver: HTTPServer
) -> None:
    site_id = hubspot_site.site.id
    post_hubspot(
        client,
        site_id,
        [hubspot_change(1, 0, "amount", "2500"), hubspot_change(2, 1, "dealstage", "closedwon")],
    )
    expect_hubspot_page(
        httpserver,
        search_body(),
        search_page([hubspot_deal("123", T0 + dt.timedelta(hours=1), "2500")], None, 1),
        {},
    )

    run(engine, site_id, "hubspot", sleep=lambda _: None)

    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Deal)) == 1
    assert won_amounts(engine, site_id) == {"123": decimal.Decimal("2500")}
    assert sorted(source for source, *_ in inbox(engine, site_id)) == ["pull", "webhook"]
    assert deal_states(engine, site_id)["123"]["currency"] == "EUR"


def test_a_newer_webhook_is_not_undone_by_an_older_pulled_version(
    client: Any, engine: Engine, hubspot_site: CreatedSite, httpserver: HTTPServer
) -> None:
    site_id = hubspot_site.site.id
    post_hubspot(client, site_id, [hubspot_change(1, 3, "amount", "4000")])  # at T0 + 3 h
    expect_hubspot_page(
        httpserver,
        search_body(),
        search_page([hubspot_deal("123", T0 + dt.timedelta(hours=1), "2500")], None, 1),
        {},
    )

    run(engine, site_id, "hubspot", sleep=lambda _: None)

    state = deal_states(engine, site_id)["123"]
    assert (state["status"], state["amount"]) == ("won", decimal.Decimal("4000"))


def test_sync_refuses_a_crm_that_is_not_connected(engine: Engine, sites: SiteMaker) -> None:
    site_id = sites.make().site.id

    with pytest.raises(ValidationError, match="hubspot_api_token is not set"):
        run(engine, site_id, "hubspot")


# --- Pipedrive -------------------------------------------------------------------------------

PIPEDRIVE_AUTH = {"x-api-token": PIPEDRIVE_TOKEN}


def pipedrive_deal(deal_id: int, at: dt.datetime, value: int, status: str = "won") -> dict:
    return {
        "id": deal_id,
        "title": f"Deal {deal_id}",
        "value": value,
        "currency": "EUR",
        "status": status,
        "stage_id": 3,
        "owner_id": 222,
        "person_id": 17 if deal_id == 8 else None,
        "add_time": "2026-09-01T08:00:00Z",
        "update_time": at.isoformat().replace("+00:00", "Z"),
        "won_time": at.isoformat().replace("+00:00", "Z") if status == "won" else None,
        "is_deleted": False,
    }


def deals_query(**extra: str) -> dict[str, str]:
    return {"sort_by": "update_time", "sort_direction": "asc", "limit": "500", **extra}


def test_pipedrive_follows_the_cursor_through_a_429_and_a_500(
    engine: Engine, sites: SiteMaker, httpserver: HTTPServer
) -> None:
    site_id = sites.make(
        pipedrive_api_token=PIPEDRIVE_TOKEN, pipedrive_api_url=base_url(httpserver)
    ).site.id
    lead_id = make_lead(engine, site_id, "ada@example.com")
    sleeps: list[float] = []
    httpserver.expect_ordered_request(
        "/api/v2/deals", method="GET", query_string=deals_query(), headers=PIPEDRIVE_AUTH
    ).respond_with_json(
        {
            "success": True,
            "data": [pipedrive_deal(8, minutes(1), 5000), pipedrive_deal(9, minutes(2), 0, "open")],
            "additional_data": {"next_cursor": "eyJpZCI6OX0"},
        }
    )
    httpserver.expect_ordered_request(
        "/api/v2/persons",
        method="GET",
        query_string={"ids": "17", "limit": "1"},
        headers=PIPEDRIVE_AUTH,
    ).respond_with_json(
        {
            "success": True,
            "data": [
                {"id": 17, "name": "Ada", "emails": [{"value": "ada@example.com", "primary": True}]}
            ],
        }
    )
    page_two = deals_query(cursor="eyJpZCI6OX0")
    httpserver.expect_ordered_request("/api/v2/deals", query_string=page_two).respond_with_response(
        Response("", status=429, headers={"Retry-After": "2"})
    )
    httpserver.expect_ordered_request("/api/v2/deals", query_string=page_two).respond_with_response(
        unavailable(502)
    )
    httpserver.expect_ordered_request(
        "/api/v2/deals", query_string=page_two, headers=PIPEDRIVE_AUTH
    ).respond_with_json(
        {
            "success": True,
            "data": [pipedrive_deal(10, minutes(3), 700)],
            "additional_data": {"next_cursor": None},
        }
    )

    pages = run(engine, site_id, "pipedrive", sleep=sleeps.append)

    httpserver.check_assertions()
    assert sleeps == [2.0, 2.0]
    assert [(p.deals, p.stored, p.applied) for p in pages] == [(2, 2, 2), (1, 1, 1)]
    state = deal_states(engine, site_id)
    assert {key: d["status"] for key, d in state.items()} == {
        "8": "won", "9": "open", "10": "won"
    }
    assert won_amounts(engine, site_id) == {
        "8": decimal.Decimal("5000"), "10": decimal.Decimal("700")
    }
    assert str(state["8"]["lead_id"]) == lead_id

    # The next run asks only for what changed since the checkpoint, less the overlap.
    httpserver.clear()
    httpserver.expect_ordered_request(
        "/api/v2/deals",
        query_string=deals_query(updated_since="2026-10-01T09:01:00Z"),
        headers=PIPEDRIVE_AUTH,
    ).respond_with_json({"success": True, "data": [], "additional_data": {"next_cursor": None}})

    assert [(p.deals, p.stored) for p in run(engine, site_id, "pipedrive")] == [(0, 0)]
    httpserver.check_assertions()


def test_a_pipedrive_deal_seen_by_webhook_and_by_pull_counts_once(
    client: Any, engine: Engine, sites: SiteMaker, httpserver: HTTPServer
) -> None:
    site_id = sites.make(
        pipedrive_api_token=PIPEDRIVE_TOKEN,
        pipedrive_api_url=base_url(httpserver),
        pipedrive_username=PIPEDRIVE_USER,
        pipedrive_password=PIPEDRIVE_PASSWORD,
    ).site.id
    assert post_pipedrive(client, site_id, PIPEDRIVE_V2_WON).status_code == 200  # deal 8, T0
    httpserver.expect_request("/api/v2/deals").respond_with_json(
        {"success": True, "data": [pipedrive_deal(8, T0, 5000)], "additional_data": {}}
    )
    httpserver.expect_request("/api/v2/persons").respond_with_json({"success": True, "data": []})

    run(engine, site_id, "pipedrive")

    assert won_amounts(engine, site_id) == {"8": decimal.Decimal("5000")}
    assert len(deal_states(engine, site_id)) == 1
    assert len(inbox(engine, site_id)) == 2


# --- Salesforce ------------------------------------------------------------------------------


def opportunity(opportunity_id: str, at: dt.datetime, amount: float, won: bool) -> dict:
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "+0000")
    return {
        "attributes": {
            "type": "Opportunity",
            "url": f"/services/data/v62.0/sobjects/Opportunity/{opportunity_id}",
        },
        "Id": opportunity_id,
        "Name": "Acme",
        "StageName": "Closed Won" if won else "Prospecting",
        "Amount": amount,
        "IsClosed": won,
        "IsWon": won,
        "CloseDate": "2026-10-01",
        "CreatedDate": "2026-09-01T08:00:00.000+0000",
        "OwnerId": "005000000000001AAA",
        "LastModifiedDate": stamp,
        "SystemModstamp": stamp,
        "OpportunityContactRoles": None,
    }


def test_salesforce_follows_next_records_url_through_a_429_and_a_500(
    engine: Engine, sites: SiteMaker, httpserver: HTTPServer
) -> None:
    site_id = sites.make(
        salesforce_instance_url=base_url(httpserver), salesforce_access_token=SALESFORCE_TOKEN
    ).site.id
    sleeps: list[float] = []
    auth = {"Authorization": f"Bearer {SALESFORCE_TOKEN}"}
    locator = "/services/data/v62.0/query/01gD0000002HU6KIAW-2000"
    httpserver.expect_ordered_request(
        "/services/data/v62.0/query", method="GET", headers=auth
    ).respond_with_json(
        {
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": locator,
            "records": [
                opportunity("006000000000001AAA", minutes(1), 50000.0, True),
                opportunity("006000000000002AAA", minutes(2), 100.0, False),
            ],
        }
    )
    httpserver.expect_ordered_request(locator).respond_with_response(
        Response("", status=429, headers={"Retry-After": "5"})
    )
    httpserver.expect_ordered_request(locator).respond_with_response(unavailable(500))
    httpserver.expect_ordered_request(locator, headers=auth).respond_with_json(
        {
            "totalSize": 3,
            "done": True,
            "records": [opportunity("006000000000003AAA", minutes(3), 1200.5, True)],
        }
    )

    pages = run(engine, site_id, "salesforce", sleep=sleeps.append)

    httpserver.check_assertions()
    first_request, _ = httpserver.log[0]
    soql = first_request.args["q"]
    assert soql.startswith("SELECT Id, Name, StageName, Amount, IsClosed, IsWon")
    assert soql.endswith("FROM Opportunity ORDER BY SystemModstamp ASC, Id ASC")
    assert sleeps == [5.0, 2.0]
    assert [(p.deals, p.stored, p.total) for p in pages] == [(2, 2, 3), (1, 1, 3)]
    assert won_amounts(engine, site_id) == {
        "006000000000001AAA": decimal.Decimal("50000"),
        "006000000000003AAA": decimal.Decimal("1200.5"),
    }
    assert pages[-1].checkpoint == minutes(3)


def test_salesforce_pulls_the_sites_named_contact_field(
    engine: Engine, sites: SiteMaker, httpserver: HTTPServer, db_session: Session
) -> None:
    site_id = sites.make(
        salesforce_instance_url=base_url(httpserver),
        salesforce_access_token=SALESFORCE_TOKEN,
        salesforce_fields={"contact_email": "Buyer_Email__c"},
    ).site.id
    with db_session.begin():
        lead, _ = upsert_lead(db_session, site_id, Identity(email="ada@example.com"), T0, "form")
        ada = lead.id
    record = {**opportunity("006000000000001AAA", minutes(1), 50000.0, True),
              "Buyer_Email__c": "Ada@Example.com"}
    httpserver.expect_request("/services/data/v62.0/query").respond_with_json(
        {"totalSize": 1, "done": True, "records": [record]}
    )

    run(engine, site_id, "salesforce")

    soql = httpserver.log[0][0].args["q"]
    assert ", Buyer_Email__c, (SELECT ContactId" in soql
    with Session(engine) as session:
        deal = session.scalars(select(Deal).where(Deal.site_id == site_id)).one()
        assert deal.lead_id == ada


# --- the command ---------------------------------------------------------------------------


def test_crm_connect_stores_the_token_without_printing_it(
    runner: FlaskCliRunner, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()

    result = runner.invoke(
        args=[
            "crm",
            "connect",
            str(site.site.id),
            "hubspot",
            "--url",
            "http://127.0.0.1:1",
            "--push",
        ],
        input=f"{HUBSPOT_TOKEN}\n",
    )

    assert result.exit_code == 0, result.output
    assert HUBSPOT_TOKEN not in result.output
    assert re.search(r"token:\s+sha256:[0-9a-f]{12}", result.output)
    assert "push leads:  on" in result.output
    db_session.refresh(site.site)
    assert site.site.settings["hubspot_api_token"] == HUBSPOT_TOKEN
    assert site.site.settings["crm_push"] == ["hubspot"]
    shown = runner.invoke(args=["crm", "show", str(site.site.id)])
    assert HUBSPOT_TOKEN not in shown.output
    assert "hubspot API" in shown.output and "push on" in shown.output


def test_crm_sync_command_shows_progress_and_resumes_from_the_checkpoint(
    runner: FlaskCliRunner, hubspot_site: CreatedSite, httpserver: HTTPServer
) -> None:
    site = str(hubspot_site.site.id)
    expect_hubspot_page(
        httpserver,
        search_body(),
        search_page([hubspot_deal("101", minutes(1), "1000")], None, 1),
        {},
    )

    first = runner.invoke(args=["crm", "sync", "hubspot", "--site", site])

    assert first.exit_code == 0, first.output
    assert "hubspot deals" in first.output
    assert "1 deals read, 1 new, 1 applied, 0 failed" in first.output
    assert "checkpoint:  2026-10-01T09:01:00+00:00" in first.output
    httpserver.check_assertions()
    httpserver.clear()
    expect_hubspot_page(httpserver, search_body(since=minutes(-1)), search_page([], None, 0), {})

    again = runner.invoke(args=["crm", "sync", "hubspot", "--site", site])

    assert again.exit_code == 0, again.output
    assert "0 deals read" in again.output
    httpserver.check_assertions()


def test_crm_sync_command_reports_an_api_failure_and_exits_1(
    runner: FlaskCliRunner, hubspot_site: CreatedSite, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(SEARCH).respond_with_json({"message": "bad token"}, status=401)

    result = runner.invoke(args=["crm", "sync", "hubspot", "--site", str(hubspot_site.site.id)])

    assert result.exit_code == 1
    assert "HTTP 401: bad token" in result.output
    assert HUBSPOT_TOKEN not in result.output


def test_crm_sync_command_with_since(
    runner: FlaskCliRunner, hubspot_site: CreatedSite, httpserver: HTTPServer
) -> None:
    expect_hubspot_page(httpserver, search_body(since=minutes(-2)), search_page([], None, 0), {})

    result = runner.invoke(
        args=[
            "crm",
            "sync",
            "hubspot",
            "--site",
            str(hubspot_site.site.id),
            "--since",
            "2026-10-01T09:00:00Z",
        ]
    )

    assert result.exit_code == 0, result.output
    httpserver.check_assertions()
    bad = runner.invoke(args=["crm", "sync", "hubspot", "--site", "1", "--since", "yesterday"])
    assert bad.exit_code == 2
