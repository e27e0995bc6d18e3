"""Migration 0016 with data, up and down on SQLite and PostgreSQL: existing leads get empty
ad_ids, the two new tables come and go, and the outbox refuses a second row with the same
idempotency key for one destination."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from tracker import migrate
from tracker.db import make_engine

OUTBOX = ("INSERT INTO conversion_outbox (site_id, id, destination_id, idempotency_key, "
          "milestone, kind, lead_id, occurred_at, status, attempts, next_attempt_at, "
          "created_at) VALUES (1, '{id}', '00000000-0000-0000-0000-0000000000d1', 'won:x', "
          "'won', 'conversion', '00000000-0000-0000-0000-0000000000a1', CURRENT_TIMESTAMP, "
          "'pending', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")


def test_leads_keep_their_rows_and_the_outbox_key_is_unique(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        migrate.upgrade(engine, "0016")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO sites (id, name, domains, write_key, settings, "
                              "created_at) VALUES (1, 's', '[]', 'wk_1', '{}', "
                              "CURRENT_TIMESTAMP)"))
            conn.execute(text(
                "INSERT INTO leads (site_id, id, email, created_at, updated_at, stage, "
                "stage_changed_at, score, source_of_creation, crm_ids) VALUES (1, "
                "'00000000-0000-0000-0000-0000000000a1', 'ada@example.com', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, 'lead', CURRENT_TIMESTAMP, 0, 'form', '{}')"))
        migrate.upgrade(engine, "0017")
        with engine.begin() as conn:
            ad_ids = conn.execute(text("SELECT ad_ids FROM leads")).scalar_one()
            conn.execute(text(OUTBOX.format(id="00000000-0000-0000-0000-000000000001")))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(OUTBOX.format(id="00000000-0000-0000-0000-000000000002")))
        migrate.downgrade(engine, "0016")
        tables = set(inspect(engine).get_table_names())
        columns = {c["name"] for c in inspect(engine).get_columns("leads")}
        with engine.connect() as conn:
            leads = conn.execute(text("SELECT email FROM leads")).scalars().all()

        assert ad_ids in ({}, "{}")
        assert not {"destinations", "conversion_outbox"} & tables
        assert "ad_ids" not in columns and leads == ["ada@example.com"]
    finally:
        engine.dispose()
