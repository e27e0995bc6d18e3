"""Refresh-worker benchmark: how fast stale leads are re-credited, and how long a new lead
takes to show in the revenue report while 200 forms a second come in.

On a fresh PostgreSQL database (``leadtrail_bench_worker``) loaded like ``bench/reports.py``
(a year: 1M sessions, 100k leads, 20k deals at ``--scale 1``):

1. **Re-credit throughput.** Baseline: a full ``attribution rebuild`` of the site (every
   lead under all 10 models, refits included), as leads per second. Then ``--stale`` random
   leads are queued as the writers would queue them and one worker drains them
   (``Worker.run_once``, batches of ``--batch-size``): leads per second, and the ratio to the
   baseline, for leads created in the last 7 days (what identifies and CRM updates of new
   deals make stale) and leads from all over the year (a CRM backfill). Each set is queued
   with nothing changed twice: first right after the rebuild (each lead's rows are read back
   and compared, and leave a digest), then again (the recomputed rows match the digest: no
   read). Last, the year's leads each moved on a funnel stage (every model's lead credit
   changes: credit rows rewritten, credit rollups updated). Target: >= 2,000 leads/s.
2. **Identify -> report lag.** A real ``leadtrail serve`` (2 serving processes and its built-in
   worker process) gets ``/identify`` calls for anonymous visitors of the data set, paced at
   ``--rate`` per second for ``--seconds``; a poller reads today's revenue report every 100 ms.
   A lead's lag is from its ``/identify`` answer to the first report whose lead count includes
   it. Target: p95 < 5 s at 200 identifies/s.

Not a test: ``.venv/bin/python bench/worker.py [--scale 1] [--stale 20000] [--rate 200]``.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import importlib.util
import json
import os
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != str(_HERE)]
sys.path.insert(0, str(_HERE.parent))

from tests.servers import serve  # noqa: E402
from tracker import migrate  # noqa: E402
from tracker.changes import LEAD  # noqa: E402
from tracker.credits import rebuild_site  # noqa: E402
from tracker.db import make_engine  # noqa: E402
from tracker.leads.stages import FUNNEL, change_stage  # noqa: E402
from tracker.models import Lead, Site  # noqa: E402
from tracker.rollups.credits import rebuild_credits  # noqa: E402
from tracker.rollups.traffic import rebuild_traffic  # noqa: E402
from tracker.sites.service import create_site  # noqa: E402
from tracker.worker.queue import enqueue  # noqa: E402
from tracker.worker.runner import Worker  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DATABASE = "leadtrail_bench_worker"
AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Safari/537.36")


def _load_generator():  # type: ignore[no-untyped-def]
    """bench/reports.py's data generator (loaded by path: ``reports`` is also a tracker
    package name)."""
    spec = importlib.util.spec_from_file_location("bench_reports", _HERE / "reports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def log(message: str) -> None:
    print(message, flush=True)


def fresh_database() -> str:
    admin_url = make_url(os.environ.get("LEADTRAIL_BENCH_DATABASE_URL", DEFAULT_POSTGRES))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return admin_url.set(database=DATABASE).render_as_string(hide_password=False)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def recredit_throughput(url: str, site_id: int, stale: int, batch_size: int) -> None:
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        site = session.get(Site, site_id)
        assert site is not None
        leads = session.scalar(select(func.count()).select_from(Lead)) or 0
        began = time.perf_counter()
        rebuild_site(session, site)
        rebuild_seconds = time.perf_counter() - began
        # A running site has its rollups (`leadtrail rollups rebuild` after an upgrade);
        # without them the worker's first items would build them inline.
        for kind, build in (("traffic", rebuild_traffic), ("credit", rebuild_credits)):
            began = time.perf_counter()
            rows = build(session, site)
            log(f"{kind} rollups: {rows:,} rows in {time.perf_counter() - began:.1f} s")
    migrate.analyze(engine)
    baseline = leads / rebuild_seconds
    log(f"full rebuild (baseline): {leads:,} leads in {rebuild_seconds:.1f} s = "
        f"{baseline:,.0f} leads/s")
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session, session.begin():
        ids = list(session.scalars(select(Lead.id).where(Lead.site_id == site_id)))
        recent = list(session.scalars(select(Lead.id).where(
            Lead.site_id == site_id, Lead.created_at >= now - dt.timedelta(days=7))))
    rng = np.random.default_rng(7)
    recent_chosen = [recent[i] for i in rng.choice(len(recent), min(stale, len(recent)),
                                                   replace=False)]
    year_chosen = [ids[i] for i in rng.choice(len(ids), min(stale, len(ids)), replace=False)]
    # Fresh leads are what identifies and CRM updates of new deals make stale; leads from
    # all over the year are what a CRM backfill makes stale. A lead's first refresh after a
    # rebuild reads its stored rows back to compare (and leaves a digest of them); later
    # refreshes of an unchanged lead compare digests only: both are shown.
    scenarios = (("created in the last 7 days, first refresh since the rebuild", recent_chosen,
                  False),
                 ("created in the last 7 days, queued again", recent_chosen, False),
                 ("from all over the year, first refresh since the rebuild", year_chosen, False),
                 ("from all over the year, queued again", year_chosen, False),
                 ("from all over the year, each moved a funnel stage on", year_chosen, True))
    for label, chosen, advanced in scenarios:
        with Session(engine) as session, session.begin():
            if advanced:  # a real change: every model's lead credit moves to another stage
                for lead in session.scalars(select(Lead).where(Lead.id.in_(chosen))):
                    at = FUNNEL.index(lead.stage) if lead.stage in FUNNEL else 0
                    change_stage(session, lead, FUNNEL[min(at + 1, len(FUNNEL) - 1)],
                                 cause="manual", at=now)
            enqueue(session, [(site_id, LEAD, lead_id.hex) for lead_id in chosen])
        progress = Worker(engine, batch_size=batch_size).run_once()
        rate = progress.leads / progress.seconds
        verdict = "met" if rate >= 2000 else "MISSED"
        log(f"worker, stale leads {label}: {progress.leads:,} in {progress.batches} batches, "
            f"{progress.seconds:.1f} s = {rate:,.0f} leads/s ({rate / baseline:.2f}x the "
            f"rebuild; target >= 2,000 leads/s: {verdict}); failures {progress.failures}")
    engine.dispose()


def identify_lag(url: str, site_id: int, write_key: str, api_key: str, first_visitor: int,
                 rate: float, seconds: float) -> None:
    total = int(rate * seconds)
    with serve(url, {"LEADTRAIL_WORKERS": "2", "LEADTRAIL_THREADS": "16"}) as server:
        report = (f"{server.url}/api/v1/reports/revenue?model=linear&group_by=channel"
                  f"&from={dt.datetime.now(dt.UTC).date()}&to={dt.datetime.now(dt.UTC).date()}")
        headers = {"Authorization": f"Bearer {api_key}"}

        def leads_in_report() -> float:
            body = requests.get(report, headers=headers, timeout=30).json()
            return float(body["totals"]["leads"])

        baseline = leads_in_report()
        acked: list[float] = []
        acked_lock = threading.Lock()
        seen: list[tuple[float, float]] = []  # (time, leads in the report beyond the baseline)
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                seen.append((time.monotonic(), leads_in_report() - baseline))
                stop.wait(0.1)

        local = threading.local()

        def submit(number: int, due: float) -> int:
            time.sleep(max(0.0, due - time.monotonic()))
            http = getattr(local, "http", None) or requests.Session()
            local.http = http
            body = {"k": write_key, "vid": f"v{first_visitor + number:08d}",
                    "id": secrets.token_hex(8), "ts": int(time.time() * 1000),
                    "url": "https://example.com/contact",
                    "email": f"bench-{number}-{uuid.uuid4().hex[:6]}@example.com"}
            response = http.post(f"{server.url}/identify", data=json.dumps(body), timeout=60,
                                 headers={"User-Agent": AGENT, "Origin": "https://example.com",
                                          "Content-Type": "text/plain"})
            with acked_lock:
                acked.append(time.monotonic())
            return response.status_code

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        start = time.monotonic() + 0.5
        with ThreadPoolExecutor(max_workers=64) as pool:
            statuses = list(pool.map(lambda n: submit(n, start + n / rate), range(total)))
        sent_seconds = max(acked) - start
        deadline = time.monotonic() + 120
        while (not seen or seen[-1][1] < total - 0.5) and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        poller.join()
    errors = sum(status != 200 for status in statuses)
    acked.sort()
    counts = [count for _at, count in seen]
    lags = []
    for k, at in enumerate(acked, start=1):
        index = bisect.bisect_left(counts, k - 0.5)  # the report's count only grows
        if index < len(seen):
            lags.append(max(0.0, seen[index][0] - at))
    missing = total - len(lags)
    p95 = percentile(lags, 0.95) if lags else float("inf")
    verdict = "met" if p95 < 5 and not missing else "MISSED"
    log(f"identify -> report lag: {total:,} identifies in {sent_seconds:.1f} s "
        f"({total / sent_seconds:,.0f}/s, {errors} errors); lag p50 "
        f"{percentile(lags, 0.5) if lags else float('nan'):.2f} s, p95 {p95:.2f} s, max "
        f"{max(lags) if lags else float('nan'):.2f} s; {missing} never shown "
        f"(target p95 < 5 s: {verdict})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--stale", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    generator = _load_generator()
    url = fresh_database()
    engine = make_engine(url)
    migrate.upgrade(engine)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        created = create_site(session, name="bench", domains=["example.com"])
    sizes = (int(1_000_000 * args.scale), int(400_000 * args.scale),
             int(100_000 * args.scale), int(20_000 * args.scale))
    log(f"loading {sizes[0]:,} sessions, {sizes[1]:,} visitors, {sizes[2]:,} leads")
    generator.generate(engine, created.site.id, *sizes, now=dt.datetime.now(dt.UTC),
                       rng=np.random.default_rng(6))
    migrate.analyze(engine)
    engine.dispose()
    recredit_throughput(url, created.site.id, args.stale, args.batch_size)
    identify_lag(url, created.site.id, created.write_key, created.api_key,
                 first_visitor=sizes[2], rate=args.rate, seconds=args.seconds)


if __name__ == "__main__":
    main()
