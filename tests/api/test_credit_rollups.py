"""Credit rollups give the revenue report exactly what the stored credits give it (leads, MQLs,
SQLs, opportunities, pipeline, customers, revenue, win-rate weights, times to convert), for
every model, group and filter a level covers, in the site's time zone, on SQLite and
PostgreSQL; and what the worker leaves after deals close, move, reopen and leads are erased is
exactly what a full rebuild leaves.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.api.test_traffic_rollups import (
    SETTINGS,
    WINDOW_MINUTES,
    WINDOWS,
    add_sessions,
    queries,
    session_rows,
)
from tests.factories import SiteMaker, drain_queue
from tracker.crm.deals import DealUpdate, apply_deal_update
from tracker.leads.erasure import erase_person
from tracker.leads.identity import Identity, stitch_visitor_to_lead
from tracker.leads.stages import change_stage
from tracker.models import CreditRollup, CreditRollupTimes, Lead, RollupState, Site
from tracker.reports.queries import (
    funnel_report,
    model_comparison,
    revenue_report,
    trend_report,
)
from tracker.reports.query import ReportQuery
from tracker.reports.rollups import credits_from_rollups
from tracker.rollups import credits as credit_rollups
from tracker.rollups.credits import rebuild_credits
from tracker.rollups.levels import DIMENSIONS, level_for, merge_times
from tracker.sites.settings import site_settings

MODELS = ("linear", "first_touch", "position_based", "markov")
STATUSES = ("open", "won", "lost")

Row = dict[str, Any]


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    """Sessions, leads identified on some of them, stages reached and deals opened/closed."""
    sessions = draw(session_rows(max_size=20))
    # Leads on visitors that have sessions (the others could not identify), mostly after them.
    leads = [
        {"visitor": draw(st.sampled_from(sessions))["visitor"],
         "minute": draw(st.integers(0, WINDOW_MINUTES - 1)),
         "stage": draw(st.sampled_from((None, "mql", "sql")))}
        for _ in range(draw(st.integers(0, 6)) if sessions else 0)
    ]
    deals = [
        {"lead": draw(st.integers(0, 5)), "opened": draw(st.integers(0, WINDOW_MINUTES - 1)),
         "status": draw(st.sampled_from(STATUSES)),
         "closed_after": draw(st.integers(0, 3 * 24 * 60)),
         "amount": draw(st.sampled_from((None, 100, 2500.5)))}
        for _ in range(draw(st.integers(0, 5)))
    ]
    return {"sessions": sessions, "leads": leads, "deals": deals}


def _at(timezone: str, minute: int) -> dt.datetime:
    return WINDOWS[timezone] + dt.timedelta(minutes=minute)


def add_history(db_session: Session, site: Site, history: dict[str, Any]) -> list[Lead]:
    """Store the history as the collector and the CRM would (the worker not yet run)."""
    timezone = site_settings(site).timezone
    add_sessions(db_session, site.id, timezone, history["sessions"])
    visitors = {f"visitor-{row['visitor']}" for row in history["sessions"]}
    leads: list[Lead] = []
    with db_session.begin():
        for index, row in enumerate(history["leads"]):
            visitor = f"visitor-{row['visitor']}"
            if visitor not in visitors:
                continue
            at = _at(timezone, row["minute"])
            lead = stitch_visitor_to_lead(
                db_session, site.id, visitor, Identity(email=f"lead{index}@example.com"), at
            ).lead
            if row["stage"]:
                change_stage(db_session, lead, row["stage"], cause="manual",
                             at=at + dt.timedelta(hours=1))
            leads.append(lead)
    for index, row in enumerate(history["deals"]):
        if not leads:
            break
        lead = leads[row["lead"] % len(leads)]
        update_deal(db_session, site, f"deal-{index}", lead, row, version=1)
    return leads


def update_deal(db_session: Session, site: Site, external_id: str, lead: Lead, row: Row,
                version: int) -> None:
    timezone = site_settings(site).timezone
    opened = max(_at(timezone, row["opened"]), lead.created_at)
    closed = opened + dt.timedelta(minutes=row["closed_after"])
    values: dict[str, Any] = {
        "status": row["status"], "created_at": opened, "amount": row["amount"],
        "currency": site_settings(site).currency,
        "closed_at": None if row["status"] == "open" else closed,
    }
    with db_session.begin():
        apply_deal_update(db_session, site.id, DealUpdate(
            provider="generic", external_id=external_id,
            occurred_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=version),
            update_id=f"{external_id}-{version}", values=values, lead_id=lead.id,
        ))


def rollup_rows(db_session: Session, site_id: int) -> set[tuple[Any, ...]]:
    """The site's credit rollup rows, each with its pairs and its appended chunks' merged."""
    with db_session.begin():
        chunks: dict[tuple[Any, ...], list[CreditRollupTimes]] = {}
        for chunk in db_session.scalars(
            select(CreditRollupTimes).where(CreditRollupTimes.site_id == site_id)
        ):
            chunks.setdefault((chunk.day, chunk.model, chunk.level, chunk.path), []).append(chunk)

        def times(r: CreditRollup, column: str) -> tuple[Any, ...]:
            appended = chunks.get((r.day, r.model, r.level, r.path), [])
            blobs = [getattr(r, column), *(getattr(chunk, column) for chunk in appended)]
            return tuple(sorted(merge_times(blobs).tolist()))

        return {
            (r.day, r.model, r.level, r.path, *(getattr(r, d) for d in DIMENSIONS),
             *(round(getattr(r, m), 6) for m in ("leads", "mqls", "sqls", "opportunities",
                                                   "pipeline", "customers", "revenue", "won",
                                                   "lost")),
             times(r, "lead_times"), times(r, "won_times"))
            for r in db_session.scalars(select(CreditRollup).where(CreditRollup.site_id == site_id))
        }


def rebuilt_rows(db_session: Session, site: Site) -> set[tuple[Any, ...]]:
    """The site's credit rollup rows after a rebuild from scratch."""
    with db_session.begin():
        fresh = db_session.get(Site, site.id)
        assert fresh is not None
        rebuild_credits(db_session, fresh)
    return rollup_rows(db_session, site.id)


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)
    return bool(left == right)


