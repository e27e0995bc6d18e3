"""The fuzzing gate: schemathesis generates requests from our own ``/api/openapi.json`` and sends
them in-process (WSGI) to the app on SQLite and on PostgreSQL. Positive cases fit the document,
negative cases break it on purpose; either way no answer may be a 5xx, and every answer must be
one the document lists, of the listed type, fitting the listed schema; a negative case must be
refused (4xx), and a positive case of a secured operation sent again without the key is a 401.

Bounded: ``LEADTRAIL_FUZZ_EXAMPLES`` cases per operation and mode (default 40), so the gate
takes a few minutes on two cores. The status counts are written to ``build/fuzz-<dialect>.json``
for the hardening note.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from jsonschema import Draft202012Validator
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)
from schemathesis.specs.openapi.stateful import OpenAPIStateMachine
from sqlalchemy import Engine

from crm_sync.providers import generic
from tests.factories import BatchBuilder, SiteMaker

EXAMPLES = int(os.environ.get("LEADTRAIL_FUZZ_EXAMPLES", "40"))
# The stateful phase: scenarios of a few linked steps (create, then read or act on it).
SCENARIOS = int(os.environ.get("LEADTRAIL_FUZZ_SCENARIOS", "40"))
STEPS = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]
# Stateful checks: what a create answered exists for the linked read (no 404 right after a
# 201), and nothing answers after it was deleted.
STATEFUL_CHECKS = [*CHECKS, ensure_resource_availability, use_after_free]
SECRET = "whsec_fuzz_0123456789abcdef0123"
# A positive case fits the document, so it is accepted, or refused for what the document
# cannot state: an unknown key or object (401, 404), a conflict with what is stored (409), or
# a rule the document names in words (422: a time relative to now, a relation between fields,
# a reference to something not set up; tracker/validation.py RuleRefused). Never a 400.
ACCEPTED = ["2xx", "401", "403", "404", "409", "422", "429"]
REPORT_DIR = Path(__file__).resolve().parents[2] / "build"


@schemathesis.serializer("text/plain", "text/csv")
def _serialize_text(ctx: Any, value: Any) -> bytes:
    """The collector's text/plain bodies are its JSON bodies sent as text (sendBeacon, CORS
    simple requests): the document gives them the JSON body's schema. A CSV is its text."""
    if isinstance(value, bytes):
        return value
    if ctx.case.media_type == "text/csv" and isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()


def _load_schema(app: Flask) -> Any:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    schema.config.checks.positive_data_acceptance.expected_statuses = ACCEPTED
    return schema


def _aim_at_site(case: Case, site_id: int, write_key: str) -> None:
    """Half the point of positive cases is to get past "unknown site": a write key (body or
    query) and a path's site id are made real ones (negative cases keep whatever broke the
    schema)."""
    if case.path_parameters and "site_id" in case.path_parameters:
        case.path_parameters["site_id"] = site_id
    if isinstance(case.body, dict) and isinstance(case.body.get("k"), str):
        case.body["k"] = write_key
    if case.query and isinstance(case.query.get("k"), str):
        case.query["k"] = write_key


# Bodies that pass the business rules behind the schemas (a destination's platform settings, a
# known lead's email, a date in the window): generated ones seldom do, and this phase is about
# what follows a create. The creates' own bodies are fuzzed by the gate above. The destination
# points at a closed local port, so its ``test`` operation never leaves the machine.
CREATABLE: dict[str, dict[str, Any]] = {
    "POST /api/v1/conversions": {"kind": "call", "occurred_at": "2026-10-01T09:00:00Z",
                                 "email": "fuzz@example.com"},
    "POST /api/v1/offline-touches": {"kind": "call", "occurred_at": "2026-10-01T09:00:00Z",
                                     "email": "fuzz@example.com", "channel": "Offline"},
    "POST /api/v1/destinations": {"platform": "ga4", "settings": {
        "measurement_id": "G-FUZZ1", "api_url": "http://127.0.0.1:9/mp"},
        "credentials": {"api_secret": "fuzz-secret"}},
}


def _make_creatable(case: Case) -> None:
    """The create steps send a body that is created, under an id drawn from the generated body
    (so some repeat, and the answer to a repeat is checked too)."""
    valid = CREATABLE.get(case.operation.label)
    if valid is None:
        return
    drawn = f"fuzz-{zlib.crc32(repr(case.body).encode()) % 1000}"
    case.body = {**valid, ("name" if "platform" in valid else "id"): drawn}


