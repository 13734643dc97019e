"""UI: server render time of the pages, with 10,000 jobs in the database.

The app is called in process (no network), so the figure is the server's work: the
queries for one page of jobs and the Jinja2 rendering. The peer is the JSON API for
the same page (``/api/v1/jobs?limit=50``), which reads the same rows: the difference
is what drawing the page costs.

Run alone: ``.venv/bin/python bench/ui_render.py [--quick]``.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import latency_row, print_table  # noqa: E402


def _seed(store, n: int) -> None:
    from moroccron import Job
    from moroccron.model import Run, RunState

    rng = random.Random(3)
    jobs = []
    for i in range(n):
        parents = (f"job-{i - 1:05d}",) if i % 10 and i % 3 == 0 else ()
        jobs.append(
            Job(
                name=f"job-{i:05d}",
                command=f"./run.sh {i}",
                schedule=None if parents else rng.choice(["*/5 * * * *", "0 3 * * *", "@hourly", "30 2 * * 1-5"]),
                parents=parents,
                owners=(f"team-{i % 20}@example.com",),
                description=f"report {i % 97}",
            )
        )
    store.apply_jobs(jobs)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with store.unit_of_work() as uow:
        for i in range(0, n, 2):  # half the jobs have five runs of history
            for k in range(5):
                uow.create_run(
                    Run(
                        job=f"job-{i:05d}",
                        scheduled_at=at + timedelta(hours=k),
                        state=RunState.SUCCEEDED if rng.random() > 0.1 else RunState.FAILED,
                        queued_at=at,
                        launched_at=at,
                        started_at=at,
                        finished_at=at + timedelta(seconds=rng.random() * 60),
                    ),
                )
        uow.set_job_states({f"job-{i:05d}": (at, at + timedelta(days=1)) for i in range(n)})


def _time(client, url: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        r = client.get(url)
        out.append(time.perf_counter() - start)
        if r.status_code != 200:
            raise RuntimeError(f"GET {url}: {r.status_code} {r.text[:200]}")
    return out


def main(quick: bool = False) -> list[tuple[str, ...]]:
    from fastapi.testclient import TestClient

    from moroccron.api.app import create_app
    from moroccron.api.deps import AppContext
    from moroccron.config import Settings
    from moroccron.hooks.manager import PluginManager
    from moroccron.store import Store

    n = 1000 if quick else 10_000
    repeat = 10 if quick else 50
    rows = []
    with tempfile.TemporaryDirectory(prefix="mcr-bench-ui-") as tmp:
        store = Store(f"sqlite:///{tmp}/ui.db")
        store.ensure_schema()
        _seed(store, n)
        client = TestClient(create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False))))
        middle = n // 50 // 2
        cases = [
            ("job list, first page", "/jobs", "/api/v1/jobs?limit=50"),
            (f"job list, page {middle}", f"/jobs?page={middle}", f"/api/v1/jobs?limit=50&offset={(middle - 1) * 50}"),
            ("job list, search", "/jobs?q=report+42", "/api/v1/jobs?limit=50&q=report+42"),
            (
                "job list, by owner",
                "/jobs?owner=team-7%40example.com",
                "/api/v1/jobs?limit=50&owner=team-7%40example.com",
            ),
            ("job page", "/jobs/job-00042", "/api/v1/jobs/job-00042/runs?limit=50"),
        ]
        for what, page, api in cases:
            _time(client, page, 2)  # warm up
            rows.append(latency_row(f"UI render, {n} jobs: {what}", "moroccron HTML page", _time(client, page, repeat)))
            rows.append(
                latency_row(f"UI render, {n} jobs: {what}", "peer: the JSON API, same rows", _time(client, api, repeat))
            )
        _time(client, "/graph", 1)  # warm up
        rows.append(
            latency_row(
                f"UI render, {n} jobs: dependency graph (capped at 500 nodes)",
                "moroccron HTML page",
                _time(client, "/graph", max(3, repeat // 5)),
            )
        )
        store.close()
    return rows


if __name__ == "__main__":
    print_table(main(quick="--quick" in sys.argv))
