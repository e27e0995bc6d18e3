"""``leadtrail worker [--once]``: drain the refresh queue (credits, fits, rollups), pull
the ad spend that is due and send the conversions owed to ad platforms."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from tracker.config import Settings
from tracker.costs.adspend.pull import pull_due
from tracker.costs.adspend.pull import start_thread as start_spend_thread
from tracker.db import get_engine
from tracker.destinations import sender
from tracker.runtime import freeze_startup_heap
from tracker.worker.process import exit_with_parent
from tracker.worker.runner import Worker


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Drain what is due, then exit (for cron).")
@click.option("--batch-size", type=click.IntRange(1, 100_000),
              help="Items per transaction (LEADTRAIL_WORKER_BATCH_SIZE).")
@click.option("--max-seconds", type=click.FloatRange(0.1), help="With --once: stop after this.")
def worker_command(once: bool, batch_size: int | None, max_seconds: float | None) -> None:
    """Recompute what writes made stale and pull the ad spend that is due, until stopped
    (SIGTERM/SIGINT finish the current batch). Any number of workers may run at once."""
    settings: Settings = current_app.config["LEADTRAIL_SETTINGS"]
    worker = Worker.from_settings(get_engine(), settings, batch_size)
    freeze_startup_heap()
    if once:
        spend = pull_due(get_engine())
        progress = worker.run_once(max_seconds=max_seconds)
        # After the refresh: conversions queued by this run's writers are sent too.
        conversions = sender.drain(get_engine())
        click.echo(
            f"refreshed {progress.items} items ({progress.leads} leads) in "
            f"{progress.batches} batches, {progress.seconds:.2f}s; {progress.failures} failed"
        )
        if spend.accounts:
            click.echo(f"pulled spend of {spend.accounts} ad accounts ({spend.rows} rows); "
                       f"{spend.failures} failed")
        if conversions.sent or conversions.retrying or conversions.dead:
            click.echo(f"conversions sent {conversions.sent}, retrying {conversions.retrying}, "
                       f"dead {conversions.dead}")
        if progress.failures or spend.failures:
            raise click.exceptions.Exit(1)
        return
    stop = threading.Event()

    def finish(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    click.echo("worker started; SIGTERM or Ctrl-C stops it after the current batch")
    exit_with_parent(stop)  # a `leadtrail serve`'s built-in worker goes with its server
    start_spend_thread(get_engine(), stop)
    sender.start_thread(get_engine(), stop)
    worker.run_forever(stop, settings.worker_poll_seconds)
