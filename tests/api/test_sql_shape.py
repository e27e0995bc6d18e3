"""Every statement a hot path sends about one site's rows names that site: a constant
``site_id`` in its ``WHERE`` (docs/scaling.md). On Citus such a statement runs on the site's
shard alone; one without it runs on every shard and, when it locks, blocks other sites.

Hot paths: the collector, /identify, a CRM webhook, the refresh worker and the CRM push.
Inserts carry their site in their values and are exempt; a few reads that are meant to span
sites (which sites have work queued, queue gauges for /metrics) are listed below.
"""

from __future__ import annotations

import json
import re
import time

from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.api.test_collect import post
from tests.api.test_leads import identify
from tests.api.test_reports import statements
from tests.api.test_webhooks import CRM_SETTINGS, post_generic
from tests.factories import BatchBuilder, SiteMaker, drain_queue
from tracker.models import Base, Lead, VisitSession

GLOBAL_TABLES = {"sites", "users", "user_sites", "api_keys", "alembic_version"}
SITE_TABLES = {table.name for table in Base.metadata.sorted_tables} - GLOBAL_TABLES
CONSTANT_SITE = re.compile(
    r"\bsite_id\s*(=\s*(%\(\w+\)s|%s|\?\d*|:\w+|\$\d+|\d+)|IN\s*\(\s*(%\(\w+\)s|\?\d*|%s)\s*\))",
    re.IGNORECASE,
)
# Reads across sites by design: which sites have due work (a plain read, no lock).
ACROSS_SITES = (
    re.compile(r"^SELECT DISTINCT refresh_queue\.site_id", re.IGNORECASE),
    re.compile(r"^SELECT DISTINCT crm_outbox\.site_id", re.IGNORECASE),
)


def _tables(sql: str) -> set[str]:
    words = set(re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+\"?(\w+)", sql, re.IGNORECASE))
    return words & SITE_TABLES


def offending(seen: list[str]) -> list[str]:
    bad = []
    for sql in seen:
        text = " ".join(sql.split())
        verb = text.split(" ", 1)[0].upper()
        if verb in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "SET"}:
            continue
        if verb == "INSERT" and " SELECT " not in text.upper().split(" ON CONFLICT")[0]:
            continue  # VALUES carry the site
        if verb == "INSERT" and "FROM unnest(" in text:
            continue  # the collector's typed arrays: rows of one group, sites in the values
        if not _tables(text) or any(pattern.search(text) for pattern in ACROSS_SITES):
            continue
        if not CONSTANT_SITE.search(text):
            bad.append(text[:300])
    return bad


def test_hot_paths_name_their_site_in_every_statement(
    client: FlaskClient, sites: SiteMaker, engine: Engine
) -> None:
    site = sites.make(**CRM_SETTINGS, crm_push=[])
    with statements(engine) as seen:
        for number in range(3):
            builder = BatchBuilder(site.write_key, visitor_id=f"visitor-{number}")
            builder.pageview("https://example.com/?utm_source=google&utm_medium=cpc")
            builder.pageview("https://example.com/pricing")
            assert post(client, builder.body()).status_code == 200
            later = BatchBuilder(site.write_key, visitor_id=f"visitor-{number}")
            assert post(client, later.pageview("https://example.com/demo").body()
                        ).status_code == 200  # the session widens: an UPDATE
            assert identify(client, site, f"visitor-{number}", f"p{number}@example.com",
                            ).status_code == 200
        event = {"id": "evt-1", "type": "deal.won", "occurred_at": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "deal": {"id": "D-1", "amount": "100",
                                                             "email": "p1@example.com"}}
        assert post_generic(client, site.site.id, json.loads(json.dumps(event))
                            ).status_code == 200
        drain_queue(client.application)

    assert len(seen) > 50  # the paths really ran
    assert any(sql.startswith("UPDATE sessions") for sql in seen)
    assert offending(seen) == []


def test_an_identify_creating_a_lead_writes_its_row_once_and_updates_it_once(
    client: FlaskClient, sites: SiteMaker, engine: Engine
) -> None:
    """The new lead's contact fields and creation session go into its INSERT, and its first
    session and score into one UPDATE (there were four UPDATEs of the row just inserted)."""
    site = sites.make()
    builder = BatchBuilder(site.write_key, visitor_id="visitor-once")
    assert post(client, builder.pageview(
        "https://example.com/?utm_source=google&utm_medium=cpc").body()).status_code == 200
    with statements(engine) as seen:
        assert identify(client, site, "visitor-once", "once@example.com", name="Ada Once",
                        company="Once Ltd").status_code == 200
    writes = [sql.split()[0].upper() for sql in seen
              if re.match(r"^\s*(INSERT INTO|UPDATE) leads\b", sql)]
    assert writes == ["INSERT", "UPDATE"], writes
    with Session(engine) as session:
        lead = session.scalars(select(Lead).where(Lead.site_id == site.site.id)).one()
        first = session.scalars(select(VisitSession.id).where(
            VisitSession.site_id == site.site.id)).one()
    assert (lead.name, lead.company) == ("Ada Once", "Once Ltd")
    assert lead.creation_session_id == first and lead.first_session_id == first


def _sent(seen: list[str]) -> list[str]:
    """Statements sent, without the tests' savepoints, one line each."""
    return [" ".join(sql.split()) for sql in seen
            if not re.match(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT)", sql)]


def _reads_of(sent: list[str], table: str) -> list[str]:
    return [sql for sql in sent if re.match(rf"^SELECT .* FROM {table}\b", sql)]


def test_an_identify_reads_nothing_it_already_knows(
    client: FlaskClient, sites: SiteMaker, engine: Engine
) -> None:
    """A new visitor's first identify sent 24 statements, of which 5 read what the request
    already knew: the visitor (it had just been stored), the lead after its INSERT, the
    visitor's current link (the collector had just read it), the new lead's links (the one
    just added) and the new lead's score history (none). It now sends 19. A repeat identify
    of the same lead rescored it a second time, in a second transaction, after the first had
    rescored it: 21 statements, now 12."""
    site = sites.make()
    builder = BatchBuilder(site.write_key, visitor_id="visitor-known")
    assert post(client, builder.pageview(
        "https://example.com/?utm_source=google&utm_medium=cpc").body()).status_code == 200

    with statements(engine) as seen:
        assert identify(client, site, "visitor-known", "known@example.com").status_code == 200
    first = _sent(seen)
    with statements(engine) as seen:
        assert identify(client, site, "visitor-known", "known@example.com").status_code == 200
    again = _sent(seen)

    assert _reads_of(first, "visitors") == []
    assert len(_reads_of(first, "leads")) == 1  # is it new? (the INSERT returns the row)
    assert len(_reads_of(first, "lead_visitors")) == 1  # the collector's, for both uses
    assert _reads_of(first, "lead_score_changes") == []
    assert len(first) == 19, "\n".join(first)
    assert len(_reads_of(again, "leads")) == 1  # rescored once, in the identify's transaction
    assert len(again) == 12, "\n".join(again)
    with Session(engine) as session:
        lead = session.scalars(select(Lead).where(Lead.site_id == site.site.id)).one()
    assert lead.score > 0 and lead.first_session_id is not None
