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

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from tests.factories import SiteMaker

EXAMPLES = int(os.environ.get("LEADTRAIL_FUZZ_EXAMPLES", "40"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
SECRET = "whsec_fuzz_0123456789abcdef0123"
REPORT_DIR = Path(__file__).resolve().parents[2] / "build"


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


def _describe(error: BaseException) -> str:
    """The failures' titles and first lines: enough to find the case again."""
    found = error.exceptions if isinstance(error, BaseExceptionGroup) else (error,)
    return "; ".join(str(item).strip()[:1500] for item in found)


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
        headers = {"Authorization": f"Bearer {api_key}"}
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
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
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
