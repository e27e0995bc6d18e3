"""The OpenAPI document describes every route the app serves, and is valid OpenAPI 3.1."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate


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
