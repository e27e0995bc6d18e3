"""The key that signs dashboard sessions and cross-domain tokens.

``LEADTRAIL_SECRET_KEY`` when set (a fleet must set it: every process signs with the same
key). Otherwise ``leadtrail serve`` on an SQLite file generates a random key on first start
and keeps it in a file beside the database (``<database>.secret-key``, mode 0600), so sessions
survive restarts and whoever can copy the database directory is the only one who could also
copy the key. On PostgreSQL without a key it serves only on a loopback address, with a random
key for that run. A well-known key is never used: anyone holding it could forge an admin's
session.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url

from tracker.config import ConfigError, Settings

logger = logging.getLogger(__name__)

KEY_FILE_SUFFIX = ".secret-key"
VARIABLE = "LEADTRAIL_SECRET_KEY"


def new_secret_key() -> str:
    return secrets.token_urlsafe(48)


def key_file(settings: Settings) -> Path | None:
    """Where the key of an SQLite file database lives; None for other databases."""
    if not settings.is_sqlite:
        return None
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + KEY_FILE_SUFFIX)


def read_key_file(settings: Settings) -> str | None:
    path = key_file(settings)
    if path is None or not path.exists():
        return None
    return path.read_text(encoding="utf-8").strip() or None


def _create_key_file(path: Path) -> str:
    """Write a new key with O_EXCL (two processes starting at once keep one key)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(new_secret_key() + "\n")
    return path.read_text(encoding="utf-8").strip()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serving_secret_key(settings: Settings) -> str:
    """The key ``leadtrail serve`` signs with (creating the SQLite key file on first start);
    :class:`ConfigError` naming the variable when none can be had safely."""
    if settings.secret_key:
        return settings.secret_key
    path = key_file(settings)
    if path is not None:
        try:
            return read_key_file(settings) or _create_key_file(path)
        except OSError as error:
            raise ConfigError(VARIABLE, f"unset, and {path} cannot be written: {error}") from None
    if is_loopback(settings.host):
        logger.warning("no LEADTRAIL_SECRET_KEY: a random key for this run only")
        return new_secret_key()
    raise ConfigError(
        VARIABLE,
        "required with PostgreSQL when serving beyond loopback: every process must sign "
        "sessions with the same secret key (e.g. python -c 'import secrets; "
        "print(secrets.token_urlsafe(48))')",
    )


def app_secret_key(settings: Settings) -> str:
    """The key an app built by ``create_app`` uses: the configured one, else the SQLite key
    file when ``leadtrail serve`` made one, else a random key for this app only (never a
    fixed default; creates nothing)."""
    return settings.secret_key or read_key_file(settings) or new_secret_key()
