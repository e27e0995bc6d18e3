"""Sessionization: which session each incoming event belongs to. Pure; no database.

A session is a run of one visitor's events with no gap over the site's timeout. A new session
also starts when an event brings a different traffic source (campaign, click id, external
referrer), as Google Analytics does. Events may arrive late or out of order: an event is
placed by its own time, so a late landing page view becomes the start of the session it
belongs to and, if that session had no source yet, gives it its source.

Session ids are derived from the event that opened the session, so delivering that event
twice (a retry) can never open two sessions.
"""

from __future__ import annotations

import bisect
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

SESSION_NAMESPACE = uuid.UUID("6f1c2a8e-7d0b-4b8e-9a51-3c2f0e4d9b17")

SourceKey = tuple[str | None, str | None, str | None, str | None]


def session_id_for(site_id: int, visitor_id: str, opening_event_id: str) -> uuid.UUID:
    return uuid.uuid5(SESSION_NAMESPACE, f"{site_id}/{visitor_id}/{opening_event_id}")


def source_key(
    source: str | None, medium: str | None, campaign: str | None, click_id: str | None
) -> SourceKey | None:
    """What makes two touches "the same source"; ``None`` for direct / internal traffic."""
    if source in (None, "(direct)") and click_id is None:
        return None
    return (source, medium, campaign, click_id)


@dataclass(frozen=True, slots=True)
class TimedEvent:
    """What sessionization needs to know of one event."""

    id: str
    occurred_at: dt.datetime
    key: SourceKey | None


@dataclass(slots=True)
class OpenSession:
    """A session as sessionization sees it; ``opened_by`` is the event whose touch tags it."""

    id: uuid.UUID
    started_at: dt.datetime
    ended_at: dt.datetime
    key: SourceKey | None
    opened_by: str | None = None
    is_new: bool = False
    times_changed: bool = False
    retagged: bool = False
    start_moved: bool = False  # started earlier than stored: its day may have changed


@dataclass(slots=True)
class Assignment:
    sessions: list[OpenSession]
    session_of_event: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def new_sessions(self) -> list[OpenSession]:
        return [s for s in self.sessions if s.is_new]

    @property
    def changed_sessions(self) -> list[OpenSession]:
        return [s for s in self.sessions if not s.is_new and (s.times_changed or s.retagged)]


def assign_sessions(
    site_id: int,
    visitor_id: str,
    existing: Iterable[OpenSession],
    events: Sequence[TimedEvent],
    timeout: dt.timedelta,
) -> Assignment:
    """Place ``events`` into ``existing`` sessions of one visitor, opening new ones as needed.

    ``existing`` must hold every stored session of the visitor that could touch the events'
    time span (ended at most ``timeout`` before the earliest, started at most ``timeout`` after
    the latest). The returned sessions are sorted by start; ``is_new``, ``times_changed`` and
    ``retagged`` say what must be written back.
    """
    sessions = sorted(existing, key=lambda s: s.started_at)
    starts = [s.started_at for s in sessions]
    result = Assignment(sessions=sessions)
    for event in sorted(events, key=lambda e: e.occurred_at):
        at = event.occurred_at
        index = bisect.bisect_right(starts, at)
        previous = sessions[index - 1] if index > 0 else None
        following = sessions[index] if index < len(sessions) else None
        if (
            previous is not None
            and at <= previous.ended_at + timeout
            and (event.key is None or event.key == previous.key)
        ):
            if at > previous.ended_at:
                previous.ended_at = at
                previous.times_changed = True
            result.session_of_event[event.id] = previous.id
            continue
        if (
            following is not None
            and following.started_at - at <= timeout
            and (event.key is None or following.key is None or event.key == following.key)
        ):
            # A late event from before the session's first one: it is the real landing.
            following.started_at = at
            following.times_changed = True
            following.start_moved = True
            starts[index] = at
            if event.key is not None or following.key is None:
                following.key = event.key if event.key is not None else following.key
                following.opened_by = event.id
                following.retagged = True
            result.session_of_event[event.id] = following.id
            continue
        opened = OpenSession(
            id=session_id_for(site_id, visitor_id, event.id),
            started_at=at,
            ended_at=at,
            key=event.key,
            opened_by=event.id,
            is_new=True,
        )
        sessions.insert(index, opened)
        starts.insert(index, at)
        result.session_of_event[event.id] = opened.id
    return result
