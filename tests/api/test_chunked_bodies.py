"""Chunked bodies through a real ``leadtrail serve`` (gunicorn terminates the input stream,
so Werkzeug alone would cut a body at its limit and hand the rest over as if whole): over the
limit is a 413 naming ``body`` and stores nothing; under it is read whole."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.servers import LiveServer, serve

PIPEDRIVE_PASSWORD = "pd-password-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    database = Path(tmp_path_factory.mktemp("chunked")) / "chunked.db"
    with serve(f"sqlite:///{database}", {"LEADTRAIL_WORKERS": "1",
                                         "LEADTRAIL_BUILTIN_WORKER": "0"}) as live:
        yield live


def _chunks(body: bytes, size: int = 65_536) -> Iterator[bytes]:
    # A generator makes requests send Transfer-Encoding: chunked, no Content-Length.
    for start in range(0, len(body), size):
        yield body[start:start + size]


def test_a_chunked_webhook_over_the_limit_is_refused_whole(server: LiveServer) -> None:
    # Pipedrive proves itself by Basic credentials, not by a signature over the body, so on
    # main this body was cut at 1 MiB (still valid JSON), stored cut and answered 200.
    site = server.make_site(pipedrive_username="pd", pipedrive_password=PIPEDRIVE_PASSWORD)
    won = {"v": 2, "meta": {"action": "change", "entity": "deal", "id": secrets.token_hex(4),
                            "timestamp": "2026-10-01T09:00:00Z", "version": "2.0"},
           "data": {"id": 7, "status": "won", "value": 10, "currency": "USD", "title": "x"},
           "previous": {}}
    body = json.dumps(won).encode() + b" " * 1_500_000
    token = base64.b64encode(f"pd:{PIPEDRIVE_PASSWORD}".encode()).decode()

    response = requests.post(f"{server.url}/webhooks/pipedrive/{site.site.id}",
                             data=_chunks(body), timeout=30,
                             headers={"Authorization": f"Basic {token}",
                                      "Content-Type": "application/json"})

    assert response.status_code == 413
    assert response.json()["error"]["field"] == "body"
    assert server.rows("SELECT count(*) FROM crm_events")[0][0] == 0


def test_a_chunked_batch_under_the_limit_is_read_whole(server: LiveServer) -> None:
    site = server.make_site()
    now = int(time.time() * 1000)
    batch = {"k": site.write_key, "vid": "v." + secrets.token_hex(6), "sent_at": now,
             "events": [{"id": secrets.token_hex(8), "type": "pageview", "ts": now,
                         "url": "http://localhost/", "title": "t" * 150}]}

    response = requests.post(f"{server.url}/collect", data=_chunks(json.dumps(batch).encode(), 40),
                             headers={"Content-Type": "text/plain"}, timeout=30)

    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 1}
