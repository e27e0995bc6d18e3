"""The refresh queue and its worker on SQLite and PostgreSQL: writes only note what became
stale, the worker recomputes it; re-noted items survive a batch, failing ones are kept with
their error, a killed worker loses nothing, /metrics and the dashboard show the lag."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.api.test_collect import post
from tests.api.test_leads import api, identify, visit
from tests.api.test_reports import statements
from tests.factories import BatchBuilder, SiteMaker, drain_queue
from tests.servers import BIN
from tracker import changes
from tracker.credits import rebuild_site
from tracker.crm.deals import DealUpdate, apply_deal_update
from tracker.models import AttributionCredit, Lead, RefreshItem, Site
from tracker.sites.service import update_site_settings
from tracker.worker.queue import complete, due_items, enqueue
from tracker.worker.runner import Worker, requeue_hold
from tracker.worker.tasks import Done

PAID = "https://example.com/?utm_source=google&utm_medium=cpc&utm_campaign=brand"


def queued(db_session: Session, site_id: int) -> set[tuple[str, str]]:
    rows = db_session.execute(
        select(RefreshItem.kind, RefreshItem.key).where(RefreshItem.site_id == site_id)
    ).all()
    db_session.rollback()
    # The collector's traffic keys carry its process: compare days.
    return {(kind, key.partition("@")[0]) for kind, key in rows}


def credit_rows(db_session: Session, site_id: int) -> int:
    count = db_session.scalar(
        select(func.count()).select_from(AttributionCredit)
        .where(AttributionCredit.site_id == site_id)
    )
    db_session.rollback()
    return int(count or 0)


def lead_id(db_session: Session, site_id: int, email: str) -> uuid.UUID:
    found = db_session.scalar(select(Lead.id).where(Lead.site_id == site_id, Lead.email == email))
    db_session.rollback()
    assert found is not None
    return found


def test_identify_only_queues_and_the_worker_credits(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    visit(client, site, "visitor-one", PAID, 5)
    assert identify(client, site, "visitor-one", "ada@example.com").status_code == 200
    ada = lead_id(db_session, site.site.id, "ada@example.com")
    today = dt.datetime.now(dt.UTC).date()

    noted = queued(db_session, site.site.id)
    before = credit_rows(db_session, site.site.id)
    progress = drain_queue(client.application)
    after = credit_rows(db_session, site.site.id)

    # The request wrote facts and notes; no credit, no fit.
    assert (changes.LEAD, ada.hex) in noted
    assert (changes.TRAFFIC, today.isoformat()) in noted
    assert before == 0
    # One lead conversion with one touch under each of the 10 models.
    assert after == 10 and progress.leads == 1
    assert queued(db_session, site.site.id) == set()


def test_every_writer_notes_what_it_made_stale(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    visit(client, site, "visitor-one", PAID, 5)
    assert identify(client, site, "visitor-one", "ada@example.com").status_code == 200
    ada = lead_id(db_session, site.site.id, "ada@example.com")
    drain_queue(client.application)

    # A late page view of a lead's visitor: its traffic day and the lead.
    visit(client, site, "visitor-one", "https://example.com/late", 60 * 24 * 3)
    late_day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).date().isoformat()
    assert {(changes.TRAFFIC, late_day), (changes.LEAD, ada.hex)} <= queued(
        db_session, site.site.id)
    drain_queue(client.application)
    # A CRM deal update.
    with db_session.begin():
        apply_deal_update(db_session, site.site.id, DealUpdate(
            "generic", "D1", dt.datetime.now(dt.UTC), "u1",
            {"status": "won", "amount": "10", "contact_email": "ada@example.com"}))
    assert queued(db_session, site.site.id) == {(changes.LEAD, ada.hex)}
    drain_queue(client.application)
    # A settings change.
    with db_session.begin():
        stored = db_session.get(Site, site.site.id)
        assert stored is not None
        update_site_settings(db_session, stored, {"lookback_days": 30})
    assert queued(db_session, site.site.id) == {(changes.SETTINGS, "")}
    drain_queue(client.application)
    # An erasure: the lead's credits and its sessions' days.
    response = api(client, site, "POST", "/api/v1/gdpr/erase", {"email": "ada@example.com"})
    assert response.status_code == 200, response.json
    kinds = {kind for kind, _key in queued(db_session, site.site.id)}
    assert kinds == {changes.TRAFFIC, changes.CREDITS, changes.LEAD}
    drain_queue(client.application)
    assert credit_rows(db_session, site.site.id) == 0


def test_an_item_noted_again_during_the_work_stays_queued(
    app: Flask, sites: SiteMaker, db_session: Session, engine: Engine
) -> None:
    site = sites.make()
    with db_session.begin():
        enqueue(db_session, [(site.site.id, changes.TRAFFIC, "2026-12-01")])
    now = dt.datetime.now(dt.UTC)
    with db_session.begin():
        items = due_items(db_session, site.site.id, now, 10)
    # A writer notes the same day while the worker works on it...
    with Session(engine) as writer, writer.begin():
        enqueue(writer, [(site.site.id, changes.TRAFFIC, "2026-12-01")])
    with db_session.begin():
        deleted = complete(db_session, items, now)
    version = db_session.scalar(select(RefreshItem.version))
    db_session.rollback()

    # ...so the worker's delete matches nothing and the item is done again later.
    assert (len(items), deleted, version) == (1, 0, 2)
    assert drain_queue(app).items == 1
    assert queued(db_session, site.site.id) == set()


def test_completing_a_batch_deletes_by_joining_it_not_by_comparing_every_queued_row(
    sites: SiteMaker, db_session: Session, engine: Engine
) -> None:
    """A batch's completing DELETE named its items as a list of row values, one triple per
    item, which PostgreSQL compared with every queued row of the site: with 20,000 leads
    queued (a CRM backfill), each DELETE of 500 took 100 ms, a third of the batch. It now
    joins three arrays, a statement whose text does not grow with the batch; only the items
    read at their current version are deleted."""
    site = sites.make()
    keys = [uuid.UUID(int=number).hex for number in range(300)]
    with db_session.begin():
        enqueue(db_session, [(site.site.id, changes.LEAD, key) for key in keys])
    now = dt.datetime.now(dt.UTC)
    with db_session.begin():
        items = due_items(db_session, site.site.id, now, 300)
    with db_session.begin():  # noted again meanwhile: stays
        enqueue(db_session, [(site.site.id, changes.LEAD, keys[0])])
    texts = []
    with db_session.begin():
        with statements(engine) as seen:
            assert complete(db_session, items[:3], now) == 2
        texts.append(next(sql for sql in seen if sql.lstrip().startswith("DELETE")))
        with statements(engine) as seen:
            assert complete(db_session, items[3:], now) == 297
        texts.append(next(sql for sql in seen if sql.lstrip().startswith("DELETE")))
    if engine.dialect.name == "postgresql":
        assert texts[0] == texts[1] and "unnest" in texts[0]
    assert queued(db_session, site.site.id) == {(changes.LEAD, keys[0])}


def test_a_ready_traffic_item_brings_its_days_other_writers_along(
    sites: SiteMaker, db_session: Session, engine: Engine
) -> None:
    """Each collecting thread notes today's traffic under its own key, each ready 5 s after
    its note: with 32 threads some key was nearly always ready, and the worker rebuilt today
    in almost every batch. One rebuild covers every note queued for its day, so the day's
    other keys go with the ready one; another day's do not, nor do other kinds."""
    site = sites.make()
    now = dt.datetime.now(dt.UTC)
    later = dt.timedelta(seconds=5)
    lead = uuid.uuid4().hex
    with db_session.begin():
        enqueue(db_session, [(site.site.id, changes.TRAFFIC, "2026-12-01@host:1.0")], now)
        enqueue(db_session, [(site.site.id, changes.TRAFFIC, "2026-12-01@host:1.1"),
                             (site.site.id, changes.TRAFFIC, "2026-12-01"),
                             (site.site.id, changes.TRAFFIC, "2026-12-02@host:1.1"),
                             (site.site.id, changes.TRAFFIC, "2026-12-10@host:1.1"),
                             (site.site.id, changes.LEAD, lead)], now, delay=later)
    with db_session.begin():
        items = due_items(db_session, site.site.id, now, 10)
        assert sorted(item.key for item in items) == [
            "2026-12-01", "2026-12-01@host:1.0", "2026-12-01@host:1.1"]
        assert complete(db_session, items, now) == 3
    assert queued(db_session, site.site.id) == {
        (changes.TRAFFIC, "2026-12-02"), (changes.TRAFFIC, "2026-12-10"),
        (changes.LEAD, lead)}
    with db_session.begin():  # nothing of those is ready yet
        assert due_items(db_session, site.site.id, now, 10) == []


