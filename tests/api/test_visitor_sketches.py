"""Approximate unique visitors (site setting ``unique_visitors: approximate``): the worker's
sketches are byte for byte what PostgreSQL's hll extension builds from the same hashes;
reports union them in the database and stay exact for small groups (stored explicitly) and
within the stated error for large ones; rows without sketches (built before revision 0018)
are counted exactly until the worker rebuilds them; the setting is refused where the
extension is missing.

The PostgreSQL tests need Debian's ``postgresql-NN-hll`` on the server (``make test``
installs it); without it they fail with what to install, never skip.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.api.test_dashboard import log_in, make_user
from tests.api.test_traffic_rollups import (
    SETTINGS,
    WINDOWS,
    Row,
    add_sessions,
    queries,
    rebuild,
    session_rows,
)
from tests.conftest import create_postgres_database, drop_postgres_database, worker_name
from tests.factories import SiteMaker, drain_queue
from tracker import create_app, migrate
from tracker.config import Settings
from tracker.db import bulk_insert, make_engine
from tracker.errors import ValidationError
from tracker.models import Site, TrafficRollup, Visitor, VisitSession
from tracker.reports.queries import traffic
from tracker.reports.query import ReportQuery
from tracker.reports.rollups import traffic_from_rollups
from tracker.rollups.sketches import EXPLICIT_CUTOFF, RELATIVE_STANDARD_ERROR, encode_sketch
from tracker.sites.service import update_site_settings

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def hll_app() -> Iterator[Flask]:
    """An app on a PostgreSQL database of its own with the hll extension installed."""
    url = create_postgres_database(f"leadtrail_hll_{worker_name()}")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            try:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS hll"))
            except DBAPIError as exc:
                pytest.fail("PostgreSQL's hll extension is not installed on the test server: "
                            "apt-get install postgresql-<version>-hll (make test does it) "
                            f"({exc.orig})", pytrace=False)
        migrate.upgrade(engine)
        yield create_app(Settings(database_url=url, log_level="WARNING"), engine=engine)
    finally:
        engine.dispose()
        drop_postgres_database(url)


@pytest.fixture
def hll_session(hll_app: Flask) -> Iterator[Session]:
    engine: Engine = hll_app.extensions["leadtrail.engine"]
    with Session(engine, expire_on_commit=False) as session:
        yield session


def approximate(query: ReportQuery) -> ReportQuery:
    return ReportQuery(**{**{f: getattr(query, f) for f in query.__dataclass_fields__},
                          "approximate_visitors": True})


@pytest.mark.parametrize("size", [0, 1, 7, EXPLICIT_CUTOFF, EXPLICIT_CUTOFF + 1, 3_000, 40_000])
def test_a_sketch_is_what_the_extension_builds_from_the_same_hashes(
    hll_session: Session, size: int
) -> None:
    hashes = np.unique(np.random.default_rng(size).integers(
        -2**63, 2**63 - 1, size, dtype=np.int64, endpoint=True))
    # Zero substreams (hash >> 12 == 0) and the largest register values, at the edges.
    if size > EXPLICIT_CUTOFF:
        hashes = np.unique(np.concatenate([hashes, [5, 4095, -2**63, 1 << 40, 1 << 62]]))
    with hll_session.begin():
        if size == 0:
            theirs = hll_session.scalar(text("SELECT hll_empty(12, 5, -1, 0)::text"))
        else:
            theirs = hll_session.scalar(text(
                "SELECT hll_add_agg(h::hll_hashval, 12, 5, -1, 0)::text "
                "FROM unnest(CAST(:hashes AS bigint[])) AS h"), {"hashes": hashes.tolist()})
        counted = hll_session.scalar(text("SELECT hll_cardinality(CAST(:sketch AS hll))"),
                                     {"sketch": encode_sketch(hashes)})
    assert encode_sketch(hashes) == bytes.fromhex(theirs.removeprefix("\\x"))
    if size <= EXPLICIT_CUTOFF:  # stored explicitly: the count is exact
        assert counted == len(hashes)


@given(timezone=st.sampled_from(sorted(WINDOWS)), rows=session_rows(), data=st.data())
@SETTINGS
def test_small_groups_count_exactly_under_approximate_counting(
    hll_app: Flask, hll_session: Session, timezone: str, rows: list[Row], data: st.DataObject
) -> None:
    """Under 321 visitors per union the sketches stay explicit, so every group, filter and
    total equals the scan of the sessions: this checks the grouping of the sketch query."""
    site_id = SiteMaker(hll_session).make(timezone=timezone, unique_visitors="approximate"
                                          ).site.id
    add_sessions(hll_session, site_id, timezone, rows)
    rebuild(hll_session, site_id)
    for _ in range(6):
        query, group_by = data.draw(queries(timezone))
        with hll_session.begin():
            from_sketches = traffic_from_rollups(hll_session, site_id, approximate(query),
                                                 group_by)
            scanned = traffic(hll_session, site_id, query, group_by, from_sessions=True)
        assert from_sketches == scanned, (query, group_by)


def _many_visitors(session: Session, site_id: int, plan: dict[str, int]) -> None:
    """``plan[channel]`` visitors with two sessions each on 2 and 3 January 2026, the
    channels' visitors partly shared (every visitor of a later channel also visited the
    first one), bulk-loaded."""
    visitors: list[tuple[Any, ...]] = []
    sessions: list[tuple[Any, ...]] = []
    start = dt.datetime(2026, 1, 2, 9, tzinfo=dt.UTC)
    for channel, count in plan.items():
        for number in range(count):
            visitor = f"v-{number}"
            if channel == next(iter(plan)):
                visitors.append((site_id, visitor, start, start))
            for day in (0, 1):
                moment = start + dt.timedelta(days=day, seconds=number)
                sessions.append((site_id, uuid.uuid4(), visitor, moment, moment, channel,
                                 "test"))
    with session.begin():
        bulk_insert(session, Visitor.__table__, ("site_id", "id", "first_seen_at",
                                                 "last_seen_at"), visitors)
    # Fresh statistics: planned on the few rows earlier tests left, the sessions' foreign key
    # check scans every visitor for each session inserted.
    with session.begin():
        session.execute(text("ANALYZE visitors"))
    with session.begin():
        bulk_insert(session, VisitSession.__table__, (
            "site_id", "id", "visitor_id", "started_at", "ended_at", "channel",
            "channel_rules_version"), sessions)


def test_large_groups_are_estimated_within_the_stated_error(
    hll_app: Flask, hll_session: Session
) -> None:
    site_id = SiteMaker(hll_session).make(unique_visitors="approximate").site.id
    plan = {"Direct": 30_000, "Paid Search": 4_000, "Email": 200}
    _many_visitors(hll_session, site_id, plan)
    rebuild(hll_session, site_id)
    query = ReportQuery(model="linear", start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31))
    with hll_session.begin():
        exact = traffic_from_rollups(hll_session, site_id, query, "channel")
        estimated = traffic_from_rollups(hll_session, site_id, approximate(query), "channel")
    assert exact == ({channel: (2 * n, n) for channel, n in plan.items()}, (68_400, 30_000))
    assert estimated is not None
    groups, (sessions, visitors) = estimated
    assert sessions == 68_400
    assert groups["Email"] == (400, 200)  # explicit: exact
    # Four standard errors: a wrong register layout or union is off by far more.
    bound = 4 * RELATIVE_STANDARD_ERROR
    for channel in ("Direct", "Paid Search"):
        assert groups[channel][0] == 2 * plan[channel]
        assert abs(groups[channel][1] / plan[channel] - 1) < bound, groups
    assert abs(visitors / 30_000 - 1) < bound
    # Union, not sum: the sketches of both days hold the same visitors.
    assert visitors < 30_000 * (1 + bound)


def test_rows_without_sketches_count_exactly_until_the_worker_rebuilds_them(
    hll_app: Flask, hll_session: Session
) -> None:
    site_id = SiteMaker(hll_session).make().site.id
    _many_visitors(hll_session, site_id, {"Direct": 2_000, "Email": 50})
    drain_queue(hll_app)
    rebuild(hll_session, site_id)
    with hll_session.begin():  # as rows built before revision 0018 are
        hll_session.execute(update(TrafficRollup).where(TrafficRollup.site_id == site_id)
                            .values(visitors_sketch=None))
        site = hll_session.get(Site, site_id)
        assert site is not None
        update_site_settings(hll_session, site, {"unique_visitors": "approximate"})
    query = approximate(ReportQuery(model="linear", start=dt.date(2026, 1, 1),
                                    end=dt.date(2026, 1, 31)))
    with hll_session.begin():
        assert traffic_from_rollups(hll_session, site_id, query, "channel") == (
            {"Direct": (4_000, 2_000), "Email": (100, 50)}, (4_100, 2_000))
    drain_queue(hll_app)  # the settings change: rows without sketches are rebuilt
    with hll_session.begin():
        assert hll_session.scalar(select(TrafficRollup.day).where(
            TrafficRollup.site_id == site_id, TrafficRollup.visitors_sketch.is_(None))) is None
        groups, _total = traffic_from_rollups(hll_session, site_id, query, "channel") or ({}, 0)
    assert groups["Email"] == (100, 50)
    assert abs(groups["Direct"][1] / 2_000 - 1) < 4 * RELATIVE_STANDARD_ERROR


def test_the_revenue_report_says_how_it_counted_after_sites_configure(
    hll_app: Flask, hll_session: Session
) -> None:
    created = SiteMaker(hll_session).make()
    _many_visitors(hll_session, created.site.id, {"Direct": 1_000})
    rebuild(hll_session, created.site.id)
    client = hll_app.test_client()
    headers = {"Authorization": f"Bearer {created.api_key}"}
    path = "/api/v1/reports/revenue?from=2026-01-01&to=2026-01-31"
    exact = client.get(path, headers=headers).json
    assert (exact["unique_visitors"], exact["totals"]["visitors"]) == ("exact", 1_000)
    changed = hll_app.test_cli_runner().invoke(args=[
        "sites", "configure", str(created.site.id), "--set", 'unique_visitors="approximate"'])
    assert changed.exit_code == 0, changed.output
    report = client.get(path, headers=headers).json
    assert report["unique_visitors"] == "approximate"
    query = approximate(ReportQuery(model="linear", start=dt.date(2026, 1, 1),
                                    end=dt.date(2026, 1, 31)))
    with hll_session.begin():
        estimated = traffic_from_rollups(hll_session, created.site.id, query, "channel")
    assert estimated is not None
    assert report["totals"]["visitors"] == estimated[1][1]
    assert abs(estimated[1][1] / 1_000 - 1) < 4 * RELATIVE_STANDARD_ERROR


def test_approximate_counting_is_refused_without_the_extension(tmp_path: Any) -> None:
    """SQLite (and PostgreSQL without ``CREATE EXTENSION hll``) cannot union sketches."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    migrate.upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        with pytest.raises(ValidationError) as refused:
            SiteMaker(session).make(unique_visitors="approximate")
        assert refused.value.field == "settings.unique_visitors"
        site_id = SiteMaker(session).make().site.id
        with session.begin():
            site = session.get(Site, site_id)
            assert site is not None
            with pytest.raises(ValidationError, match="hll extension"):
                update_site_settings(session, site, {"unique_visitors": "approximate"})
    engine.dispose()


def test_the_dashboard_tile_says_the_visitors_are_estimated(
    hll_app: Flask, hll_session: Session
) -> None:
    created = SiteMaker(hll_session).make(unique_visitors="approximate")
    make_user(hll_session, "sketch@example.com", created.site.id)
    client = hll_app.test_client()
    assert log_in(client, "sketch@example.com").status_code == 302
    overview = client.get(f"/dashboard/?site={created.site.id}").get_data(as_text=True)
    assert "Visitors (estimated)" in overview
