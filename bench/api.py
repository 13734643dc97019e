"""API: create N jobs (native and Chronos API), then list and search, on SQLite and PostgreSQL.

A real ``moroccron serve`` process (with its in-process local Mesos master) is driven
over HTTP, one request at a time, so each latency is one request's. The peer is the
database itself: the same page and the same search as one SQL query through
SQLAlchemy Core in this process, the floor any API over that database could reach.
The ratio is what the API (HTTP, validation, JSON, statistics) costs on top.

Run alone: ``.venv/bin/python bench/api.py [--quick]``.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import free_port, latency_row, print_table  # noqa: E402
from tests.servers import stop_process  # noqa: E402


def _serve(db: str, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(
        os.environ,
        MOROCCRON_LOCAL_WORK_DIR=str(work / "mesos"),
        MOROCCRON_JOB_POLL_SECONDS="0",
        MOROCCRON_LOG_LEVEL="WARNING",
    )
    log = open(work / "serve.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "moroccron.cli", "serve", "--db", db, "--bind", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/api/v1/status", timeout=1).json().get("connected"):
                return proc, url
        except (requests.RequestException, ValueError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"moroccron serve did not start; see {work / 'serve.log'}")
        time.sleep(0.2)


def _timed(fn: Callable[[], requests.Response], expect: int = 200) -> float:
    start = time.perf_counter()
    r = fn()
    took = time.perf_counter() - start
    if r.status_code != expect:
        raise RuntimeError(f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}")
    return took


class _Floor:
    """The same page and search as single SQL queries: what the database alone takes.

    Timed in turn with the API's requests, on the same offsets and terms, so both see the
    database in the same state (right after 20,000 inserts PostgreSQL's statistics are
    still settling: measured one after the other, the API looked 7 times slower than it is).
    """

    def __init__(self, db: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(db.replace("postgresql://", "postgresql+psycopg://", 1))
        self.conn = self.engine.connect()

    def page(self, offset: int, limit: int) -> float:
        from sqlalchemy import text

        start = time.perf_counter()
        self.conn.execute(
            text("SELECT spec FROM jobs ORDER BY name LIMIT :l OFFSET :o"), {"l": limit, "o": offset}
        ).all()
        self.conn.execute(text("SELECT count(*) FROM jobs")).scalar()
        return time.perf_counter() - start

    def search(self, term: str, limit: int) -> float:
        from sqlalchemy import text

        start = time.perf_counter()
        self.conn.execute(
            text("SELECT spec FROM jobs WHERE search_text LIKE :q ORDER BY name LIMIT :l"),
            {"q": f"%{term}%", "l": limit},
        ).all()
        self.conn.execute(text("SELECT count(*) FROM jobs WHERE search_text LIKE :q"), {"q": f"%{term}%"}).scalar()
        return time.perf_counter() - start

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


def run_backend(backend: str, db: str, work: Path, n: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    proc, url = _serve(db, work)
    http = requests.Session()
    try:
        native = [
            _timed(
                lambda i=i: http.post(
                    f"{url}/api/v1/jobs",
                    json={
                        "name": f"job-{i:05d}",
                        "command": f"echo {i}",
                        "schedule": "0 3 * * *",
                        "description": f"nightly export {i % 97}",
                    },
                ),
                201,
            )
            for i in range(n)
        ]
        rows.append(
            latency_row(
                f"API create {n} jobs, {backend}",
                "moroccron native POST",
                native,
                extra=f"{n / sum(native):.0f} jobs/s",
            )
        )
        chronos = [
            _timed(
                lambda i=i: http.post(
                    f"{url}/v1/scheduler/iso8601",
                    json={
                        "name": f"chronos-{i:05d}",
                        "command": f"echo {i}",
                        "schedule": "R/2030-01-01T03:00:00Z/P1D",
                        "owner": "ops@example.com",
                    },
                ),
                204,
            )
            for i in range(n)
        ]
        rows.append(
            latency_row(
                f"API create {n} jobs, {backend}",
                "moroccron Chronos POST",
                chronos,
                extra=f"{n / sum(chronos):.0f} jobs/s",
            )
        )
        total = 2 * n
        random.seed(7)
        floor = _Floor(db)
        pages, floor_pages = [], []
        for _ in range(200):
            offset = random.randrange(0, total - 100)
            pages.append(_timed(lambda o=offset: http.get(f"{url}/api/v1/jobs", params={"limit": 100, "offset": o})))
            floor_pages.append(floor.page(offset, 100))
        terms = [f"job-{random.randrange(n):05d}"[:-1] for _ in range(100)] + ["export 13"] * 20
        searches, floor_searches = [], []
        for t in terms:
            searches.append(_timed(lambda t=t: http.get(f"{url}/api/v1/jobs", params={"q": t, "limit": 100})))
            floor_searches.append(floor.search(t, 100))
        floor.close()
        chronos_search = [
            _timed(lambda t=t: http.get(f"{url}/v1/scheduler/jobs/search", params={"name": t})) for t in terms[:40]
        ]
        label = f"{total} jobs, {backend}"
        rows.append(latency_row(f"API list a page of 100, {label}", "moroccron GET /api/v1/jobs", pages))
        rows.append(latency_row(f"API list a page of 100, {label}", "peer: the SQL query alone", floor_pages))
        rows.append(latency_row(f"API search, {label}", "moroccron GET /api/v1/jobs?q=", searches))
        rows.append(latency_row(f"API search, {label}", "moroccron Chronos /jobs/search", chronos_search))
        rows.append(latency_row(f"API search, {label}", "peer: the SQL query alone", floor_searches))
    finally:
        stop_process(proc)
    return rows


def main(quick: bool = False) -> list[tuple[str, ...]]:
    from tests.servers import PostgresServer, create_database

    n = 500 if quick else 10_000
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory(prefix="mcr-bench-api-") as tmp:
        work = Path(tmp)
        (work / "sqlite").mkdir()
        rows += run_backend("SQLite", f"sqlite:///{work / 'sqlite' / 'bench.db'}", work / "sqlite", n)
        pg = PostgresServer(keep_log_in=work)
        try:
            pg.create()
            (work / "pg").mkdir()
            db = create_database(pg.url, "bench")
            rows += run_backend("PostgreSQL", db, work / "pg", n)
        finally:
            pg.destroy()
    return rows


if __name__ == "__main__":
    print_table(main(quick="--quick" in sys.argv))
