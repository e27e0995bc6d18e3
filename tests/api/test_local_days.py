"""Report days are the site's days. A site in Pacific/Auckland across the start of daylight
saving (Sunday 27 September 2026: 02:00 NZST becomes 03:00 NZDT, UTC+12 → UTC+13): ranges
run from local midnight to local midnight and trend buckets are local dates, on SQLite and
PostgreSQL. Hand-worked: each session below is placed by its UTC instant and local date.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.api.test_leads import api
from tests.factories import SiteMaker, drain_queue
from tracker import changes
from tracker.localtime import local_midnight, offset_segments
from tracker.models import Lead, LeadVisitor, Visitor, VisitSession
from tracker.sites.service import CreatedSite

ZONE = "Pacific/Auckland"
UTC = dt.UTC

# (UTC instant, local date in Auckland, channel)
SESSIONS = [
    (dt.datetime(2026, 9, 25, 11, 30, tzinfo=UTC), "2026-09-25", "Direct"),  # 23:30 +12
    (dt.datetime(2026, 9, 25, 12, 30, tzinfo=UTC), "2026-09-26", "Direct"),  # 00:30 +12
    (dt.datetime(2026, 9, 26, 11, 59, tzinfo=UTC), "2026-09-26", "Email"),  # 23:59 +12
    (dt.datetime(2026, 9, 26, 12, 0, tzinfo=UTC), "2026-09-27", "Email"),  # 00:00 +12
    (dt.datetime(2026, 9, 27, 10, 59, tzinfo=UTC), "2026-09-27", "Email"),  # 23:59 +13
    (dt.datetime(2026, 9, 27, 11, 0, tzinfo=UTC), "2026-09-28", "Email"),  # 00:00 +13
]


def add_history(db_session: Session, site: CreatedSite) -> None:
    """The sessions (facts as the collector stores them) and one lead created at local
    00:30 on 28 September (11:30 UTC on the 27th), credited by the worker."""
    site_id = site.site.id
    with db_session.begin():
        for n, (started, _local, channel) in enumerate(SESSIONS):
            visitor = f"visitor-{n}"
            db_session.add(Visitor(site_id=site_id, id=visitor, first_seen_at=started,
                                   last_seen_at=started))
            db_session.flush()  # no ORM relationships to order the inserts by
            db_session.add(VisitSession(
                site_id=site_id, id=uuid.uuid4(), visitor_id=visitor, started_at=started,
                ended_at=started, channel=channel, channel_rules_version="test",
                source="newsletter" if channel == "Email" else None,
                medium="email" if channel == "Email" else None,
            ))
        created = dt.datetime(2026, 9, 27, 11, 30, tzinfo=UTC)
        lead = Lead(site_id=site_id, id=uuid.uuid4(), email="ada@example.com",
                    created_at=created, updated_at=created, stage="lead",
                    stage_changed_at=created, source_of_creation="api", crm_ids={})
        db_session.add(lead)
        db_session.flush()
        db_session.add(LeadVisitor(site_id=site_id, id=uuid.uuid4(), lead_id=lead.id,
                                   visitor_id="visitor-5", linked_at=created))
        changes.lead_changed(db_session, site_id, lead.id)


def get(client: FlaskClient, site: CreatedSite, name: str, **params: Any) -> Any:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    response = api(client, site, "GET", f"/api/v1/reports/{name}?{query}")
    assert response.status_code == 200, response.json
    return response.json


def test_trend_days_are_local_dates_across_the_dst_change(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make(timezone=ZONE)
    add_history(db_session, site)
    drain_queue(client.application)

    body = get(client, site, "trend", **{"from": "2026-09-25", "to": "2026-09-28"})
    found = {row["period"]: (row["sessions"], row["leads"]) for row in body["rows"]}

    assert found == {
        "2026-09-25": (1, 0.0),
        "2026-09-26": (2, 0.0),
        "2026-09-27": (2, 0.0),
        "2026-09-28": (1, 1.0),
    }


def test_a_range_runs_from_local_midnight_to_local_midnight(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make(timezone=ZONE)
    add_history(db_session, site)
    drain_queue(client.application)

    # The 27th is 23 hours long: 12:00 UTC on the 26th to 11:00 UTC on the 27th.
    day = get(client, site, "revenue", **{"from": "2026-09-27", "to": "2026-09-27"})
    after = get(client, site, "revenue", **{"from": "2026-09-28", "to": "2026-09-28"})

    assert (day["totals"]["sessions"], day["totals"]["visitors"]) == (2, 2)
    assert day["totals"]["leads"] == 0
    assert (after["totals"]["sessions"], after["totals"]["leads"]) == (1, 1)


def test_the_same_history_in_utc_keeps_utc_days(
    client: FlaskClient, sites: SiteMaker, db_session: Session
) -> None:
    site = sites.make()
    add_history(db_session, site)
    drain_queue(client.application)

    body = get(client, site, "trend", **{"from": "2026-09-25", "to": "2026-09-28"})

    assert {row["period"]: row["sessions"] for row in body["rows"]} == {
        "2026-09-25": 2, "2026-09-26": 2, "2026-09-27": 2,
    }


def test_offset_segments_find_the_transition_to_the_minute() -> None:
    start = local_midnight(dt.date(2026, 9, 20), ZONE)
    end = local_midnight(dt.date(2026, 10, 1), ZONE)

    assert start == dt.datetime(2026, 9, 19, 12, 0, tzinfo=UTC)
    assert offset_segments(ZONE, start, end) == [
        (start, 12 * 60),
        (dt.datetime(2026, 9, 26, 14, 0, tzinfo=UTC), 13 * 60),
    ]
    assert offset_segments("UTC", start, end) == [(start, 0)]
