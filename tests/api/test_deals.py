"""Deal state from CRM updates on SQLite and PostgreSQL: any order and any duplication give
the same deal, revenue and lead stage; deals wait for their lead."""

from __future__ import annotations

import datetime as dt
import decimal
import random

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import SiteMaker
from tracker.crm.deals import DealUpdate, apply_deal_update
from tracker.leads.identity import Identity, upsert_lead
from tracker.models import Deal, Lead

T0 = dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


LIFECYCLE = [
    DealUpdate(
        "hubspot",
        "d-1",
        at(0),
        "e1",
        {
            "name": "Acme",
            "status": "open",
            "stage": "appointmentscheduled",
            "amount": "1000",
            "currency": "USD",
            "created_at": at(0),
            "contact_email": "ada@example.com",
        },
        mapped_stage="opportunity",
    ),
    DealUpdate("hubspot", "d-1", at(5), "e2", {"amount": "1500"}),
    DealUpdate(
        "hubspot",
        "d-1",
        at(9),
        "e3",
        {"status": "won", "stage": "closedwon", "closed_at": at(9)},
        mapped_stage="customer",
    ),
    DealUpdate("hubspot", "d-1", at(12), "e4", {"amount": "1200"}),  # partial refund after winning
]


def final_state(session: Session, site_id: int) -> tuple[object, ...]:
    deal = session.scalars(select(Deal).where(Deal.site_id == site_id)).one()
    state = (deal.status, deal.amount, deal.stage, deal.closed_at, deal.name)
    state += (deal.deleted, deal.lead_id)
    session.rollback()  # end the read so the next write can begin
    return state


def apply_all(session: Session, site_id: int, updates: list[DealUpdate]) -> None:
    with session.begin():
        for update in updates:
            apply_deal_update(session, site_id, update)


@pytest.mark.parametrize("seed", range(6))
def test_any_order_and_duplication_gives_the_same_deal(
    sites: SiteMaker, db_session: Session, seed: int
) -> None:
    reference_id, shuffled_id = sites.make().site.id, sites.make().site.id
    shuffled = LIFECYCLE * 3
    random.Random(seed).shuffle(shuffled)

    apply_all(db_session, reference_id, LIFECYCLE)
    apply_all(db_session, shuffled_id, shuffled)

    expected = final_state(db_session, reference_id)
    assert expected[:3] == ("won", decimal.Decimal("1200"), "closedwon")
    assert expected[5] is False
    assert final_state(db_session, shuffled_id) == expected


def test_a_stale_update_never_overwrites_newer_state(sites: SiteMaker, db_session: Session) -> None:
    site_id = sites.make().site.id
    apply_all(db_session, site_id, LIFECYCLE)

    apply_all(
        db_session, site_id, [DealUpdate("hubspot", "d-1", at(1), "late", {"status": "lost"})]
    )

    assert final_state(db_session, site_id)[0] == "won"


def test_reopening_and_deleting_are_reflected_in_the_deal(
    sites: SiteMaker, db_session: Session
) -> None:
    site_id = sites.make().site.id
    apply_all(db_session, site_id, LIFECYCLE)
    apply_all(db_session, site_id, [DealUpdate("hubspot", "d-1", at(20), "r", {"status": "open"})])
    reopened = final_state(db_session, site_id)
    apply_all(
        db_session,
        site_id,
        [
            DealUpdate("hubspot", "d-1", at(21), "w", {"status": "won"}),
            DealUpdate("hubspot", "d-1", at(22), "x", {"deleted": True}),
        ],
    )

    deleted = final_state(db_session, site_id)
    assert (reopened[0], reopened[5]) == ("open", False)
    assert (deleted[0], deleted[5]) == ("won", True)


def test_a_deal_waits_for_its_lead_and_moves_it_to_customer(
    sites: SiteMaker, db_session: Session
) -> None:
    site_id = sites.make().site.id
    apply_all(db_session, site_id, LIFECYCLE)
    assert final_state(db_session, site_id)[6] is None

    with db_session.begin():
        lead, created = upsert_lead(
            db_session, site_id, Identity(email="ada@example.com"), at(-48), "form"
        )

    deal = db_session.scalars(select(Deal)).one()
    lead = db_session.scalars(select(Lead)).one()
    assert created and deal.lead_id == lead.id
    assert lead.stage == "customer"
