"""Reports benchmark: a year of traffic, leads, deals and spend; a full attribution rebuild;
the revenue-by-channel and revenue-by-campaign reports over 90 days under three models.

Generates (defaults, issue 6) 1,000,000 sessions of 400,000 visitors, 100,000 leads (one
visitor each, created in one of their sessions), 20,000 deals of which 10,000 won, 5,000
lost and 5,000 open, and daily spend per paid campaign, all over the past year, on a fresh
database per dialect (bulk-loaded with COPY on PostgreSQL, executemany on SQLite; loading is
not timed). Then:

- ``attribution rebuild``: every stored model (DESIGN section 6's ten) for the site, timed
  once (target: under 60 s);
- ``GET /api/v1/reports/revenue`` grouped by channel and by campaign, for the last 90 days,
  under linear, position_based and markov: ``--requests`` timed requests each through the
  Flask test client (auth included), after one warm-up; prints p50/p95 and the number of
  SQL statements per request, first with the sessions and stored credits scanned (the
  baseline), then after building the traffic and credit rollups (timed), side by side with
  the p95 ratio (target: p95 under 150 ms on PostgreSQL at 1M sessions, 300 ms at 10M);
- the dashboard's overview page over the same 90 days, signed in (target: p95 under 500 ms);
- on PostgreSQL with the hll extension available: the same again with the site's
  ``unique_visitors`` set to ``approximate``, with the largest visitor error it made.

Not a test: ``python bench/reports.py [--dialect postgresql|sqlite|both] [--scale 0.1]``.
PostgreSQL comes from LEADTRAIL_BENCH_DATABASE_URL (default: the local server as postgres;
a database ``leadtrail_bench`` is dropped and created).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, delete, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

from tracker import create_app, migrate  # noqa: E402
from tracker.accounts.users import create_user  # noqa: E402
from tracker.config import Settings  # noqa: E402
from tracker.credits.store import rebuild_site  # noqa: E402
from tracker.db import bulk_insert, make_engine  # noqa: E402
from tracker.models import (  # noqa: E402
    Cost,
    CreditRollup,
    Deal,
    Lead,
    LeadVisitor,
    RollupState,
    Site,
    StageChange,
    TrafficRollup,
    User,
    Visitor,
    VisitSession,
)
from tracker.rollups.credits import rebuild_credits  # noqa: E402
from tracker.rollups.traffic import rebuild_traffic  # noqa: E402
from tracker.runtime import freeze_startup_heap  # noqa: E402
from tracker.sites.keys import create_api_key  # noqa: E402
from tracker.sites.service import create_site, update_site_settings  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
YEAR = dt.timedelta(days=365)
# channel, source, medium, campaigns, share of sessions, paid
CHANNELS = (
    ("Paid Search", "google", "cpc", 20, 0.25, True),
    ("Organic Search", "google", "organic", 0, 0.25, False),
    ("Paid Social", "facebook", "paid", 10, 0.10, True),
    ("Organic Social", "linkedin", "social", 0, 0.05, False),
    ("Email", "newsletter", "email", 12, 0.10, False),
    ("Referral", "partner.example", "referral", 0, 0.05, False),
    ("Display", "gdn", "display", 8, 0.05, True),
    ("Direct", None, None, 0, 0.15, False),
)
PAGES = [f"https://example.com/{name}" for name in (
    "", "pricing", "features", "blog/a", "blog/b", "blog/c", "demo", "contact", "docs", "about")]
MODELS = ("linear", "position_based", "markov")
GROUPS = ("channel", "campaign")


def log(message: str) -> None:
    print(message, flush=True)


def bulk_load(engine: Engine, table: Any, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
              ) -> int:
    with engine.begin() as conn:
        return bulk_insert(conn, table, columns, rows)


def generate(engine: Engine, site_id: int, n_sessions: int, n_visitors: int, n_leads: int,
             n_deals: int, now: dt.datetime, rng: np.random.Generator) -> None:
    """Load a year of data for ``site_id`` (see the module docstring)."""
    json_empty = "{}" if engine.dialect.name == "postgresql" else {}
    start = now - YEAR
    shares = np.array([c[4] for c in CHANNELS])
    visitor_of = np.sort(rng.integers(0, n_visitors, n_sessions))
    visitor_of[:n_visitors] = np.arange(n_visitors)  # every visitor has a session
    visitor_of.sort()
    seconds = rng.uniform(0, YEAR.total_seconds(), n_sessions)
    order = np.lexsort((seconds, visitor_of))
    visitor_of, seconds = visitor_of[order], seconds[order]
    channel = rng.choice(len(CHANNELS), n_sessions, p=shares / shares.sum())
    campaign = rng.integers(0, 1_000_000, n_sessions)
    keyword = rng.integers(0, 200, n_sessions)
    page = rng.integers(0, len(PAGES), n_sessions)
    session_ids = [uuid.uuid4() for _ in range(n_sessions)]
    visitor_ids = [f"v{i:08d}" for i in range(n_visitors)]
    first = np.searchsorted(visitor_of, np.arange(n_visitors))
    last = np.searchsorted(visitor_of, np.arange(n_visitors), side="right") - 1
    at = [start + dt.timedelta(seconds=float(s)) for s in seconds]

    log(f"  visitors {n_visitors:,}")
    bulk_load(engine, Visitor.__table__, ("site_id", "id", "first_seen_at", "last_seen_at"),
              ((site_id, visitor_ids[v], at[first[v]], at[last[v]]) for v in range(n_visitors)))

    def session_row(i: int) -> tuple[Any, ...]:
        name, source, medium, campaigns, _share, _paid = CHANNELS[channel[i]]
        camp = f"{name.lower().replace(' ', '_')}_{campaign[i] % campaigns}" if campaigns else None
        term = f"keyword {keyword[i]}" if name == "Paid Search" else None
        return (site_id, session_ids[i], visitor_ids[visitor_of[i]], at[i],
                at[i] + dt.timedelta(minutes=5), f"{PAGES[page[i]]}?ref={i % 7}", name, source,
                medium, camp, term, "bench")

    log(f"  sessions {n_sessions:,}")
    bulk_load(engine, VisitSession.__table__,
              ("site_id", "id", "visitor_id", "started_at", "ended_at", "landing_url", "channel",
               "source", "medium", "campaign", "term", "channel_rules_version"),
              # in time order, as the collector writes them
              (session_row(int(i)) for i in np.argsort(seconds, kind="stable")))

    # Leads: visitors 0..n_leads-1, created in one of their sessions (uniformly chosen).
    lead_ids = [uuid.uuid4() for _ in range(n_leads)]
    creation = first[:n_leads] + (
        rng.random(n_leads) * (last[:n_leads] - first[:n_leads] + 1)).astype(np.int64)
    created = [at[creation[i]] + dt.timedelta(minutes=1) for i in range(n_leads)]
    deal_lead = rng.choice(n_leads, n_deals, replace=False)
    status = np.array(["won"] * (n_deals // 2) + ["lost"] * (n_deals // 4)
                      + ["open"] * (n_deals - n_deals // 2 - n_deals // 4))
    rng.shuffle(status)
    stage = ["lead"] * n_leads
    for lead, state in zip(deal_lead.tolist(), status.tolist(), strict=True):
        stage[lead] = "customer" if state == "won" else (
            "opportunity" if stage[lead] != "customer" else stage[lead])
    log(f"  leads {n_leads:,}")
    bulk_load(engine, Lead.__table__,
              ("site_id", "id", "email", "created_at", "updated_at", "stage", "stage_changed_at",
               "score", "first_session_id", "creation_session_id", "source_of_creation",
               "crm_ids"),
              ((site_id, lead_ids[i], f"lead{i}@example.com", created[i], created[i], stage[i],
                created[i], 0, session_ids[first[i]], session_ids[creation[i]], "form",
                json_empty) for i in range(n_leads)))
    bulk_load(engine, LeadVisitor.__table__,
              ("site_id", "id", "lead_id", "visitor_id", "valid_from", "valid_to", "linked_at"),
              ((site_id, uuid.uuid4(), lead_ids[i], visitor_ids[i], None, None, created[i])
               for i in range(n_leads)))
    opened = [created[lead] + dt.timedelta(days=float(rng.uniform(1, 30))) for lead in deal_lead]
    closed = [min(o + dt.timedelta(days=float(rng.uniform(1, 60))), now) for o in opened]
    changes = [(site_id, uuid.uuid4(), lead_ids[i], None, "lead", created[i], "form", None)
               for i in range(n_leads)]
    for d, lead in enumerate(deal_lead.tolist()):
        changes.append((site_id, uuid.uuid4(), lead_ids[lead], "lead", "opportunity", opened[d],
                        "crm", None))
        if status[d] == "won":
            changes.append((site_id, uuid.uuid4(), lead_ids[lead], "opportunity", "customer",
                            closed[d], "crm", None))
    bulk_load(engine, StageChange.__table__,
              ("site_id", "id", "lead_id", "from_stage", "to_stage", "changed_at", "cause",
               "detail"), changes)
    amounts = rng.uniform(500, 20_000, n_deals).round(2)
    owners = ("olivia", "paul", "quinn", "rosa")
    log(f"  deals {n_deals:,}")
    bulk_load(engine, Deal.__table__,
              ("site_id", "id", "provider", "external_id", "lead_id", "amount", "currency",
               "status", "owner", "created_at", "closed_at", "deleted", "field_times",
               "last_event_at", "updated_at"),
              ((site_id, uuid.uuid4(), "generic", f"d{d}", lead_ids[lead], float(amounts[d]),
                "USD", status[d], owners[d % 4], opened[d],
                None if status[d] == "open" else closed[d], False, json_empty,
                closed[d], closed[d]) for d, lead in enumerate(deal_lead.tolist())))
    spend = []
    for day in range(366):
        date = (start + dt.timedelta(days=day)).date()
        for name, source, medium, campaigns, _share, paid in CHANNELS:
            for c in range(campaigns if paid else 0):
                amount = round(float(rng.uniform(5, 200)), 2)
                spend.append((site_id, uuid.uuid4(), date, name, source, medium,
                              f"{name.lower().replace(' ', '_')}_{c}", "", amount, "USD",
                              amount, now))
    log(f"  costs {len(spend):,}")
    bulk_load(engine, Cost.__table__,
              ("site_id", "id", "day", "channel", "source", "medium", "campaign", "keyword",
               "amount", "currency", "amount_site", "imported_at"), spend)


def fresh_url(dialect: str, workdir: str) -> str:
    if dialect == "sqlite":
        path = os.path.join(workdir, "bench.db")
        if os.path.exists(path):
            os.remove(path)
        return f"sqlite:///{path}"
    admin_url = make_url(os.environ.get("LEADTRAIL_BENCH_DATABASE_URL", DEFAULT_POSTGRES))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "leadtrail_bench" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "leadtrail_bench"'))
    admin.dispose()
    return admin_url.set(database="leadtrail_bench").render_as_string(hide_password=False)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _loaded(dialect: str, sessions: int) -> tuple[str, int, str] | None:
    """With ``--reuse``: the PostgreSQL database a run already loaded at this size (its URL,
    site id and a new API key), or None. Loading 10M sessions takes about 20 minutes."""
    if dialect != "postgresql":
        return None
    admin_url = make_url(os.environ.get("LEADTRAIL_BENCH_DATABASE_URL", DEFAULT_POSTGRES))
    url = admin_url.set(database="leadtrail_bench").render_as_string(hide_password=False)
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            site = session.scalars(select(Site).where(Site.name == "bench")).first()
            if site is None or session.scalar(
                    select(func.count()).select_from(VisitSession)
                    .where(VisitSession.site_id == site.id)) != sessions:
                return None
            key = create_api_key(session, site, name="bench").plain
    except OperationalError:
        return None
    finally:
        engine.dispose()
    return url, site.id, key


def run(dialect: str, args: argparse.Namespace, workdir: str) -> None:
    scale = args.scale
    sizes = (int(1_000_000 * scale), int(400_000 * scale), int(100_000 * scale),
             int(20_000 * scale))
    now = dt.datetime.now(dt.UTC)
    loaded = _loaded(dialect, sizes[0]) if args.reuse else None
    if loaded is not None:
        url, site_id, api_key = loaded
        engine = make_engine(url)
        log(f"[{dialect}] reusing the loaded database ({sizes[0]:,} sessions)")
    else:
        url = fresh_url(dialect, workdir)
        engine = make_engine(url)
        migrate.upgrade(engine)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            created = create_site(session, name="bench", domains=["example.com"])
        site_id, api_key = created.site.id, created.api_key
        log(f"[{dialect}] loading {sizes[0]:,} sessions, {sizes[2]:,} leads, "
            f"{sizes[3]:,} deals")
        began = time.perf_counter()
        generate(engine, site_id, *sizes, now=now, rng=np.random.default_rng(6))
        migrate.analyze(engine)
        log(f"[{dialect}] loaded in {time.perf_counter() - began:.1f} s")

    if loaded is not None and args.keep_credits:
        log(f"[{dialect}] attribution rebuild skipped (--keep-credits)")
    else:
        began = time.perf_counter()
        with Session(engine, expire_on_commit=False) as session, session.begin():
            site = session.get(Site, site_id)
            assert site is not None
            written = rebuild_site(session, site)
        rebuild_seconds = time.perf_counter() - began
        migrate.analyze(engine)
        log(f"[{dialect}] attribution rebuild, 10 models: {rebuild_seconds:.1f} s "
            f"({written:,} credit rows)"
            f"{'' if rebuild_seconds < 60 or scale != 1 else '  MISSES the 60 s target'}")

    app = create_app(Settings(database_url=url, log_level="WARNING"), engine=engine)
    client = app.test_client()
    freeze_startup_heap()  # as each `leadtrail serve` process does once it has loaded the app
    headers = {"Authorization": f"Bearer {api_key}"}
    end = now.date()
    begin = end - dt.timedelta(days=89)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def time_reports() -> dict[tuple[str, str], tuple[float, float, int]]:
        found = {}
        for model in MODELS:
            for group in GROUPS:
                path = (f"/api/v1/reports/revenue?model={model}&group_by={group}"
                        f"&from={begin}&to={end}")
                assert client.get(path, headers=headers).status_code == 200  # warm-up
                timings = []
                for _ in range(args.requests):
                    statements.clear()
                    began = time.perf_counter()
                    response = client.get(path, headers=headers)
                    timings.append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 200, response.json
                found[model, group] = (statistics.median(timings), percentile(timings, 0.95),
                                       len(statements))
        return found

    # The whole overview page (KPI tiles with the previous period, revenue table, trend,
    # funnel, model comparison), signed in as a marketer, after one warm-up.
    with Session(engine, expire_on_commit=False) as session, session.begin():
        if session.scalar(select(User).where(User.email == "bench@example.com")) is None:
            create_user(session, "bench@example.com", "bench-overview-9f3kq2x",
                        site_ids=[site_id])
    page = client.get("/dashboard/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    assert client.post("/dashboard/login", data={
        "email": "bench@example.com", "password": "bench-overview-9f3kq2x",
        "csrf_token": token.group(1)}).status_code == 302
    overview = f"/dashboard/?site={site_id}&from={begin}&to={end}&model=linear"

    def time_overview() -> list[float]:
        assert client.get(overview).status_code == 200
        pages = []
        for _ in range(args.requests):
            began = time.perf_counter()
            assert client.get(overview).status_code == 200
            pages.append((time.perf_counter() - began) * 1000)
        return pages

    if loaded is not None and args.keep_rollups:
        log(f"[{dialect}] rollups kept (--keep-rollups): no scan baseline in this run")
        rolled = time_reports()
        pages_rolled = time_overview()
        scanned = {key: (float("nan"), float("nan"), 0) for key in rolled}
    else:
        scanned, rolled, pages_rolled = _scan_then_rollups(
            engine, site_id, dialect, time_reports, time_overview)
    approximate = _time_approximate(engine, site_id, time_reports, time_overview, client,
                                    headers, f"from={begin}&to={end}") \
        if dialect == "postgresql" else None
    report(dialect, args, scanned, rolled, pages_rolled, approximate, begin, end)
    engine.dispose()


def _scan_then_rollups(engine: Engine, site_id: int, dialect: str, time_reports: Any,
                       time_overview: Any) -> tuple[dict[Any, Any], dict[Any, Any], list[float]]:
    # Baseline in the same run: no rollups (a reused database has them from its last run:
    # dropped first), so the sessions and credits are scanned.
    with Session(engine) as session, session.begin():
        for table in (TrafficRollup, CreditRollup, RollupState):
            session.execute(delete(table).where(table.site_id == site_id))
    scanned = time_reports()
    pages_scanned = time_overview()
    log(f"[{dialect}] overview page, scanned: p50 {statistics.median(pages_scanned):.1f} "
        f"p95 {percentile(pages_scanned, 0.95):.1f} ms")
    for kind, build in (("traffic", rebuild_traffic), ("credit", rebuild_credits)):
        began = time.perf_counter()
        with Session(engine, expire_on_commit=False) as session, session.begin():
            site = session.get(Site, site_id)
            assert site is not None
            rows = build(session, site)
        log(f"[{dialect}] {kind} rollups built: {rows:,} rows in "
            f"{time.perf_counter() - began:.1f} s")
    migrate.analyze(engine)
    return scanned, time_reports(), time_overview()


def report(dialect: str, args: argparse.Namespace, scanned: dict[Any, Any],
           rolled: dict[Any, Any], pages_rolled: list[float],
           approximate: tuple[dict[Any, Any], list[float], float] | None,
           begin: dt.date, end: dt.date) -> None:
    # The targets: 150 ms at 1M sessions, 300 ms at 10M (--scale 10).
    target = 300 if args.scale >= 10 else 150
    flag = "" if dialect != "postgresql" or percentile(pages_rolled, 0.95) <= 500 else \
        "  MISSES the 500 ms target"
    log(f"[{dialect}] overview page, 90 days, from the rollups (ms): p50 "
        f"{statistics.median(pages_rolled):.1f} p95 {percentile(pages_rolled, 0.95):.1f}{flag}")
    log(f"[{dialect}] revenue report, {begin}..{end}, {args.requests} requests each "
        f"(ms; raw rows scanned → rollups):")
    log(f"  {'model':<16}{'group_by':<10}{'p50 scan':>10}{'p95 scan':>10}{'p50 roll':>10}"
        f"{'p95 roll':>10}{'p95 ratio':>11}{'statements':>12}")
    for key, (p50, p95, count) in rolled.items():
        base50, base95, _ = scanned[key]
        flag = "" if dialect != "postgresql" or p95 <= target else \
            f"  MISSES the {target} ms target"
        log(f"  {key[0]:<16}{key[1]:<10}{base50:>10.1f}{base95:>10.1f}{p50:>10.1f}{p95:>10.1f}"
            f"{p95 / base95:>10.2f}×{count:>12}{flag}")
    if approximate is not None:
        reports, pages, error = approximate
        log(f"[{dialect}] with unique_visitors=approximate (hll sketches; largest visitor "
            f"error of any group or total vs the exact count: {error:.2%}):")
        log(f"  overview page p50 {statistics.median(pages):.1f} p95 "
            f"{percentile(pages, 0.95):.1f} ms")
        log(f"  {'model':<16}{'group_by':<10}{'p50 approx':>12}{'p95 approx':>12}"
            f"{'÷ p95 exact':>13}")
        for key, (p50, p95, _count) in reports.items():
            flag = "" if p95 <= target else f"  MISSES the {target} ms target"
            log(f"  {key[0]:<16}{key[1]:<10}{p50:>12.1f}{p95:>12.1f}"
                f"{p95 / rolled[key][1]:>12.2f}×{flag}")


def _time_approximate(engine: Engine, site_id: int, time_reports: Any, time_overview: Any,
                      client: Any, headers: dict[str, str], dates: str
                      ) -> tuple[dict[Any, Any], list[float], float] | None:
    """The same timings with the site counting visitors approximately, when the server has the
    hll extension; and the largest relative visitor error of the channel and campaign
    reports against the exact counts."""
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS hll"))
    except DBAPIError as exc:
        log(f"  approximate visitors not timed: no hll extension ({exc.orig})")
        return None

    def visitors() -> dict[tuple[str, Any], int]:
        found = {}
        for group in GROUPS:
            body = client.get(f"/api/v1/reports/revenue?group_by={group}&{dates}",
                              headers=headers).json
            found.update({(group, row["group"]): row["visitors"] for row in body["rows"]})
            found[group, "(total)"] = body["totals"]["visitors"]
        return found

    exact = visitors()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        site = session.get(Site, site_id)
        assert site is not None
        update_site_settings(session, site, {"unique_visitors": "approximate"})
    estimated = visitors()
    error = max(abs(estimated[key] / count - 1) for key, count in exact.items() if count)
    try:
        return time_reports(), time_overview(), error
    finally:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            site = session.get(Site, site_id)
            assert site is not None
            update_site_settings(session, site, {"unique_visitors": "exact"})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the issue's sizes (1.0 = 1M sessions)")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--reuse", action="store_true",
                        help="PostgreSQL: keep the database an earlier run loaded at this size")
    parser.add_argument("--keep-credits", action="store_true",
                        help="with --reuse: skip the timed attribution rebuild")
    parser.add_argument("--keep-rollups", action="store_true",
                        help="with --reuse: keep the rollups, no scan baseline (a rerun after "
                        "a change to the read side)")
    args = parser.parse_args(argv)
    dialects = ("postgresql", "sqlite") if args.dialect == "both" else (args.dialect,)
    with tempfile.TemporaryDirectory() as workdir:
        for dialect in dialects:
            run(dialect, args, workdir)


if __name__ == "__main__":
    main()