def assert_same_report(db_session: Session, site: Site, query: ReportQuery, built: bool
                       ) -> None:
    """The report from the rollups equals the report from the raw rows, figure by figure.
    ``built``: the worker has seen a lead, so the rollups must answer where a level covers
    the query (the others are answered from the stored credits)."""
    covered = level_for({query.group_by, *(name for name, _value in query.filters)})
    with db_session.begin():
        answered = credits_from_rollups(db_session, site.id, query, query.group_by)
        assert (answered is not None) == (built and covered is not None)
        from_rollups = revenue_report(db_session, site, query)
        from_raw = revenue_report(db_session, site, query, from_raw=True)
    by_group = {row["group"]: row for row in from_raw.rows}
    assert {row["group"] for row in from_rollups.rows} == set(by_group)
    for row in from_rollups.rows:
        expected = by_group[row["group"]]
        assert all(_same(row[name], expected[name]) for name in row), (row, expected)
    assert from_rollups.totals is not None and from_raw.totals is not None
    assert all(_same(v, from_raw.totals[k]) for k, v in from_rollups.totals.items()), (
        from_rollups.totals, from_raw.totals)
    for report in (funnel_report, model_comparison, trend_report):
        with db_session.begin():
            rolled = report(db_session, site, query).rows
            raw = report(db_session, site, query, from_raw=True).rows
        assert len(rolled) == len(raw), (report.__name__, rolled, raw)
        for left, right in zip(sorted(rolled, key=_order), sorted(raw, key=_order), strict=True):
            assert all(_same(left[k], right[k]) for k in left), (report.__name__, left, right)


