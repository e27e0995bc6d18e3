"""Traffic rollups give the same sessions and exact unique visitors as a scan of the sessions,
for every group and filter a level covers, in the site's time zone (Auckland and Los Angeles
across their 2026 DST changes, Kolkata's half-hour offset), on SQLite and PostgreSQL; and the
worker's day-by-day refresh leaves exactly the rows a full rebuild would.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask.testing import FlaskCliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tests.factories import SiteMaker, drain_queue
from tracker import changes
from tracker.models import RollupState, Site, TrafficRollup, Visitor, VisitSession
from tracker.reports.queries import sessions_by_day, traffic
from tracker.reports.query import ReportQuery
from tracker.reports.rollups import sessions_by_day_from_rollups, traffic_from_rollups
from tracker.rollups.levels import DIMENSIONS, LEVELS, decode_visitors, level_for
from tracker.rollups.traffic import rebuild_traffic
from tracker.sites.service import update_site_settings

UTC = dt.UTC
# Each zone's window holds a DST change (or a half-hour offset) and local midnights near it.
WINDOWS = {
    "Pacific/Auckland": dt.datetime(2026, 9, 25, tzinfo=UTC),  # NZST → NZDT on the 27th
    "America/Los_Angeles": dt.datetime(2026, 10, 30, tzinfo=UTC),  # PDT → PST on 1 Nov
    "Asia/Kolkata": dt.datetime(2026, 3, 1, tzinfo=UTC),  # UTC+05:30
    "UTC": dt.datetime(2026, 1, 30, tzinfo=UTC),
}
WINDOW_MINUTES = 5 * 24 * 60
VALUES: dict[str, tuple[str | None, ...]] = {
    "channel": ("Direct", "Paid Search", "Email"),
    "source": (None, "", "google", "newsletter"),
    "medium": (None, "cpc", "email"),
    "campaign": (None, "spring", "brand"),
    "keyword": (None, "crm", "attribution software"),
}
LANDING_URLS = (None, "", "https://example.com/", "https://example.com/?utm_source=x",
                "https://example.com/pricing#plans", "https://example.com/pricing")
LANDING_PAGES = (None, "https://example.com/", "https://example.com/pricing")
SETTINGS = settings(
    max_examples=20, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

Row = dict[str, Any]


@st.composite
def session_rows(draw: st.DrawFn, max_size: int = 25) -> list[Row]:
    count = draw(st.integers(0, max_size))
    return [
        {
            "visitor": draw(st.integers(0, 7)),
            "minute": draw(st.integers(0, WINDOW_MINUTES - 1)),
            **{name: draw(st.sampled_from(options)) for name, options in VALUES.items()},
            "landing_url": draw(st.sampled_from(LANDING_URLS)),
        }
        for _ in range(count)
    ]


@st.composite
def queries(draw: st.DrawFn, timezone: str) -> tuple[ReportQuery, str | None]:
    """A range inside the window, and a group and filters that some level covers."""
    level = draw(st.sampled_from(LEVELS))
    dims = draw(st.lists(st.sampled_from(level), unique=True, max_size=3))
    group_by = dims[0] if dims and draw(st.booleans()) else None
    # Filter values as the query parser lets them through: never empty ("(none)" → None).
    filters = tuple(
        (name, draw(st.sampled_from([value for value in (
            LANDING_PAGES if name == "landing_page" else VALUES[name]) if value != ""])))
        for name in dims[1 if group_by else 0:]
    )
    first = WINDOWS[timezone].date() - dt.timedelta(days=1)
    start = first + dt.timedelta(days=draw(st.integers(0, 6)))
    end = start + dt.timedelta(days=draw(st.integers(0, 6)))
    query = ReportQuery(model="linear", start=start, end=end, filters=filters,
                        timezone=timezone, group_by=group_by or "channel")
    return query, group_by


def add_sessions(db_session: Session, site_id: int, timezone: str, rows: list[Row]
                 ) -> list[dt.datetime]:
    """Store ``rows`` as the collector would and note their days; their start instants."""
    moments = []
    with db_session.begin():
        known = set(db_session.scalars(select(Visitor.id).where(Visitor.site_id == site_id)))
        for row in rows:
            visitor = f"visitor-{row['visitor']}"
            started = WINDOWS[timezone] + dt.timedelta(minutes=row["minute"])
            if visitor not in known:
                known.add(visitor)
                db_session.add(Visitor(site_id=site_id, id=visitor, first_seen_at=started,
                                       last_seen_at=started))
                db_session.flush()
            db_session.add(VisitSession(
                site_id=site_id, id=uuid.uuid4(), visitor_id=visitor, started_at=started,
                ended_at=started, channel=row["channel"], channel_rules_version="test",
                source=row["source"], medium=row["medium"], campaign=row["campaign"],
                term=row["keyword"], landing_url=row["landing_url"],
            ))
            moments.append(started)
        changes.traffic_changed(db_session, site_id, moments)
    return moments


def rollup_rows(db_session: Session, site_id: int) -> set[tuple[Any, ...]]:
    with db_session.begin():
        found = db_session.execute(
            select(TrafficRollup).where(TrafficRollup.site_id == site_id)
        ).scalars().all()
        return {
            (r.day, r.level, r.path, *(getattr(r, d) for d in DIMENSIONS), r.sessions,
             tuple(decode_visitors(r.visitors).tolist()), r.visitor_gaps, r.site_gaps,
             r.tail_gaps)
            for r in found
        }


def rebuild(db_session: Session, site_id: int) -> None:
    with db_session.begin():
        site = db_session.get(Site, site_id)
        assert site is not None
        rebuild_traffic(db_session, site)


@given(
    timezone=st.sampled_from(sorted(WINDOWS)),
    rows=session_rows(),
    data=st.data(),
)
@SETTINGS
def test_rollups_answer_exactly_what_a_scan_of_the_sessions_answers(
    sites: SiteMaker, db_session: Session, timezone: str, rows: list[Row], data: st.DataObject
) -> None:
    site_id = sites.make(timezone=timezone).site.id
    add_sessions(db_session, site_id, timezone, rows)
    rebuild(db_session, site_id)
    for _ in range(6):
        query, group_by = data.draw(queries(timezone))
        with db_session.begin():
            assert level_for({n for n, _ in query.filters} | {group_by} - {None}) is not None
            from_rollups = traffic_from_rollups(db_session, site_id, query, group_by)
            scanned = traffic(db_session, site_id, query, group_by, from_sessions=True)
        assert from_rollups is not None, "the rollups were built and a level covers the query"
        assert from_rollups == scanned, (query, group_by)
        with db_session.begin():  # the trend's sessions per local day, same filters
            days_from_rollups = sessions_by_day_from_rollups(db_session, site_id, query)
            days_scanned = sessions_by_day(db_session, site_id, query, from_sessions=True)
        assert days_from_rollups == days_scanned, query


@given(
    timezone=st.sampled_from(sorted(WINDOWS)),
    first=session_rows(),
    later=session_rows(max_size=10),
    removed=st.lists(st.integers(0, 24), unique=True, max_size=6),
)
@SETTINGS
def test_the_workers_day_refresh_leaves_what_a_rebuild_leaves(
    sites: SiteMaker, db_session: Session, client: Any, timezone: str,
    first: list[Row], later: list[Row], removed: list[int],
) -> None:
    site_id = sites.make(timezone=timezone).site.id
    add_sessions(db_session, site_id, timezone, first)
    drain_queue(client.application)  # no rollups yet: the worker builds them whole
    built_by_worker = rollup_rows(db_session, site_id)
    rebuild(db_session, site_id)
    assert built_by_worker == rollup_rows(db_session, site_id)

    add_sessions(db_session, site_id, timezone, later)
    with db_session.begin():
        stored = db_session.execute(
            select(VisitSession.id, VisitSession.started_at)
            .where(VisitSession.site_id == site_id).order_by(VisitSession.id)
        ).all()
        gone = [stored[i] for i in removed if i < len(stored)]
        db_session.execute(delete(VisitSession).where(
            VisitSession.site_id == site_id, VisitSession.id.in_([g.id for g in gone])))
        changes.traffic_changed(db_session, site_id, [g.started_at for g in gone])
    drain_queue(client.application)
    refreshed = rollup_rows(db_session, site_id)

    rebuild(db_session, site_id)
    assert refreshed == rollup_rows(db_session, site_id)


def test_a_new_time_zone_rebuilds_the_rollups_and_reports_never_read_the_old_ones(
    sites: SiteMaker, db_session: Session, client: Any
) -> None:
    site_id = sites.make(timezone="UTC").site.id
    # 23:30 UTC on 30 January is 31 January in Auckland (UTC+13 in summer).
    add_sessions(db_session, site_id, "UTC", [{
        "visitor": 1, "minute": 23 * 60 + 30, "channel": "Email", "source": "newsletter",
        "medium": "email", "campaign": None, "keyword": None, "landing_url": None,
    }])
    drain_queue(client.application)
    day_30 = ReportQuery(model="linear", start=dt.date(2026, 1, 30), end=dt.date(2026, 1, 30))
    with db_session.begin():
        assert traffic_from_rollups(db_session, site_id, day_30, "channel") == (
            {"Email": (1, 1)}, (1, 1))

    with db_session.begin():
        site = db_session.get(Site, site_id)
        assert site is not None
        update_site_settings(db_session, site, {"timezone": "Pacific/Auckland"})
    auckland_31 = ReportQuery(model="linear", start=dt.date(2026, 1, 31),
                              end=dt.date(2026, 1, 31), timezone="Pacific/Auckland")
    with db_session.begin():
        # Before the worker has run: the UTC rollups cannot answer, the sessions do.
        assert traffic_from_rollups(db_session, site_id, auckland_31, "channel") is None
        assert traffic(db_session, site_id, auckland_31, "channel") == ({"Email": (1, 1)},
                                                                         (1, 1))
    drain_queue(client.application)
    with db_session.begin():
        state = db_session.get(RollupState, site_id)
        assert state is not None and state.timezone == "Pacific/Auckland"
        assert traffic_from_rollups(db_session, site_id, auckland_31, "channel") == (
            {"Email": (1, 1)}, (1, 1))
        assert traffic_from_rollups(db_session, site_id, ReportQuery(
            model="linear", start=dt.date(2026, 1, 30), end=dt.date(2026, 1, 30),
            timezone="Pacific/Auckland"), "channel") == ({}, (0, 0))


def test_a_group_no_level_covers_is_answered_from_the_sessions(
    sites: SiteMaker, db_session: Session, client: Any
) -> None:
    site_id = sites.make().site.id
    add_sessions(db_session, site_id, "UTC", [{
        "visitor": 1, "minute": 60, "channel": "Paid Search", "source": "google",
        "medium": "cpc", "campaign": "spring", "keyword": "crm", "landing_url": None,
    }])
    drain_queue(client.application)
    by_medium_for_spring = ReportQuery(model="linear", start=dt.date(2026, 1, 30),
                                       end=dt.date(2026, 1, 30),
                                       filters=(("campaign", "spring"),))
    with db_session.begin():
        assert traffic_from_rollups(db_session, site_id, by_medium_for_spring, "medium") is None
        assert traffic(db_session, site_id, by_medium_for_spring, "medium") == (
            {"cpc": (1, 1)}, (1, 1))


def test_the_rollups_commands_rebuild_and_report_status(
    sites: SiteMaker, db_session: Session, runner: FlaskCliRunner
) -> None:
    site = sites.make(timezone="Asia/Kolkata").site
    add_sessions(db_session, site.id, "Asia/Kolkata", [{
        "visitor": 1, "minute": 30, "channel": "Direct", "source": None, "medium": None,
        "campaign": None, "keyword": None, "landing_url": "https://example.com/?a=1",
    }])
    before = runner.invoke(args=["rollups", "status", "--site", site.name])
    assert before.exit_code == 0, before.output
    assert "not built" in before.output

    built = runner.invoke(args=["rollups", "rebuild", "--site", site.name])
    assert built.exit_code == 0, built.output
    # One session: one row at each of the six levels.
    # No lead: no credit rows, but the credit rollups are built (reports read them).
    assert f"site {site.name}: {len(LEVELS)} traffic and 0 credit rollup rows" in built.output
    after = runner.invoke(args=["rollups", "status", "--site", site.name])
    assert "in Asia/Kolkata, 6 traffic rows, days 2026-03-01 to 2026-03-01" in after.output
    assert "credits in Asia/Kolkata, 0 rows" in after.output

    missing = runner.invoke(args=["rollups", "rebuild", "--site", "no such site"])
    assert missing.exit_code == 2


def _session(visitor: int, day: int, channel: str = "Email") -> Row:
    """A session of ``visitor`` on the ``day``-th day of the UTC window (day 0 is 30 Jan)."""
    return {"visitor": visitor, "minute": day * 24 * 60 + 600, "channel": channel,
            "source": "newsletter", "medium": "email", "campaign": None, "keyword": None,
            "landing_url": None}


def test_a_late_session_moves_the_gap_of_the_next_visit_and_keeps_counts_exact(
    sites: SiteMaker, db_session: Session, client: Any
) -> None:
    """Visits on days 0 and 4, then a late one on day 2: over days 2-4 the visitor is one
    visitor. Day 4's row must learn that the previous visit is now day 2 (two days back, so
    not new to a range starting on day 2), though only day 2 was noted."""
    site_id = sites.make(timezone="UTC").site.id
    add_sessions(db_session, site_id, "UTC", [_session(1, 0), _session(1, 4)])
    drain_queue(client.application)
    days_2_to_4 = ReportQuery(model="linear", start=dt.date(2026, 2, 1),
                              end=dt.date(2026, 2, 3))
    with db_session.begin():
        assert traffic_from_rollups(db_session, site_id, days_2_to_4, "channel") == (
            {"Email": (1, 1)}, (1, 1))
    add_sessions(db_session, site_id, "UTC", [_session(1, 2)])
    drain_queue(client.application)
    with db_session.begin():
        assert traffic_from_rollups(db_session, site_id, days_2_to_4, "channel") == (
            {"Email": (2, 1)}, (2, 1))
        assert traffic(db_session, site_id, days_2_to_4, "channel", from_sessions=True) == (
            {"Email": (2, 1)}, (2, 1))


def test_rows_without_gaps_are_counted_by_merging_their_visitor_sets(
    sites: SiteMaker, db_session: Session, client: Any
) -> None:
    """Rows built before revision 0020 hold no gaps: reports merge visitor sets for them."""
    site_id = sites.make(timezone="UTC").site.id
    add_sessions(db_session, site_id, "UTC", [
        _session(1, 0), _session(1, 1, "Direct"), _session(2, 1), _session(1, 3)])
    drain_queue(client.application)
    with db_session.begin():
        db_session.execute(TrafficRollup.__table__.update()
                           .where(TrafficRollup.site_id == site_id)
                           .values(visitor_gaps=None, site_gaps=None, tail_gaps=None))
    whole = ReportQuery(model="linear", start=dt.date(2026, 1, 30), end=dt.date(2026, 2, 2))
    with db_session.begin():
        assert traffic_from_rollups(db_session, site_id, whole, "channel") == (
            {"Email": (3, 2), "Direct": (1, 1)}, (4, 2))
