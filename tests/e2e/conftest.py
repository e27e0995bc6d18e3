"""Browser tests: a real ``leadtrail serve`` on 127.0.0.1, test pages on ``localhost`` (another
origin, as a customer's website would be), Debian's Chromium driven by Playwright.

Chromium runs headless; its default user agent says "HeadlessChrome", which the collector
rightly treats as a bot, so contexts present a regular desktop Chrome user agent. When
Chromium cannot start, the tests fail: they are never skipped.
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.servers import LiveServer, free_port, serve
from tracker.sites.service import CreatedSite

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
            if flag.startswith("api"):  # the collector behind a CollectorProxy on this port
                options += f' data-api="http://127.0.0.1:{flag[3:]}"'
            elif flag == "consent":
                options += ' data-consent="required"'
            elif flag == "gpc":
                options += ' data-gpc="honor"'
        template = (PAGES / page).read_text()
        html = template.replace(
            "{{SNIPPET}}",
            f'<script async src="{self.collector}/t.js" data-key="{key}"{options}></script>',
        ).replace(  # the call-tracking swap script, on pages that have a place for it
            "{{CALLS}}", f'<script async src="{self.collector}/calls.js" data-key="{key}"></script>'
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


@dataclass
class Exchange:
    """One request through the proxy and what the browser got back (0: no answer)."""

    path: str
    body: str
    status: int


@dataclass
class ProxyState:
    """Switches of a :class:`CollectorProxy`: ``down`` closes every connection unanswered
    (the collector unreachable); ``fail_marker`` answers 500 to any body containing it."""

    target: str
    down: bool = False
    fail_marker: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self, path: str, marker: str = "") -> list[Exchange]:
        with self.lock:
            return [e for e in self.exchanges if e.path == path and marker in e.body]


class _ProxyHandler(BaseHTTPRequestHandler):
    """Forwards the snippet's requests to the real collector unless told to fail them."""

    state: ProxyState
    protocol_version = "HTTP/1.1"
    _FORWARDED = ("Content-Type", "Origin", "User-Agent", "Cookie")
    _RETURNED = ("Content-Type", "Access-Control-Allow-Origin",
                 "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
                 "Access-Control-Allow-Methods", "Set-Cookie", "Vary")

    def do_OPTIONS(self) -> None:
        self._forward(b"")

    def do_POST(self) -> None:
        self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _forward(self, body: bytes) -> None:
        path, text = self.path.split("?")[0], body.decode("utf-8", "replace")
        if self.state.down:
            self._record(path, text, 0)
            self.close_connection = True
            return
        if self.state.fail_marker and self.state.fail_marker in text:
            self._answer(500, {"Content-Type": "application/json",
                               "Access-Control-Allow-Origin": self.headers.get("Origin", "*"),
                               "Access-Control-Allow-Credentials": "true"},
                         b'{"error": {"code": "internal", "message": "stand-in failure"}}')
            self._record(path, text, 500)
            return
        request = urllib.request.Request(
            self.state.target + self.path, data=body if self.command == "POST" else None,
            method=self.command,
            headers={k: self.headers[k] for k in self._FORWARDED if k in self.headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, headers, content = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            status, headers, content = error.code, error.headers, error.read()
        kept = {k: headers[k] for k in self._RETURNED if k in headers}
        self._answer(status, kept, content)
        self._record(path, text, status)

    def _answer(self, status: int, headers: dict[str, str], content: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def _record(self, path: str, text: str, status: int) -> None:
        if self.command == "POST":
            with self.state.lock:
                self.state.exchanges.append(Exchange(path, text, status))

    def log_message(self, *args: Any) -> None:
        return


@dataclass
class CollectorProxy:
    port: int
    state: ProxyState


@pytest.fixture
def collector_proxy(live_server: LiveServer) -> Iterator[CollectorProxy]:
    """A real HTTP proxy in front of the live collector that a test can take down or make
    answer 500 (pages use it with the ``api<port>`` flag)."""
    port = free_port()
    state = ProxyState(target=live_server.url)
    handler = type("Handler", (_ProxyHandler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield CollectorProxy(port=port, state=state)
    server.shutdown()
    server.server_close()