def test_a_traffic_day_noted_again_waits_in_proportion_to_its_rebuild(
    app: Flask, sites: SiteMaker, db_session: Session, engine: Engine
) -> None:
    """A busy day is not re-read back to back: noted again while the worker rebuilt it, it
    waits ten times the rebuild's duration; a lead noted again is taken at once."""
    site = sites.make()
    lead = uuid.uuid4().hex
    with db_session.begin():
        enqueue(db_session, [(site.site.id, changes.TRAFFIC, "2026-12-01"),
                             (site.site.id, changes.LEAD, lead)])
    now = dt.datetime.now(dt.UTC)
    with db_session.begin():
        items = due_items(db_session, site.site.id, now, 10)
    with Session(engine) as writer, writer.begin():
        enqueue(writer, [(site.site.id, changes.TRAFFIC, "2026-12-01"),
                         (site.site.id, changes.LEAD, lead)])
    with db_session.begin():
        complete(db_session, items, now, requeue_hold(Done(traffic_seconds=2.0)))
    available = dict(db_session.execute(select(RefreshItem.kind, RefreshItem.available_at)).all())
    db_session.rollback()

    assert available[changes.TRAFFIC] - now == dt.timedelta(seconds=20)
    assert available[changes.LEAD] == now
    assert requeue_hold(Done(traffic_seconds=60.0))[changes.TRAFFIC] == dt.timedelta(seconds=60)


