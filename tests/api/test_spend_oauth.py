"""The Costs page's "Connect with …" buttons, on SQLite and PostgreSQL: the OAuth 2.0
authorization-code grant with a signed state bound to the browser's session and site, PKCE
where the platform takes it, the token endpoint played by a local HTTP server at the
platforms' own paths; refusals (declined consent, a forged or foreign state, the token
endpoint's 4xx) store nothing. Also the connect form's mapping overrides."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from tests.api.test_dashboard import csrf_from, log_in, make_user
from tests.factories import SiteMaker
from tracker.config import Settings
from tracker.costs.adspend.mapping import account_mapping
from tracker.models import AdAccount
from tracker.sites.service import CreatedSite

REDIRECT_URI = "http://localhost/dashboard/setup/spend/oauth/callback"
USER = "marketer@example.com"


@pytest.fixture
def settings(db_url: str, httpserver: HTTPServer) -> Settings:
    return Settings(
        database_url=db_url, log_level="WARNING",
        google_ads_client_id="google-app", google_ads_client_secret="google-app-secret",
        google_ads_developer_token="google-dev-token",
        microsoft_ads_client_id="microsoft-app", microsoft_ads_developer_token="ms-dev-token",
        linkedin_client_id="linkedin-app", linkedin_client_secret="linkedin-app-secret",
        oauth_base_url=httpserver.url_for("/"))


@pytest.fixture
def site(sites: SiteMaker, db_session: Session) -> CreatedSite:
    created = sites.make()
    make_user(db_session, USER, created.site.id)
    return created


@pytest.fixture
def signed_in(client: FlaskClient, site: CreatedSite) -> str:
    """The signed-in client's CSRF token."""
    assert log_in(client, USER).status_code == 302
    return csrf_from(client, f"/dashboard/setup/costs?site={site.site.id}")


def start(client: FlaskClient, site: CreatedSite, token: str, platform: str,
          **form: str) -> Any:
    return client.post(f"/dashboard/setup/spend/oauth/{platform}?site={site.site.id}",
                       data={"csrf_token": token, **form})


def consent_query(response: Any) -> dict[str, str]:
    """The consent URL's parameters (each once)."""
    return {key: values[0] for key, values in parse_qs(urlsplit(response.location).query,
                                                        strict_parsing=True).items()}


def token_endpoint(server: HTTPServer, path: str, answer: dict[str, Any], status: int = 200
                   ) -> list[dict[str, str]]:
    """The platform's token endpoint: records each form it is sent."""
    received: list[dict[str, str]] = []

    def handle(request: Request) -> Response:
        received.append(dict(request.form))
        return Response(json.dumps(answer), status=status, content_type="application/json")

    server.expect_request(path, method="POST").respond_with_handler(handle)
    return received


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def accounts(engine: Engine) -> list[AdAccount]:
    with Session(engine) as session:
        return list(session.scalars(select(AdAccount)))


def flashed(client: FlaskClient, response: Any) -> str:
    """The page the redirect lands on, with its flash."""
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client.get(response.location).get_data(as_text=True)


