"""Citus readiness without Citus: every table is declared reference or distributed, the
distributed ones can be (their keys start with site_id), and the distribution step is a no-op
on plain PostgreSQL and SQLite. The Citus run itself: docs/scaling.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.conftest import citus_url, drop_postgres_database, fresh_database_url, worker_name
from tracker import citus, migrate
from tracker.db import make_engine
from tracker.models import Base


def test_every_table_is_declared_reference_or_distributed() -> None:
    tables = {table.name for table in Base.metadata.sorted_tables}

    assert tables - citus.declared() == set(), "declare new tables in tracker/citus.py"
    assert citus.declared() - tables == set()
    assert set(citus.REFERENCE) & set(citus.DISTRIBUTED) == set()


def test_distributed_tables_key_on_site_id() -> None:
    for name in citus.DISTRIBUTED:
        table = Base.metadata.tables[name]
        assert table.primary_key.columns.keys()[0] == citus.DISTRIBUTION_COLUMN, name
        for key in table.foreign_keys:
            target = key.column.table.name
            assert target in citus.REFERENCE or any(
                other.parent.name == "site_id" for other in table.foreign_keys
                if other.column.table.name == target), (name, target)


@pytest.mark.committed  # begins transactions of its own on the engine
def test_the_distribution_step_is_a_no_op_without_citus(engine: Engine) -> None:
    if citus_url() is not None and engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL is the Citus coordinator in this run: see the test below")
    with engine.begin() as connection:
        assert citus.has_citus(connection) is False
        assert citus.distribute_schema(connection) == []
        citus.undistribute_schema(connection)


def test_migrations_alone_distribute_the_schema_on_a_citus_coordinator(tmp_path: Path) -> None:
    """`leadtrail db upgrade` on Citus gives every declared table its kind, and a downgrade
    and upgrade keep it so. Needs a coordinator (the registries here ship no Citus)."""
    if citus_url() is None:
        pytest.skip("LEADTRAIL_TEST_CITUS_URL is not set: the suite ran on plain PostgreSQL; "
                    "to run it on Citus, see docs/scaling.md, 'Testing on Citus'")
    url = fresh_database_url("postgresql", f"leadtrail_citus_{worker_name()}", tmp_path)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        migrate.downgrade(engine, "0012")
        migrate.upgrade(engine)
        with engine.connect() as conn:
            kinds = dict(conn.execute(text(
                "SELECT logicalrelid::regclass::text, partmethod FROM pg_dist_partition "
                "WHERE logicalrelid::regclass::text = ANY(:names)"),
                {"names": sorted(citus.declared())}).all())
    finally:
        engine.dispose()
        drop_postgres_database(url)

    assert {name for name, method in kinds.items() if method == "n"} == set(citus.REFERENCE)
    assert {name for name, method in kinds.items() if method == "h"} == set(citus.DISTRIBUTED)
