"""The worker re-reads a lead's stored credit rows only when its recomputed rows may differ:
each lead's rows leave a digest (lead_credit_digests), a lead queued again with nothing
changed matches it, and whatever rewrites credits another way forgets the site's digests."""

from __future__ import annotations

import datetime as dt
import re

from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.api.test_leads import identify, visit
from tests.api.test_reports import statements
from tests.api.test_worker import PAID, lead_id
from tests.factories import SiteMaker, drain_queue
from tracker import changes
from tracker.credits import rebuild_site
from tracker.crm.deals import DealUpdate, apply_deal_update
from tracker.models import AttributionCredit, LeadCreditDigest, Site
from tracker.worker.queue import enqueue

CREDIT_READ = re.compile(r"^\s*SELECT\b.*\bFROM attribution_credits\b", re.IGNORECASE | re.DOTALL)


def credit_rows(db_session: Session, site_id: int) -> list[tuple[object, ...]]:
    C = AttributionCredit
    rows = db_session.execute(
        select(C.model, C.conversion, C.conversion_id, C.position, C.credit, C.value,
               C.stage_rank, C.deal_status).where(C.site_id == site_id)
        .order_by(C.model, C.conversion, C.conversion_id, C.position)
    ).all()
    db_session.rollback()
    return [tuple(row) for row in rows]


def digests(db_session: Session, site_id: int) -> int:
    count = db_session.scalar(select(func.count()).select_from(LeadCreditDigest)
                              .where(LeadCreditDigest.site_id == site_id))
    db_session.rollback()
    return int(count or 0)


def requeue(db_session: Session, site_id: int, lead_hex: str) -> None:
    with db_session.begin():
        enqueue(db_session, [(site_id, changes.LEAD, lead_hex)])


def test_a_lead_queued_again_unchanged_is_not_read_back(
    client: FlaskClient, sites: SiteMaker, db_session: Session, engine: Engine
) -> None:
    site = sites.make()
    site_id = site.site.id
    visit(client, site, "visitor-one", PAID, 5)
    assert identify(client, site, "visitor-one", "ada@example.com").status_code == 200
    drain_queue(client.application)
    ada = lead_id(db_session, site_id, "ada@example.com")
    assert digests(db_session, site_id) == 1
    before = credit_rows(db_session, site_id)

    requeue(db_session, site_id, ada.hex)
    with statements(engine) as seen:
        progress = drain_queue(client.application)
    assert progress.leads == 1
    assert not [sql for sql in seen if CREDIT_READ.search(sql)]
    assert credit_rows(db_session, site_id) == before

    # A won deal adds conversions: the digest no longer matches, the rows are read, compared
    # and rewritten, and the new digest stands for them.
    with db_session.begin():
        apply_deal_update(db_session, site_id, DealUpdate(
            "generic", "D1", dt.datetime.now(dt.UTC), "u1",
            {"status": "won", "amount": "10", "contact_email": "ada@example.com"}))
    with statements(engine) as seen:
        drain_queue(client.application)
    assert [sql for sql in seen if CREDIT_READ.search(sql)]
    after = credit_rows(db_session, site_id)
    assert len(after) == 30  # lead, opportunity and won, one touch, 10 models
    assert digests(db_session, site_id) == 1


def test_credits_rewritten_by_a_rebuild_are_compared_again(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    site_id = site.site.id
    for number in range(2):
        visit(client, site, f"visitor-{number}", PAID, 5)
        assert identify(client, site, f"visitor-{number}", f"p{number}@example.com"
                        ).status_code == 200
    drain_queue(client.application)
    assert digests(db_session, site_id) == 2
    expected = credit_rows(db_session, site_id)

    # Rows changed behind the worker's back (here by hand, as a rebuild or a dropped model
    # would): a rebuild forgets the digests, so the next refresh compares rows again.
    with db_session.begin():
        db_session.execute(AttributionCredit.__table__.update()
                           .where(AttributionCredit.site_id == site_id)
                           .values(credit=0.5))
        db_site = db_session.get(Site, site_id)
        assert db_site is not None
        rebuild_site(db_session, db_site, ["first_touch"])
    assert digests(db_session, site_id) == 0
    for number in range(2):
        requeue(db_session, site_id, lead_id(db_session, site_id,
                                                  f"p{number}@example.com").hex)
    drain_queue(client.application)
    assert credit_rows(db_session, site_id) == expected
    assert digests(db_session, site_id) == 2


def test_a_full_rebuild_leaves_digests_that_its_rows_match(
    client: FlaskClient, sites: SiteMaker, db_session: Session, engine: Engine
) -> None:
    site = sites.make()
    site_id = site.site.id
    for number in range(3):
        visit(client, site, f"visitor-{number}", PAID, 5)
        assert identify(client, site, f"visitor-{number}", f"p{number}@example.com"
                        ).status_code == 200
    with db_session.begin():
        apply_deal_update(db_session, site_id, DealUpdate(
            "generic", "D1", dt.datetime.now(dt.UTC), "u1",
            {"status": "won", "amount": "10", "contact_email": "p0@example.com"}))
    drain_queue(client.application)
    expected = credit_rows(db_session, site_id)

    # Every model rebuilt: every lead's rows were rewritten, and their digests with them.
    with db_session.begin():
        db_site = db_session.get(Site, site_id)
        assert db_site is not None
        rebuild_site(db_session, db_site)
    assert digests(db_session, site_id) == 3
    for number in range(3):
        requeue(db_session, site_id, lead_id(db_session, site_id, f"p{number}@example.com").hex)
    with statements(engine) as seen:
        progress = drain_queue(client.application)
    assert progress.leads == 3
    assert not [sql for sql in seen if CREDIT_READ.search(sql)]
    assert credit_rows(db_session, site_id) == expected

    # The rebuild's digests stand for its rows: a lead whose rows differ is still rewritten.
    with db_session.begin():
        apply_deal_update(db_session, site_id, DealUpdate(
            "generic", "D2", dt.datetime.now(dt.UTC), "u2",
            {"status": "won", "amount": "20", "contact_email": "p1@example.com"}))
    drain_queue(client.application)
    assert len(credit_rows(db_session, site_id)) == len(expected) + 20
