"""The dashboard's leads list on SQLite and PostgreSQL: the page's date range, the list's
filters, paging, deal value and attributed revenue, and the CSV of every matching lead."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.test_dashboard import log_in, make_user
from tests.api.test_leads import identify, visit
from tests.factories import SiteMaker, drain_queue
from tracker.crm.deals import DealUpdate, apply_deal_update
from tracker.dashboard.filters import Filters
from tracker.dashboard.journeys import (
    AFTER_CONVERSION,
    NO_CONVERSION,
    OUTSIDE_LOOKBACK,
    uncredited_reason,
)
from tracker.dashboard.leads import LeadQuery, list_lead_rows
from tracker.models import Lead
from tracker.sites.service import CreatedSite

DAY = 24 * 60


@pytest.fixture
def seeded(client: FlaskClient, db_session: Session, sites: SiteMaker) -> CreatedSite:
    """ada (10 days ago, Paid Search), bob (today, Email, a won deal owned by Sam) and cy
    (today, Direct, no deal, back from Paid Search after becoming a lead)."""
    site = sites.make()
    visit(client, site, "visitor-ada", "https://example.com/?utm_source=google&utm_medium=cpc",
          10 * DAY + 5)
    identify(client, site, "visitor-ada", "ada@example.com", minutes_ago=10 * DAY)
    visit(client, site, "visitor-bob",
          "https://example.com/?utm_source=newsletter&utm_medium=email", 30)
    identify(client, site, "visitor-bob", "bob@example.com", minutes_ago=20)
    visit(client, site, "visitor-cy", "https://example.com/", 15)
    identify(client, site, "visitor-cy", "cy@example.com", minutes_ago=10)
    visit(client, site, "visitor-cy", "https://example.com/?utm_source=bing&utm_medium=cpc", 2)
    drain_queue(client.application)
    with db_session.begin():
        bob = db_session.scalars(select(Lead).where(Lead.email == "bob@example.com")).one()
        now = dt.datetime.now(dt.UTC)
        apply_deal_update(db_session, site.site.id, DealUpdate(
            provider="generic", external_id="D-bob", occurred_at=now, update_id="D-bob-1",
            values={"status": "won", "amount": Decimal("500"), "currency": "USD",
                    "owner": "Sam", "created_at": now, "closed_at": now},
            lead_id=bob.id,
        ))
    drain_queue(client.application)
    make_user(db_session, "marketer@example.com", site.site.id)
    assert log_in(client, "marketer@example.com").status_code == 302
    return site


def _emails(client: FlaskClient, site: CreatedSite, query: str) -> list[str]:
    today = dt.datetime.now(dt.UTC).date()
    window = f"from={today - dt.timedelta(days=3)}&to={today}&model=last_touch"
    response = client.get(f"/dashboard/leads.csv?site={site.site.id}&{window}&{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    rows = csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    return sorted(row["email"] for row in rows)


def test_the_list_honours_the_date_range_and_every_filter(
    client: FlaskClient, seeded: CreatedSite
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    wide = f"from={today - dt.timedelta(days=30)}&to={today}"
    everyone = client.get(f"/dashboard/leads?site={seeded.site.id}&{wide}")

    assert _emails(client, seeded, "") == ["bob@example.com", "cy@example.com"]  # not ada
    assert "ada@example.com" in everyone.get_data(as_text=True)
    assert _emails(client, seeded, "deal=yes") == ["bob@example.com"]
    assert _emails(client, seeded, "deal=no") == ["cy@example.com"]
    assert _emails(client, seeded, "owner=Sam") == ["bob@example.com"]
    assert _emails(client, seeded, "channel=Email") == ["bob@example.com"]
    assert _emails(client, seeded, "channel=Direct&deal=yes") == []
    assert _emails(client, seeded, "stage=customer") == ["bob@example.com"]
    assert _emails(client, seeded, "label=cold") == ["bob@example.com", "cy@example.com"]
    assert _emails(client, seeded, "label=hot") == []
    assert _emails(client, seeded, "q=CY") == ["cy@example.com"]


def test_value_and_attributed_revenue_columns(client: FlaskClient, seeded: CreatedSite) -> None:
    today = dt.datetime.now(dt.UTC).date()
    # From yesterday: just after midnight UTC, "20 minutes ago" is yesterday.
    days = f"from={today - dt.timedelta(days=1)}&to={today}"
    response = client.get(f"/dashboard/leads.csv?site={seeded.site.id}&{days}"
                          "&model=last_touch&deal=yes")
    page = client.get(f"/dashboard/leads?site={seeded.site.id}&{days}"
                      "&model=last_touch&deal=yes").get_data(as_text=True)

    (row,) = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert (row["deal_value"], row["attributed_revenue"], row["owner"]) == ("500.0", "500.0",
                                                                           "Sam")
    assert row["created_at"].endswith("Z")  # raw in the CSV; formatted on the page
    assert 'data-metric="attributed_revenue" data-sort="500.0">$500.00<' in page


def test_pages_split_the_matches(db_session: Session, seeded: CreatedSite) -> None:
    today = dt.datetime.now(dt.UTC).date()
    filters = Filters(seeded.site.id, today - dt.timedelta(days=30), today + dt.timedelta(days=1),
                      "last_touch")

    pages = [list_lead_rows(db_session, seeded.site.id, "UTC", filters, LeadQuery(page=n), 50,
                            limit=2) for n in (1, 2)]

    assert [p.total for p in pages] == [3, 3] and [p.pages for p in pages] == [2, 2]
    emails = [row.email for p in pages for row in p.rows]
    assert sorted(emails) == ["ada@example.com", "bob@example.com", "cy@example.com"]
    assert emails[-1] == "ada@example.com"  # newest first


@pytest.mark.parametrize(("query", "field"), [("label=tepid", "label"), ("deal=maybe", "deal"),
                                              ("page=0", "page"), ("stage=won", "stage")])
def test_a_bad_filter_is_refused_naming_it(client: FlaskClient, seeded: CreatedSite,
                                           query: str, field: str) -> None:
    response = client.get(f"/dashboard/leads?site={seeded.site.id}&{query}")

    assert response.status_code == 400
    assert field in response.get_data(as_text=True)


def test_the_journey_says_why_a_touch_has_no_credit_and_formats_times(
    client: FlaskClient, db_session: Session, seeded: CreatedSite
) -> None:
    with db_session.begin():
        cy = db_session.scalars(select(Lead).where(Lead.email == "cy@example.com")).one()

    page = client.get(f"/dashboard/leads/{cy.id}?site={seeded.site.id}&model=last_touch")
    text = page.get_data(as_text=True)

    assert page.status_code == 200
    assert AFTER_CONVERSION in text and OUTSIDE_LOOKBACK not in text
    times = re.findall(r'<time datetime="[^"]+">([^<]+)</time>', text)
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", t) for t in times)


def test_each_reason_for_no_credit() -> None:
    converted = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)

    assert uncredited_reason("2026-05-01T12:05:00Z", converted) == AFTER_CONVERSION
    assert uncredited_reason("2026-01-01T00:00:00Z", converted) == OUTSIDE_LOOKBACK
    assert uncredited_reason("2026-05-01T12:05:00Z", None) == NO_CONVERSION


def test_the_tiles_follow_the_drill_down_and_the_model_help_sits_by_the_picker(
    client: FlaskClient, seeded: CreatedSite
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    # From yesterday: just after midnight UTC, "20 minutes ago" is yesterday.
    window = (f"site={seeded.site.id}&from={today - dt.timedelta(days=1)}&to={today}"
              "&model=last_touch")

    whole = client.get(f"/dashboard/?{window}").get_data(as_text=True)
    email = client.get(f"/dashboard/?{window}&channel=Email").get_data(as_text=True)

    def tile(page: str, name: str) -> str:
        match = re.search(rf'data-kpi="{name}">.*?<span class="value">(.*?)</span>', page, re.S)
        assert match is not None
        return match.group(1)

    assert (tile(whole, "leads"), tile(email, "leads")) == ("2", "1")
    assert (tile(whole, "revenue"), tile(email, "revenue")) == ("$500.00", "$500.00")
    assert tile(email, "cpl") == "—"  # no spend known
    assert "All credit goes to the last touch before the conversion." in whole
    owners = whole.split('id="owners-table"', 1)[1].split("</table>", 1)[0]
    assert re.search(r'<th scope="row">Sam</th>.*?data-metric="win_rate"[^>]*>100\.0%<', owners)
    assert "vs the previous period" in whole or "no figure for the previous period" in whole


def test_the_tiles_read_their_change_as_the_table_does(
    client: FlaskClient, seeded: CreatedSite
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    spend = ("date,channel,source,medium,campaign,keyword,amount\n"
             f"{today - dt.timedelta(days=1)},Email,newsletter,email,,,1000\n"
             f"{today - dt.timedelta(days=10)},Email,newsletter,email,,,10\n")
    uploaded = client.post("/api/v1/costs", data=spend, content_type="text/csv",
                           headers={"Authorization": f"Bearer {seeded.api_key}"})
    assert uploaded.status_code == 201
    drain_queue(client.application)
    window = f"site={seeded.site.id}&from={today - dt.timedelta(days=6)}&to={today}"

    page = client.get(f"/dashboard/?{window}&model=last_touch").get_data(as_text=True)
    changes = dict(re.findall(
        r'data-kpi="(\w+)">.*?<span class="change">(.*?)</span>', page, re.S))

    # Cost $1,000 against $10. ROI: bob's $500 on $1,000 is -50%, against -100% for $10 of
    # spend and no revenue: +50 percentage points, as the table's ROI cell reads it.
    assert changes["cost"] == "+9,900.0% vs the previous period"
    assert changes["roi"] == "+50.0 pp vs the previous period"
    assert changes["revenue"] == "new vs the previous period"
    assert changes["roas"] == "new vs the previous period"


def test_the_journey_writes_a_deals_amount_as_money(
    client: FlaskClient, db_session: Session, seeded: CreatedSite
) -> None:
    with db_session.begin():
        bob = db_session.scalars(select(Lead).where(Lead.email == "bob@example.com")).one()

    text = client.get(f"/dashboard/leads/{bob.id}?site={seeded.site.id}").get_data(as_text=True)

    assert "<span>amount: $500.00</span>" in text
    assert "500.00 USD" not in text
