"""``leadtrail leads list|show|stage|rescore`` and ``leadtrail gdpr erase``."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from sqlalchemy import select

from tracker.cli.common import in_transaction
from tracker.leads import service
from tracker.leads.erasure import erase_person
from tracker.leads.scoring import rescore_lead
from tracker.leads.stages import check_stage
from tracker.models import Lead
from tracker.models.base import utcnow
from tracker.sites.service import find_site
from tracker.sites.settings import site_settings

leads_group = AppGroup("leads", help="Leads: list, journey, stage, rescore.")
gdpr_group = AppGroup("gdpr", help="Privacy requests.")


@leads_group.command("list")
@click.option("--site", required=True, help="Site id or name.")
@click.option("--stage", default=None)
@click.option("--first-channel", default=None)
@click.option("--created-from", default=None, help="ISO time, e.g. 2026-01-01T00:00:00Z")
@click.option("--created-to", default=None)
@click.option("--limit", default="100")
def list_command(
    site: str,
    stage: str | None,
    first_channel: str | None,
    created_from: str | None,
    created_to: str | None,
    limit: str,
) -> None:
    """Leads of SITE, newest first (tab-separated)."""
    args = {
        k: v
        for k, v in {
            "stage": stage,
            "first_channel": first_channel,
            "created_from": created_from,
            "created_to": created_to,
            "limit": limit,
        }.items()
        if v is not None
    }
    with in_transaction() as session:
        found = find_site(session, site)
        for lead, channel in service.list_leads(
            session, found.id, service.LeadFilter.from_args(args)
        ):
            click.echo(
                f"{lead.id}\t{lead.email}\t{lead.stage}\t{lead.score}\t{channel or '-'}\t"
                f"{lead.created_at:%Y-%m-%d %H:%M}"
            )


@leads_group.command("show")
@click.option("--site", required=True)
@click.argument("lead")
def show_command(site: str, lead: str) -> None:
    """One lead's journey as JSON (LEAD is an id or an email)."""
    with in_transaction() as session:
        found = find_site(session, site)
        record = service.lead_by_reference(session, found.id, lead)
        journey = service.lead_journey(session, record, site_settings(found).mql_threshold)
    click.echo(json.dumps(journey, indent=2))


@leads_group.command("stage")
@click.option("--site", required=True)
@click.argument("lead")
@click.argument("stage")
@click.option("--detail", default=None)
def stage_command(site: str, lead: str, stage: str, detail: str | None) -> None:
    """Move LEAD (id or email) to STAGE by hand."""
    with in_transaction() as session:
        found = find_site(session, site)
        record = service.lead_by_reference(session, found.id, lead)
        request = service.StageRequest(str(record.id), check_stage(stage), None, detail)
        service.apply_stage_requests(session, found.id, [request], utcnow())
    click.echo(f"{lead} is now {stage}")


@leads_group.command("rescore")
@click.option("--site", required=True)
def rescore_command(site: str) -> None:
    """Recompute every lead's score of SITE (after changing the rules, or for decay)."""
    now = utcnow()
    with in_transaction() as session:
        found = find_site(session, site)
        settings = site_settings(found)
        rules = settings.scoring_rules
        leads = session.scalars(select(Lead).where(Lead.site_id == found.id)).all()
        with click.progressbar(leads, label="rescoring") as bar:
            for lead in bar:
                rescore_lead(session, lead, rules, settings.mql_threshold, now)
    click.echo(f"rescored {len(leads)} leads")


@gdpr_group.command("erase")
@click.option("--site", required=True)
@click.option("--email", required=True)
def erase_command(site: str, email: str) -> None:
    """Remove the person with EMAIL everywhere (lead, devices, sessions, events, history)."""
    with in_transaction() as session:
        found = find_site(session, site)
        erased = erase_person(session, service.lead_for_email(session, found.id, email))
    click.echo(
        f"erased 1 lead, {erased.visitors} visitors, {erased.sessions} sessions, "
        f"{erased.events} events"
    )
