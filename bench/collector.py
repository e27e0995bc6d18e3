"""Collector throughput against a bare Flask endpoint, measured in the same run.

Starts three servers the way ``leadtrail serve`` does (gunicorn, gthread, same workers and
threads): a bare Flask app whose endpoint does nothing, LeadTrail on SQLite and LeadTrail on
PostgreSQL. Drives each with wrk (Debian's package; installed when missing and root) with the
same load: single-event requests, then 20-event batches, every event id unique and every
request from a visitor of its own (as browsers send: one batch in flight per visitor). Prints
events/s, p50/p99 latency and the ratio to the bare endpoint, then checks that every
acknowledged event is in the database.

Run: ``.venv/bin/python bench/collector.py [--seconds 10] [--connections 32]``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
POSTGRES_ADMIN = os.environ.get(
    "LEADTRAIL_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)

BARE_APP = textwrap.dedent(
    """
    from flask import Flask, jsonify
    app = Flask(__name__)

    @app.post("/collect")
    def collect():
        return jsonify(stored=1)

    @app.get("/healthz")
    def healthz():
        return "ok"
    """
)

WRK_SCRIPT = Path(__file__).with_name("collector_load.lua")


@dataclass
class Result:
    target: str
    mode: str
    events_per_request: int
    requests: int
    seconds: float
    acked: int
    failed: int
    p50_ms: float
    p99_ms: float
    stored: int | None = None

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def events_per_s(self) -> float:
        return self.acked * self.events_per_request / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} not ready in {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk")
    return found


def run_wrk(
    wrk: str, port: int, script: Path, key: str, events: int, seconds: int, connections: int
) -> dict[str, float]:
    env = {
        **os.environ,
        "LT_EVENTS": str(events),
        "LT_KEY": key,
        "LT_UA": BROWSER_UA,
        "LT_RUN": uuid.uuid4().hex[:10],
    }
    completed = subprocess.run(
        [
            wrk,
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = next(row for row in completed.stdout.splitlines() if row.startswith("RESULT "))
    return json.loads(result.removeprefix("RESULT "))


def leadtrail(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [str(BIN / "leadtrail"), *args], env=env, capture_output=True, text=True, check=True
    ).stdout


def prepare_database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    from sqlalchemy import create_engine, text

    admin = create_engine(
        POSTGRES_ADMIN.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "leadtrail_bench" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "leadtrail_bench"'))
    admin.dispose()
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + "/leadtrail_bench"


def count_events(url: str) -> int:
    from sqlalchemy import text

    from tracker.config import _as_database_url
    from tracker.db import make_engine

    engine = make_engine(_as_database_url(url))
    with engine.connect() as conn:
        total = int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())
    engine.dispose()
    return total


def bench_target(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    wrk: str,
    script: Path,
    key: str,
    args: argparse.Namespace,
    database_url: str | None,
) -> list[Result]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = []
    try:
        wait_ready(port, process)
        run_wrk(wrk, port, script, key, 1, 3, args.connections)  # warm-up
        if database_url:
            # Measure the steady state: a live database has planner statistics (autovacuum
            # analyzes within a minute); a brand-new one has none for its first minute.
            leadtrail("db", "analyze", env=env)
        for mode, events in (("single", 1), ("batch20", 20)):
            stored_before = count_events(database_url) if database_url else 0
            raw = run_wrk(wrk, port, script, key, events, args.seconds, args.connections)
            result = Result(
                name,
                mode,
                events,
                int(raw["requests"]),
                raw["seconds"],
                int(raw["acked"]),
                int(raw["failed"]) + int(raw["errors"]),
                raw["p50_ms"],
                raw["p99_ms"],
            )
            if database_url:
                result.stored = count_events(database_url) - stored_before
            results.append(result)
    finally:
        stop(process)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="leadtrail-bench-"))
    script = WRK_SCRIPT
    (workdir / "bare_app.py").write_text(BARE_APP)
    all_results: list[Result] = []

    port = free_port()
    bare = [
        str(BIN / "gunicorn"),
        "--chdir",
        str(workdir),
        "-w",
        str(args.workers),
        "--threads",
        str(args.threads),
        "-k",
        "gthread",
        "-b",
        f"127.0.0.1:{port}",
        "bare_app:app",
    ]
    all_results += bench_target(
        "bare flask", bare, dict(os.environ), port, wrk, script, "none", args, None
    )

    for kind in ("sqlite", "postgresql"):
        url = prepare_database(kind, workdir)
        port = free_port()
        env = {
            **os.environ,
            "LEADTRAIL_DATABASE_URL": url,
            "LEADTRAIL_LOG_LEVEL": "WARNING",
            "LEADTRAIL_WORKERS": str(args.workers),
            "LEADTRAIL_THREADS": str(args.threads),
            "LEADTRAIL_PORT": str(port),
        }
        leadtrail("db", "upgrade", env=env)
        out = leadtrail(
            "sites", "create", f"bench-{kind}", "--domain", "bench.example.com", env=env
        )
        key = next(line.split()[-1] for line in out.splitlines() if line.startswith("write key:"))
        all_results += bench_target(
            f"leadtrail {kind}",
            [str(BIN / "leadtrail"), "serve"],
            env,
            port,
            wrk,
            script,
            key,
            args,
            url,
        )

    bare_rate = {r.mode: r.requests_per_s for r in all_results if r.target == "bare flask"}
    print(
        f"\ncollector benchmark: {args.seconds}s per run, {args.connections} connections, "
        f"{args.workers} workers x {args.threads} threads, {os.cpu_count()} cores"
    )
    header = (
        f"{'target':<22}{'mode':<9}{'req/s':>9}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'x bare':>8}{'failed':>8}{'missing':>9}"
    )
    print(header)
    print("-" * len(header))
    missing_total = 0
    for r in all_results:
        ratio = r.requests_per_s / bare_rate[r.mode] if bare_rate.get(r.mode) else float("nan")
        missing = (
            "-" if r.stored is None else str(max(0, r.acked * r.events_per_request - r.stored))
        )
        if r.stored is not None:
            missing_total += max(0, r.acked * r.events_per_request - r.stored)
        print(
            f"{r.target:<22}{r.mode:<9}{r.requests_per_s:>9.0f}{r.events_per_s:>10.0f}{r.p50_ms:>8.1f}"
            f"{r.p99_ms:>8.1f}{ratio:>8.2f}{r.failed:>8}{missing:>9}"
        )
    print(
        "\ntargets: single-event requests >= 0.60x bare; "
        "20-event batches >= 8,000 events/s; 0 missing"
    )
    verdicts = []
    for r in all_results:
        if r.stored is None:
            continue
        if r.mode == "single":
            verdicts.append(
                (f"{r.target} single x bare", r.requests_per_s / bare_rate["single"], 0.6)
            )
        else:
            verdicts.append((f"{r.target} batch events/s", r.events_per_s, 8000))
    for label, value, target in verdicts:
        print(
            f"  {label:<36} {value:>10.2f}  target {target:>7}  "
            f"{'met' if value >= target else 'MISSED'}"
        )
    print(f"  acknowledged events missing from the database: {missing_total}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
