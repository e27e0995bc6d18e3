"""The ``leadtrail`` commands, through Flask's CLI runner against both databases."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import Unauthorized
from tracker.models import ApiKey, Site
from tracker.sites.keys import authenticate_api_key


def test_sites_create_prints_keys_and_the_script_tag(
    runner: FlaskCliRunner, db_session: Session
) -> None:
    result = runner.invoke(
        args=[
            "sites",
            "create",
            "Acme",
            "--domain",
            "acme.com",
            "--domain",
            "www.acme.com",
            "--set",
            "session_timeout_minutes=45",
            "--collector-url",
            "https://t.acme.com",
        ]
    )

    assert result.exit_code == 0, result.output
    write_key = re.search(r"write key:\s+(\S+)", result.output).group(1)  # type: ignore[union-attr]
    secret = re.search(r"secret key:\s+(\S+)", result.output).group(1)  # type: ignore[union-attr]
    assert (
        f'<script async src="https://t.acme.com/t.js" data-key="{write_key}"></script>'
        in result.output
    )
    site = db_session.scalars(select(Site).where(Site.name == "Acme")).one()
    assert site.domains == ["acme.com", "www.acme.com"]
    assert site.settings["session_timeout_minutes"] == 45
    assert authenticate_api_key(db_session, secret).id == site.id
    assert secret not in db_session.scalars(select(ApiKey.secret_hash)).one()


def test_sites_create_refuses_a_bad_domain_and_writes_nothing(
    runner: FlaskCliRunner, db_session: Session
) -> None:
    result = runner.invoke(args=["sites", "create", "Bad", "--domain", "https://bad.com/path"])

    assert result.exit_code == 2
    assert "domains.0" in result.output
    assert db_session.scalars(select(Site)).all() == []


def test_sites_create_refuses_an_unknown_setting(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["sites", "create", "Bad", "--domain", "bad.com", "--set", "colour=red"]
    )

    assert result.exit_code == 2
    assert "settings.colour" in result.output


@pytest.mark.committed  # under savepoint rollback the revocation is not seen (not investigated)
def test_keys_create_and_revoke(runner: FlaskCliRunner, db_session: Session) -> None:
    runner.invoke(args=["sites", "create", "Acme", "--domain", "acme.com"])
    created = runner.invoke(args=["keys", "create", "Acme", "--name", "reporting"])
    key_id = re.search(r"key id:\s+(\S+)", created.output).group(1)  # type: ignore[union-attr]
    secret = re.search(r"secret key:\s+(\S+)", created.output).group(1)  # type: ignore[union-attr]
    assert authenticate_api_key(db_session, secret).name == "Acme"

    revoked = runner.invoke(args=["keys", "revoke", "Acme", key_id])
    listed = runner.invoke(args=["keys", "list", "Acme"])

    db_session.rollback()  # end the read transaction so the revocation is visible
    assert revoked.exit_code == 0
    assert f"{key_id}\treporting\trevoked" in listed.output
    with pytest.raises(Unauthorized):
        authenticate_api_key(db_session, secret)


@pytest.mark.committed  # alembic reads the revision on a connection of its own
def test_db_current_reports_head(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["db", "current"])

    assert result.exit_code == 0
    assert "up to date" in result.output


def test_sites_demo_is_idempotent(runner: FlaskCliRunner, db_session: Session) -> None:
    first = runner.invoke(args=["sites", "demo"])
    second = runner.invoke(args=["sites", "demo"])

    assert first.exit_code == second.exit_code == 0
    assert "created the demo site" in first.output and "created" not in second.output
    assert len(db_session.scalars(select(Site)).all()) == 1
