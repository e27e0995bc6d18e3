"""Citus readiness without Citus: every table is declared reference or distributed, the
distributed ones can be (their keys start with site_id), and the distribution step is a no-op
on plain PostgreSQL and SQLite. The Citus run itself: docs/scaling.md."""

from __future__ import annotations

from sqlalchemy import Engine

from tracker import citus
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


def test_the_distribution_step_is_a_no_op_without_citus(engine: Engine) -> None:
    with engine.begin() as connection:
        assert citus.has_citus(connection) is False
        assert citus.distribute_schema(connection) == []
        citus.undistribute_schema(connection)