def test_a_failing_item_is_kept_with_its_error_and_the_rest_is_done(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    visit(client, site, "visitor-one", PAID, 5)
    assert identify(client, site, "visitor-one", "ada@example.com").status_code == 200
    with db_session.begin():
        enqueue(db_session, [(site.site.id, "mystery", "x")])

    progress = Worker(client.application.extensions["leadtrail.engine"]).run_once()
    left = db_session.execute(
        select(RefreshItem.kind, RefreshItem.attempts, RefreshItem.last_error,
               RefreshItem.available_at).where(RefreshItem.kind == "mystery")
    ).all()
    db_session.rollback()

    assert progress.failures == 1 and progress.leads == 1
    assert credit_rows(db_session, site.site.id) == 10
    [(kind, attempts, error, available_at)] = left
    assert (kind, attempts) == ("mystery", 1)
    assert "unknown queue item kind" in error
    assert available_at > dt.datetime.now(dt.UTC)  # backed off, not retried in a loop


def test_worker_command_once(
    client: FlaskClient, runner: FlaskCliRunner, sites: SiteMaker
) -> None:
    site = sites.make()
    visit(client, site, "visitor-one", PAID, 5)
    assert identify(client, site, "visitor-one", "ada@example.com").status_code == 200

    result = runner.invoke(args=["worker", "--once"])
    again = runner.invoke(args=["worker", "--once"])

    assert result.exit_code == 0, result.output
    assert "(1 leads)" in result.output and "0 failed" in result.output
    assert again.output.startswith("refreshed 0 items")


def test_metrics_and_the_dashboard_show_the_lag(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    from tests.api.test_dashboard import log_in, make_user

    site = sites.make()
    make_user(db_session, "marketer@example.com", site.site.id)
    assert log_in(client, "marketer@example.com").status_code == 302
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with db_session.begin():
        enqueue(db_session, [(site.site.id, changes.TRAFFIC, old.date().isoformat())], now=old)

    lagging = client.get("/metrics").get_data(as_text=True)
    page = client.get(f"/dashboard/?site={site.site.id}").get_data(as_text=True)
    drain_queue(client.application)
    current = client.get("/metrics").get_data(as_text=True)
    fresh = client.get(f"/dashboard/?site={site.site.id}").get_data(as_text=True)

    assert "leadtrail_refresh_queue_depth 1\n" in lagging
    age = float(lagging.split("\nleadtrail_refresh_queue_oldest_age_seconds ")[1].split()[0])
    assert 290 < age < 3600
    assert "Data as of" in page and "1 recent changes" in page
    assert "leadtrail_refresh_queue_depth 0\n" in current
    assert "leadtrail_refresh_queue_oldest_age_seconds 0.000" in current
    assert 'leadtrail_refresh_items_total{kind="traffic"}' in current
    assert "Data as of" not in fresh


@pytest.mark.postgres
def test_a_worker_killed_mid_batch_on_postgresql_loses_and_doubles_nothing(
    postgres_only: tuple[Flask, str]
) -> None:
    app, url = postgres_only
    engine: Engine = app.extensions["leadtrail.engine"]
    client = app.test_client()
    with Session(engine, expire_on_commit=False) as db_session:
        site = SiteMaker(db_session).make()
        for number in range(60):
            visitor = f"visitor-{number}"
            builder = BatchBuilder(site.write_key, visitor_id=visitor)
            builder.pageview(PAID if number % 2 else "https://example.com/")
            assert post(client, builder.body()).status_code == 200
            assert identify(client, site, visitor, f"p{number}@example.com").status_code == 200
        total = len(queued(db_session, site.site.id))
        environment = {**os.environ, "LEADTRAIL_DATABASE_URL": url,
                       "LEADTRAIL_LOG_LEVEL": "ERROR"}

        process = subprocess.Popen(
            [str(BIN / "leadtrail"), "worker", "--batch-size", "5"], env=environment,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while len(queued(db_session, site.site.id)) > total - 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)  # somewhere inside a batch's transaction
        process.wait()
        left = len(queued(db_session, site.site.id))
        drain_queue(engine)
        drained = credit_rows(db_session, site.site.id)
        with Session(engine) as session, session.begin():
            stored = session.get(Site, site.site.id)
            assert stored is not None
            rebuilt = rebuild_site(session, stored)

    assert 0 < left < total
    assert drained == rebuilt == 60 * 10  # one touch per lead conversion, 10 models


def test_no_request_touches_derived_data(
    client: FlaskClient, sites: SiteMaker, engine: Engine
) -> None:
    """Identify, a 20-event CRM delivery, offline touches and settings changes write facts
    and queue rows; not one statement reads or writes credits or fits."""
    from tests.api.test_reports import statements
    from tests.api.test_webhooks import CRM_SETTINGS, hubspot_change, post_hubspot

    site = sites.make(**CRM_SETTINGS)
    visit(client, site, "visitor-one", PAID, 5)
    with statements(engine) as seen:
        assert identify(client, site, "visitor-one", "ada@example.com").status_code == 200
        delivery = [hubspot_change(n, n, "amount", str(100 + n)) for n in range(20)]
        assert post_hubspot(client, site.site.id, delivery).status_code == 200
        touch = {"email": "ada@example.com", "id": "call-1", "kind": "call",
                 "occurred_at": "2026-11-02T10:00:00Z", "source": "phone"}
        assert api(client, site, "POST", "/api/v1/offline-touches", touch).status_code in {
            200, 201}
    derived = [sql for sql in seen if "attribution_" in sql]

    assert derived == []
    assert any("refresh_queue" in sql for sql in seen)
