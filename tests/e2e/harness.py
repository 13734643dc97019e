"""A scheduler wired to a real local Mesos master over HTTP, in this process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.mesos.local import AgentSpec, LocalMaster
from moroccron.model import JobSpec, Run, RunState
from moroccron.service import Scheduler
from moroccron.store import Store


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def start_master(work_dir: Path, agents: int = 1, **kw: Any) -> LocalMaster:
    specs = [
        AgentSpec(id=f"agent-{i}", hostname=f"agent{i}.local", cpus=4.0, mem=4096.0, attributes={"rack": f"r{i % 2}"})
        for i in range(agents)
    ]
    kw.setdefault("heartbeat_interval", 1.0)
    kw.setdefault("status_update_retry", 0.5)
    kw.setdefault("offer_interval", 0.2)
    kw.setdefault("kill_grace_default", 1.0)
    return LocalMaster(port=0, agents=specs, work_dir=work_dir, **kw).start()


class Cluster:
    """A local master, a database and a scheduler that can be stopped and started again."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        agents: int = 1,
        db_url: str | None = None,
        plugins: list[object] | None = None,
        settings: dict[str, Any] | None = None,
        **master_kw: Any,
    ) -> None:
        self.tmp_path = tmp_path
        self.master = start_master(tmp_path / "mesos", agents, **master_kw)
        self.db_url = db_url or f"sqlite:///{tmp_path / 'moroccron.db'}"
        self.store = Store(self.db_url)
        self.store.ensure_schema()
        self.scheduler: Scheduler | None = None
        self.plugin_objects = plugins or []
        self.extra_settings = settings or {}

    def start_scheduler(self) -> Scheduler:
        settings = Settings(
            db=self.db_url, master=self.master.address, offer_horizon_seconds=2.0, **self.extra_settings
        )
        plugins = PluginManager(load_entrypoints=False)
        for plugin in self.plugin_objects:
            plugins.register(plugin)
        plugins.startup(config=settings, store=self.store)
        self.scheduler = Scheduler(settings, self.store, plugins, master=self.master.address)
        self.scheduler.start()
        wait_for(lambda: self.scheduler.client.connected, what="subscription")
        return self.scheduler

    def stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler.plugins.shutdown(config=self.scheduler.settings)
            self.scheduler = None

    def add_job(self, job: JobSpec) -> None:
        self.store.put_job(job)
        if self.scheduler is not None:
            self.scheduler.job_changed(job)

    def runs(self, job: str) -> list[Run]:
        runs, _ = self.store.list_runs(job, limit=1000, newest_first=False)
        return runs

    def finished(self, job: str, count: int = 1, timeout: float = 30.0) -> list[Run]:
        def done() -> list[Run] | None:
            final = [r for r in self.runs(job) if r.state.final and r.state != RunState.SKIPPED]
            return final if len(final) >= count else None

        return wait_for(done, timeout, what=f"{count} finished run(s) of {job}")

    def close(self) -> None:
        self.stop_scheduler()
        self.master.stop()
        self.store.close()


@contextmanager
def api_over_a_cluster(tmp_path: Path, agents: int = 1) -> Iterator[tuple[Cluster, Any]]:
    """A scheduler on a local master, and a test client of the whole API (native and
    Chronos) that the scheduler answers; both closed after the block."""
    from fastapi.testclient import TestClient

    from moroccron.api.app import create_app
    from moroccron.api.deps import AppContext

    cluster = Cluster(tmp_path, agents=agents)
    sched = cluster.start_scheduler()
    app = create_app(AppContext(sched.settings, cluster.store, sched.plugins, sched, metrics=sched.metrics))
    try:
        with TestClient(app) as client:
            yield cluster, client
    finally:
        cluster.close()
