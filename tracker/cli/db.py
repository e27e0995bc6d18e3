"""``leadtrail db upgrade|downgrade|current``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from tracker import migrate
from tracker.db import get_engine

db_group = AppGroup("db", help="Schema migrations (Alembic).")


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    migrate.upgrade(get_engine(), revision)
    click.echo(f"database at {migrate.current_revision(get_engine())}")


@db_group.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (``base`` for an empty schema)."""
    migrate.downgrade(get_engine(), revision)
    click.echo(f"database at {migrate.current_revision(get_engine()) or 'base'}")


@db_group.command("current")
def current() -> None:
    """Print the database's revision and whether it is the newest."""
    revision = migrate.current_revision(get_engine())
    state = (
        "up to date" if migrate.is_current(get_engine()) else f"head is {migrate.head_revision()}"
    )
    click.echo(f"{revision or 'base'} ({state})")


@db_group.command("analyze")
def analyze() -> None:
    """Refresh the query planner's statistics (after a bulk load, or on a fresh database)."""
    migrate.analyze(get_engine())
    click.echo("statistics refreshed")
