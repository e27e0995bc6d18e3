"""The OpenAPI document describes every route the app serves, and is valid OpenAPI 3.1."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy.orm import Session

from tests.api.test_dashboard import log_in, make_user
from tests.factories import SiteMaker


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_every_route_is_documented(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").json
    served = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        # HTML, not API (the root only redirects to the dashboard).
        if rule.rule != "/" and not rule.rule.startswith(("/demo", "/static", "/dashboard"))
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }

    documented = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }

    assert served - documented == set()
    validate(document)


def _schemas_of(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _schemas_of(document, document["components"]["schemas"][ref.rsplit("/", 1)[1]])
    return schema


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method != "parameters"
    ]


def test_every_json_request_body_is_described_field_by_field(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").json
    bare = [
        label
        for label, operation in _operations(document)
        if "requestBody" in operation
        for media, content in operation["requestBody"]["content"].items()
        if media == "application/json"
        and not {"properties", "anyOf", "oneOf"} & set(_schemas_of(document, content["schema"]))
    ]

    assert bare == []


def test_every_operation_documents_its_405(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").json

    missing = [
        label for label, operation in _operations(document) if "405" not in operation["responses"]
    ]

    assert missing == []


def test_every_405_carries_allow(app: Flask, client: FlaskClient) -> None:
    answers = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/static"):
            continue
        allowed = rule.methods or set()
        method = next(m for m in ("DELETE", "PATCH", "PUT", "POST") if m not in allowed)
        path = re.sub(r"<any\(([^,)]+)[^>]*>", r"\1", rule.rule).replace("'", "")
        path = re.sub(r"<[^>]+>", "1", path)
        response = client.open(path, method=method)
        if response.status_code == 405:
            answers[rule.rule] = response.headers.get("Allow")

    assert len(answers) > 30
    assert [rule for rule, allow in answers.items() if not allow] == []


def test_a_repeated_conversion_answers_a_documented_status(
    client: FlaskClient, sites: SiteMaker
) -> None:
    site = sites.make()
    document = client.get("/api/openapi.json").json
    documented = document["paths"]["/api/v1/conversions"]["post"]["responses"]
    body = {"id": "conv-repeated", "email": "ada@example.com", "kind": "call",
            "occurred_at": "2026-10-01T09:00:00Z"}
    headers = {"Authorization": f"Bearer {site.api_key}"}

    first = client.post("/api/v1/conversions", json=body, headers=headers)
    again = client.post("/api/v1/conversions", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (201, 200)
    assert {"200", "201"} <= set(documented)


def test_an_id_starting_with_a_slash_is_a_documented_404_not_a_redirect(
    client: FlaskClient, sites: SiteMaker
) -> None:
    """Werkzeug merges ``//`` by redirecting (308), which no operation documents; an id whose
    first character is ``/`` (``%2F``, found by the fuzzing gate's stateful phase) is simply
    no such object."""
    site = sites.make()
    headers = {"Authorization": f"Bearer {site.api_key}"}

    answers = [client.get(path, headers=headers).status_code for path in (
        "/api/v1/reports/leads/%2Fx/journey", "/api/v1/destinations/%2Fx/deliveries",
        "/api/v1/leads/%2Fx")]

    assert answers == [404, 404, 404]


def test_a_dashboard_session_reading_another_tenants_report_gets_a_documented_refusal(
    app: Flask, client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    """The reports API also serves a signed-in dashboard user, for ``?site=``: a site of
    another tenant is a 403 and no site a 404, and both are in the document."""
    mine, theirs = sites.make(), sites.make()
    make_user(db_session, "marketer@example.com", mine.site.id)
    browser = app.test_client()
    log_in(browser, "marketer@example.com")
    document = client.get("/api/openapi.json").json

    foreign = browser.get(f"/api/v1/reports/revenue?site={theirs.site.id}")
    missing = browser.get("/api/v1/reports/revenue?site=999999999")

    assert (foreign.status_code, missing.status_code) == (403, 404)
    for path, operations in document["paths"].items():
        if path.startswith("/api/v1/reports/") and path != "/api/v1/reports/calls":
            assert {"403", "404"} <= set(operations["get"]["responses"]), path


def _refuses(document: dict[str, Any], schema_name: str, body: dict[str, Any]) -> bool:
    from jsonschema import Draft202012Validator

    root = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    return not Draft202012Validator(root).is_valid(body)


def test_a_destination_name_the_service_refuses_is_refused_by_the_schema_too(
    client: FlaskClient, sites: SiteMaker
) -> None:
    """A body valid by the schema must not get a 400: an empty or blank name is refused by
    the service (stripped, then at least one character), so the schema says so as well."""
    document = client.get("/api/openapi.json").json
    secret = sites.make().api_key
    for name in ("", "   "):
        body = {"name": name, "platform": "ga4", "settings": {"measurement_id": "G-ABC123"},
                "credentials": {"api_secret": "s3cret"}}
        assert _refuses(document, "Destination", body)
        answer = client.post("/api/v1/destinations", json=body,
                             headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 400 and answer.json["error"]["field"] == "name"
    assert not _refuses(document, "Destination", {
        "name": "GA4", "platform": "ga4", "settings": {"measurement_id": "G-ABC123"},
        "credentials": {"api_secret": "s3cret"}})


def test_documented_times_name_the_accepted_window(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").json
    described = document["components"]["schemas"]["Conversion"]["properties"]["occurred_at"]
    assert "1970-01-01" in described["description"] and "2199-12-31" in described["description"]




def test_success_answers_are_described_field_by_field(client: FlaskClient) -> None:
    """response_schema_conformance proves little against `{"type": "object"}`."""
    document = client.get("/api/openapi.json").json
    bare = {
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items() if method != "parameters"
        for status, response in operation["responses"].items() if status.startswith("2")
        if response.get("content", {}).get("application/json", {}).get("schema")
        == {"type": "object"}
    }

    assert bare == set()


def _answers_as_documented(document: dict[str, Any], path: str, method: str,
                           answer: Any) -> None:
    from jsonschema import Draft202012Validator

    responses = document["paths"][path][method]["responses"]
    schema = responses[str(answer.status_code)]["content"]["application/json"]["schema"]
    assert schema != {"type": "object"}
    Draft202012Validator({**schema, "components": document["components"]}).validate(
        answer.json)


def test_lead_answers_match_their_documented_fields(client: FlaskClient, sites: SiteMaker) -> None:
    """The closed shapes (additionalProperties false) are what the handlers really send."""
    document = client.get("/api/openapi.json").json
    headers = {"Authorization": f"Bearer {sites.make().api_key}"}
    created = client.post("/api/v1/conversions", headers=headers, json={
        "id": "conv-shape", "email": "ada@example.com", "kind": "call",
        "occurred_at": "2026-10-01T09:00:00Z"})
    _answers_as_documented(document, "/api/v1/conversions", "post", created)
    lead_id = created.json["lead_id"]

    staged = client.post(f"/api/v1/leads/{lead_id}/stage", headers=headers, json={"stage": "sql"})
    _answers_as_documented(document, "/api/v1/leads/{lead_id}/stage", "post", staged)
    bulk = client.post("/api/v1/leads/stages", headers=headers,
                       json={"changes": [{"lead_id": lead_id, "stage": "opportunity"}]})
    _answers_as_documented(document, "/api/v1/leads/stages", "post", bulk)
    listed = client.get("/api/v1/leads", headers=headers)
    assert len(listed.json["leads"]) == 1
    _answers_as_documented(document, "/api/v1/leads", "get", listed)
    journey = client.get(f"/api/v1/leads/{lead_id}", headers=headers)
    assert [change["to"] for change in journey.json["stage_history"]][-2:] == [
        "sql", "opportunity"]
    _answers_as_documented(document, "/api/v1/leads/{lead_id}", "get", journey)
    erased = client.post("/api/v1/gdpr/erase", headers=headers, json={"email": "ada@example.com"})
    _answers_as_documented(document, "/api/v1/gdpr/erase", "post", erased)
    assert (staged.status_code, bulk.status_code, erased.status_code) == (200, 200, 200)


def test_destination_answers_match_their_documented_fields(
    client: FlaskClient, sites: SiteMaker
) -> None:
    document = client.get("/api/openapi.json").json
    headers = {"Authorization": f"Bearer {sites.make().api_key}"}
    created = client.post("/api/v1/destinations", headers=headers, json={
        "name": "GA4", "platform": "ga4", "settings": {"measurement_id": "G-TEST1"},
        "credentials": {"api_secret": "mp-secret"}})
    assert created.status_code == 201, created.json
    _answers_as_documented(document, "/api/v1/destinations", "post", created)
    for method, path, answer in [
        ("get", "/api/v1/destinations", client.get("/api/v1/destinations", headers=headers)),
        ("patch", "/api/v1/destinations/{reference}",
         client.patch("/api/v1/destinations/GA4", headers=headers, json={"enabled": False})),
        ("get", "/api/v1/destinations/{reference}/deliveries",
         client.get("/api/v1/destinations/GA4/deliveries", headers=headers)),
        ("post", "/api/v1/destinations/{reference}/replay",
         client.post("/api/v1/destinations/GA4/replay", headers=headers)),
    ]:
        assert answer.status_code == 200, (path, answer.json)
        _answers_as_documented(document, path, method, answer)


def test_cost_and_crm_answers_match_their_documented_fields(
    client: FlaskClient, sites: SiteMaker
) -> None:
    document = client.get("/api/openapi.json").json
    headers = {"Authorization": f"Bearer {sites.make().api_key}"}
    rate = client.post("/api/v1/exchange-rates", headers=headers,
                       json={"currency": "eur", "valid_from": "2026-01-01", "rate": "1.1"})
    assert rate.status_code == 201, rate.json
    _answers_as_documented(document, "/api/v1/exchange-rates", "post", rate)
    imported = client.post("/api/v1/costs", headers=headers, json={"rows": [
        {"date": "2026-01-02", "channel": "paid_search", "source": "google", "amount": "12.5"}]})
    assert imported.status_code == 201, imported.json
    _answers_as_documented(document, "/api/v1/costs", "post", imported)
    listed = client.get("/api/v1/costs", headers=headers)
    assert len(listed.json["costs"]) == 1
    _answers_as_documented(document, "/api/v1/costs", "get", listed)
    for path, answer in [
        ("/api/v1/crm/events", client.get("/api/v1/crm/events", headers=headers)),
        ("/api/v1/crm/events/replay", client.post("/api/v1/crm/events/replay", headers=headers)),
    ]:
        assert answer.status_code == 200, (path, answer.json)
        _answers_as_documented(document, path, "post" if "replay" in path else "get", answer)


def test_collector_answers_match_their_documented_fields(
    client: FlaskClient, sites: SiteMaker
) -> None:
    from tests.factories import BatchBuilder, new_id, now_ms

    document = client.get("/api/openapi.json").json
    site = sites.make()
    batch = BatchBuilder(site.write_key).pageview()
    collected = client.post("/collect", json=batch.body())
    identified = client.post("/identify", json={
        "k": site.write_key, "vid": batch.visitor_id, "id": new_id(), "ts": now_ms(),
        "email": "ada@example.com"})
    assert (collected.status_code, identified.status_code) == (200, 200)
    assert (collected.json["stored"], identified.json["stored"]) == (1, 1)
    _answers_as_documented(document, "/collect", "post", collected)
    _answers_as_documented(document, "/identify", "post", identified)


def test_a_webhook_acknowledgement_matches_its_documented_fields(
    client: FlaskClient, sites: SiteMaker
) -> None:
    from tests.api.test_webhooks import GENERIC_SECRET, generic_event, post_generic

    document = client.get("/api/openapi.json").json
    site_id = sites.make(generic_secrets=[GENERIC_SECRET]).site.id
    won = generic_event("evt_shape", "deal.won", 0, amount="100", currency="EUR")
    first, again = post_generic(client, site_id, won), post_generic(client, site_id, won)

    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json["duplicate"], again.json["duplicate"]) == (False, True)
    for answer in (first, again):
        _answers_as_documented(document, "/webhooks/{provider}/{site_id}", "post", answer)


def test_call_config_answers_match_their_documented_fields(
    client: FlaskClient, sites: SiteMaker
) -> None:
    from tests.api.test_calls import CONFIG, generic_call

    document = client.get("/api/openapi.json").json
    site = sites.make()
    headers = {"Authorization": f"Bearer {site.api_key}"}
    stored = client.put("/api/v1/calls/config", headers=headers, json=CONFIG)
    shown = client.get("/api/v1/calls/config", headers=headers)
    assert (stored.status_code, shown.status_code) == (200, 200)
    assert len(shown.json["pools"]) == 2
    _answers_as_documented(document, "/api/v1/calls/config", "put", stored)
    _answers_as_documented(document, "/api/v1/calls/config", "get", shown)

    called = generic_call(client, site)
    assert called.status_code == 200, called.json
    _answers_as_documented(document, "/calls/webhooks/{provider}/{site_id}", "post", called)
    for group_by in ("channel", "number"):
        report = client.get("/api/v1/reports/calls", headers=headers,
                            query_string={"group_by": group_by})
        assert report.status_code == 200 and len(report.json["rows"]) == 1, report.json
        _answers_as_documented(document, "/api/v1/reports/calls", "get", report)
