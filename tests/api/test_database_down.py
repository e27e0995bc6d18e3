"""With the database unreachable (a restart, a failover), requests get a 503 with Retry-After,
which clients retry, never a 500."""

from __future__ import annotations

import json
import socket

import pytest
from flask.testing import FlaskClient

from tests.factories import BatchBuilder, new_id, now_ms
from tracker import create_app
from tracker.config import Settings
from tracker.db import make_engine


@pytest.fixture
def unreachable_client() -> FlaskClient:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/gone"
    settings = Settings(database_url=url, log_level="CRITICAL")
    app = create_app(settings, engine=make_engine(url, connect_args={"connect_timeout": 2}))
    return app.test_client()


BATCH = BatchBuilder("wk_abcdefgh").pageview().body()
IDENTIFY = {"k": "wk_abcdefgh", "vid": BATCH["vid"], "id": new_id(), "ts": now_ms(),
            "email": "ada@example.com"}


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/collect", json.dumps(BATCH)),
    ("POST", "/identify", json.dumps(IDENTIFY)),
    ("GET", "/api/v1/leads", None),
])
def test_an_unreachable_database_is_a_503_to_retry(
    unreachable_client: FlaskClient, method: str, path: str, body: str | None
) -> None:
    response = unreachable_client.open(
        path, method=method, data=body, content_type="text/plain",
        headers={"Authorization": "Bearer lt_sk_1_abcdefgh_secret"},
    )

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.json["error"]["code"] == "unavailable"