def test_connect_with_google_trades_the_code_with_pkce_and_stores_the_refresh_token(
    client: FlaskClient, site: CreatedSite, signed_in: str, engine: Engine,
    httpserver: HTTPServer,
) -> None:
    received = token_endpoint(httpserver, "/token", {
        "access_token": "ya29.access", "expires_in": 3599, "refresh_token": "1//refresh-secret",
        "scope": "https://www.googleapis.com/auth/adwords", "token_type": "Bearer"})
    page = client.get(f"/dashboard/setup/costs?site={site.site.id}").get_data(as_text=True)

    started = start(client, site, signed_in, "google_ads", account_id="123-456-7890",
                    login_customer_id="111-222-3333", mapping_keyword_from="ad_name")
    consent = consent_query(started)
    back = client.get("/dashboard/setup/spend/oauth/callback",
                      query_string={"state": consent["state"], "code": "4/0Ab-code"})
    landed = flashed(client, back)
    again = client.get("/dashboard/setup/spend/oauth/callback",
                       query_string={"state": consent["state"], "code": "4/0Ab-code"})

    assert 'data-oauth="google_ads"' in page and REDIRECT_URI in page
    assert started.status_code == 303
    assert started.location.startswith(httpserver.url_for("/o/oauth2/v2/auth?"))
    assert {k: v for k, v in consent.items() if k not in ("state", "code_challenge")} == {
        "response_type": "code", "client_id": "google-app", "redirect_uri": REDIRECT_URI,
        "scope": "https://www.googleapis.com/auth/adwords", "access_type": "offline",
        "prompt": "consent", "code_challenge_method": "S256"}
    (form,) = received
    assert s256(form.pop("code_verifier")) == consent["code_challenge"]
    assert form == {"grant_type": "authorization_code", "code": "4/0Ab-code",
                    "redirect_uri": REDIRECT_URI, "client_id": "google-app",
                    "client_secret": "google-app-secret"}
    assert "google_ads:1234567890 connected" in landed
    assert "1//refresh-secret" not in landed and "google-app-secret" not in landed
    (account,) = accounts(engine)
    assert (account.site_id, account.platform, account.account_id) == (
        site.site.id, "google_ads", "1234567890")
    assert account.credentials == {
        "client_id": "google-app", "client_secret": "google-app-secret",
        "developer_token": "google-dev-token", "login_customer_id": "111-222-3333",
        "refresh_token": "1//refresh-secret", "access_token": "ya29.access",
        "token_url": httpserver.url_for("/token")}
    assert account.mapping == {"keyword_from": "ad_name"}
    # The state is used once: the same redirect again is refused and trades nothing.
    assert "not started from this browser" in flashed(client, again)
    assert len(received) == 1


@pytest.mark.parametrize(("platform", "form", "authorize", "token", "pkce"), [
    ("microsoft_ads", {"account_id": "222", "customer_id": "111"},
     "/common/oauth2/v2.0/authorize", "/common/oauth2/v2.0/token", True),
    ("linkedin", {"account_id": "507404993"}, "/oauth/v2/authorization", "/oauth/v2/accessToken",
     False),
])
def test_microsoft_and_linkedin_use_their_own_endpoints_scopes_and_pkce_rules(
    client: FlaskClient, site: CreatedSite, signed_in: str, engine: Engine,
    httpserver: HTTPServer, platform: str, form: dict[str, str], authorize: str, token: str,
    pkce: bool,
) -> None:
    received = token_endpoint(httpserver, token, {
        "access_token": "at", "expires_in": 3600, "refresh_token": f"{platform}-refresh"})

    started = start(client, site, signed_in, platform, **form)
    consent = consent_query(started)
    landed = flashed(client, client.get("/dashboard/setup/spend/oauth/callback", query_string={
        "state": consent["state"], "code": "the-code"}))

    assert started.location.startswith(httpserver.url_for(authorize) + "?")
    scope = {"microsoft_ads": "https://ads.microsoft.com/msads.manage offline_access",
             "linkedin": "r_ads_reporting"}[platform]
    assert consent["scope"] == scope
    assert ("code_challenge" in consent) is pkce
    (sent,) = received
    assert ("code_verifier" in sent) is pkce
    if pkce:
        assert s256(sent["code_verifier"]) == consent["code_challenge"]
    assert sent.get("scope") == (scope if platform == "microsoft_ads" else None)
    assert f"{platform}:{form['account_id']} connected" in landed
    (account,) = accounts(engine)
    assert account.credentials["refresh_token"] == f"{platform}-refresh"
    assert account.credentials["client_id"] == f"{platform.split('_')[0]}-app"