def _check_created_is_found(recorder: Any, response: Any, case: Case) -> None:
    """A step that follows a link with the id a create just answered finds it: no 404.
    (schemathesis's own ``ensure_resource_availability`` only looks at a read nested under the
    create's path, and ours are not: POST /api/v1/conversions, GET /api/v1/leads/{lead_id}.)"""
    if response.status_code != 404:
        return
    parent = recorder.find_parent(case_id=case.id)
    answer = recorder.find_response(case_id=parent.id) if parent is not None else None
    if parent is None or answer is None or not 200 <= answer.status_code < 300:
        return
    created = answer.json()
    ids = {str(created.get(key)) for key in ("lead_id", "id") if isinstance(created, dict)}
    used = {str(value) for value in (case.path_parameters or {}).values()}
    assert not ids & used, (
        f"{case.operation.label} answered 404 for {sorted(ids & used)}, just created by "
        f"{parent.operation.label}")


def _describe(error: BaseException) -> str:
    """The failures' titles and first lines: enough to find the case again."""
    found = error.exceptions if isinstance(error, BaseExceptionGroup) else (error,)
    return "; ".join(str(item).strip()[:1500] for item in found)


def _broken_headers(case: Case) -> bool:
    """Whether a negative case broke its headers (e.g. left the key out on purpose): it is sent
    as made, so the refusal it must get (401) is not undone by adding our key."""
    info = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    return info is not None and info.mode is GenerationMode.NEGATIVE


def _modes(operation: Any) -> list[GenerationMode]:
    """Negative cases need something to break: a parameter or a body."""
    if operation.body or any(True for _ in operation.iter_parameters()):
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def _run_operation(
    operation: Any, mode: GenerationMode, site_id: int, write_key: str, api_key: str,
    statuses: Counter[int],
) -> None:
    positive = mode is GenerationMode.POSITIVE
    secured = bool(operation.definition.raw.get("security"))

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Case) -> None:
        if positive:
            _aim_at_site(case, site_id, write_key)
        headers = {} if _broken_headers(case) else {"Authorization": f"Bearer {api_key}"}
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)
        if secured and positive:  # the same request without the key: refused, whatever it is
            anonymous = case.call()
            statuses[anonymous.status_code] += 1
            # 401, or a 400 when the query is refused first; never an answer
            assert anonymous.status_code in (400, 401), f"{operation.label} without a key"

    fuzz()


def test_no_operation_answers_5xx_or_off_document(
    app: Flask, engine: Engine, sites: SiteMaker
) -> None:
    created = sites.make(generic_secrets=[SECRET], hubspot_secrets=[SECRET])
    schema = _load_schema(app)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]

    for operation in operations:
        for mode in _modes(operation):
            try:
                _run_operation(operation, mode, created.site.id, created.write_key,
                               created.api_key, statuses)
            except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - run them all
                failures.append(f"{operation.label} [{mode.value}]: {_describe(error)}")

    REPORT_DIR.mkdir(exist_ok=True)
    (REPORT_DIR / f"fuzz-{engine.dialect.name}.json").write_text(json.dumps({
        "operations": len(operations),
        "cases": sum(statuses.values()),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "failures": failures,
    }, indent=1))
    assert len(operations) >= 40
    assert failures == []
    assert not [code for code in statuses if code >= 500]


