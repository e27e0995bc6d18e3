"""The dashboard on SQLite and PostgreSQL through the Flask test client: sign-in, CSRF,
tenancy, the pages and their CSV exports, and ``leadtrail users create``."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.api.test_costs import cost_csv, multipart
from tests.api.test_leads import identify, visit
from tests.factories import SiteMaker, drain_queue
from tracker.accounts.users import create_user
from tracker.costs import service as costs
from tracker.crm.deals import DealUpdate, apply_deal_update
from tracker.models import AttributionFit, Cost, User, UserSite
from tracker.sites.service import CreatedSite

PASSWORD = "correct horse battery"
PAGES = (
    "/dashboard/",
    "/dashboard/leads",
    "/dashboard/leads.csv",
    "/dashboard/paths",
    "/dashboard/calls",
    "/dashboard/setup/snippet",
    "/dashboard/setup/keys",
    "/dashboard/setup/costs",
    "/dashboard/setup/crm",
    "/dashboard/setup/destinations",
    "/dashboard/export/revenue.csv",
    "/dashboard/export/trend.csv",
    "/dashboard/export/funnel.csv",
    "/dashboard/export/models.csv",
)


def make_user(
    db_session: Session, email: str, *site_ids: int, admin: bool = False
) -> User:
    with db_session.begin():
        return create_user(db_session, email, PASSWORD, is_admin=admin, site_ids=site_ids)


def csrf_from(client: FlaskClient, path: str = "/dashboard/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None, page[:500]
    return match.group(1)


def log_in(client: FlaskClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    token = csrf_from(client)
    return client.post(
        "/dashboard/login",
        data={"email": email, "password": password, "csrf_token": token},
    )


@pytest.fixture
def site(sites: SiteMaker) -> CreatedSite:
    return sites.make()


@pytest.fixture
def signed_in(client: FlaskClient, db_session: Session, site: CreatedSite) -> FlaskClient:
    make_user(db_session, "marketer@example.com", site.site.id)
    assert log_in(client, "marketer@example.com").status_code == 302
    return client


@pytest.mark.parametrize("path", PAGES)
def test_every_page_requires_a_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/dashboard/login?next=")


def test_a_wrong_password_is_refused_with_one_message(
    client: FlaskClient, db_session: Session, site: CreatedSite
) -> None:
    make_user(db_session, "marketer@example.com", site.site.id)

    wrong = log_in(client, "marketer@example.com", "not the password")
    unknown = log_in(client, "nobody@example.com")

    assert wrong.status_code == unknown.status_code == 401
    assert "wrong email or password" in wrong.get_data(as_text=True)
    assert "wrong email or password" in unknown.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302


def test_login_then_pages_render_and_logout_ends_the_session(
    signed_in: FlaskClient, site: CreatedSite
) -> None:
    for path in PAGES:
        response = signed_in.get(f"{path}?site={site.site.id}")
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:800])

    token = csrf_from(signed_in, "/dashboard/")
    assert signed_in.post("/dashboard/logout", data={"csrf_token": token}).status_code == 302
    assert signed_in.get("/dashboard/").status_code == 302


def test_a_post_without_the_csrf_token_is_refused(
    signed_in: FlaskClient, site: CreatedSite, db_session: Session
) -> None:
    missing = signed_in.post(f"/dashboard/setup/keys?site={site.site.id}", data={"name": "x"})
    forged = signed_in.post(
        f"/dashboard/setup/keys?site={site.site.id}", data={"name": "x", "csrf_token": "forged"}
    )
    login_without = signed_in.post(
        "/dashboard/login", data={"email": "marketer@example.com", "password": PASSWORD}
    )

    assert missing.status_code == forged.status_code == login_without.status_code == 403
    assert "csrf_token" in missing.get_data(as_text=True)
    token = csrf_from(signed_in, f"/dashboard/setup/keys?site={site.site.id}")
    created = signed_in.post(
        f"/dashboard/setup/keys?site={site.site.id}", data={"name": "ci", "csrf_token": token}
    )
    assert created.status_code == 200
    assert re.search(r'value="lt_sk_\d+_[a-z0-9]+_[^"]+"', created.get_data(as_text=True))


def test_a_user_cannot_open_another_sites_pages(
    signed_in: FlaskClient, sites: SiteMaker, db_session: Session, site: CreatedSite
) -> None:
    other = sites.make(domains=["other.example"])
    token = csrf_from(signed_in, "/dashboard/")

    pages = [signed_in.get(f"{path}?site={other.site.id}") for path in PAGES]
    upload = signed_in.post(
        f"/dashboard/setup/costs?site={other.site.id}",
        data={"csrf_token": token, "file": (_csv("2026-01-05,Paid Search,google,,,,10"), "c.csv")},
        content_type="multipart/form-data",
    )

    assert {page.status_code for page in pages} == {403}
    assert upload.status_code == 403
    assert db_session.scalars(select(Cost)).all() == []
    own = signed_in.get("/dashboard/")
    assert own.status_code == 200 and other.site.name not in own.get_data(as_text=True)


def test_an_admin_sees_every_site(
    client: FlaskClient, sites: SiteMaker, db_session: Session, site: CreatedSite
) -> None:
    other = sites.make(domains=["other.example"])
    make_user(db_session, "admin@example.com", admin=True)
    log_in(client, "admin@example.com")

    page = client.get(f"/dashboard/?site={other.site.id}")

    assert page.status_code == 200
    assert site.site.name in page.get_data(as_text=True)


def _csv(*lines: str) -> bytes:
    header = "date,channel,source,medium,campaign,keyword,amount"
    return "\n".join((header, *lines)).encode()


def test_cost_upload_shows_errors_by_row_and_column_and_imports_nothing(
    signed_in: FlaskClient, site: CreatedSite, db_session: Session
) -> None:
    import io

    path = f"/dashboard/setup/costs?site={site.site.id}"
    token = csrf_from(signed_in, path)
    bad = _csv("2026-01-05,Paid Search,google,cpc,spring,shoes,12.50", "2026-01-06,,,,,,abc")

    refused = signed_in.post(
        path,
        data={"csrf_token": token, "file": (io.BytesIO(bad), "costs.csv")},
        content_type="multipart/form-data",
    )
    good = signed_in.post(
        path,
        data={"csrf_token": token, "file": (io.BytesIO(_csv("2026-01-05,Paid Search,google,cpc,"
                                                               "spring,shoes,12.50")), "c.csv")},
        content_type="multipart/form-data",
    )

    text = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "Nothing was imported" in text
    assert re.search(r"<td>2</td><td>channel</td>", text)
    assert re.search(r"<td>2</td><td>amount</td><td>expected a number", text)
    assert good.status_code == 200 and "Imported 1 cost rows" in good.get_data(as_text=True)
    assert [c.amount_site for c in db_session.scalars(select(Cost))] == [12.5]


def test_a_2_mb_cost_file_is_imported_and_one_over_10_mib_is_refused_naming_the_file(
    signed_in: FlaskClient, site: CreatedSite, db_session: Session
) -> None:
    path = f"/dashboard/setup/costs?site={site.site.id}"
    token = csrf_from(signed_in, path)
    body = cost_csv(2_200_000)

    def upload(data: bytes):  # type: ignore[no-untyped-def]
        return signed_in.post(path, **multipart({"csrf_token": token}, data))

    accepted = upload(body)
    refused = upload(b"x" * (costs.MAX_UPLOAD_BYTES + 1))
    way_over = upload(b"x" * (costs.MAX_UPLOAD_BYTES + 1_048_576))

    rows = body.count(b"\n") - 1
    assert accepted.status_code == 200
    assert f"Imported {rows} cost rows" in accepted.get_data(as_text=True)
    for response in (refused, way_over):
        assert response.status_code == 413
        assert "(file)" in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(Cost)) == rows


def test_overview_shows_the_report_figures_and_its_csv_equals_the_api_csv(
    signed_in: FlaskClient, client: FlaskClient, site: CreatedSite
) -> None:
    paid = "https://example.com/?utm_source=google&utm_medium=cpc"
    visit(client, site, "visitor-dash-one", paid, 30)
    assert identify(client, site, "visitor-dash-one", "ada@example.com").status_code == 200
    drain_queue(client.application)
    today = dt.datetime.now(dt.UTC).date()
    window = f"model=first_touch&from={today - dt.timedelta(days=6)}&to={today}"

    page = signed_in.get(f"/dashboard/?site={site.site.id}&{window}")
    exported = signed_in.get(f"/dashboard/export/revenue.csv?site={site.site.id}&{window}")
    from_api = client.get(
        f"/api/v1/reports/revenue?format=csv&{window}",
        headers={"Authorization": f"Bearer {site.api_key}"},
    )
    leads = signed_in.get(f"/dashboard/leads?site={site.site.id}&q=ada")

    assert page.status_code == 200 and "Paid Search" in page.get_data(as_text=True)
    assert exported.status_code == from_api.status_code == 200
    assert exported.get_data(as_text=True) == from_api.get_data(as_text=True)
    assert exported.get_data(as_text=True).splitlines()[1].startswith("Paid Search,1,1,1.0,")
    assert "ada@example.com" in leads.get_data(as_text=True)


def test_each_table_cell_and_the_trend_carry_the_comparison_period(
    signed_in: FlaskClient, client: FlaskClient, site: CreatedSite
) -> None:
    paid = "https://example.com/?utm_source=google&utm_medium=cpc"
    visit(client, site, "visitor-now-1", paid, 30)
    visit(client, site, "visitor-now-2", paid, 40)
    visit(client, site, "visitor-before", paid, 10 * 24 * 60)  # 10 days ago
    visit(client, site, "visitor-email", "https://example.com/?utm_source=news&utm_medium=email",
          50)
    assert identify(client, site, "visitor-now-1", "now@example.com").status_code == 200
    drain_queue(client.application)
    today = dt.datetime.now(dt.UTC).date()
    window = (f"model=first_touch&from={today - dt.timedelta(days=6)}&to={today}"
              "&cols=sessions,leads,visitor_to_lead_rate")

    page = signed_in.get(f"/dashboard/?site={site.site.id}&{window}").get_data(as_text=True)
    row = re.search(r"Paid Search</a></th>(.*?)</tr>", page, re.S)
    spec = re.search(r'<script type="application/json" id="chart-trend">(.*?)</script>',
                     page, re.S)

    assert row is not None and spec is not None
    changes = dict(re.findall(
        r'data-metric="(\w+)"[^>]*>.*?<small class="delta" data-change>(.*?)</small>',
        row.group(1), re.S))
    # 2 sessions against 1; 1 lead against none; 50% of visitors became leads against 0%.
    assert changes == {"sessions": "+100.0%", "leads": "new", "visitor_to_lead_rate": "+50.0 pp"}
    email = re.search(r"Email</a></th>(.*?)</tr>", page, re.S)
    assert email is not None  # absent from the comparison period: counts new, rate unknown
    assert dict(re.findall(
        r'data-metric="(\w+)"[^>]*>.*?<small class="delta" data-change>(.*?)</small>',
        email.group(1), re.S)) == {"sessions": "new", "leads": "—", "visitor_to_lead_rate": "—"}
    datasets = json.loads(spec.group(1))["datasets"]
    dashed = [d for d in datasets if d.get("borderDash")]
    assert [d["label"] for d in dashed] == [
        "Sessions, previous period", "Leads, previous period", "Revenue, previous period"]
    # Aligned by day: the 7-day period's day 4 (today - 3) over the comparison's day 4.
    assert len(dashed[0]["data"]) == 7 and dashed[0]["data"][3] == 1
    assert sum(dashed[0]["data"]) == 1
    assert dashed[0]["text"][3] == f"1 ({today - dt.timedelta(days=10)})"


def test_the_overview_shows_the_markov_removal_effect_shares_the_fit_learned(
    client: FlaskClient, db_session: Session, sites: SiteMaker
) -> None:
    site = sites.make(attribution_models=["last_touch", "linear", "markov"])
    make_user(db_session, "fits@example.com", site.site.id)
    # Within the 30-minute session of the identify, so no direct touch joins the journey.
    visit(client, site, "visitor-a", "https://example.com/?utm_source=google&utm_medium=cpc", 20)
    visit(client, site, "visitor-b", "https://example.com/?utm_source=google&utm_medium=cpc", 80)
    visit(client, site, "visitor-b", "https://example.com/?utm_source=news&utm_medium=email", 20)
    assert identify(client, site, "visitor-a", "a@example.com").status_code == 200
    assert identify(client, site, "visitor-b", "b@example.com").status_code == 200
    drain_queue(client.application)
    assert log_in(client, "fits@example.com").status_code == 302

    page = client.get(f"/dashboard/?site={site.site.id}").get_data(as_text=True)
    table = re.search(r'<table[^>]*id="fitted-markov-lead".*?</table>', page, re.S)

    assert table is not None
    shares = dict(re.findall(
        r'<th scope="row">([^<]+)</th><td class="num" data-share="conversions"[^>]*>([^<]+)<',
        table.group(0)))
    # Journeys Paid Search → lead and Paid Search → Email → lead. Removing Paid Search loses
    # both conversions (effect 1); removing Email loses half of B's (P: 1 → 0.5, effect 0.5).
    # Shares: 1 / 1.5 and 0.5 / 1.5.
    assert shares == {"Paid Search": "66.7%", "Email": "33.3%"}
    assert "removal-effect share" in table.group(0) and "on 2 leads" in table.group(0)
    assert 'id="fitted-linear' not in page  # rule-based models learn nothing


def _fitted_table(page: str, model: str, conversion: str) -> dict[str, tuple[str, str]]:
    """channel → (share of conversions, share of value) as the overview's fitted table shows."""
    table = re.search(rf'<table[^>]*id="fitted-{model}-{conversion}".*?</table>', page, re.S)
    assert table is not None, (model, conversion)
    return {channel: (conversions, value) for channel, conversions, value in re.findall(
        r'<th scope="row">([^<]+)</th><td class="num" data-share="conversions"[^>]*>([^<]+)<'
        r'/td><td class="num" data-share="value"[^>]*>([^<]+)<', table.group(0))}


