"""The conversion paths report on SQLite and PostgreSQL: journeys made through the collector,
credited by the worker, read back as top paths, lengths, lags and assists, in JSON and CSV,
and refused with the field named when a parameter is bad."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.api.test_dashboard import log_in, make_user
from tests.api.test_leads import identify, visit
from tests.factories import SiteMaker, drain_queue
from tracker.sites.service import CreatedSite

PAID = "https://example.com/?utm_source=google&utm_medium=cpc&utm_campaign=spring"
EMAIL = "https://example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=launch"
DIRECT = "https://example.com/"


@pytest.fixture
def site(client: FlaskClient, sites: SiteMaker) -> CreatedSite:
    """Three leads: Paid Search > Email, Email, Direct > Paid Search."""
    made = sites.make()
    journeys = {
        "visitor-path-a": [(PAID, 90), (EMAIL, 15)],
        "visitor-path-b": [(EMAIL, 12)],
        "visitor-path-c": [(DIRECT, 80), (PAID, 10)],
    }
    for visitor, visits in journeys.items():
        for url, minutes_ago in visits:
            visit(client, made, visitor, url, minutes_ago)
        assert identify(client, made, visitor, f"{visitor}@example.com",
                        minutes_ago=5).status_code == 200
    drain_queue(client.application)
    return made


def _get(client: FlaskClient, site: CreatedSite, query: str):  # type: ignore[no-untyped-def]
    return client.get(f"/api/v1/reports/paths?model=last_touch&{query}",
                      headers={"Authorization": f"Bearer {site.api_key}"})


def test_top_paths_lengths_and_lags(client: FlaskClient, site: CreatedSite) -> None:
    top = _get(client, site, "view=top").get_json()
    lengths = _get(client, site, "view=length").get_json()
    lags = _get(client, site, "view=lag").get_json()

    assert sorted((r["path"], r["conversions"]) for r in top["rows"]) == [
        ("Direct > Paid Search", 1), ("Email", 1), ("Paid Search > Email", 1)]
    assert [(r["touches"], r["conversions"]) for r in lengths["rows"]] == [("1", 1), ("2", 2)]
    assert [(r["days"], r["conversions"]) for r in lags["rows"]] == [("0", 3)]


def test_assists_and_the_level(client: FlaskClient, site: CreatedSite) -> None:
    rows = {r["group"]: r for r in _get(client, site, "view=assists").get_json()["rows"]}
    campaigns = _get(client, site, "view=top&group_by=campaign").get_json()["rows"]

    assert (rows["Paid Search"]["last_touch"], rows["Paid Search"]["assisted"]) == (1, 1)
    assert (rows["Email"]["last_touch"], rows["Email"]["assisted"]) == (2, 0)
    assert (rows["Direct"]["last_touch"], rows["Direct"]["assisted"]) == (0, 1)
    # Last touch gives each conversion wholly to its final touch.
    assert rows["Email"]["credited"] == 2 and rows["Direct"]["credited"] == 0
    assert sorted(r["path"] for r in campaigns) == ["(none) > spring", "launch",
                                                    "spring > launch"]


def test_a_filter_keeps_the_paths_that_touch_it_and_csv_matches_json(
    client: FlaskClient, site: CreatedSite
) -> None:
    filtered = _get(client, site, "view=top&channel=Direct").get_json()["rows"]
    as_csv = _get(client, site, "view=top&format=csv")
    as_json = _get(client, site, "view=top").get_json()["rows"]

    assert [r["path"] for r in filtered] == ["Direct > Paid Search"]
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    parsed = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert [r["path"] for r in parsed] == [r["path"] for r in as_json]


@pytest.mark.parametrize(("query", "field"), [
    ("view=funnel", "view"), ("conversion=visit", "conversion"), ("group_by=keyword", "group_by"),
    ("limit=0", "limit"), ("bogus=1", "bogus"),
])
def test_a_bad_parameter_is_refused_naming_it(client: FlaskClient, site: CreatedSite,
                                              query: str, field: str) -> None:
    response = _get(client, site, query)

    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_early_mid_and_late_touch_credit_per_group(client: FlaskClient,
                                                  site: CreatedSite) -> None:
    def positions(model: str) -> dict[str, tuple[float, float, float]]:
        body = client.get(f"/api/v1/reports/paths?view=positions&model={model}",
                          headers={"Authorization": f"Bearer {site.api_key}"}).get_json()
        return {r["group"]: (r["early"], r["mid"], r["late"]) for r in body["rows"]}

    # Two-touch paths: the first touch is early, the last late; a one-touch path is late.
    assert positions("linear") == {"Paid Search": (0.5, 0.0, 0.5), "Email": (0.0, 0.0, 1.5),
                                   "Direct": (0.5, 0.0, 0.0)}
    assert positions("last_touch") == {"Paid Search": (0.0, 0.0, 1.0),
                                       "Email": (0.0, 0.0, 2.0), "Direct": (0.0, 0.0, 0.0)}
    csv_rows = list(csv.DictReader(io.StringIO(_get(
        client, site, "view=positions&format=csv").get_data(as_text=True))))
    assert [row["group"] for row in csv_rows] == ["Email", "Paid Search", "Direct"]


def test_the_dashboard_page_shows_the_api_figures(
    client: FlaskClient, db_session: Session, site: CreatedSite
) -> None:
    make_user(db_session, "marketer@example.com", site.site.id)
    assert log_in(client, "marketer@example.com").status_code == 302
    from_api = _get(client, site, "view=assists").get_json()["rows"]

    page = client.get(f"/dashboard/paths?site={site.site.id}&model=last_touch")
    text = page.get_data(as_text=True)
    bad = client.get(f"/dashboard/paths?site={site.site.id}&level=keyword")

    assert page.status_code == 200
    assert "Paid Search &gt; Email" in text and "Direct &gt; Paid Search" in text
    for row in from_api:
        assert (f'<th scope="row">{row["group"]}</th><td class="num" data-metric="last_touch" '
                f'data-sort="{row["last_touch"]}">') in text
    assert "format=csv" in text and "view=lag" in text and "view=positions" in text
    assert 'id="positions-table"' in text
    assert bad.status_code == 400 and "level" in bad.get_data(as_text=True)


def test_the_page_shows_no_value_for_lead_conversions(
    client: FlaskClient, db_session: Session, site: CreatedSite
) -> None:
    make_user(db_session, "marketer@example.com", site.site.id)
    assert log_in(client, "marketer@example.com").status_code == 302

    text = client.get(f"/dashboard/paths?site={site.site.id}&model=last_touch"
                      ).get_data(as_text=True)
    top = text.split('id="paths-table"', 1)[1].split("</table>", 1)[0]
    values = re.findall(r'data-metric="value" data-sort="[^"]*">([^<]*)<', top)

    # A lead carries no value: "—", not $0.00 as if each were worth nothing.
    assert values == ["—", "—", "—"]
    assert "$0.00" not in text