def _order(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row.get(name) or "") for name in ("group", "model", "stage", "period"))


@pytest.fixture
def make_site(sites: SiteMaker) -> Any:
    def make(timezone: str) -> Site:
        return sites.make(timezone=timezone, attribution_models=list(MODELS)).site
    return make


@given(
    timezone=st.sampled_from(sorted(WINDOWS)),
    history=histories(),
    checks=st.data(),
)
@SETTINGS
def test_credit_rollups_answer_exactly_what_the_stored_credits_answer(
    make_site: Any, db_session: Session, engine: Engine, timezone: str,
    history: dict[str, Any], checks: st.DataObject,
) -> None:
    site = make_site(timezone)
    leads = add_history(db_session, site, history)
    drain_queue(engine)
    for _ in range(4):
        query, group_by = checks.draw(queries(timezone))
        model = checks.draw(st.sampled_from(MODELS))
        query = ReportQuery(model=model, start=query.start, end=query.end, filters=query.filters,
                            timezone=timezone, group_by=group_by or "channel")
        assert_same_report(db_session, site, query, built=bool(leads))


@given(
    timezone=st.sampled_from(sorted(WINDOWS)),
    history=histories(),
    later=st.lists(st.tuples(st.integers(0, 4), st.sampled_from(STATUSES),
                             st.integers(0, 3 * 24 * 60)), min_size=1, max_size=4),
    erase=st.booleans(),
)
@SETTINGS
def test_the_workers_refresh_leaves_what_a_rebuild_leaves(
    make_site: Any, db_session: Session, engine: Engine, timezone: str,
    history: dict[str, Any], later: list[tuple[int, str, int]], erase: bool,
) -> None:
    site = make_site(timezone)
    leads = add_history(db_session, site, history)
    drain_queue(engine)
    # Deals reopen, close on other days, flip between won and lost; a lead is erased.
    for position, (index, status, closed_after) in enumerate(later):
        if not history["deals"] or not leads:
            break
        index %= len(history["deals"])
        row = {**history["deals"][index], "status": status, "closed_after": closed_after}
        update_deal(db_session, site, f"deal-{index}", leads[row["lead"] % len(leads)], row,
                    version=2 + position)
    if erase and leads:
        with db_session.begin():
            lead = db_session.get(Lead, (site.id, leads[0].id))
            assert lead is not None
            erase_person(db_session, lead)
    drain_queue(engine)
    assert rollup_rows(db_session, site.id) == rebuilt_rows(db_session, site)
    whole = WINDOWS[timezone].date()
    assert_same_report(db_session, site, ReportQuery(
        model="linear", start=whole - dt.timedelta(days=1), end=whole + dt.timedelta(days=9),
        timezone=timezone, group_by="channel"), built=True)


def test_reports_read_stored_credits_until_the_credit_rollups_are_built(
    make_site: Any, db_session: Session, engine: Engine
) -> None:
    site = make_site("UTC")
    with db_session.begin():
        db_session.add(RollupState(site_id=site.id, timezone="UTC",
                                   built_at=dt.datetime.now(dt.UTC)))
    query = ReportQuery(model="linear", start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31))
    with db_session.begin():
        assert credits_from_rollups(db_session, site.id, query, "channel") is None


# One emailed visitor, her lead and a deal lost two days after it opened.
ONE_LOST_DEAL: dict[str, Any] = {
    "sessions": [{"visitor": 0, "minute": 10, "channel": "Email", "source": "newsletter",
                  "medium": "email", "campaign": None, "keyword": None,
                  "landing_url": "https://example.com/"}],
    "leads": [{"visitor": 0, "minute": 20, "stage": None}],
    "deals": [{"lead": 0, "opened": 30, "status": "lost", "closed_after": 2 * 24 * 60,
               "amount": 100}],
}