def test_the_overview_shows_the_fitted_shares_of_won_deals_as_stored_by_the_fit(
    client: FlaskClient, db_session: Session, sites: SiteMaker
) -> None:
    site = sites.make(attribution_models=["last_touch", "markov", "shapley"])
    make_user(db_session, "fits@example.com", site.site.id)
    paid, email = ("https://example.com/?utm_source=google&utm_medium=cpc",
                   "https://example.com/?utm_source=news&utm_medium=email")
    # A: Paid Search, won $300. B: Paid Search → Email, won $100. C: Email, no deal (for won
    # deals a path that did not convert). Each visit within its identify's session.
    visit(client, site, "visitor-a", paid, 20)
    visit(client, site, "visitor-b", paid, 80)
    visit(client, site, "visitor-b", email, 20)
    visit(client, site, "visitor-c", email, 20)
    for visitor in "abc":
        assert identify(client, site, f"visitor-{visitor}", f"{visitor}@example.com"
                        ).status_code == 200
    now = dt.datetime.now(dt.UTC)
    for name, amount in (("a", "300"), ("b", "100")):
        with db_session.begin():
            apply_deal_update(db_session, site.site.id, DealUpdate(
                "generic", f"D-{name}", now, f"D-{name}-won",
                {"status": "won", "amount": amount, "currency": "USD", "created_at": now,
                 "closed_at": now, "contact_email": f"{name}@example.com"}))
    drain_queue(client.application)
    assert log_in(client, "fits@example.com").status_code == 302

    page = client.get(f"/dashboard/?site={site.site.id}").get_data(as_text=True)
    stored = {(fit.model, fit.conversion): {
        channel: (round(share, 6), round(value, 6)) for channel, share, value
        in zip(fit.channels, fit.conversion_shares, fit.value_shares, strict=True)}
        for fit in db_session.scalars(select(AttributionFit).where(
            AttributionFit.site_id == site.site.id, AttributionFit.model != "last_touch"))}
    db_session.rollback()

    # Shapley (won): R({P}) = 1/1, R({P, E}) = 1/1, R({E}) = 0/1, so phi_P = 1 + 1/2 and
    # phi_E = 1/2: 75% / 25%. Value per path 300, 100, 0: phi_P = 300 + 50, phi_E = 50.
    assert _fitted_table(page, "shapley", "won") == {
        "Paid Search": ("75.0%", "87.5%"), "Email": ("25.0%", "12.5%")}
    # Markov (won): start → P 2/3, → E 1/3; P → conversion 1/2, → E 1/2; E → conversion 1/2,
    # → null 1/2. P(conversion) = 2/3 · 3/4 + 1/3 · 1/2 = 2/3; without P 1/6 (effect 3/4),
    # without E 1/3 (effect 1/2): 60% / 40%. Expected value 400/3; without P 50/3 (effect
    # 7/8), without E 100 (effect 1/4): 7/9 and 2/9.
    assert _fitted_table(page, "markov", "won") == {
        "Paid Search": ("60.0%", "77.8%"), "Email": ("40.0%", "22.2%")}
    # Leads: every path converted ({P}, {P, E}, {E}): Shapley 1.5 each. A lead has no value,
    # so no share of value rather than 0% for every channel.
    assert _fitted_table(page, "shapley", "lead") == {
        "Paid Search": ("50.0%", "—"), "Email": ("50.0%", "—")}
    # The page's figures are the stored fit's, not recomputed.
    assert stored[("shapley", "won")] == {"Paid Search": (0.75, 0.875), "Email": (0.25, 0.125)}
    assert stored[("markov", "won")] == {"Paid Search": (0.6, round(7 / 9, 6)),
                                         "Email": (0.4, round(2 / 9, 6))}
    assert stored[("shapley", "lead")] == {"Paid Search": (0.5, 0.0), "Email": (0.5, 0.0)}
    assert "Shapley share" in page and "on 2 won deals" in page


