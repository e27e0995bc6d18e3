"""Settings come from LEADTRAIL_* variables; a bad value names its variable."""

from __future__ import annotations

import pytest

from tracker.config import DEFAULT_DATABASE_URL, ConfigError, Settings


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})

    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.is_sqlite


def test_variables_are_coerced() -> None:
    settings = Settings.from_env(
        {
            "LEADTRAIL_PORT": "9000",
            "LEADTRAIL_SERVER_COOKIE": "no",
            "LEADTRAIL_DATABASE_URL": "postgres://u@h/db",
        }
    )

    assert settings.port == 9000
    assert settings.server_cookie is False
    assert settings.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEADTRAIL_PORT", "eighty"),
        ("LEADTRAIL_PORT", "70000"),
        ("LEADTRAIL_WORKERS", "0"),
        ("LEADTRAIL_SERVER_COOKIE", "maybe"),
        ("LEADTRAIL_DATABASE_URL", "mysql://x"),
        ("LEADTRAIL_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_value_fails_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})

    assert caught.value.variable == variable
    assert variable in str(caught.value)


def test_every_field_has_a_documented_variable() -> None:
    names = [name for name, _ in Settings.variables()]

    assert all(name.startswith("LEADTRAIL_") for name in names)
    assert len(names) == len(set(names))