def test_a_lost_deal_closing_on_another_day_leaves_its_old_day(
    make_site: Any, db_session: Session, engine: Engine
) -> None:
    """The deal's credit rows carry its closing: the lead's refresh subtracts the old day's
    win-rate credit and adds the new day's."""
    site = make_site("UTC")
    history = ONE_LOST_DEAL
    leads = add_history(db_session, site, history)
    drain_queue(engine)
    query = ReportQuery(model="linear", start=dt.date(2026, 1, 29), end=dt.date(2026, 2, 5),
                        timezone="UTC", group_by="channel")
    with db_session.begin():
        before = revenue_report(db_session, site, query)
    assert before.totals is not None and before.totals["lost"] == 1.0
    moved = {**history["deals"][0], "closed_after": 4 * 24 * 60}
    update_deal(db_session, site, "deal-0", leads[0], moved, version=2)
    drain_queue(engine)
    assert rollup_rows(db_session, site.id) == rebuilt_rows(db_session, site)
    one_day = ReportQuery(model="linear", start=dt.date(2026, 2, 1), end=dt.date(2026, 2, 1),
                          timezone="UTC", group_by="channel")
    with db_session.begin():
        old_day = revenue_report(db_session, site, one_day)
    assert old_day.totals is not None and old_day.totals["lost"] == 0.0


def test_a_lead_identified_earlier_leaves_its_old_creation_day(
    make_site: Any, db_session: Session, engine: Engine
) -> None:
    """A late-arriving earlier identification moves the lead's creation back: its lead
    conversion leaves the old day (found from the credits the refresh replaces)."""
    site = make_site("UTC")
    history = {
        "sessions": [
            {"visitor": 0, "minute": 3 * 24 * 60, "channel": "Email", "source": "newsletter",
             "medium": "email", "campaign": None, "keyword": None, "landing_url": None},
            {"visitor": 1, "minute": 10, "channel": "Paid Search", "source": "google",
             "medium": "cpc", "campaign": "brand", "keyword": "crm", "landing_url": None},
        ],
        "leads": [{"visitor": 0, "minute": 3 * 24 * 60 + 5, "stage": None}],
        "deals": [],
    }
    add_history(db_session, site, history)
    drain_queue(engine)
    with db_session.begin():
        stitch_visitor_to_lead(db_session, site.id, "visitor-1",
                               Identity(email="lead0@example.com"),
                               WINDOWS["UTC"] + dt.timedelta(minutes=20))
    drain_queue(engine)
    later_day = ReportQuery(model="linear", start=dt.date(2026, 2, 2), end=dt.date(2026, 2, 2),
                            timezone="UTC", group_by="channel")
    assert_same_report(db_session, site, later_day, built=True)
    with db_session.begin():
        report = revenue_report(db_session, site, later_day)
    assert report.totals is not None and report.totals["leads"] == 0.0


def test_a_reopened_deal_whose_lead_is_erased_leaves_its_old_closing_day(
    make_site: Any, db_session: Session, engine: Engine
) -> None:
    """A lost deal is reopened and its lead erased before the worker runs: the lead's credits
    go by cascade, so the worker cannot subtract them; the erasure notes the days they count
    on, the deal's old closing among them (read from the credits, not the reopened deal)."""
    site = make_site("UTC")
    history = ONE_LOST_DEAL
    leads = add_history(db_session, site, history)
    drain_queue(engine)
    reopened = {**history["deals"][0], "status": "open", "closed_after": 0}
    update_deal(db_session, site, "deal-0", leads[0], reopened, version=2)
    with db_session.begin():
        lead = db_session.get(Lead, (site.id, leads[0].id))
        assert lead is not None
        erase_person(db_session, lead)
    drain_queue(engine)
    assert rollup_rows(db_session, site.id) == rebuilt_rows(db_session, site) == set()


