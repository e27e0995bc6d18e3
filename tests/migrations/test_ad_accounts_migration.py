"""Migration 0014 with data, up and down on SQLite and PostgreSQL: imported costs keep their
rows (origin '', no impressions or clicks); going down drops the pulled rows, whose place in
the old unique key would collide with imports, and keeps the imported ones."""

from __future__ import annotations

from sqlalchemy import inspect, text

from tracker import migrate
from tracker.db import make_engine

COST = ("INSERT INTO costs (site_id, id, {extra}day, channel, source, medium, campaign, keyword, "
        "amount, currency, amount_site, imported_at) VALUES (1, '{id}', {values}'2026-10-01', "
        "'Paid Search', 'google', 'cpc', 'brand', 'crm', 10, 'USD', 10, CURRENT_TIMESTAMP)")


def test_costs_keep_imports_up_and_down(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        migrate.upgrade(engine, "0013")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO sites (id, name, domains, write_key, settings, "
                              "created_at) VALUES (1, 's', '[]', 'wk_1', '{}', "
                              "CURRENT_TIMESTAMP)"))
            conn.execute(text(COST.format(extra="", values="",
                                          id="00000000-0000-0000-0000-000000000001")))
        migrate.upgrade(engine, "0014")
        with engine.begin() as conn:
            imported = conn.execute(text(
                "SELECT origin, impressions, clicks, amount_site FROM costs")).one()
            # The same grouping pulled from an account sits beside the import.
            conn.execute(text(COST.format(
                extra="origin, impressions, clicks, ", values="'google_ads:1', 100, 5, ",
                id="00000000-0000-0000-0000-000000000002")))
        migrate.downgrade(engine, "0013")
        with engine.connect() as conn:
            left = conn.execute(text("SELECT id FROM costs")).scalars().all()
        columns = {c["name"] for c in inspect(engine).get_columns("costs")}
        tables = set(inspect(engine).get_table_names())

        assert (imported[0], imported[1], imported[2], float(imported[3])) == ("", None, None,
                                                                                10.0)
        assert [str(found) for found in left] == ["00000000-0000-0000-0000-000000000001"]
        assert "origin" not in columns and "ad_accounts" not in tables
    finally:
        engine.dispose()
