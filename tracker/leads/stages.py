"""Lead stages and their history.

lead → mql → sql → opportunity → customer, plus ``lost`` and ``nurture``. MQL comes from the
score; later stages from the CRM or a manual API call. Every transition is stored with its
time and cause, because the funnel and time-to-conversion figures read this history.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from tracker import changes
from tracker.errors import ValidationError
from tracker.models import Lead, StageChange

STAGES = ("lead", "mql", "sql", "opportunity", "customer", "lost", "nurture")
FUNNEL = ("lead", "mql", "sql", "opportunity", "customer")
CAUSES = frozenset({"identify", "form", "conversion", "score", "crm", "manual"})


def check_stage(value: object, field: str = "stage") -> str:
    if value not in STAGES:
        raise ValidationError(f"expected one of {', '.join(STAGES)}", field=field)
    return str(value)


def change_stage(
    session: Session,
    lead: Lead,
    to_stage: str,
    *,
    cause: str,
    at: dt.datetime,
    detail: str | None = None,
) -> StageChange | None:
    """Move ``lead`` to ``to_stage`` and record it; ``None`` when it is already there."""
    check_stage(to_stage)
    if cause not in CAUSES:
        raise ValueError(f"unknown stage-change cause {cause!r}")
    if lead.stage == to_stage:
        return None
    change = StageChange(
        site_id=lead.site_id,
        id=uuid.uuid4(),
        lead_id=lead.id,
        from_stage=lead.stage,
        to_stage=to_stage,
        changed_at=at,
        cause=cause,
        detail=(detail or None) and detail[:200],
    )
    session.add(change)
    lead.stage = to_stage
    lead.stage_changed_at = at
    lead.updated_at = max(lead.updated_at, at)
    changes.crm_push_due(session, lead.site_id, lead.id, "stage")
    changes.milestone_reached(session, lead.site_id, lead.id, to_stage, at)
    # Funnel and MQL/SQL figures read the lead's furthest stage from its stored credits.
    changes.lead_changed(session, lead.site_id, lead.id)
    return change