def test_the_funnel_says_which_population_it_counts_beside_the_tiles(
    signed_in: FlaskClient, site: CreatedSite
) -> None:
    page = signed_in.get(f"/dashboard/?site={site.site.id}").get_data(as_text=True)
    note = re.search(r'<p id="funnel-population"[^>]*>(.*?)</p>', page, re.S)

    assert note is not None
    text = re.sub(r"<[^>]+>", "", note.group(1))
    assert "leads created in the period" in text
    assert "first deal was won in the period" in text  # the tiles' customers (docs/reports.md)
    assert page.index('id="funnel-population"') < page.index('id="funnel-table"')


def test_the_server_root_leads_to_the_dashboard(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/"


def test_the_column_chooser_reads_the_url_and_refuses_unknown_columns(
    signed_in: FlaskClient, client: FlaskClient, site: CreatedSite
) -> None:
    visit(client, site, "visitor-cols", "https://example.com/?utm_source=google&utm_medium=cpc", 30)
    drain_queue(client.application)
    base = f"/dashboard/?site={site.site.id}"

    default = signed_in.get(base).get_data(as_text=True)
    chosen = signed_in.get(f"{base}&cols=visitors,roi&cols=sessions").get_data(as_text=True)
    refused = signed_in.get(f"{base}&cols=revenue,bogus")

    def metrics(page: str) -> list[str]:
        body = page.split('id="groups-table"', 1)[1].split("</tbody>", 1)[0]
        return list(dict.fromkeys(re.findall(r'data-metric="([a-z_]+)"', body)))

    assert metrics(default) == ["revenue", "leads", "customers", "cost", "cpl", "cpa", "roas",
                                "roi", "lead_value"]
    assert metrics(chosen) == ["roi", "visitors", "sessions"]  # the table's order
    # The drill-down links keep the pick.
    assert "cols=visitors%2Croi%2Csessions" in chosen or "cols=visitors,roi,sessions" in chosen
    assert refused.status_code == 400 and "cols" in refused.get_data(as_text=True)


def test_users_create_command_hashes_the_password_and_grants_sites(
    runner: FlaskCliRunner, site: CreatedSite, db_session: Session
) -> None:
    result = runner.invoke(
        args=["users", "create", "New@Example.com", "--site", str(site.site.id),
              "--password", PASSWORD]
    )
    short = runner.invoke(args=["users", "create", "x@example.com", "--password", "short"])

    assert result.exit_code == 0, result.output
    user = db_session.scalars(select(User)).one()
    assert user.email == "new@example.com" and PASSWORD not in user.password_hash
    assert db_session.scalars(select(UserSite.site_id)).all() == [site.site.id]
    assert short.exit_code == 2 and "password" in short.output


def test_a_signed_in_user_reads_the_reports_api_of_their_sites_only(
    signed_in: FlaskClient, client: FlaskClient, sites: SiteMaker, site: CreatedSite
) -> None:
    other = sites.make(domains=["other.example"])

    own = signed_in.get(f"/api/v1/reports/revenue?site={site.site.id}&group_by=channel")
    own_csv = signed_in.get(f"/api/v1/reports/funnel?site={site.site.id}&format=csv")
    foreign = signed_in.get(f"/api/v1/reports/revenue?site={other.site.id}")
    nameless = signed_in.get("/api/v1/reports/revenue")
    keyed = signed_in.get(
        "/api/v1/reports/revenue", headers={"Authorization": f"Bearer {other.api_key}"}
    )
    signed_in.post("/dashboard/logout", data={"csrf_token": csrf_from(signed_in, "/dashboard/")})
    after_logout = client.get(f"/api/v1/reports/revenue?site={site.site.id}")

    assert own.status_code == 200 and "rows" in own.get_json()
    assert own_csv.status_code == 200 and own_csv.mimetype == "text/csv"
    assert foreign.status_code == 403
    assert nameless.status_code == 400 and nameless.get_json()["error"]["field"] == "site"
    assert keyed.status_code == 200  # a secret key speaks for its own site
    assert after_logout.status_code == 401


def test_the_crm_page_shows_each_provider_configured_by_webhook_or_api_with_its_deliveries(
    client: FlaskClient, db_session: Session, sites: SiteMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.api.test_webhooks import GENERIC_SECRET, generic_event, post_generic

    site = sites.make(generic_secrets=[GENERIC_SECRET], hubspot_api_token="pat-na1-0123456789")
    other = sites.make(generic_secrets=[GENERIC_SECRET])
    make_user(db_session, "crm@example.com", site.site.id)
    assert post_generic(client, site.site.id,
                        generic_event("evt_1", "deal.won", 0, amount="100")).status_code == 200
    assert post_generic(client, other.site.id,
                        generic_event("evt_9", "deal.won", 0, amount="5")).status_code == 200

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("deal store unavailable")

    with monkeypatch.context() as patched:
        patched.setattr("tracker.crm.inbox.apply_deal_update", refuse)
        assert post_generic(client, site.site.id,
                            generic_event("evt_2", "deal.won", 1, amount="50")).status_code == 200
    assert log_in(client, "crm@example.com").status_code == 302

    page = client.get("/dashboard/setup/crm").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-provider="(\w+)">(.*?)</tr>', page, re.S))

    def cells(provider: str) -> list[str]:
        return [re.sub(r"<[^>]+>", "", c).strip()
                for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", rows[provider], re.S)]

    generic, hubspot, pipedrive = cells("generic"), cells("hubspot"), cells("pipedrive")
    assert generic[2] == "configured" and hubspot[2] == "configured"
    assert hubspot[3] == "—" and hubspot[4] not in ("", "—")  # the API token's fingerprint
    assert "pat-na1-0123456789" not in page
    assert pipedrive[2] == "not configured" and pipedrive[5:] == ["—", "none", "—"]
    assert generic[6] == "applied 1, failed 1"  # the other site's delivery is not counted
    assert generic[5] != "—"
    assert generic[7].endswith(": ConnectionError: deal store unavailable")
