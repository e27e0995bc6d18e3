"""Revenue reports on SQLite and PostgreSQL: a small scenario built by hand through the
collector, identify, the CRM deal service and the costs API, with every figure of every report
checked against numbers worked out in the comments; CSV, errors, tenancy, statement counts,
incremental updates and the rebuild command.

The scenario (T = now; all in the default 90-day lookback window; gross margin 50%; the MQL
threshold is out of reach so stages come from deals only):

    visitor  session            when    channel       source/medium/campaign/keyword
    ada      A1                 T-20d   Paid Search   google/cpc/brand/crm
    ada      A2 (identifies)    T-10d   Direct        -
    bob      B1 (identifies)    T-15d   Email         newsletter/email/spring
    carl     C1                 T-5d    Paid Search   google/cpc/brand/crm   (never a lead)

    deal  lead  opened  closed   status  amount  owner
    D1    ada   T-8d    T-2d     won     1000    olivia
    D2    bob   T-12d   T-3d     lost     500    paul
    D3    bob   T-4d    -        open     300    olivia

    spend: Paid Search (google/cpc/brand/crm) 200 on T-20d; Email (newsletter/...) 50 on T-15d

Journeys: ada's lead, D1-opportunity and D1-won journeys are all [A1 Paid Search, A2 Direct]
(A2 is the lead-creation touch); bob's lead, D2 and D3 journeys are all [B1 Email].
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from tests.api.test_collect import post
from tests.api.test_leads import api, identify
from tests.factories import BatchBuilder, SiteMaker, drain_queue, now_ms
from tracker.crm.deals import DealUpdate, apply_deal_update
from tracker.models import AttributionCredit, AttributionFit, Site
from tracker.sites.service import CreatedSite, update_site_settings

DAY_MINUTES = 24 * 60
GOOGLE = "https://example.com/?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=crm"
NEWSLETTER = "https://example.com/spring?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
REPORTS = ("revenue", "funnel", "models", "win-rates", "trend", "leads")


def days_ago(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


def identified(client: FlaskClient, site: CreatedSite, visitor: str, email: str, days: float
               ) -> bool:
    return bool(identify(client, site, visitor, email, days * DAY_MINUTES).status_code == 200)


def pageview(client: FlaskClient, site: CreatedSite, visitor: str, url: str, days: float) -> int:
    ts = now_ms() - int(days * DAY_MINUTES * 60_000)
    builder = BatchBuilder(site.write_key, visitor_id=visitor)
    assert post(client, builder.pageview(url, ts=ts).body()).status_code == 200
    return ts


def deal(session: Session, site_id: int, external_id: str, days: float, **values: Any) -> None:
    update = DealUpdate("generic", external_id, days_ago(days), f"{external_id}@{days}", values)
    with session.begin():
        apply_deal_update(session, site_id, update)


def build_scenario(client: FlaskClient, sites: SiteMaker, db_session: Session) -> CreatedSite:
    site = sites.make(gross_margin_pct=50, mql_threshold=10_000)
    pageview(client, site, "visitor.ada.1", GOOGLE, 20)
    pageview(client, site, "visitor.ada.1", "https://example.com/pricing?x=1", 10)
    assert identified(client, site, "visitor.ada.1", "ada@example.com", 10)
    pageview(client, site, "visitor.bob.1", NEWSLETTER, 15)
    assert identified(client, site, "visitor.bob.1", "bob@example.com", 15)
    pageview(client, site, "visitor.carl", GOOGLE, 5)
    opened = {"status": "open", "currency": "USD"}
    deal(db_session, site.site.id, "D1", 8, **opened, amount="1000", owner="olivia",
         created_at=days_ago(8), contact_email="ada@example.com")
    deal(db_session, site.site.id, "D1", 2, status="won", closed_at=days_ago(2))
    deal(db_session, site.site.id, "D2", 12, **opened, amount="500", owner="paul",
         created_at=days_ago(12), contact_email="bob@example.com")
    deal(db_session, site.site.id, "D2", 3, status="lost", closed_at=days_ago(3))
    deal(db_session, site.site.id, "D3", 4, **opened, amount="300", owner="olivia",
         created_at=days_ago(4), contact_email="bob@example.com")
    spend = (
        "date,channel,source,medium,campaign,keyword,amount\n"
        f"{days_ago(20).date()},Paid Search,google,cpc,brand,crm,200\n"
        f"{days_ago(15).date()},Email,newsletter,email,spring,,50\n"
    )
    response = client.post(
        "/api/v1/costs", data=spend, content_type="text/csv",
        headers={"Authorization": f"Bearer {site.api_key}"},
    )
    assert response.status_code == 201
    drain_queue(client.application)
    return site


@pytest.fixture
def scenario(client: FlaskClient, sites: SiteMaker, db_session: Session) -> CreatedSite:
    return build_scenario(client, sites, db_session)


def report(client: FlaskClient, site: CreatedSite, name: str, fresh: bool = True, **params: Any
           ) -> Any:
    if fresh:
        drain_queue(client.application)  # the worker has caught up with every write
    params.setdefault("from", str(days_ago(25).date()))
    params.setdefault("to", str(days_ago(0).date()))
    response = api(client, site, "GET", f"/api/v1/reports/{name}?" + "&".join(
        f"{key}={value}" for key, value in params.items()
    ))
    assert response.status_code == 200, response.json
    return response.json


def by_group(body: Any) -> dict[Any, dict[str, Any]]:
    return {row["group"]: row for row in body["rows"]}


def test_revenue_by_channel_under_linear_matches_the_hand_worked_figures(
    client: FlaskClient, scenario: CreatedSite
) -> None:
    body = report(client, scenario, "revenue", model="linear")
    rows = by_group(body)
    paid, direct, email = rows["Paid Search"], rows["Direct"], rows["Email"]

    assert set(rows) == {"Paid Search", "Direct", "Email"}
    # Traffic: Paid Search has A1 and C1 (ada, carl); Direct A2; Email B1.
    assert (paid["sessions"], paid["visitors"]) == (2, 2)
    assert (direct["sessions"], direct["visitors"]) == (1, 1)
    assert (email["sessions"], email["visitors"]) == (1, 1)
    # Linear: ada's journeys split 1/2 Paid Search, 1/2 Direct; bob's are all Email.
    # leads: PS 0.5, Direct 0.5, Email 1. Both leads reached opportunity, so MQL = SQL = leads.
    assert [paid[k] for k in ("leads", "mqls", "sqls")] == [0.5, 0.5, 0.5]
    assert [direct[k] for k in ("leads", "mqls", "sqls")] == [0.5, 0.5, 0.5]
    assert [email[k] for k in ("leads", "mqls", "sqls")] == [1, 1, 1]
    # Opportunities opened in range: D1 (0.5 / 0.5), D2 and D3 (Email 2); only D3 is open: 300.
    assert (paid["opportunities"], direct["opportunities"], email["opportunities"]) == (0.5, 0.5, 2)
    assert (paid["pipeline"], direct["pipeline"], email["pipeline"]) == (0, 0, 300)
    # D1 won: ada's first won deal, 1000 split 500 / 500.
    assert (paid["customers"], direct["customers"], email["customers"]) == (0.5, 0.5, 0)
    assert (paid["revenue"], direct["revenue"], email["revenue"]) == (500, 500, 0)
    # No spend source covers Direct: its cost is unknown (null), not 0.
    assert (paid["cost"], direct["cost"], email["cost"]) == (200, None, 50)
    # Paid Search: lead value 500/0.5 = 1000; visitor→lead 0.5/2 = 25%; session→lead 0.5/2 =
    # 25%; lead→customer 0.5/0.5 = 100%; visitor→customer and session→customer 0.5/2 = 25%;
    # CPL 200/0.5 = 400; CPA 200/0.5 = 400; ARPC 500/0.5 = 1000; ROAS 500/200 = 2.5;
    # ROI (500 x 0.5 - 200) / 200 = 0.25.
    assert {k: paid[k] for k in (
        "lead_value", "visitor_to_lead_rate", "session_to_lead_rate", "lead_to_customer_rate",
        "visitor_to_customer_rate", "session_to_customer_rate", "cpl", "cpa", "arpc", "roas",
        "roi")} == {
        "lead_value": 1000, "visitor_to_lead_rate": 25, "session_to_lead_rate": 25,
        "lead_to_customer_rate": 100, "visitor_to_customer_rate": 25,
        "session_to_customer_rate": 25, "cpl": 400, "cpa": 400, "arpc": 1000, "roas": 2.5,
        "roi": 0.25,
    }
    # Direct's cost is unknown, so are its CPL, CPA, ROAS and ROI (never "free leads").
    assert (direct["cpl"], direct["cpa"], direct["roas"], direct["roi"]) == (
        None, None, None, None)
    assert (direct["visitor_to_lead_rate"], direct["lead_value"]) == (50, 1000)
    # Email: no customer, so CPA (50/0) and ARPC (0/0) are null; ROAS 0/50 = 0; ROI -1.
    assert (email["cpl"], email["cpa"], email["arpc"]) == (50, None, None)
    assert (email["roas"], email["roi"], email["lead_value"]) == (0, -1, 0)
    assert (email["visitor_to_lead_rate"], email["lead_to_customer_rate"]) == (100, 0)
    # Win rate: D1 won (PS 0.5, Direct 0.5), D2 lost (Email 1); D3 is still open.
    assert (paid["won"], paid["lost"], paid["win_rate"]) == (0.5, 0, 100)
    assert (email["won"], email["lost"], email["win_rate"]) == (0, 1, 0)
    # Time to conversion: ada first touch → lead = 20 - 10 = 10 days; bob 0 days;
    # ada lead → won = 10 - 2 = 8 days.
    assert paid["median_days_to_lead"] == pytest.approx(10, abs=1e-3)
    assert paid["mean_days_to_lead"] == pytest.approx(10, abs=1e-3)
    assert email["median_days_to_lead"] == pytest.approx(0, abs=1e-3)
    assert paid["median_days_lead_to_won"] == pytest.approx(8, abs=1e-3)
    assert direct["mean_days_lead_to_won"] == pytest.approx(8, abs=1e-3)
    assert email["median_days_lead_to_won"] is None
    # Totals: 3 visitors, 4 sessions, 2 leads, 1 customer, 1000 revenue, 250 cost:
    # lead value 500; visitor→lead 2/3 = 66.6667%; session→lead 50%; lead→customer 50%;
    # CPL 125; CPA 250; ROAS 4; ROI (500 - 250) / 250 = 1; win rate 1/(1+1) = 50%;
    # days to lead: median and mean of (10, 0) = 5; lead → won 8.
    totals = body["totals"]
    assert (totals["visitors"], totals["sessions"], totals["leads"]) == (3, 4, 2)
    assert (totals["customers"], totals["revenue"], totals["cost"]) == (1, 1000, 250)
    assert (totals["lead_value"], totals["visitor_to_lead_rate"]) == (500, 66.6667)
    assert (totals["session_to_lead_rate"], totals["lead_to_customer_rate"]) == (50, 50)
    assert (totals["cpl"], totals["cpa"], totals["roas"], totals["roi"]) == (125, 250, 4, 1)
    assert (totals["win_rate"], totals["pipeline"], totals["opportunities"]) == (50, 300, 3)
    assert totals["median_days_to_lead"] == pytest.approx(5, abs=1e-3)
    assert totals["mean_days_lead_to_won"] == pytest.approx(8, abs=1e-3)


def test_other_models_and_groupings(client: FlaskClient, scenario: CreatedSite) -> None:
    first = by_group(report(client, scenario, "revenue", model="first_touch"))
    last = by_group(report(client, scenario, "revenue", model="last_touch"))
    campaigns = by_group(report(client, scenario, "revenue", model="position_based",
                                group_by="campaign"))
    pages = by_group(report(client, scenario, "revenue", group_by="landing_page"))

    # First touch: ada's everything goes to A1 (Paid Search); Direct gets nothing, so its
    # lead value (0 revenue / 0 leads) is undefined, not 0.
    assert (first["Paid Search"]["leads"], first["Paid Search"]["revenue"]) == (1, 1000)
    assert (first["Direct"]["leads"], first["Direct"]["lead_value"]) == (0, None)
    # Last touch: ada's go to A2 (Direct).
    assert (last["Direct"]["leads"], last["Direct"]["revenue"]) == (1, 1000)
    # Position based over two touches (first = A1, lead = A2) is 50/50: the brand campaign
    # gets 0.5 of ada's lead and 500; A2 has no campaign; spring has bob's lead.
    assert (campaigns["brand"]["leads"], campaigns["brand"]["revenue"]) == (0.5, 500)
    assert (campaigns[None]["leads"], campaigns["spring"]["leads"]) == (0.5, 1)
    assert (campaigns["brand"]["cost"], campaigns["spring"]["cost"]) == (200, 50)
    # Landing pages drop the query string; spend has no landing page: cost is null.
    assert pages["https://example.com/pricing"]["leads"] == 0.5
    assert pages["https://example.com/spring"]["sessions"] == 1
    assert pages["https://example.com/"]["sessions"] == 2
    assert pages["https://example.com/"]["cost"] is None


def test_filters_restrict_every_figure(client: FlaskClient, scenario: CreatedSite) -> None:
    body = report(client, scenario, "revenue", source="google", group_by="campaign")

    # Only touches from google: A1 and C1 (2 sessions, 2 visitors), half of ada, 200 spend.
    assert list(by_group(body)) == ["brand"]
    assert (body["totals"]["sessions"], body["totals"]["leads"]) == (2, 0.5)
    assert (body["totals"]["revenue"], body["totals"]["cost"]) == (500, 200)


def test_funnel_by_stage(client: FlaskClient, scenario: CreatedSite) -> None:
    body = report(client, scenario, "funnel", model="linear")
    overall = {row["stage"]: row for row in body["rows"] if row["group"] == "(all)"}
    email = {row["stage"]: row for row in body["rows"] if row["group"] == "Email"}

    # Both leads reached opportunity; only ada became a customer: 2, 2, 2, 2, 1.
    assert [overall[s]["leads"] for s in ("lead", "mql", "sql", "opportunity", "customer")] == [
        2, 2, 2, 2, 1]
    assert overall["customer"]["rate_from_previous"] == 50
    assert overall["mql"]["rate_from_previous"] == 100
    assert overall["lead"]["rate_from_previous"] is None
    assert (email["opportunity"]["leads"], email["customer"]["leads"]) == (1, 0)
    assert email["customer"]["rate_from_lead"] == 0


def test_model_comparison_conserves_totals(client: FlaskClient, scenario: CreatedSite) -> None:
    body = report(client, scenario, "models")
    rows = body["rows"]

    assert len(body["models"]) == 10
    for model in body["models"]:
        mine = [row for row in rows if row["model"] == model]
        # Whatever the model: 2 leads, 3 opportunities, 1 customer, 1000 revenue, 300 pipeline.
        assert sum(row["leads"] for row in mine) == pytest.approx(2), model
        assert sum(row["opportunities"] for row in mine) == pytest.approx(3), model
        assert sum(row["revenue"] for row in mine) == pytest.approx(1000), model
        assert sum(row["pipeline"] for row in mine) == pytest.approx(300), model
    linear_paid = next(r for r in rows if r["model"] == "linear" and r["group"] == "Paid Search")
    assert (linear_paid["revenue"], linear_paid["cpl"], linear_paid["roas"]) == (500, 400, 2.5)


def test_win_rates_by_owner_and_by_source(client: FlaskClient, scenario: CreatedSite) -> None:
    owners = report(client, scenario, "win-rates", group_by="owner")
    sources = by_group(report(client, scenario, "win-rates", group_by="source"))

    # D1 (olivia) won, D2 (paul) lost; D3 is open and not counted.
    assert by_group(owners) == {
        "olivia": {"group": "olivia", "won": 1, "lost": 0, "win_rate": 100},
        "paul": {"group": "paul", "won": 0, "lost": 1, "win_rate": 0},
    }
    assert owners["totals"] == {"won": 1, "lost": 1, "win_rate": 50}
    # Linear: D1's opportunity journey is half google (A1), half direct (A2, source "(direct)").
    assert (sources["google"]["won"], sources["(direct)"]["won"]) == (0.5, 0.5)
    assert sources["newsletter"]["win_rate"] == 0


def test_trend_by_day_and_month(client: FlaskClient, scenario: CreatedSite) -> None:
    days = {row["period"]: row for row in report(client, scenario, "trend")["rows"]}
    months = report(client, scenario, "trend", interval="month")["rows"]

    assert days[str(days_ago(20).date())]["sessions"] == 1
    assert days[str(days_ago(10).date())]["leads"] == 1  # ada, all of her under any model
    assert days[str(days_ago(15).date())]["cost"] == 50
    assert days[str(days_ago(2).date())]["revenue"] == 1000
    assert sum(row["sessions"] for row in months) == 4
    assert sum(row["leads"] for row in months) == 2
    assert sum(row["cost"] or 0 for row in months) == 250
    # A day no spend source covers has an unknown cost, not 0.
    assert days[str(days_ago(10).date())]["cost"] is None


def test_lead_list_and_one_journey(client: FlaskClient, scenario: CreatedSite) -> None:
    leads = report(client, scenario, "leads")["rows"]
    emails = report(client, scenario, "leads", channel="Email")["rows"]
    ada_id = leads[0]["lead_id"]
    journey = api(client, scenario, "GET", f"/api/v1/reports/leads/{ada_id}/journey").json

    assert [row["email"] for row in leads] == ["ada@example.com", "bob@example.com"]
    assert (leads[0]["first_channel"], leads[0]["last_channel"]) == ("Paid Search", "Direct")
    assert (leads[0]["revenue"], leads[0]["won_deals"], leads[0]["credit"]) == (1000, 1, 1)
    assert [(row["email"], row["credit"]) for row in emails] == [("bob@example.com", 1)]
    # 3 conversions (lead, D1 opened, D1 won) x 2 touches x 10 models.
    rows = journey["rows"]
    assert len(rows) == 60
    won = [r for r in rows if r["conversion"] == "won"]
    assert {(r["channel"], r["credit"], r["value"]) for r in won if r["model"] == "linear"} == {
        ("Paid Search", 0.5, 500), ("Direct", 0.5, 500)}
    assert {(r["position"], r["credit"]) for r in won if r["model"] == "first_touch"} == {
        (0, 1), (1, 0)}
    assert journey["lead"]["email"] == "ada@example.com"


def test_every_report_downloads_as_csv(client: FlaskClient, scenario: CreatedSite) -> None:
    for name in REPORTS:
        response = api(client, scenario, "GET", f"/api/v1/reports/{name}?format=csv")
        table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))

        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert f'filename="{name.replace("-", "_")}.csv"' in response.headers[
            "Content-Disposition"]
        assert len(table) >= 2, name
    revenue = api(client, scenario, "GET", "/api/v1/reports/revenue?format=csv&model=linear")
    lines = list(csv.DictReader(io.StringIO(revenue.get_data(as_text=True))))
    email = next(line for line in lines if line["group"] == "Email")
    assert (email["cpa"], email["cpl"], email["leads"]) == ("", "50.0", "1.0")
    assert lines[-1]["group"] == "(total)" and lines[-1]["revenue"] == "1000.0"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("model=nope", "model"),
        ("group_by=planet", "group_by"),
        ("from=2026-13-01", "from"),
        ("from=2026-02-01&to=2026-01-01", "from"),
        ("colour=red", "colour"),
        ("format=xml", "format"),
        ("limit=0", "limit"),
    ],
)
def test_bad_parameters_name_their_field(
    client: FlaskClient, sites: SiteMaker, query: str, field: str
) -> None:
    site = sites.make()
    name = "leads" if field == "limit" else "revenue"

    response = api(client, site, "GET", f"/api/v1/reports/{name}?{query}")

    # A range the report cannot run is a 422 (the document states it in words).
    assert response.status_code == (422 if "to=" in query else 400)
    assert response.json["error"]["field"] == field


def test_reports_need_a_secret_key(client: FlaskClient) -> None:
    for name in REPORTS:
        assert client.get(f"/api/v1/reports/{name}").status_code == 401


def test_no_report_shows_another_sites_data(
    client: FlaskClient, scenario: CreatedSite, sites: SiteMaker
) -> None:
    other = sites.make()
    ada_id = report(client, scenario, "leads")["rows"][0]["lead_id"]

    for name in REPORTS:
        body = report(client, other, name)
        # Nothing but the funnel's "(all)" rows, all of them empty.
        assert [row for row in body["rows"] if row.get("group") != "(all)"] == [], name
        assert all(row["leads"] == 0 for row in body["rows"]), name
    journey = api(client, other, "GET", f"/api/v1/reports/leads/{ada_id}/journey")
    assert journey.status_code == 404


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_reports_run_a_fixed_number_of_statements(
    client: FlaskClient, sites: SiteMaker, db_session: Session, engine: Engine
) -> None:
    site = build_scenario(client, sites, db_session)
    counts_small: dict[str, int] = {}
    for name in REPORTS:
        with statements(engine) as seen:
            report(client, site, name, fresh=False)
        counts_small[name] = len(seen)
    for number in range(5):  # five more leads with sessions
        visitor = f"visitor.more.{number}"
        pageview(client, site, visitor, NEWSLETTER, 6 + number)
        assert identified(client, site, visitor, f"more{number}@example.com", 6 + number)
    drain_queue(client.application)

    for name in REPORTS:
        with statements(engine) as seen:
            report(client, site, name, fresh=False)
        # Auth (key, site) plus the report's own statements, whatever the data size.
        assert len(seen) == counts_small[name] <= 10, (name, seen)


def test_the_rollups_blobs_travel_as_bytes_on_postgresql(
    client: FlaskClient, sites: SiteMaker, db_session: Session, engine: Engine
) -> None:
    """The revenue report reads its groups' visitor gaps and (conversion, seconds) pairs
    from the rollups; on PostgreSQL those rows come in the binary format (bytea as its
    bytes, not as twice as many hex digits to encode and decode)."""
    site = build_scenario(client, sites, db_session)
    drain_queue(client.application)
    formats: dict[str, list[set[int] | None]] = {"gaps": [], "times": []}

    def record(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        for kind, column in (("gaps", "_gaps"), ("times", "lead_times")):
            if column in statement.split(" FROM ")[0]:
                result = getattr(cursor, "pgresult", None)  # psycopg's; sqlite3 has none
                formats[kind].append(None if result is None else
                                     {result.fformat(i) for i in range(result.nfields)})

    event.listen(engine, "after_cursor_execute", record)
    try:
        body = report(client, site, "revenue", fresh=False, model="linear", group_by="channel")
    finally:
        event.remove(engine, "after_cursor_execute", record)

    assert body["totals"]["median_days_to_lead"] is not None
    assert body["totals"]["visitors"] == 3
    binary = {1} if engine.dialect.name == "postgresql" else None
    assert formats == {"gaps": [binary, binary], "times": [binary]}


def test_credits_follow_a_deal_change_and_the_rebuild_changes_nothing(
    client: FlaskClient, scenario: CreatedSite, db_session: Session, runner: FlaskCliRunner
) -> None:
    site_id = scenario.site.id
    deal(db_session, site_id, "D1", 1, amount="1200")
    after_update = report(client, scenario, "revenue", model="linear")["totals"]["revenue"]

    result = runner.invoke(args=["attribution", "rebuild", "--site", str(site_id)])
    rebuilt = report(client, scenario, "models")["rows"]

    assert after_update == 1200
    assert result.exit_code == 0, result.output
    assert "credit rows for 10 models" in result.output
    assert sum(r["revenue"] for r in rebuilt if r["model"] == "markov") == pytest.approx(1200)
    assert sum(r["revenue"] for r in rebuilt if r["model"] == "linear") == pytest.approx(1200)


def test_rebuild_refuses_a_model_the_site_does_not_store(
    scenario: CreatedSite, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(
        args=["attribution", "rebuild", "--site", str(scenario.site.id), "--model", "j_shaped"]
    )

    assert result.exit_code == 2
    assert "model.0" in result.output


def test_a_changed_model_setting_recomputes_its_credits(
    client: FlaskClient, scenario: CreatedSite, db_session: Session
) -> None:
    site_id = scenario.site.id
    before = db_session.scalars(select(AttributionFit.fingerprint).where(
        AttributionFit.site_id == site_id, AttributionFit.model == "position_based")).first()
    db_session.rollback()

    with db_session.begin():
        site = db_session.get(Site, site_id)
        assert site is not None
        update_site_settings(db_session, site, {
            "attribution_params": {"position_based": {"first": 0.8, "lead": 0.2, "middle": 0}},
            "attribution_models": ["linear", "position_based"],
        })
    campaigns = by_group(report(client, scenario, "revenue", model="position_based"))
    after = db_session.scalars(select(AttributionFit.fingerprint).where(
        AttributionFit.site_id == site_id, AttributionFit.model == "position_based")).first()
    models = db_session.scalar(select(func.count(func.distinct(AttributionCredit.model))).where(
        AttributionCredit.site_id == site_id))

    # 80% to the first touch (A1, Paid Search), 20% to the lead-creation touch (A2, Direct).
    assert campaigns["Paid Search"]["revenue"] == 800
    assert campaigns["Direct"]["revenue"] == 200
    assert before != after
    assert models == 2


def test_the_openapi_document_describes_every_report(client: FlaskClient) -> None:
    paths = json.loads(client.get("/api/openapi.json").data)["paths"]

    for name in (*REPORTS, "leads/{lead_id}/journey"):
        operation = paths[f"/api/v1/reports/{name}"]["get"]
        assert "text/csv" in operation["responses"]["200"]["content"]
