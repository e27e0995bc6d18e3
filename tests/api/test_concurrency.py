"""Concurrency on PostgreSQL through a real ``leadtrail serve`` (2 gunicorn workers x 16
threads): 500 form submits from 50 concurrent clients on a brand-new site all become leads
with no 5xx, also with CRM webhooks and cost imports interleaved; then the worker drains the
queue and the stored credits equal a full rebuild's.

Before the refresh queue, a brand-new site had no Markov/Shapley fit, so concurrent
``/identify`` requests each rebuilt the whole site inline and collided on the fits' and
credits' primary keys: 18-28 of 524 submits answered 500 and their leads were lost.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from crm_sync.providers import generic
from tests.api.test_leads import identify, visit
from tests.conftest import create_postgres_database, drop_postgres_database, worker_name
from tests.factories import SiteMaker, drain_queue
from tests.servers import LiveServer, serve
from tracker.collect import identify as identify_module
from tracker.credits import rebuild_site
from tracker.models import (
    AttributionCredit,
    Deal,
    Lead,
    LeadVisitor,
    RefreshItem,
    Site,
    StageChange,
)
from tracker.sites.service import CreatedSite

pytestmark = pytest.mark.postgres

CLIENTS = 50
SUBMITS_PER_CLIENT = 10
SECRET = "whsec_concurrency_test_secret"
AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CHANNELS = (
    "http://localhost/?utm_source=google&utm_medium=cpc&utm_campaign=brand",
    "http://localhost/?utm_source=newsletter&utm_medium=email",
    "http://localhost/pricing",
    "http://localhost/?utm_source=facebook&utm_medium=paid_social",
)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    url = create_postgres_database(f"leadtrail_concurrency_{worker_name()}")
    try:
        # No worker thread in the server: the tests drain the queue themselves, so what the
        # requests alone did can be checked first.
        with serve(url, {"LEADTRAIL_WORKERS": "2", "LEADTRAIL_THREADS": "16",
                         "LEADTRAIL_BUILTIN_WORKER": "0"}) as live:
            yield live
    finally:
        drop_postgres_database(url)


def _visit_then_submit(server: LiveServer, site: CreatedSite, client: int) -> list[int]:
    """One browser: for each of its submits, a page view then the form (``/identify``)."""
    statuses = []
    headers = {"User-Agent": AGENT, "Origin": "http://localhost",
               "Content-Type": "text/plain"}
    with requests.Session() as http:
        for number in range(SUBMITS_PER_CLIENT):
            visitor = f"visitor-{client}-{number}-{secrets.token_hex(4)}"
            now = int(time.time() * 1000)
            event = {"id": secrets.token_hex(8), "type": "pageview", "ts": now - 60_000,
                     "url": CHANNELS[(client + number) % len(CHANNELS)]}
            collect = {"k": site.write_key, "vid": visitor, "sent_at": now, "events": [event]}
            statuses.append(http.post(f"{server.url}/collect", data=json.dumps(collect),
                                      headers=headers, timeout=60).status_code)
            form = {"k": site.write_key, "vid": visitor, "id": secrets.token_hex(8), "ts": now,
                    "url": "http://localhost/contact",
                    "email": f"person-{client}-{number}@example.com"}
            statuses.append(http.post(f"{server.url}/identify", data=json.dumps(form),
                                      headers=headers, timeout=60).status_code)
    return statuses


def _deal_won(server: LiveServer, site: CreatedSite, client: int) -> list[int]:
    """The CRM: a won deal for some of that client's people, signed like the generic CRM."""
    statuses = []
    with requests.Session() as http:
        for number in range(0, SUBMITS_PER_CLIENT, 3):
            occurred = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            body = json.dumps({
                "id": f"evt-{client}-{number}", "type": "deal.won", "occurred_at": occurred,
                "deal": {"id": f"D-{client}-{number}", "amount": "1000", "currency": "USD",
                         "email": f"person-{client}-{number}@example.com"},
            }).encode()
            headers = {"LeadTrail-Signature": generic.sign(body, SECRET, int(time.time())),
                       "Content-Type": "application/json"}
            statuses.append(http.post(f"{server.url}/webhooks/generic/{site.site.id}",
                                      data=body, headers=headers, timeout=60).status_code)
    return statuses


