"""Status and metrics read a snapshot, never the engine's live state.

The report: /api/v1/status and /metrics iterated the engine's dictionaries from other
threads while it changed them, which can raise "dictionary changed size during iteration".
Here readers hammer both (and the runs API) while 10,000 runs are created, launched and
recorded in one burst.
"""

from __future__ import annotations

import threading
import traceback

import pytest
from fastapi.testclient import TestClient

from moroccron import Job
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.config import Settings
from moroccron.events import RunRequested
from moroccron.hooks.manager import PluginManager
from moroccron.mesos.local import AgentSpec, LocalMaster
from moroccron.model import RunState
from moroccron.service import Scheduler
from moroccron.store import Store
from tests.e2e.harness import wait_for

pytestmark = pytest.mark.slow
BURST = 10_000


def test_status_and_metrics_read_without_error_during_a_ten_thousand_run_burst(tmp_path):
    master = LocalMaster(
        port=0,
        agents=[AgentSpec(id="big", hostname="big.local", cpus=10_000.0, mem=10_000_000.0)],
        work_dir=tmp_path / "mesos",
        run_tasks=False,
        offer_interval=0.2,
        heartbeat_interval=1.0,
    ).start()
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    store.ensure_schema()
    store.apply_jobs(
        [Job(name=f"burst-{i:05d}", command="true", resources={"cpus": 0.01, "mem": 1}) for i in range(BURST)]
    )
    settings = Settings(db=str(store.url), master=master.address)
    plugins = PluginManager(load_entrypoints=False)
    sched = Scheduler(settings, store, plugins, master=master.address)
    errors: list[str] = []
    reads = [0]
    stop = threading.Event()
    try:
        sched.start()
        wait_for(lambda: sched.client.connected, 30, what="subscription")
        client = TestClient(create_app(AppContext(settings, store, plugins, sched, metrics=sched.metrics)))

        def read(what) -> None:
            while not stop.is_set():
                try:
                    what()
                    reads[0] += 1
                except Exception:
                    errors.append(traceback.format_exc())

        def api_status() -> None:
            r = client.get("/api/v1/status")
            assert r.status_code == 200, r.text

        def runs_page() -> None:
            r = client.get("/api/v1/jobs/burst-00000/runs")
            assert r.status_code == 200, r.text

        readers = [
            threading.Thread(target=read, args=(f,), daemon=True)
            for f in (sched.status, sched.metrics.render, api_status, runs_page)
        ]
        for t in readers:
            t.start()
        for i in range(BURST):
            sched.submit_nowait(RunRequested(f"burst-{i:05d}"))
        wait_for(lambda: sched.status()["tasks_running"] >= BURST, 300, 0.5, what="every run launched")
        stop.set()
        for t in readers:
            t.join(10)
        assert not errors, f"{len(errors)} failed reads, the first:\n{errors[0]}"
        assert reads[0] > 20
        launched = store.list_runs(states=[RunState.LAUNCHED], limit=1)[1]
        assert launched == BURST
    finally:
        stop.set()
        sched.stop()
        master.stop()
        store.close()
