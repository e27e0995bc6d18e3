"""Lead scoring: per-site rules turn a lead's activity into points, with caps and decay.

A rule matches events (page views by path pattern, form submits, identify calls, custom events
by name) or counts visits (``return_visit``: every session after the first; ``page_depth``:
every page view). Each match gives ``points``, optionally halved every ``half_life_days`` of
age; a rule's total is capped at ``cap``. The score is the sum of the rules' totals, rounded.
Every change of a rule's contribution is kept as score history, and reaching the site's MQL
threshold moves a lead at stage ``lead`` to ``mql``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tracker.db import transaction
from tracker.leads.identity import lead_sessions
from tracker.leads.stages import change_stage
from tracker.models import Event, Lead, ScoreChange, VisitSession
from tracker.rules.score_rules import (
    Activity,
    ScoreRule,
    score_activity,
)


class _SiteLike(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def settings(self) -> Any: ...


class _DeviceLike(Protocol):
    @property
    def is_bot(self) -> bool: ...


class PreparedBatchLike(Protocol):
    """What rescoring needs of a collector batch (``tracker.collect.service.PreparedBatch``)."""

    @property
    def site(self) -> _SiteLike: ...

    @property
    def visitor_id(self) -> str: ...

    @property
    def device(self) -> _DeviceLike: ...


def lead_activity(session: Session, lead: Lead,
                  visits: Sequence[VisitSession] | None = None) -> list[Activity]:
    """What the lead did: return visits and the events of its sessions (``visits``, when the
    caller has just read them)."""
    if visits is None:
        visits = lead_sessions(session, lead)
    activity = [Activity("return_visit", visit.started_at) for visit in visits[1:]]
    if not visits:
        return activity
    events = session.execute(
        select(Event.type, Event.occurred_at, Event.path, Event.name).where(
            Event.site_id == lead.site_id, Event.session_id.in_([visit.id for visit in visits])
        )
    )
    activity += [Activity(row.type, row.occurred_at, row.path, row.name) for row in events]
    return activity


def rescore_active_leads(
    engine: Engine,
    batches: Sequence[PreparedBatchLike],
    leads_by_site: Mapping[int, Sequence[uuid.UUID]],
    rescored: Collection[uuid.UUID] = (),
) -> None:
    """Rescore the leads whose visitors just sent events (found by the collector inside its
    write transaction), except those the write's own transaction ``rescored`` already;
    nothing happens, and no transaction opens, when none are left."""
    leads_by_site = {site_id: left for site_id, lead_ids in leads_by_site.items()
                     if (left := [lead_id for lead_id in lead_ids if lead_id not in rescored])}
    if not leads_by_site:
        return
    sites = {batch.site.id: batch.site for batch in batches}
    now = dt.datetime.now(dt.UTC)
    with transaction(engine) as session:
        for site_id, lead_ids in leads_by_site.items():
            site = sites[site_id]
            rules = site.settings.scoring_rules
            query = select(Lead).where(Lead.site_id == site_id, Lead.id.in_(lead_ids))
            for lead in session.scalars(query):
                rescore_lead(session, lead, rules, site.settings.mql_threshold, now)


def rescore_lead(
    session: Session,
    lead: Lead,
    rules: Sequence[ScoreRule],
    mql_threshold: int,
    now: dt.datetime,
    visits: Sequence[VisitSession] | None = None,
    new_lead: bool = False,
) -> int:
    """Recompute ``lead.score``; record what changed; promote to MQL at the threshold.
    ``visits``: the lead's sessions, when the caller has just read them; ``new_lead``: the
    lead was created in this transaction, so it has no score history to read."""
    if visits is None:
        visits = lead_sessions(session, lead)  # flushed first: pending links count
    # The other reads need nothing pending (events are written by the collector, a lead's
    # score changes are flushed by its last rescoring): not flushing before them lets the
    # lead's pending changes (its first session) and its new score go out as one UPDATE.
    with session.no_autoflush:
        totals = score_activity(rules, lead_activity(session, lead, visits), now)
        before = {} if new_lead else dict(
            session.execute(
                select(ScoreChange.rule, func.sum(ScoreChange.points))
                .where(ScoreChange.site_id == lead.site_id, ScoreChange.lead_id == lead.id)
                .group_by(ScoreChange.rule)
            ).all()
        )
    rounded = {name: round(value) for name, value in totals.items()}
    score = sum(rounded.values())
    for name, value in rounded.items():
        delta = value - int(before.get(name) or 0)
        if delta:
            session.add(
                ScoreChange(
                    site_id=lead.site_id,
                    id=uuid.uuid4(),
                    lead_id=lead.id,
                    rule=name,
                    points=delta,
                    score_after=score,
                    scored_at=now,
                )
            )
    lead.score = score
    if lead.stage == "lead" and score >= mql_threshold:
        change_stage(session, lead, "mql", cause="score", at=now, detail=f"score {score}")
    session.flush()
    return score
