"""The ``leadtrail`` command: Flask's CLI group; each module here holds one command group,
registered on the app by :func:`register_commands` so ``app.test_cli_runner()`` sees them.

Commands parse, call a service, echo. The app comes from ``create_app`` with settings from
the environment.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup


def register_commands(app: Flask) -> None:
    from tracker.cli.attribution import attribution_group
    from tracker.cli.calls import calls_group
    from tracker.cli.costs import costs_group
    from tracker.cli.crm import crm_group
    from tracker.cli.db import db_group
    from tracker.cli.demo import demo_command
    from tracker.cli.destinations import destinations_group
    from tracker.cli.leads import gdpr_group, leads_group
    from tracker.cli.rollups import rollups_group
    from tracker.cli.serve import serve_command
    from tracker.cli.sites import keys_group, sites_group
    from tracker.cli.spend import spend_group, sync_command
    from tracker.cli.users import users_group
    from tracker.cli.worker import worker_command

    for command in (
        db_group,
        sites_group,
        keys_group,
        leads_group,
        gdpr_group,
        costs_group,
        spend_group,
        attribution_group,
        rollups_group,
        crm_group,
        calls_group,
        destinations_group,
        users_group,
        serve_command,
        demo_command,
        worker_command,
    ):
        app.cli.add_command(command)
    # ``costs pull``: the spend pull where imports live too (same command as ``spend sync``).
    costs_group.add_command(sync_command, name="pull")


def _make_app() -> Flask:
    from tracker import create_app

    return create_app()


@click.group(
    cls=FlaskGroup,
    create_app=_make_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
)
def cli() -> None:
    """LeadTrail: first-party marketing attribution."""