def test_a_new_lead_appends_its_time_pairs_without_rewriting_the_rows_pairs(
    make_site: Any, db_session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every worker batch rewrote the pairs of each row it added a conversion to: a busy
    day's rows hold thousands (96 kB per model and level 6,000 leads into a day), so the cost
    of a new lead grew with the leads already in its day. A batch's new pairs now go in as
    a chunk of their own; a row's chunks are folded into it every CHUNKS_PER_ROW batches."""
    monkeypatch.setattr(credit_rollups, "CHUNKS_PER_ROW", 3)
    site = make_site("UTC")
    email = {"channel": "Email", "source": "newsletter", "medium": "email", "campaign": None,
             "keyword": None, "landing_url": None}
    seen = []
    for number in range(7):
        add_sessions(db_session, site.id, "UTC",
                     [{"visitor": number, "minute": 10 + number, **email}])
        with db_session.begin():
            stitch_visitor_to_lead(db_session, site.id, f"visitor-{number}",
                                   Identity(email=f"appended{number}@example.com"),
                                   WINDOWS["UTC"] + dt.timedelta(minutes=20 + 7 * number))
        drain_queue(engine)
        db_session.expire_all()  # the worker rewrote the row
        with db_session.begin():
            row = db_session.scalars(select(CreditRollup).where(
                CreditRollup.site_id == site.id, CreditRollup.model == "linear",
                CreditRollup.level == 0)).one()
            chunks = db_session.scalars(select(CreditRollupTimes).where(
                CreditRollupTimes.site_id == site.id, CreditRollupTimes.model == "linear",
                CreditRollupTimes.level == 0)).all()
            seen.append((len(merge_times([row.lead_times])), len(chunks)))
        day = WINDOWS["UTC"].date()
        for group_by in ("channel", "source"):  # reports read the chunks' pairs too
            assert_same_report(db_session, site, ReportQuery(
                model="linear", start=day, end=day, timezone="UTC", group_by=group_by),
                built=True)
    # The first lead built the site's rollups; then each batch adds a chunk, the third
    # chunk folds them all into the row.
    assert seen == [(1, 0), (1, 1), (1, 2), (4, 0), (4, 1), (4, 2), (7, 0)]
    assert rollup_rows(db_session, site.id) == rebuilt_rows(db_session, site)


def test_the_pairs_of_a_row_and_of_its_chunks_are_one_set_for_the_worker(
    make_site: Any, db_session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lead that leaves a row whose pairs are partly in chunks (its creation moved to an
    earlier day) takes its pair out of wherever it is: the row is rewritten with its chunks
    folded in."""
    monkeypatch.setattr(credit_rollups, "CHUNKS_PER_ROW", 100)
    site = make_site("UTC")
    email = {"channel": "Email", "source": "newsletter", "medium": "email", "campaign": None,
             "keyword": None, "landing_url": None}
    for number in range(3):
        add_sessions(db_session, site.id, "UTC",
                     [{"visitor": number, "minute": 3 * 24 * 60 + number, **email}])
        with db_session.begin():
            stitch_visitor_to_lead(db_session, site.id, f"visitor-{number}",
                                   Identity(email=f"moved{number}@example.com"),
                                   WINDOWS["UTC"] + dt.timedelta(minutes=3 * 24 * 60 + 5))
        drain_queue(engine)
    with db_session.begin():
        assert db_session.scalar(select(func.count()).select_from(CreditRollupTimes).where(
            CreditRollupTimes.site_id == site.id)) > 0
    # The last lead was also identified earlier, on another visitor: its creation moves back.
    add_sessions(db_session, site.id, "UTC", [{"visitor": 7, "minute": 10, **email}])
    with db_session.begin():
        stitch_visitor_to_lead(db_session, site.id, "visitor-7",
                               Identity(email="moved2@example.com"),
                               WINDOWS["UTC"] + dt.timedelta(minutes=20))
    drain_queue(engine)
    assert rollup_rows(db_session, site.id) == rebuilt_rows(db_session, site)
    later_day = WINDOWS["UTC"].date() + dt.timedelta(days=3)
    assert_same_report(db_session, site, ReportQuery(
        model="linear", start=later_day, end=later_day, timezone="UTC", group_by="channel"),
        built=True)