def test_linked_operations_follow_what_was_created(
    app: Flask, engine: Engine, sites: SiteMaker
) -> None:
    """The stateful phase: schemathesis follows the document's links from an operation that
    creates something (a conversion's lead, an offline touch's lead, a destination) to the
    operations that read or act on it, with the same checks as above plus the stateful ones."""
    created = sites.make(generic_secrets=[SECRET], hubspot_secrets=[SECRET])
    schema = _load_schema(app)
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {created.api_key}"}
    # schemathesis takes as entry points only operations it expects to succeed with generated
    # data; it infers that a conversion's optional `visitor_id` needs a visitor no operation
    # produces, so conversions are reached only by the unit gate above. Offline touches are an
    # entry point; they need a known lead, made here.
    lead = app.test_client().post("/api/v1/conversions", headers=headers, json={
        **CREATABLE["POST /api/v1/conversions"], "id": "fuzz-seed"})
    assert lead.status_code == 201, lead.json
    schema.config.generation.update(modes=[GenerationMode.POSITIVE],
                                    with_security_parameters=False)
    base: type[OpenAPIStateMachine] = schema.as_state_machine()  # type: ignore[assignment]

    class Workflow(base):  # type: ignore[valid-type, misc]
        def before_call(self, case: Case) -> None:
            # Negative steps (the phase still makes some, e.g. without the key) stay as made.
            if case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE:
                _aim_at_site(case, created.site.id, created.write_key)
                _make_creatable(case)

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"headers": headers}

        def after_call(self, response: Any, case: Case) -> None:
            super().after_call(response, case)
            statuses[f"{case.operation.label} {response.status_code}"] += 1

        def validate_response(self, response: Any, case: Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            # Collected, not raised: Hypothesis would replay the failing scenario against a
            # database that has moved on, and report only that the replay differed.
            try:
                case.validate_response(response, checks=STATEFUL_CHECKS, headers=headers,
                                       recorder=self.recorder)
                _check_created_is_found(self.recorder, response, case)
            except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - report them all
                failures.append(f"{case.operation.label}: {_describe(error)}")

    Workflow.run(settings=settings(
        max_examples=SCENARIOS, stateful_step_count=STEPS, deadline=None, derandomize=False,
        database=None, phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    ))

    REPORT_DIR.mkdir(exist_ok=True)
    (REPORT_DIR / f"fuzz-stateful-{engine.dialect.name}.json").write_text(
        json.dumps(dict(sorted(statuses.items())), indent=1))
    assert not failures, "\n".join(failures)
    followed = {label.rsplit(" ", 1)[0] for label in statuses}
    # Links were followed from a created lead and from a created destination (which ones the
    # machine picks varies from run to run).
    assert followed & {"GET /api/v1/leads/{lead_id}", "POST /api/v1/leads/{lead_id}/stage",
                       "GET /api/v1/reports/leads/{lead_id}/journey"}
    assert followed & {"GET /api/v1/destinations/{reference}/deliveries",
                       "POST /api/v1/destinations/{reference}/replay",
                       "POST /api/v1/destinations/{reference}/test"}
    assert not [label for label in statuses if label.rsplit(" ", 1)[1].startswith("5")]


def test_a_full_lead_journey_answers_as_documented(app: Flask, sites: SiteMaker) -> None:
    """The journey's nested items (sessions with their events, offline touches, calls, deals)
    are typed field by field; here each kind is present, so the body check covers them all."""
    client = app.test_client()
    site = sites.make(generic_secrets=[SECRET])
    key = {"Authorization": f"Bearer {site.api_key}"}
    config = {"generic_secrets": [SECRET], "pools": [
        {"id": "paid", "channel": "Paid Search", "numbers": ["+14155550101"]}]}
    assert client.put("/api/v1/calls/config", headers=key, json=config).status_code == 200
    batch = BatchBuilder(site.write_key).pageview(
        "https://example.com/?utm_source=google&utm_medium=cpc&gclid=Cj0abc").custom("signup")
    assert client.post("/collect", json=batch.body()).status_code == 200
    assert client.post("/calls/number", json={"k": site.write_key,
                                              "vid": batch.visitor_id}).status_code == 200
    call = json.dumps({"id": "call-1", "called": "+14155550101", "caller": "+16505550199",
                       "started_at": dt.datetime.now(dt.UTC).isoformat(), "duration_s": 95,
                       "answered": True}).encode()
    called = client.post(f"/calls/webhooks/generic/{site.site.id}", data=call, headers={
        "LeadTrail-Signature": generic.sign(call, SECRET, int(time.time()))})
    lead_id, email = called.json["lead_id"], "16505550199@phone.invalid"
    touch = {"id": "fair-1", "kind": "event", "occurred_at": "2026-10-01T09:00:00Z",
             "email": email, "source": "fair"}
    assert client.post("/api/v1/offline-touches", headers=key, json=touch).status_code == 201
    deal = json.dumps({"id": "evt-1", "type": "deal.updated",
                       "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
                       "deal": {"id": "D-1", "email": email, "status": "won", "amount": "1200",
                                "currency": "EUR", "name": "Fuzz deal"}}).encode()
    assert client.post(f"/webhooks/generic/{site.site.id}", data=deal, headers={
        "LeadTrail-Signature": generic.sign(deal, SECRET, int(time.time())),
        "Content-Type": "application/json"}).status_code == 200

    journey = client.get(f"/api/v1/leads/{lead_id}", headers=key)

    assert journey.status_code == 200
    assert all(journey.json[name] for name in ("sessions", "offline_touches", "calls", "deals"))
    assert journey.json["sessions"][0]["events"]
    document = client.get("/api/openapi.json").json
    answer = document["paths"]["/api/v1/leads/{lead_id}"]["get"]["responses"]["200"]
    Draft202012Validator({**answer["content"]["application/json"]["schema"],
                          "components": document["components"]}).validate(journey.json)
