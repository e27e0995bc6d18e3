"""``leadtrail calls``: the call inbox (calls stored by a webhook but not applied)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from tracker.calls.inbox import REPLAY_BATCH, pending_calls, replay_calls
from tracker.cli.common import in_transaction
from tracker.db import get_engine
from tracker.sites.service import find_site

calls_group = AppGroup("calls", help="Tracked phone calls.")


@calls_group.command("replay")
@click.option("--site", help="Only this site (id or name); default: every site.")
@click.option("--limit", default=REPLAY_BATCH, show_default=True, type=click.IntRange(1))
def replay(site: str | None, limit: int) -> None:
    """Apply again the calls that failed (or were stored and never applied)."""
    with in_transaction() as session:
        site_id = find_site(session, site).id if site else None
        keys = pending_calls(session, site_id, limit)
    result = replay_calls(get_engine(), keys)
    click.echo(f"replayed {len(keys)}: {result.applied} applied, {result.failed} failed")
    if result.failed:
        raise click.exceptions.Exit(1)
