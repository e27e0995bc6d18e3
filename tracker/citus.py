"""Distributing the schema on Citus, from the migrations themselves (docs/scaling.md).

Every table is declared here as a *reference* table (small, global, copied to every node) or
as *distributed* on ``site_id`` and colocated with every other site table, so everything one
site does stays on one shard. A migration that creates a table calls :func:`distribute_new`
for it; a test fails when a table of the models is declared neither way. On SQLite and on
PostgreSQL without the ``citus`` extension every function here does nothing.

Citus accepts the declarations only in one order: foreign keys from reference and local
tables to distributed tables are refused while tables are still local, so
:func:`distribute_schema` keeps each foreign key's definition, drops them, makes the
reference tables, distributes the site tables colocated, then puts the foreign keys back.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

REFERENCE = ("sites", "users", "user_sites")
# Site tables, distributed on site_id; the first is the colocation anchor.
DISTRIBUTED = (
    "leads", "visitors", "sessions", "events", "api_keys", "attribution_fits",
    "attribution_credits", "bot_hits", "costs", "exchange_rates", "crm_checkpoints",
    "crm_events", "crm_outbox", "deals", "refresh_queue", "lead_score_changes",
    "lead_stage_changes", "lead_visitors", "offline_touches", "traffic_rollups", "rollup_state",
    "credit_rollups", "crm_contacts", "ad_accounts", "segment_users", "call_settings",
    "call_pools", "call_numbers", "call_assignments", "calls", "lead_credit_digests",
    "destinations", "conversion_outbox", "credit_rollup_times",
)
DISTRIBUTION_COLUMN = "site_id"


def declared() -> set[str]:
    return {*REFERENCE, *DISTRIBUTED}


def has_citus(connection: Connection) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    found = connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))
    return found.first() is not None


def _distributed_now(connection: Connection) -> set[str]:
    rows = connection.execute(text("SELECT logicalrelid::regclass::text FROM pg_dist_partition"))
    return {name for (name,) in rows}


def _foreign_keys(connection: Connection, tables: Iterable[str]) -> list[tuple[str, str, str]]:
    """``(table, constraint, definition)`` of every foreign key from or to ``tables``."""
    names = list(tables)
    rows = connection.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND (conrelid::regclass::text = ANY(:t) "
            "OR confrelid::regclass::text = ANY(:t)) ORDER BY 1, 2"
        ),
        {"t": names},
    )
    return [(table, name, definition) for table, name, definition in rows]


def distribute_schema(connection: Connection) -> list[str]:
    """Make every declared table that exists reference or distributed (a no-op without
    Citus, and for tables Citus already knows). Returns the tables it changed."""
    if not has_citus(connection):
        return []
    existing = {name for (name,) in connection.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))}
    known = _distributed_now(connection)
    todo = [name for name in (*REFERENCE, *DISTRIBUTED) if name in existing and name not in known]
    if not todo:
        return []
    keys = _foreign_keys(connection, existing & declared())
    for table, name, _definition in keys:
        connection.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
    for name in REFERENCE:
        if name in todo:
            connection.execute(text("SELECT create_reference_table(:t)"), {"t": name})
    anchor = next((n for n in DISTRIBUTED if n in existing and n in known), None)
    for name in DISTRIBUTED:
        if name not in todo:
            continue
        connection.execute(
            text("SELECT create_distributed_table(:t, :c, colocate_with => :w)"),
            {"t": name, "c": DISTRIBUTION_COLUMN, "w": anchor or "none"},
        )
        anchor = anchor or name
    for table, name, definition in keys:
        connection.execute(text(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'))
    return todo


def distribute_new(connection: Connection, table: str) -> None:
    """For a migration that creates ``table``: declare it on Citus as this module says."""
    if table not in declared():
        raise ValueError(f"declare {table!r} in tracker.citus (REFERENCE or DISTRIBUTED)")
    distribute_schema(connection)


def undistribute_schema(connection: Connection) -> None:
    """Turn the declared tables back into plain local tables (the distribution migration's
    downgrade; foreign keys are kept by Citus' undistribute_table)."""
    if not has_citus(connection):
        return
    known = _distributed_now(connection)
    for name in (*DISTRIBUTED, *REFERENCE):
        if name in known:
            connection.execute(
                text("SELECT undistribute_table(:t, cascade_via_foreign_keys => true)"),
                {"t": name},
            )
            known = _distributed_now(connection)