def test_declined_consent_a_forged_state_and_a_refused_code_store_nothing(
    app: Flask, client: FlaskClient, site: CreatedSite, signed_in: str, engine: Engine,
    httpserver: HTTPServer,
) -> None:
    received = token_endpoint(httpserver, "/oauth/v2/accessToken", {
        "error": "invalid_request", "error_description": "Unable to retrieve access token: "
                                                         "authorization code not found"}, 400)
    callback = "/dashboard/setup/spend/oauth/callback"

    declined_state = consent_query(start(client, site, signed_in, "linkedin",
                                         account_id="5074"))["state"]
    declined = flashed(client, client.get(callback, query_string={
        "state": declined_state, "error": "user_cancelled_authorize",
        "error_description": "The user cancelled the authorization"}))
    denied_state = consent_query(start(client, site, signed_in, "linkedin",
                                       account_id="5074"))["state"]
    denied = flashed(client, client.get(callback, query_string={
        "state": denied_state, "error": "access_denied"}))
    forged_state = consent_query(start(client, site, signed_in, "linkedin",
                                       account_id="5074"))["state"]
    forged = flashed(client, client.get(callback, query_string={
        "state": forged_state[:-2] + "xx", "code": "c"}))
    # Another browser of the same user finishing this browser's consent.
    elsewhere_state = consent_query(start(client, site, signed_in, "linkedin",
                                          account_id="5074"))["state"]
    other_browser = app.test_client()
    assert log_in(other_browser, USER).status_code == 302
    foreign = flashed(other_browser, other_browser.get(callback, query_string={
        "state": elsewhere_state, "code": "c"}))
    refused_state = consent_query(start(client, site, signed_in, "linkedin",
                                        account_id="5074"))["state"]
    refused = flashed(client, client.get(callback, query_string={
        "state": refused_state, "code": "expired-code"}))

    assert "Not connected: LinkedIn refused the sign-in (user_cancelled_authorize): The user " \
           "cancelled the authorization. Nothing was stored." in declined
    assert "access to LinkedIn was not granted (consent declined)" in denied
    assert "does not carry LeadTrail&#39;s signature" in forged
    assert "not started from this browser" in foreign
    assert "authorization code not found" in refused and "Nothing was stored" in refused
    assert [form["code"] for form in received] == ["expired-code"]
    assert accounts(engine) == []


@pytest.mark.parametrize(("platform", "form", "field"), [
    ("google_ads", {"account_id": "123-456-7890", "mapping_campaign_from": "utm"},
     "mapping.campaign_from"),
    ("microsoft_ads", {"account_id": "222"}, "credentials.customer_id"),
    ("google_ads", {"account_id": "12 34"}, "account_id"),
    ("google_ads", {"account_id": "1234567890", "start_day": "yesterday"}, "start_day"),
    ("meta", {"account_id": "act_1"}, "platform"),
])
def test_a_bad_form_is_refused_before_anyone_is_sent_to_consent(
    client: FlaskClient, site: CreatedSite, signed_in: str, engine: Engine, platform: str,
    form: dict[str, str], field: str,
) -> None:
    refused = start(client, site, signed_in, platform, **form)

    assert refused.status_code == 200
    text = refused.get_data(as_text=True)
    assert f'data-error-for="{field}"' in text and f'data-field="{field}"' in text
    assert accounts(engine) == []


def test_the_connect_form_takes_mapping_overrides_and_names_a_bad_one_by_its_field(
    client: FlaskClient, site: CreatedSite, signed_in: str, engine: Engine,
) -> None:
    path = f"/dashboard/setup/spend?site={site.site.id}"
    form = {"csrf_token": signed_in, "platform": "meta", "account_id": "act_42",
            "access_token": "EAAB-system-user", "mapping_source": "FB",
            "mapping_campaign_from": "id", "mapping_keyword_from": "group_name"}

    bad = client.post(path, data={**form, "mapping_keyword_from": "headline"})
    page = bad.get_data(as_text=True)
    connected = client.post(path, data=form)

    assert bad.status_code == 200
    assert 'data-error-for="mapping.keyword_from"' in page
    assert 'id="a-mapping-keyword_from" name="mapping_keyword_from" aria-invalid="true"' in page
    assert 'value="FB"' in page and "EAAB-system-user" not in page
    assert connected.status_code == 302
    (account,) = accounts(engine)
    assert account.mapping == {"source": "FB", "campaign_from": "id",
                               "keyword_from": "group_name"}
    # Lower-cased where it is used, as the collector lower-cases utm_source.
    assert account_mapping("meta", account.mapping).to_json() == {
        "source": "fb", "medium": "paid", "campaign_from": "id", "keyword_from": "group_name"}
