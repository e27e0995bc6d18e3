"""The landing page of a URL, one table of cases run against both implementations: the
Python one (credits, per touch) and the SQL one (reports, per session row) on SQLite and
PostgreSQL, which must agree for a report's groups to match its credits."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, String, literal, select

from tracker.credits.journeys import landing_page
from tracker.reports.queries import landing_page_sql

# Reads with connections of its own: it needs real commits.
pytestmark = pytest.mark.committed

CASES = [
    ("https://acme.com/pricing", "https://acme.com/pricing"),
    ("https://acme.com/pricing?utm_source=google&utm_medium=cpc", "https://acme.com/pricing"),
    ("https://acme.com/pricing#plans", "https://acme.com/pricing"),
    ("https://acme.com/pricing?plan=pro#faq", "https://acme.com/pricing"),
    ("https://acme.com/docs#intro?not-a-query", "https://acme.com/docs"),
    ("https://acme.com/?", "https://acme.com/"),
    ("https://acme.com/a?b=c?d", "https://acme.com/a"),
    ("https://acme.com/café?x=1", "https://acme.com/café"),
    ("?utm_source=only", ""),
    ("#top", ""),
    ("", None),
    (None, None),
]


@pytest.fixture(params=["python", "sql"])
def implementation(request: pytest.FixtureRequest, engine: Engine):  # type: ignore[no-untyped-def]
    if request.param == "python":
        return landing_page

    def in_sql(url: str | None) -> str | None:
        with engine.connect() as connection:
            expression = landing_page_sql(literal(url, String()), engine.dialect.name)
            return connection.scalar(select(expression))

    return in_sql


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_the_landing_page_drops_the_query_and_fragment(
    implementation, url: str | None, expected: str | None  # type: ignore[no-untyped-def]
) -> None:
    assert implementation(url) == expected
