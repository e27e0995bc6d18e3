"""Runtime configuration: one frozen ``Settings`` read from ``LEADTRAIL_*`` variables.

Each variable has an explicit coercer and default; a bad value fails naming its variable.
Nothing else in the service reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

Number = TypeVar("Number", int, float)

DEFAULT_DATABASE_URL = "sqlite:///leadtrail.db"


class ConfigError(ValueError):
    """A ``LEADTRAIL_*`` variable holds a value we cannot use."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


def _as_number(kind: type[Number], minimum: Number, maximum: Number) -> Callable[[str], Number]:
    def coerce(raw: str) -> Number:
        try:
            value = kind(raw)
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise ValueError(f"expected {noun}, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ValueError(f"expected a number from {minimum} to {maximum}, got {value}")
        return value

    return coerce


def _as_int(minimum: int, maximum: int) -> Callable[[str], int]:
    return _as_number(int, minimum, maximum)


def _as_float(minimum: float, maximum: float) -> Callable[[str], float]:
    return _as_number(float, minimum, maximum)


def _as_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _as_database_url(raw: str) -> str:
    if not raw.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")):
        raise ValueError("expected a sqlite:// or postgresql:// URL")
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw.removeprefix("postgres://")
    if raw.startswith("postgresql://"):
        # psycopg 3 is the driver we install; SQLAlchemy's bare scheme means psycopg2.
        raw = "postgresql+psycopg://" + raw.removeprefix("postgresql://")
    return raw


def _as_text(raw: str) -> str:
    return raw.strip()


# Published defaults (ours before issue 11, Flask's docs): a session signed with one is forgeable.
KNOWN_SECRET_KEYS = frozenset({"dev-insecure-change-me", "dev", "secret", "changeme"})
MIN_SECRET_KEY_LENGTH = 32


def _as_secret_key(raw: str) -> str:
    key = raw.strip()
    if key in KNOWN_SECRET_KEYS:
        raise ValueError("a published default key; generate one with secrets.token_urlsafe(48)")
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ValueError(f"expected at least {MIN_SECRET_KEY_LENGTH} random characters")
    return key


def _as_log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return level


def _env(variable: str, coerce: Callable[[str], Any], default: Any) -> Any:
    return field(default=default, metadata={"variable": variable, "coerce": coerce})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service can be told from outside.

    Build it with :meth:`from_env`; tests build it directly with keyword arguments.
    """

    database_url: str = _env("LEADTRAIL_DATABASE_URL", _as_database_url, DEFAULT_DATABASE_URL)
    # Empty: generated and kept beside an SQLite database (tracker/secret_key.py).
    secret_key: str = _env("LEADTRAIL_SECRET_KEY", _as_secret_key, "")
    host: str = _env("LEADTRAIL_HOST", _as_text, "127.0.0.1")
    port: int = _env("LEADTRAIL_PORT", _as_int(1, 65535), 8000)
    workers: int = _env("LEADTRAIL_WORKERS", _as_int(1, 64), 2)
    threads: int = _env("LEADTRAIL_THREADS", _as_int(1, 256), 16)
    log_level: str = _env("LEADTRAIL_LOG_LEVEL", _as_log_level, "INFO")
    # The collector groups concurrent batches into one transaction; this bounds the wait
    # a request spends for companions before its group is written (milliseconds).
    commit_window_ms: float = _env("LEADTRAIL_COMMIT_WINDOW_MS", _as_float(0.0, 100.0), 2.0)
    # Python's GIL switch interval in the server's workers (milliseconds); see cli/serve.py.
    switch_interval_ms: float = _env("LEADTRAIL_SWITCH_INTERVAL_MS", _as_float(0.1, 100.0), 0.5)
    # Behind a reverse proxy the client address comes from X-Forwarded-For; trust this many hops.
    trusted_proxies: int = _env("LEADTRAIL_TRUSTED_PROXIES", _as_int(0, 10), 0)
    # Redis shared by a fleet for sign-in throttling; empty: counts kept in each process.
    redis_url: str = _env("LEADTRAIL_REDIS_URL", _as_text, "")
    # Bodies larger than this are refused before parsing (bytes).
    max_body_bytes: int = _env("LEADTRAIL_MAX_BODY_BYTES", _as_int(1024, 10_485_760), 65_536)
    # Set the visitor cookie from the server when the collector runs on the site's own domain.
    server_cookie: bool = _env("LEADTRAIL_SERVER_COOKIE", _as_bool, True)
    # Count bot traffic but keep it out of sessions.
    keep_bot_sessions: bool = _env("LEADTRAIL_KEEP_BOT_SESSIONS", _as_bool, False)
    # Serve the demo pages at /demo/ (``make run``); off in production.
    demo: bool = _env("LEADTRAIL_DEMO", _as_bool, False)
    # Run one refresh worker as a process beside `leadtrail serve`'s (one command on one box);
    # fleets set it off and run `leadtrail worker` processes instead (docs/reports.md).
    builtin_worker: bool = _env("LEADTRAIL_BUILTIN_WORKER", _as_bool, True)
    # Queue items one worker transaction takes at most (of one site).
    worker_batch_size: int = _env("LEADTRAIL_WORKER_BATCH_SIZE", _as_int(1, 100_000), 500)
    # How long an idle worker sleeps before it looks at the queue again (seconds).
    worker_poll_seconds: float = _env("LEADTRAIL_WORKER_POLL_SECONDS", _as_float(0.01, 60.0), 0.5)
    # Data-driven models (Markov, Shapley) learn their channel shares again when this many
    # conversions arrived since the fit, or this share of the conversions it learned from,
    # whichever is larger, or when the fit is this old and the site changed since
    # (tracker/credits/refit.py).
    refit_min_conversions: int = _env(
        "LEADTRAIL_REFIT_MIN_CONVERSIONS", _as_int(1, 10_000_000), 20
    )
    refit_growth: float = _env("LEADTRAIL_REFIT_GROWTH", _as_float(0.0, 100.0), 0.10)
    refit_max_age_hours: float = _env(
        "LEADTRAIL_REFIT_MAX_AGE_HOURS", _as_float(0.01, 8760.0), 24.0
    )
    # The operator's OAuth apps with the ad platforms, for the dashboard's "Connect with …"
    # buttons (docs/spend.md); a platform whose client id (and secret, developer token where
    # it needs them) is not set has no button: its tokens are pasted or come from
    # `leadtrail spend authorize`.
    google_ads_client_id: str = _env("LEADTRAIL_GOOGLE_ADS_CLIENT_ID", _as_text, "")
    google_ads_client_secret: str = _env("LEADTRAIL_GOOGLE_ADS_CLIENT_SECRET", _as_text, "")
    google_ads_developer_token: str = _env("LEADTRAIL_GOOGLE_ADS_DEVELOPER_TOKEN", _as_text, "")
    microsoft_ads_client_id: str = _env("LEADTRAIL_MICROSOFT_ADS_CLIENT_ID", _as_text, "")
    microsoft_ads_client_secret: str = _env("LEADTRAIL_MICROSOFT_ADS_CLIENT_SECRET", _as_text,
                                            "")
    microsoft_ads_developer_token: str = _env("LEADTRAIL_MICROSOFT_ADS_DEVELOPER_TOKEN",
                                              _as_text, "")
    linkedin_client_id: str = _env("LEADTRAIL_LINKEDIN_CLIENT_ID", _as_text, "")
    linkedin_client_secret: str = _env("LEADTRAIL_LINKEDIN_CLIENT_SECRET", _as_text, "")
    # Send those apps' consent and token requests to this base URL instead, keeping the
    # platforms' paths: a local stand-in for the platforms (tests, trials). Empty: the
    # platforms' own servers.
    oauth_base_url: str = _env("LEADTRAIL_OAUTH_BASE_URL", _as_text, "")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every ``LEADTRAIL_*`` variable; raise :class:`ConfigError` naming a bad one."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            variable = spec.metadata["variable"]
            raw = environ.get(variable)
            if raw is None:
                continue
            try:
                values[spec.name] = spec.metadata["coerce"](raw)
            except ValueError as exc:
                raise ConfigError(variable, str(exc)) from None
        return cls(**values)

    @classmethod
    def variables(cls) -> list[tuple[str, object]]:
        """``(variable, default)`` pairs, for the README and ``leadtrail --help``."""
        return [(f.metadata["variable"], f.default) for f in fields(cls)]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
