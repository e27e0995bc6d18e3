"""Acknowledged means stored, under faults: load ``/collect`` and ``/identify`` on a real
``leadtrail serve`` over PostgreSQL on 127.0.0.1, kill -9 the refresh worker (``leadtrail
worker``) and one gunicorn worker process mid-load, restart PostgreSQL mid-load, then count
the acknowledged events and leads that are not in the database (target 0) and check that the
worker, restarted, drains the queue the killed one left.

Each client thread is one browser: a page view, then an identify with a fresh email, then more
page views; a request that fails (refused, reset, 5xx while the database restarts) is retried
with the same ids, as the snippet does, and only a 200 counts as acknowledged. Bounded by
``--seconds`` of load.

Run: ``.venv/bin/python bench/durability.py [--seconds 40] [--clients 12]``. Not a test. It
restarts the machine's PostgreSQL cluster (``pg_ctlcluster``): every other user of it sees the
restart too.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != str(_HERE)]
sys.path.insert(0, str(_HERE.parent))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from tracker import migrate  # noqa: E402
from tracker.db import make_engine  # noqa: E402
from tracker.models import Event, Lead, LeadVisitor  # noqa: E402
from tracker.sites.service import create_site  # noqa: E402
from tracker.worker.queue import QUEUE  # noqa: E402

BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("LEADTRAIL_BENCH_POSTGRES",
                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DATABASE = "leadtrail_bench_durability"
AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Safari/537.36")
ORIGIN = "https://www.durability.example"


@dataclass
class Tally:
    """What the server acknowledged, and what it refused on the way (per status)."""

    events: set[str] = field(default_factory=set)
    leads: dict[str, str] = field(default_factory=dict)  # email → visitor id
    attempts: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self, what: str) -> None:
        with self.lock:
            self.failures[what] = self.failures.get(what, 0) + 1


def _fresh_database() -> str:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return make_url(ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(port: int, path: str, body: dict[str, object]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "text/plain;charset=UTF-8", "User-Agent": AGENT,
                 "Origin": ORIGIN},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _send(port: int, path: str, body: dict[str, object], tally: Tally, until: float) -> bool:
    """Send until a 200 (True) or the load ends (False); the same body each time, as the
    snippet retries with the same ids."""
    delay = 0.05
    while time.monotonic() < until:
        with tally.lock:
            tally.attempts += 1
        try:
            status = _post(port, path, body)
        except OSError as error:
            tally.failed(type(error).__name__)
            status = 0
        if status == 200:
            return True
        if status:
            tally.failed(str(status))
            if 400 <= status < 500:
                return False  # refused for good: the snippet drops it
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    return False


def _browser(port: int, write_key: str, tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        visitor = "v." + secrets.token_hex(10)
        for step in range(6):
            now_ms = int(time.time() * 1000)
            event_id = secrets.token_hex(12)
            if step == 1:
                email = f"{secrets.token_hex(6)}@durability.example"
                body = {"k": write_key, "vid": visitor, "id": event_id, "ts": now_ms,
                        "url": f"{ORIGIN}/signup", "email": email, "name": "Load Test",
                        "form": {"id": "signup"}}
                if _send(port, "/identify", body, tally, until):
                    with tally.lock:
                        tally.events.add(event_id)
                        tally.leads[email] = visitor
                continue
            batch = {"k": write_key, "vid": visitor, "sent_at": now_ms, "events": [
                {"id": event_id, "type": "pageview", "ts": now_ms,
                 "url": f"{ORIGIN}/p/{step}?utm_source=news&utm_medium=email",
                 "title": "Durability"}]}
            if _send(port, "/collect", batch, tally, until):
                with tally.lock:
                    tally.events.add(event_id)


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in found.stdout.split()]


def _restart_postgres() -> float:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    began = time.monotonic()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                   check=True)
    return time.monotonic() - began


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"leadtrail serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("leadtrail serve not ready in 60s")


def _queue_length(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(QUEUE)).scalar_one())
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--clients", type=int, default=12)
    args = parser.parse_args()

    url = _fresh_database()
    engine = make_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        write_key = create_site(session, name="Durability",
                                domains=["durability.example"]).write_key
    engine.dispose()

    port = _free_port()
    env = {**os.environ, "LEADTRAIL_DATABASE_URL": url, "LEADTRAIL_PORT": str(port),
           "LEADTRAIL_HOST": "127.0.0.1", "LEADTRAIL_WORKERS": "2", "LEADTRAIL_THREADS": "8",
           "LEADTRAIL_BUILTIN_WORKER": "0", "LEADTRAIL_LOG_LEVEL": "ERROR",
           "LEADTRAIL_SECRET_KEY": secrets.token_urlsafe(32)}
    log = open(_HERE.parent / "build" / "durability.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(BIN / "leadtrail"), "serve"], env=env, stderr=log)
    worker = subprocess.Popen([str(BIN / "leadtrail"), "worker"], env=env, stderr=log)
    tally = Tally()
    faults: list[str] = []
    try:
        _wait_ready(port, server)
        started = time.monotonic()
        until = started + args.seconds
        clients = [threading.Thread(target=_browser, args=(port, write_key, tally, until))
                   for _ in range(args.clients)]
        for client in clients:
            client.start()

        time.sleep(args.seconds * 0.25)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        gunicorn = _children(server.pid)
        if gunicorn:
            os.kill(gunicorn[0], signal.SIGKILL)
        faults.append(f"t={time.monotonic() - started:.1f}s kill -9 leadtrail worker "
                      f"and gunicorn worker {gunicorn[:1]}")
        worker = subprocess.Popen([str(BIN / "leadtrail"), "worker"], env=env, stderr=log)

        time.sleep(args.seconds * 0.25)
        at = time.monotonic() - started
        took = _restart_postgres()
        faults.append(f"t={at:.1f}s PostgreSQL restarted ({took:.1f}s)")

        for client in clients:
            client.join()
        load_seconds = time.monotonic() - started

        drained_in = None
        drain_started = time.monotonic()
        while time.monotonic() - drain_started < 120:
            if _queue_length(url) == 0:
                drained_in = time.monotonic() - drain_started
                break
            time.sleep(1)
    finally:
        for process in (worker, server):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()

    engine = make_engine(url)
    with Session(engine) as session:
        stored_events = set(session.scalars(select(Event.id)))
        stored_leads = {email: lead_id for email, lead_id in session.execute(
            select(Lead.email, Lead.id))}
        linked = {(email, visitor) for email, visitor in session.execute(
            select(Lead.email, LeadVisitor.visitor_id)
            .join(LeadVisitor, (LeadVisitor.site_id == Lead.site_id)
                  & (LeadVisitor.lead_id == Lead.id))
        )}
    engine.dispose()

    missing_events = tally.events - stored_events
    missing_leads = [email for email in tally.leads if email not in stored_leads]
    unlinked = [email for email, visitor in tally.leads.items()
                if email in stored_leads and (email, visitor) not in linked]
    report = {
        "load_seconds": round(load_seconds, 1),
        "clients": args.clients,
        "faults": faults,
        "requests_sent": tally.attempts,
        "refused_or_failed_attempts": dict(sorted(tally.failures.items())),
        "acknowledged_events": len(tally.events),
        "acknowledged_leads": len(tally.leads),
        "missing_events": len(missing_events),
        "missing_leads": len(missing_leads),
        "leads_without_their_visitor": len(unlinked),
        "queue_drained_after_s": None if drained_in is None else round(drained_in, 1),
    }
    print(json.dumps(report, indent=1))
    (_HERE.parent / "build" / "durability.json").write_text(json.dumps(report, indent=1))
    if missing_events or missing_leads or unlinked or drained_in is None:
        sys.exit(1)


if __name__ == "__main__":
    main()