def _costs(server: LiveServer, site: CreatedSite, client: int) -> list[int]:
    day = time.strftime("%Y-%m-%d", time.gmtime())
    body = (f"date,channel,source,medium,campaign,amount\n"
            f"{day},Paid Search,google,cpc,brand,{client}\n")
    response = requests.post(
        f"{server.url}/api/v1/costs", data=body, timeout=60,
        headers={"Authorization": f"Bearer {site.api_key}", "Content-Type": "text/csv"},
    )
    return [response.status_code]


def _run(jobs: list[Callable[[], list[int]]]) -> Counter[int]:
    statuses: Counter[int] = Counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for found in pool.map(lambda job: job(), jobs):
            statuses.update(found)
    return statuses


def _credits(engine: Engine, site_id: int) -> list[tuple[object, ...]]:
    with Session(engine) as session:
        rows = session.execute(
            select(AttributionCredit.model, AttributionCredit.conversion,
                   AttributionCredit.conversion_id, AttributionCredit.position,
                   AttributionCredit.channel, AttributionCredit.credit, AttributionCredit.value)
            .where(AttributionCredit.site_id == site_id)
        ).all()
    return sorted((*row[:5], round(row[5], 9), round(row[6], 6)) for row in rows)


def _count(engine: Engine, model: type[Lead] | type[Deal], site_id: int) -> int:
    with Session(engine) as session:
        return int(session.scalar(
            select(func.count()).select_from(model).where(model.site_id == site_id)) or 0)


def _drained_equals_rebuilt(server: LiveServer, site_id: int) -> None:
    drain_queue(server.engine)
    drained = _credits(server.engine, site_id)
    with Session(server.engine) as session, session.begin():
        site = session.get(Site, site_id)
        assert site is not None
        rebuild_site(session, site)
    assert drained and drained == _credits(server.engine, site_id)


def test_500_form_submits_from_50_clients_on_a_new_site(server: LiveServer) -> None:
    site = server.make_site()

    statuses = _run([lambda c=c: _visit_then_submit(server, site, c) for c in range(CLIENTS)])

    assert statuses == Counter({200: 2 * CLIENTS * SUBMITS_PER_CLIENT})
    assert _count(server.engine, Lead, site.site.id) == CLIENTS * SUBMITS_PER_CLIENT
    _drained_equals_rebuilt(server, site.site.id)


def test_the_same_with_crm_webhooks_and_cost_imports_interleaved(server: LiveServer) -> None:
    site = server.make_site(generic_secrets=[SECRET])
    jobs: list[Callable[[], list[int]]] = []
    for client in range(CLIENTS):
        jobs.append(lambda c=client: _visit_then_submit(server, site, c))
        if client % 5 == 0:
            jobs.append(lambda c=client: _deal_won(server, site, c))
            jobs.append(lambda c=client: _costs(server, site, c))

    statuses = _run(jobs)

    assert not [status for status in statuses if status >= 500], statuses
    assert set(statuses) <= {200, 201}, statuses
    assert _count(server.engine, Lead, site.site.id) == CLIENTS * SUBMITS_PER_CLIENT
    assert _count(server.engine, Deal, site.site.id) == 10 * 4
    _drained_equals_rebuilt(server, site.site.id)


def hold_first_rescore(monkeypatch: pytest.MonkeyPatch, holds: Callable[[Lead], bool]
                       ) -> tuple[threading.Event, threading.Event]:
    """Make the first ``/identify`` whose lead ``holds`` wait, its transaction open, just
    before rescoring: set ``held`` when it waits, and go on once ``release`` is set."""
    held, release = threading.Event(), threading.Event()
    real_rescore = identify_module.rescore_lead

    def rescore_slowly(session: Session, lead: Lead, *args: Any, **kwargs: Any) -> Any:
        if not held.is_set() and holds(lead):
            held.set()
            release.wait(30)
        return real_rescore(session, lead, *args, **kwargs)

    monkeypatch.setattr(identify_module, "rescore_lead", rescore_slowly)
    return held, release


