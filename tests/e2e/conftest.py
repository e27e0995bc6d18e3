"""Browser tests: a real ``leadtrail serve`` on 127.0.0.1, test pages on ``localhost`` (another
origin, as a customer's website would be), Debian's Chromium driven by Playwright.

Chromium runs headless; its default user agent says "HeadlessChrome", which the collector
rightly treats as a bot, so contexts present a regular desktop Chrome user agent. When
Chromium cannot start, the tests fail: they are never skipped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.servers import LiveServer, free_port, serve
from tracker.sites import CreatedSite

CHROMIUM = os.environ.get("LEADTRAIL_CHROMIUM", "/usr/bin/chromium")
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PAGES = Path(__file__).with_name("pages")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'e2e.db'}"
    with serve(database_url, {"LEADTRAIL_WORKERS": "1"}) as server:
        yield server


class _PageHandler(BaseHTTPRequestHandler):
    collector = ""

    def do_GET(self) -> None:
        # /s/<write key>/<flags>/<page>.html[?query]: flags are comma-separated snippet options.
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["favicon.ico"]:
            self.send_response(204)
            self.end_headers()
            return
        if len(parts) != 4 or parts[0] != "s":
            self.send_error(404)
            return
        _, key, flags, page = parts
        options = ""
        for flag in flags.split(","):
            if flag == "consent":
                options += ' data-consent="required"'
            elif flag == "gpc":
                options += ' data-gpc="honor"'
        template = (PAGES / page).read_text()
        html = template.replace(
            "{{SNIPPET}}",
            f'<script async src="{self.collector}/t.js" data-key="{key}"{options}></script>',
        )
        body = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="session")
def pages(live_server: LiveServer) -> Iterator[Callable[[CreatedSite, str, str], str]]:
    port = free_port()
    handler = type("Handler", (_PageHandler,), {"collector": live_server.url})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def page_url(site: CreatedSite, page: str = "index.html", flags: str = "-") -> str:
        return f"http://localhost:{port}/s/{site.write_key}/{flags}/{page}"

    yield page_url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@dataclass
class Tab:
    context: BrowserContext
    page: Page
    errors: list[str]


@pytest.fixture
def new_tab(browser: Browser) -> Iterator[Callable[..., Tab]]:
    """Opens a fresh browser context (a new device) and fails the test on any page error."""
    opened: list[Tab] = []

    def open_tab(**context_options: Any) -> Tab:
        context = browser.new_context(user_agent=USER_AGENT, **context_options)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        tab = Tab(context, page, errors)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.context.close()
    assert [e for tab in opened for e in tab.errors] == []
