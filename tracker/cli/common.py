"""Helpers shared by the command modules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask import current_app
from sqlalchemy.orm import Session

from tracker.config import Settings
from tracker.db import get_engine, transaction
from tracker.errors import LeadTrailError


def echo_error(error: LeadTrailError) -> None:
    where = f" ({error.field})" if error.field else ""
    click.echo(f"error{where}: {error.message}", err=True)


@contextmanager
def in_transaction() -> Iterator[Session]:
    """A session in one read-then-write transaction; a domain error becomes a clean CLI error,
    exit code 2."""
    try:
        with transaction(get_engine()) as session:
            yield session
    except LeadTrailError as error:
        echo_error(error)
        for field, message in getattr(error, "problems", [])[1:]:
            click.echo(f"error ({field}): {message}", err=True)
        raise click.exceptions.Exit(2) from None


def parse_pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    """``KEY=VALUE`` options as a mapping; a malformed one is a usage error naming the option."""
    found = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint=option)
        found[key.strip()] = text
    return found


def load_credentials_file(path: Path | None) -> dict[str, Any]:
    """The JSON object of a ``--credentials-file`` (secrets kept off the command line)."""
    if path is None:
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--credentials-file") from None
    if not isinstance(loaded, dict):
        raise click.BadParameter("expected a JSON object", param_hint="--credentials-file")
    return loaded


def server_url(settings: Settings | None = None) -> str:
    """Where this server answers, as a browser on this machine reaches it (a wildcard bind
    is reached through the loopback address)."""
    settings = settings or current_app.config["LEADTRAIL_SETTINGS"]
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"
