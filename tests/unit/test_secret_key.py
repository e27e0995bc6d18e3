"""The session-signing key: never a published default; generated once beside an SQLite
database; required for PostgreSQL beyond loopback."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tracker import create_app
from tracker.config import ConfigError, Settings
from tracker.secret_key import app_secret_key, key_file, serving_secret_key

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/leadtrail"


def test_a_published_or_short_key_is_refused_naming_the_variable() -> None:
    for value in ("dev-insecure-change-me", "short-key"):
        with pytest.raises(ConfigError) as refused:
            Settings.from_env({"LEADTRAIL_SECRET_KEY": value})
        assert refused.value.variable == "LEADTRAIL_SECRET_KEY"


def test_serve_keeps_one_generated_key_beside_the_sqlite_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'leadtrail.db'}")

    first = serving_secret_key(settings)
    second = serving_secret_key(settings)
    path = key_file(settings)

    assert path == tmp_path / "leadtrail.db.secret-key"
    assert first == second and len(first) >= 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert app_secret_key(settings) == first
    assert create_app(settings).config["SECRET_KEY"] == first


def test_without_a_key_file_each_app_gets_a_random_key_never_a_default(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fresh.db'}")

    keys = {app_secret_key(settings) for _ in range(3)}

    assert len(keys) == 3 and "dev-insecure-change-me" not in keys
    assert key_file(settings) is not None and not key_file(settings).exists()  # type: ignore[union-attr]


def test_postgresql_needs_a_key_unless_it_serves_loopback_only() -> None:
    with pytest.raises(ConfigError) as refused:
        serving_secret_key(Settings(database_url=POSTGRES, host="0.0.0.0"))

    assert refused.value.variable == "LEADTRAIL_SECRET_KEY"
    assert len(serving_secret_key(Settings(database_url=POSTGRES, host="127.0.0.1"))) >= 48
    configured = Settings(database_url=POSTGRES, host="0.0.0.0", secret_key="k" * 40)
    assert serving_secret_key(configured) == "k" * 40
