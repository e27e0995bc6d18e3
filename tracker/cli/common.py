"""Helpers shared by the command modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from tracker.db import get_engine
from tracker.errors import LeadTrailError


def echo_error(error: LeadTrailError) -> None:
    where = f" ({error.field})" if error.field else ""
    click.echo(f"error{where}: {error.message}", err=True)


@contextmanager
def in_transaction() -> Iterator[Session]:
    """A session in one transaction; a domain error becomes a clean CLI error, exit code 2."""
    try:
        with Session(get_engine(), expire_on_commit=False) as session, session.begin():
            yield session
    except LeadTrailError as error:
        echo_error(error)
        for field, message in getattr(error, "problems", [])[1:]:
            click.echo(f"error ({field}): {message}", err=True)
        raise click.exceptions.Exit(2) from None
