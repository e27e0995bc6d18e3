"""Sessionization: timeouts, source changes, late and out-of-order events, retries."""

from __future__ import annotations

import datetime as dt

from tracker.collect.sessions import (
    OpenSession,
    TimedEvent,
    assign_sessions,
    session_id_for,
    source_key,
)

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
TIMEOUT = dt.timedelta(minutes=30)
EMAIL = source_key("newsletter", "email", "launch", None)
SEARCH = source_key("google", "organic", None, None)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def event(event_id: str, minutes: float, key=None) -> TimedEvent:  # type: ignore[no-untyped-def]
    return TimedEvent(event_id, at(minutes), key)


def assign(events, existing=()):  # type: ignore[no-untyped-def]
    return assign_sessions(1, "v1", list(existing), events, TIMEOUT)


def test_events_within_the_timeout_share_one_session() -> None:
    result = assign([event("e1", 0, EMAIL), event("e2", 10), event("e3", 39)])

    assert len(result.sessions) == 1
    assert result.sessions[0].started_at == at(0)
    assert result.sessions[0].ended_at == at(39)
    assert set(result.session_of_event) == {"e1", "e2", "e3"}


def test_a_gap_over_the_timeout_opens_a_new_session() -> None:
    result = assign([event("e1", 0), event("e2", 31)])

    assert [s.started_at for s in result.sessions] == [at(0), at(31)]
    assert result.session_of_event["e1"] != result.session_of_event["e2"]


def test_a_new_source_opens_a_new_session_within_the_timeout() -> None:
    result = assign([event("e1", 0, EMAIL), event("e2", 5, SEARCH)])

    assert [s.key for s in result.sessions] == [EMAIL, SEARCH]


def test_the_same_source_again_continues_the_session() -> None:
    result = assign([event("e1", 0, EMAIL), event("e2", 5, EMAIL)])

    assert len(result.sessions) == 1


def test_an_event_with_no_source_continues_a_tagged_session() -> None:
    result = assign([event("e1", 0, SEARCH), event("e2", 5, None)])

    assert len(result.sessions) == 1
    assert result.sessions[0].key == SEARCH


def test_events_arriving_in_any_order_give_the_same_sessions() -> None:
    events = [event("e1", 0, EMAIL), event("e2", 10), event("e3", 50, SEARCH), event("e4", 55)]

    forward = assign(events)
    backward = assign(list(reversed(events)))

    assert forward.session_of_event == backward.session_of_event


def test_a_late_landing_event_becomes_the_start_and_source_of_its_session() -> None:
    stored = OpenSession(
        id=session_id_for(1, "v1", "e2"), started_at=at(5), ended_at=at(9), key=None
    )

    result = assign([event("e1", 0, EMAIL)], existing=[stored])

    assert len(result.sessions) == 1
    session = result.sessions[0]
    assert (session.started_at, session.key, session.opened_by) == (at(0), EMAIL, "e1")
    assert session.times_changed and session.retagged and not session.is_new
    assert result.changed_sessions == [session]


def test_a_late_event_inside_a_stored_session_changes_nothing() -> None:
    stored = OpenSession(
        id=session_id_for(1, "v1", "e1"), started_at=at(0), ended_at=at(20), key=EMAIL
    )

    result = assign([event("e9", 12)], existing=[stored])

    assert result.session_of_event["e9"] == stored.id
    assert result.changed_sessions == [] and result.new_sessions == []


def test_a_retried_landing_event_maps_to_the_session_it_opened() -> None:
    first = assign([event("e1", 0, EMAIL)])
    stored = first.sessions[0]
    stored.is_new = False

    again = assign([event("e1", 0, EMAIL)], existing=[stored])

    assert again.session_of_event["e1"] == stored.id
    assert again.new_sessions == [] and again.changed_sessions == []


def test_session_ids_depend_on_the_opening_event_only() -> None:
    assert session_id_for(1, "v1", "e1") == session_id_for(1, "v1", "e1")
    assert session_id_for(1, "v1", "e1") != session_id_for(2, "v1", "e1")


def test_direct_traffic_has_no_source_key() -> None:
    assert source_key("(direct)", "(none)", None, None) is None
    assert source_key(None, None, None, None) is None
    assert source_key("google", "cpc", None, "abc") == ("google", "cpc", None, "abc")