@pytest.mark.postgres
def test_an_identify_never_waits_for_another_identifys_open_transaction(
    postgres_only: tuple[Flask, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ``/identify`` of a process noted the same row of the refresh queue (today's
    traffic of that process), and the row stayed locked for the rest of the request's
    transaction (stitching, scoring), so a process's identifies ran one at a time: 56-62/s
    from 2 processes x 16 threads in bench/worker.py, with 80 of 86 sampled busy backends
    waiting for it. Each writing thread now notes a row of its own."""
    app, _url = postgres_only
    engine: Engine = app.extensions["leadtrail.engine"]
    with Session(engine, expire_on_commit=False) as db_session:
        site = SiteMaker(db_session).make()
    for visitor in ("visitor-slow", "visitor-quick"):
        # Yesterday's visit: the form opens a new session, as most submits of a returning
        # visitor do, and new sessions are what note the traffic row.
        visit(app.test_client(), site, visitor, "https://example.com/?utm_source=google",
              minutes_ago=24 * 60)
    held, release = hold_first_rescore(monkeypatch, lambda lead: lead.email == "slow@example.com")
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(identify, app.test_client(), site, "visitor-slow",
                           "slow@example.com")
        assert held.wait(30)
        quick = pool.submit(identify, app.test_client(), site, "visitor-quick",
                            "quick@example.com")
        try:
            quick_status = quick.result(timeout=10).status_code
        finally:
            release.set()
        assert quick_status == 200
        assert slow.result(timeout=30).status_code == 200
    with Session(engine) as db_session:
        kinds = Counter(db_session.scalars(
            select(RefreshItem.kind).where(RefreshItem.site_id == site.site.id)))
        leads = db_session.scalar(select(func.count()).select_from(Lead)
                                  .where(Lead.site_id == site.site.id))
    assert leads == 2
    assert kinds["lead"] == 2 and kinds["traffic"] >= 1


@pytest.mark.postgres
def test_two_devices_identifying_one_new_email_at_once_make_one_lead(
    postgres_only: tuple[Flask, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second of two concurrent first identifications of one email waits for the
    first's INSERT of the lead and finds it taken. It took the lead for its own creation
    (it had read no lead before the INSERT), recorded the lead's creation a second time and
    failed with a 500 on that row's primary key: the form's submit was lost. Whether a lead
    is new now comes from the INSERT itself (RETURNING)."""
    app, _url = postgres_only
    engine: Engine = app.extensions["leadtrail.engine"]
    with Session(engine, expire_on_commit=False) as db_session:
        site = SiteMaker(db_session).make()
    for visitor in ("visitor-laptop", "visitor-phone"):
        visit(app.test_client(), site, visitor, "https://example.com/?utm_source=google", 5)
    # The first identify holds its new lead uncommitted.
    held, release = hold_first_rescore(monkeypatch, lambda _lead: True)

    def second_waits_on_the_lead() -> bool:
        with engine.connect() as conn:
            return bool(conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'INSERT INTO leads%'")))

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(identify, app.test_client(), site, "visitor-laptop",
                            "both@example.com")
        assert held.wait(30)
        second = pool.submit(identify, app.test_client(), site, "visitor-phone",
                             "both@example.com")
        deadline = time.monotonic() + 20
        while not second_waits_on_the_lead() and time.monotonic() < deadline:
            time.sleep(0.05)
        release.set()
        assert (first.result(timeout=30).status_code,
                second.result(timeout=30).status_code) == (200, 200)
    with Session(engine) as db_session:
        leads = db_session.scalars(select(Lead).where(Lead.site_id == site.site.id)).all()
        created = db_session.scalar(select(func.count()).select_from(StageChange).where(
            StageChange.site_id == site.site.id, StageChange.from_stage.is_(None)))
        owners = db_session.scalars(select(LeadVisitor.visitor_id).where(
            LeadVisitor.site_id == site.site.id, LeadVisitor.valid_to.is_(None))).all()
    assert [lead.email for lead in leads] == ["both@example.com"]
    assert created == 1
    assert sorted(owners) == ["visitor-laptop", "visitor-phone"]
