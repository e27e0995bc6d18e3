"""The migration tests' empty database, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DIALECTS, drop_postgres_database, fresh_database_url, worker_name


@pytest.fixture(params=DIALECTS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, f"leadtrail_migrations_{worker_name()}", tmp_path)
    yield url
    if request.param == "postgresql":
        drop_postgres_database(url)
