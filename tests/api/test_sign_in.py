"""Dashboard sessions and sign-in on SQLite and PostgreSQL: cookie flags, server-side
invalidation on sign-out and password change, throttling per account and per address with
every refusal logged (in-process and over a real Redis), the password rule."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.api.test_dashboard import PASSWORD, csrf_from, log_in, make_user
from tests.factories import SiteMaker
from tests.unit.test_throttle import REDIS_URL, redis_client
from tracker import create_app
from tracker.accounts.users import set_password
from tracker.config import Settings
from tracker.models import User
from tracker.sites.service import CreatedSite
from tracker.throttle import FREE_FAILURES


@pytest.fixture
def site(sites: SiteMaker) -> CreatedSite:
    return sites.make()


def _cookie(response: object) -> str:
    cookies = [v for k, v in response.headers.items() if k == "Set-Cookie"]  # type: ignore[attr-defined]
    session = [c for c in cookies if c.startswith("session=")]
    assert session, cookies
    return str(session[-1])


def test_the_session_cookie_is_lax_http_only_and_secure_over_https(
    app: Flask, settings: Settings, engine: Engine, db_session: Session, site: CreatedSite
) -> None:
    make_user(db_session, "marketer@example.com", site.site.id)
    plain = log_in(app.test_client(), "marketer@example.com")
    proxied = create_app(dataclasses.replace(settings, trusted_proxies=1), engine=engine)
    https_client = proxied.test_client()
    token = csrf_from(https_client)
    over_https = https_client.post(
        "/dashboard/login",
        data={"email": "marketer@example.com", "password": PASSWORD, "csrf_token": token},
        headers={"X-Forwarded-Proto": "https"},
    )

    assert plain.status_code == over_https.status_code == 302
    assert "SameSite=Lax" in _cookie(plain) and "HttpOnly" in _cookie(plain)
    assert "Secure" not in _cookie(plain)
    assert "Secure" in _cookie(over_https) and "SameSite=Lax" in _cookie(over_https)


def _copy_of(browser: FlaskClient, app: Flask) -> FlaskClient:
    """Another client holding the same session cookie (a stolen or backed-up copy)."""
    thief = app.test_client()
    cookie = browser.get_cookie("session")
    assert cookie is not None
    thief.set_cookie("session", cookie.value)
    return thief


def test_signing_out_ends_every_copy_of_the_session(
    app: Flask, db_session: Session, site: CreatedSite
) -> None:
    make_user(db_session, "marketer@example.com", site.site.id)
    browser = app.test_client()
    log_in(browser, "marketer@example.com")
    copy = _copy_of(browser, app)
    assert copy.get(f"/dashboard/?site={site.site.id}").status_code == 200

    browser.post("/dashboard/logout", data={"csrf_token": csrf_from(browser, "/dashboard/")})

    assert copy.get(f"/dashboard/?site={site.site.id}").status_code == 302
    assert copy.get(f"/api/v1/reports/revenue?site={site.site.id}").status_code == 401
    log_in(browser, "marketer@example.com")
    assert browser.get(f"/dashboard/?site={site.site.id}").status_code == 200


def test_a_new_password_ends_every_session(
    app: Flask, db_session: Session, site: CreatedSite, runner: FlaskCliRunner
) -> None:
    make_user(db_session, "marketer@example.com", site.site.id)
    browser = app.test_client()
    log_in(browser, "marketer@example.com")

    changed = runner.invoke(args=["users", "password", "marketer@example.com",
                                  "--password", "another long passphrase"])

    assert changed.exit_code == 0, changed.output
    assert browser.get(f"/dashboard/?site={site.site.id}").status_code == 302
    assert log_in(browser, "marketer@example.com").status_code == 401
    assert log_in(browser, "marketer@example.com", "another long passphrase").status_code == 302


def test_a_common_or_short_password_is_refused(
    db_session: Session, runner: FlaskCliRunner
) -> None:
    common = runner.invoke(args=["users", "create", "a@example.com", "--password", "1qaz2wsx3edc"])
    short = runner.invoke(args=["users", "create", "b@example.com", "--password", "elevenchars"])
    user = make_user(db_session, "c@example.com")
    with db_session.begin():
        stored = db_session.get_one(User, user.id)
        with pytest.raises(Exception, match="too common"):
            set_password(db_session, stored, "password1234")

    assert common.exit_code == 2 and "too common" in common.output
    assert short.exit_code == 2 and "12 to 200" in short.output
    assert db_session.scalars(select(User.email)).all() == ["c@example.com"]


def _attempt(client: FlaskClient, email: str, password: str, address: str) -> object:
    token = csrf_from(client)
    return client.post(
        "/dashboard/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def _random_address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


@pytest.fixture(params=["memory", "redis"])
def throttled_app(request: pytest.FixtureRequest, app: Flask, settings: Settings,
                  engine: Engine) -> Iterator[Flask]:
    """The app with its sign-in counts in the process or in the real Redis (each test uses
    fresh emails and addresses: the counts of other runs expire by themselves)."""
    if request.param == "memory":
        yield create_app(settings, engine=engine)
        return
    client = redis_client()
    yield create_app(dataclasses.replace(settings, redis_url=REDIS_URL), engine=engine)
    client.close()


def test_wrong_passwords_throttle_the_account_even_for_the_right_one(
    throttled_app: Flask, db_session: Session, site: CreatedSite,
    caplog: pytest.LogCaptureFixture,
) -> None:
    email = f"m{secrets.token_hex(4)}@example.com"
    make_user(db_session, email, site.site.id)
    browser = throttled_app.test_client()
    address = _random_address()

    with caplog.at_level(logging.WARNING, logger="tracker"):
        wrong = [_attempt(browser, email, "not the password", address)
                 for _ in range(FREE_FAILURES)]
        right_but_throttled = _attempt(browser, email, PASSWORD, address)
        from_elsewhere = _attempt(browser, email, PASSWORD, _random_address())

    refusals = [r for r in caplog.records if r.getMessage() == "sign-in refused"]
    assert [r.status_code for r in wrong] == [401] * FREE_FAILURES  # type: ignore[attr-defined]
    assert right_but_throttled.status_code == 429  # type: ignore[attr-defined]
    assert int(right_but_throttled.headers["Retry-After"]) >= 1  # type: ignore[attr-defined]
    assert from_elsewhere.status_code == 429  # type: ignore[attr-defined]
    assert [r.reason for r in refusals] == (  # type: ignore[attr-defined]
        ["wrong_password"] * FREE_FAILURES + ["throttled", "throttled"])
    assert all(email not in r.getMessage() and email not in str(r.__dict__) for r in refusals)


def test_wrong_passwords_from_one_address_throttle_every_account_there(
    throttled_app: Flask, db_session: Session, site: CreatedSite
) -> None:
    victim = f"v{secrets.token_hex(4)}@example.com"
    make_user(db_session, victim, site.site.id)
    browser = throttled_app.test_client()
    address = _random_address()

    for n in range(FREE_FAILURES):
        _attempt(browser, f"guess{n}.{secrets.token_hex(3)}@example.com", "a guess", address)
    from_there = _attempt(browser, victim, PASSWORD, address)
    from_elsewhere = _attempt(browser, victim, PASSWORD, _random_address())

    assert from_there.status_code == 429  # type: ignore[attr-defined]
    assert from_elsewhere.status_code == 302  # type: ignore[attr-defined]


def _forged_cookie(secret_key: str, **values: object) -> str:
    forger = Flask("forger")
    forger.secret_key = secret_key
    serializer = forger.session_interface.get_signing_serializer(forger)  # type: ignore[attr-defined]
    assert serializer is not None
    return str(serializer.dumps(values))


def test_a_session_forged_with_the_old_default_key_opens_nothing(
    app: Flask, db_session: Session, site: CreatedSite
) -> None:
    admin = make_user(db_session, "admin@example.com", admin=True)
    forged = app.test_client()
    forged.set_cookie("session", _forged_cookie("dev-insecure-change-me", user_id=admin.id,
                                                generation=0))
    without_generation = app.test_client()
    without_generation.set_cookie(
        "session", _forged_cookie(app.config["SECRET_KEY"], user_id=admin.id))

    assert app.config["SECRET_KEY"] != "dev-insecure-change-me"
    assert forged.get("/dashboard/").status_code == 302
    assert without_generation.get("/dashboard/").status_code == 302


def test_changing_the_password_in_the_dashboard_ends_the_other_sessions_only(
    app: Flask, db_session: Session, site: CreatedSite
) -> None:
    make_user(db_session, "marketer@example.com", site.site.id)
    browser = app.test_client()
    log_in(browser, "marketer@example.com")
    other_device = app.test_client()
    log_in(other_device, "marketer@example.com")

    def change(current: str, new: str) -> object:
        token = csrf_from(browser, "/dashboard/account/password")
        return browser.post("/dashboard/account/password",
                            data={"current": current, "new": new, "csrf_token": token})

    wrong_current = change("not my password", "a brand new passphrase")
    too_common = change(PASSWORD, "1qaz2wsx3edc")
    changed = change(PASSWORD, "a brand new passphrase")

    assert wrong_current.status_code == 401  # type: ignore[attr-defined]
    assert too_common.status_code == 400  # type: ignore[attr-defined]
    assert "too common" in too_common.get_data(as_text=True)  # type: ignore[attr-defined]
    assert changed.status_code == 200  # type: ignore[attr-defined]
    assert browser.get(f"/dashboard/?site={site.site.id}").status_code == 200
    assert other_device.get(f"/dashboard/?site={site.site.id}").status_code == 302
    assert log_in(other_device, "marketer@example.com", "a brand new passphrase"
                  ).status_code == 302
