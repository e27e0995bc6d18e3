"""Ad-spend import on SQLite and PostgreSQL: CSV and JSON, errors by row and column, replace
on re-import, currency conversion, tenancy."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.factories import SiteMaker
from tracker.costs import service as costs
from tracker.guards import DEFAULT_MAX_BODY_BYTES
from tracker.sites.service import CreatedSite

CSV = """date,channel,source,medium,campaign,keyword,amount,currency
2026-11-01,Paid Search,google,cpc,brand,lead tracking,120.50,USD
2026-11-01,Paid Search,google,cpc,brand,lead tracking,29.50,USD
2026-11-01,Paid Social,facebook,paid,retargeting,,80,EUR
2026-11-02,Paid Search,google,cpc,generic,attribution,200,
"""


def send(client: FlaskClient, site: CreatedSite, method: str, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    return client.open(
        path, method=method, headers={"Authorization": f"Bearer {site.api_key}"}, **kwargs
    )


def test_a_csv_imports_converted_and_reimporting_replaces(
    client: FlaskClient, sites: SiteMaker
) -> None:
    site = sites.make(currency="USD")
    send(
        client,
        site,
        "POST",
        "/api/v1/exchange-rates",
        json={"currency": "EUR", "valid_from": "2026-01-01", "rate": "1.10"},
    )

    first = send(client, site, "POST", "/api/v1/costs", data=CSV, content_type="text/csv")
    second = send(client, site, "POST", "/api/v1/costs", data=CSV, content_type="text/csv")
    listed = send(client, site, "GET", "/api/v1/costs?from=2026-11-01&to=2026-11-03").json["costs"]

    assert first.status_code == second.status_code == 201
    # 120.50 + 29.50 (same key, summed) + 80 EUR x 1.10 + 200 = 438
    assert first.json["total"] == second.json["total"] == "438.0000"
    assert len(listed) == 3
    assert sum(float(c["amount_site_currency"]) for c in listed) == 438.0
    facebook = next(c for c in listed if c["source"] == "facebook")
    assert (facebook["amount"], facebook["currency"], facebook["amount_site_currency"]) == (
        "80.0000",
        "EUR",
        "88.0000",
    )


def test_errors_name_row_and_column_and_import_nothing(
    client: FlaskClient, sites: SiteMaker
) -> None:
    site = sites.make()
    bad = CSV + "2026-13-01,Paid Search,google,cpc,x,,ten,USD\n2026-11-03,Email,,,,,5,GBP\n"

    response = send(client, site, "POST", "/api/v1/costs", data=bad, content_type="text/csv")
    listed = send(client, site, "GET", "/api/v1/costs").json["costs"]

    assert response.status_code == 400
    fields = [e["field"] for e in response.json["errors"]]
    assert fields == ["rows.5.date", "rows.5.amount"]
    assert listed == []


def test_a_missing_exchange_rate_is_an_error_naming_the_row(
    client: FlaskClient, sites: SiteMaker
) -> None:
    site = sites.make(currency="USD")

    response = send(
        client,
        site,
        "POST",
        "/api/v1/costs",
        json={
            "rows": [
                {"date": "2026-11-01", "channel": "Display", "amount": "10", "currency": "GBP"}
            ]
        },
    )

    assert response.status_code == 422
    assert response.json["error"]["field"] == "rows.1.currency"


def test_unknown_columns_are_refused(client: FlaskClient, sites: SiteMaker) -> None:
    site = sites.make()

    response = send(
        client,
        site,
        "POST",
        "/api/v1/costs",
        data="date,amount,conversions\n2026-11-01,5,10\n",
        content_type="text/csv",
    )

    assert response.status_code == 400
    assert response.json["error"]["field"] == "header.conversions"


def test_costs_are_per_site(client: FlaskClient, sites: SiteMaker) -> None:
    mine, theirs = sites.make(), sites.make()
    send(
        client,
        mine,
        "POST",
        "/api/v1/costs",
        data=CSV.replace(",EUR", ",USD"),
        content_type="text/csv",
    )

    assert send(client, theirs, "GET", "/api/v1/costs").json["costs"] == []
    assert len(send(client, mine, "GET", "/api/v1/costs").json["costs"]) == 3


def test_the_cli_imports_a_file(runner: FlaskCliRunner, sites: SiteMaker, tmp_path: Path) -> None:
    site = sites.make()
    path = tmp_path / "spend.csv"
    path.write_text(CSV.replace(",EUR", ",USD"))
    broken = tmp_path / "broken.csv"
    broken.write_text("date,amount\nyesterday,5\n")

    ok = runner.invoke(args=["costs", "import", "--site", str(site.site.id), str(path)])
    failed = runner.invoke(args=["costs", "import", "--site", str(site.site.id), str(broken)])

    assert ok.exit_code == 0 and "imported 3 cost rows, 430.0000 USD" in ok.output
    assert failed.exit_code == 2 and "rows.1.date" in failed.output


def test_imported_impressions_and_clicks_reach_the_report_and_empty_ones_stay_unknown(
    client: FlaskClient, sites: SiteMaker
) -> None:
    site = sites.make(currency="USD")
    body = ("date,channel,source,medium,campaign,amount,impressions,clicks\n"
            "2026-11-01,Paid Search,google,cpc,brand,100,\"10,000\",250\n"
            "2026-11-02,Paid Search,google,cpc,brand,50,5000,50\n"
            "2026-11-01,Paid Social,facebook,paid,retargeting,80,,\n")
    assert send(client, site, "POST", "/api/v1/costs", data=body,
                content_type="text/csv").status_code == 201
    listed = send(client, site, "GET", "/api/v1/costs?from=2026-11-01&to=2026-11-03").json["costs"]
    assert sorted((c["source"], c["impressions"], c["clicks"]) for c in listed) == [
        ("facebook", None, None), ("google", 5000, 50), ("google", 10_000, 250)]

    report = send(client, site, "GET", "/api/v1/reports/revenue?model=linear&group_by=source"
                  "&from=2026-11-01&to=2026-11-02").json
    rows = {row["group"]: row for row in report["rows"]}
    google, facebook = rows["google"], rows["facebook"]
    assert (google["impressions"], google["clicks"]) == (15_000, 300)
    assert google["ctr"] == 2.0 and google["cpc"] == 0.5  # 300 / 15,000; 150 / 300
    assert (facebook["impressions"], facebook["clicks"], facebook["cpc"]) == (None, None, None)


def test_a_bad_count_is_refused_naming_its_row_and_column(
    client: FlaskClient, sites: SiteMaker
) -> None:
    site = sites.make(currency="USD")
    body = ("date,channel,amount,impressions,clicks\n"
            "2026-11-01,Paid Search,10,100,3\n"
            "2026-11-02,Paid Search,10,100,-3\n")
    refused = send(client, site, "POST", "/api/v1/costs", data=body, content_type="text/csv")
    assert refused.status_code == 400
    assert refused.json["error"]["field"] == "rows.2.clicks"
    listed = send(client, site, "GET", "/api/v1/costs?from=2026-11-01&to=2026-11-02").json
    assert listed["costs"] == []


def cost_csv(size_bytes: int) -> bytes:
    """A CSV of valid, distinct cost rows, at least ``size_bytes`` long."""
    lines = [b"date,channel,source,medium,campaign,keyword,amount,currency"]
    size = len(lines[0]) + 1
    while size < size_bytes:
        number = len(lines)
        row = f"2026-11-01,Paid Search,google,cpc,campaign {number},keyword {number},1.25,USD"
        lines.append(row.encode())
        size += len(lines[-1]) + 1
    return b"\n".join(lines) + b"\n"


def multipart(fields: dict[str, str], file: bytes) -> dict[str, Any]:
    """Client arguments posting ``file`` as the form's ``file``, encoded here: the test
    client would spool a large file to a temporary file it never closes."""
    upload = FileStorage(io.BytesIO(file), filename="costs.csv", content_type="text/csv")
    boundary, body = encode_multipart({**fields, "file": upload})
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def test_a_2_mb_csv_within_the_row_limit_is_imported_as_a_body_and_as_a_file(
    client: FlaskClient, sites: SiteMaker
) -> None:
    site = sites.make()
    body = cost_csv(2_200_000)
    rows = body.count(b"\n") - 1
    assert rows <= costs.MAX_ROWS

    as_body = send(client, site, "POST", "/api/v1/costs", data=body, content_type="text/csv")
    as_file = send(client, site, "POST", "/api/v1/costs", **multipart({}, body))

    assert (as_body.status_code, as_body.json["imported"]) == (201, rows)
    assert (as_file.status_code, as_file.json["imported"]) == (201, rows)


@pytest.mark.parametrize("as_file", [False, True], ids=["body", "file"])
def test_a_cost_upload_over_10_mib_is_refused_naming_the_field_and_imports_nothing(
    client: FlaskClient, sites: SiteMaker, as_file: bool
) -> None:
    site = sites.make()
    too_large = b"x" * (costs.MAX_UPLOAD_BYTES + 1)
    sent = (
        multipart({}, too_large) if as_file else {"data": too_large, "content_type": "text/csv"}
    )

    response = send(client, site, "POST", "/api/v1/costs", **sent)

    assert response.status_code == 413
    assert response.json["error"]["field"] == ("file" if as_file else "body")
    assert send(client, site, "GET", "/api/v1/costs").json["costs"] == []


@pytest.mark.parametrize("as_file", [False, True], ids=["body", "file"])
def test_other_routes_keep_the_1_mib_limit_naming_the_body(
    client: FlaskClient, sites: SiteMaker, as_file: bool
) -> None:
    site = sites.make()
    data = b"x" * (DEFAULT_MAX_BODY_BYTES + 1)
    sent = multipart({}, data) if as_file else {"data": data, "content_type": "application/json"}

    response = send(client, site, "POST", "/api/v1/exchange-rates", **sent)

    assert response.status_code == 413
    assert response.json["error"]["field"] == "body"
