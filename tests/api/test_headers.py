"""Browser-grade headers on every answer, templates fit for the strict CSP, and CORS that
echoes only a site's own and linked domains."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.api.test_dashboard import log_in, make_user
from tests.factories import BatchBuilder, SiteMaker
from tracker import create_app
from tracker.config import Settings
from tracker.db import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "tracker" / "templates"


def test_every_answer_carries_the_security_headers(
    app: Flask, client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    make_user(db_session, "marketer@example.com", site.site.id)
    browser = app.test_client()
    log_in(browser, "marketer@example.com")
    answers = {
        "login page": client.get("/dashboard/login"),
        "dashboard": browser.get("/dashboard/"),
        "keys page": browser.get("/dashboard/setup/keys"),
        "api": client.get("/api/v1/leads", headers={"Authorization": f"Bearer {site.api_key}"}),
        "error": client.get("/api/v1/leads"),
        "collector": client.post("/collect", data=json.dumps(
            BatchBuilder(site.write_key).pageview().body()), content_type="text/plain"),
        "snippet": client.get("/t.js"),
    }

    for name, response in answers.items():
        policy = response.headers.get("Content-Security-Policy", "")
        assert response.status_code < 500, name
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, name
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["Referrer-Policy"] == "same-origin", name
        assert response.headers["X-Frame-Options"] == "DENY", name
    for name in ("login page", "dashboard", "keys page", "api", "error", "collector"):
        assert answers[name].headers["Cache-Control"] == "no-store", name
    assert "public" in answers["snippet"].headers["Cache-Control"]
    assert "Strict-Transport-Security" not in answers["dashboard"].headers


def test_https_through_a_trusted_proxy_gets_hsts(settings: Settings, engine: Engine) -> None:
    proxied = create_app(Settings(**{**_fields(settings), "trusted_proxies": 1}), engine=engine)

    response = proxied.test_client().get(
        "/dashboard/login", headers={"X-Forwarded-Proto": "https"})

    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def _fields(settings: Settings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")),
                         ids=lambda path: path.name)
def test_no_template_holds_inline_script_style_or_handlers(template: object) -> None:
    html = template.read_text()  # type: ignore[attr-defined]

    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert [attrs for attrs in scripts if "src=" not in attrs
            and 'type="application/json"' not in attrs] == []
    assert re.findall(r"\son[a-z]+\s*=", html) == []
    assert "<style" not in html and " style=" not in html
    assert "javascript:" not in html


def _collect(client: FlaskClient, body: object, origin: str) -> object:
    return client.post("/collect", data=json.dumps(body), content_type="text/plain",
                       headers={"Origin": origin})


def test_cors_echoes_only_the_sites_own_and_linked_domains(
    client: FlaskClient, sites: SiteMaker
) -> None:
    site = sites.make(domains=["example.com"], linked_domains=["example-shop.net"])
    batch = BatchBuilder(site.write_key).pageview().body()

    own = _collect(client, batch, "https://www.example.com")
    linked = _collect(client, batch, "https://example-shop.net")
    foreign = _collect(client, batch, "https://evil.example.org")
    null = _collect(client, batch, "null")

    assert own.headers["Access-Control-Allow-Origin"] == "https://www.example.com"  # type: ignore[attr-defined]
    assert own.headers["Access-Control-Allow-Credentials"] == "true"  # type: ignore[attr-defined]
    assert linked.status_code == 200  # type: ignore[attr-defined]
    assert linked.headers["Access-Control-Allow-Origin"] == "https://example-shop.net"  # type: ignore[attr-defined]
    for refused in (foreign, null):
        assert refused.status_code == 403  # type: ignore[attr-defined]
        assert "Access-Control-Allow-Origin" not in refused.headers  # type: ignore[attr-defined]
        assert "Access-Control-Allow-Credentials" not in refused.headers  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/collect", "/identify", "/xd/sign", "/xd/adopt"])
def test_a_refusal_carries_cors_for_the_sites_origin_only(
    client: FlaskClient, sites: SiteMaker, path: str
) -> None:
    site = sites.make(domains=["example.com"])
    # Refused after the write key was read, but before the handler found the site.
    body = json.dumps({"k": site.write_key, "vid": "v.12345678", "bad": "\x00"})
    unknown_key = json.dumps({"k": "wk_unknown_key", "bad": 1})

    refused = client.post(path, data=body, headers={"Origin": "https://example.com"})
    elsewhere = client.post(path, data=body, headers={"Origin": "https://evil.example.org"})
    nobody = client.post(path, data=unknown_key, headers={"Origin": "https://example.com"})

    assert refused.status_code == 400
    assert refused.headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert "Access-Control-Allow-Origin" not in elsewhere.headers
    assert "Access-Control-Allow-Origin" not in nobody.headers


def test_the_demo_page_is_styled_from_a_file(settings: Settings, engine: Engine,
                                             sites: SiteMaker, db_session: Session) -> None:
    demo = create_app(Settings(**{**_fields(settings), "demo": True}), engine=engine)
    client = demo.test_client()

    with client.get("/demo/assets/demo.css") as stylesheet:
        status, mimetype, data = stylesheet.status_code, stylesheet.mimetype, stylesheet.data

    assert status == 200 and mimetype == "text/css"
    assert b"font:" in data
