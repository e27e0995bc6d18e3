"""Dynamic number insertion: which number a visitor is shown, and who held a number when.

A visitor's latest session picks the first pool whose channel and campaign it matches
(pools with neither match any session that has a source; Direct matches only a pool naming
it). The pool's scope says what one number stands for while it is held: the channel, the
campaign, or this one visitor (paid search: the call then leads back to the very click). A
held number is extended on every page view; once its hold lapses it is free again, the
least recently released first. Numbers are taken with a conditional update, so two
concurrent visitors never get the same one. No pool, no session, or a used-up pool: the
site's default number.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tracker.models import CallAssignment, CallNumber, CallPool, CallSettings, VisitSession

DIRECT = "Direct"
# How many free numbers are tried before a pool counts as used up (others may be taking the
# same ones at this moment).
MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Shown:
    number: str | None  # E.164; None when the site has neither a pool number nor a default
    display: str | None
    pool: str | None  # None: the default number
    held_until: dt.datetime | None
    exhausted: bool = False


def _default(settings: CallSettings | None, exhausted: bool = False) -> Shown:
    if settings is None or settings.default_number is None:
        return Shown(None, None, None, None, exhausted)
    return Shown(settings.default_number, settings.default_display, None, None, exhausted)


def _latest_session(session: Session, site_id: int, visitor_id: str) -> VisitSession | None:
    return session.scalars(
        select(VisitSession)
        .where(VisitSession.site_id == site_id, VisitSession.visitor_id == visitor_id)
        .order_by(VisitSession.started_at.desc())
        .limit(1)
    ).first()


def _matches(pool: CallPool, visit: VisitSession) -> bool:
    if pool.channel is None and visit.channel == DIRECT:
        return False
    return ((pool.channel is None or pool.channel == visit.channel)
            and (pool.campaign is None or pool.campaign == visit.campaign))


def _key(pool: CallPool, visit: VisitSession) -> str:
    if pool.scope == "visitor":
        return f"visitor:{visit.visitor_id}"
    if pool.scope == "campaign":
        return f"campaign:{visit.channel}|{visit.campaign or ''}"[:300]
    return f"channel:{visit.channel}"


def show_number(session: Session, site_id: int, visitor_id: str, now: dt.datetime) -> Shown:
    """The number ``visitor_id`` sees now, held (or held longer) for it; writes the lease and
    its assignment in the caller's transaction."""
    settings = session.get(CallSettings, site_id)
    visit = _latest_session(session, site_id, visitor_id)
    if visit is None:
        return _default(settings)
    pool = next((p for p in session.scalars(
        select(CallPool).where(CallPool.site_id == site_id).order_by(CallPool.position)
    ) if _matches(p, visit)), None)
    if pool is None:
        return _default(settings)
    key = _key(pool, visit)
    held_until = now + dt.timedelta(minutes=pool.hold_minutes)
    held = session.scalars(select(CallNumber).where(
        CallNumber.site_id == site_id, CallNumber.pool_id == pool.id,
        CallNumber.held_key == key, CallNumber.held_until >= now,
    )).first()
    if held is not None:
        return _extend(session, site_id, pool, held, key, visit, held_until, now)
    free = session.scalars(
        select(CallNumber)
        .where(CallNumber.site_id == site_id, CallNumber.pool_id == pool.id,
               or_(CallNumber.held_until.is_(None), CallNumber.held_until < now))
        .order_by(CallNumber.held_until.is_not(None), CallNumber.held_until, CallNumber.number)
        .limit(MAX_ATTEMPTS)
    ).all()
    for candidate in free:
        taken = session.execute(
            update(CallNumber)
            .where(CallNumber.site_id == site_id, CallNumber.number == candidate.number,
                   or_(CallNumber.held_until.is_(None), CallNumber.held_until < now))
            .values(held_key=key, held_until=held_until)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            session.add(CallAssignment(
                site_id=site_id, id=uuid.uuid4(), pool_id=pool.id, number=candidate.number,
                key=key, visitor_id=visitor_id, session_id=visit.id, assigned_at=now,
                held_until=held_until))
            session.flush()
            return Shown(candidate.number, candidate.display, pool.id, held_until)
    return _default(settings, exhausted=True)


def _extend(session: Session, site_id: int, pool: CallPool, held: CallNumber, key: str,
            visit: VisitSession, held_until: dt.datetime, now: dt.datetime) -> Shown:
    held.held_until = max(held.held_until or held_until, held_until)
    current = session.scalars(
        select(CallAssignment)
        .where(CallAssignment.site_id == site_id, CallAssignment.number == held.number,
               CallAssignment.key == key)
        .order_by(CallAssignment.assigned_at.desc())
        .limit(1)
    ).first()
    if current is not None and (pool.scope != "visitor" or current.visitor_id == visit.visitor_id):
        current.held_until = held.held_until
        if pool.scope == "visitor":
            current.session_id = visit.id  # the call goes back to the latest session's touch
    else:
        session.add(CallAssignment(
            site_id=site_id, id=uuid.uuid4(), pool_id=pool.id, number=held.number, key=key,
            visitor_id=visit.visitor_id, session_id=visit.id, assigned_at=now,
            held_until=held.held_until))
    session.flush()
    return Shown(held.number, held.display, pool.id, held.held_until)


# A provider's call time and ours may differ by this much.
CLOCK_GRACE = dt.timedelta(minutes=2)


def assignment_at(session: Session, site_id: int, number: str, at: dt.datetime
                  ) -> CallAssignment | None:
    """Who held ``number`` at ``at`` (the latest assignment covering that moment)."""
    return session.scalars(
        select(CallAssignment)
        .where(CallAssignment.site_id == site_id, CallAssignment.number == number,
               CallAssignment.assigned_at <= at + CLOCK_GRACE,
               CallAssignment.held_until >= at - CLOCK_GRACE)
        .order_by(CallAssignment.assigned_at.desc())
        .limit(1)
    ).first()
