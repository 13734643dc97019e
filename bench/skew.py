"""Launch skew: N jobs due in the same second, end to end.

moroccron: the scheduler (engine, SQLite store, Mesos client) against the local Mesos
master over HTTP on loopback, N jobs with the same cron line due a few seconds after
start. The skew of a run is from its scheduled second to the moment the HTTP request
with the ACCEPT carrying its task reached the master (stamped as the request arrives,
before the master does anything with it). The master places the tasks but starts no
processes, so what is measured is the framework, not the machine running N commands.

Also shown: the engine alone (the decision, packing included, no I/O).

Peer: APScheduler 3 in the same run, N jobs with the same cron schedule (CronTrigger),
thread-pool executor: the time from the due second to the job function being called.

Run alone: ``.venv/bin/python bench/skew.py [--quick]``.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import latency_row, print_table  # noqa: E402

LEAD = 8.0  # seconds from start to the due second: time to load and subscribe


def _due() -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=LEAD)).replace(microsecond=0)


def _cron(due: datetime) -> str:
    return f"{due.second} {due.minute} {due.hour} * * *"


def moroccron_end_to_end(n: int) -> list[float]:
    from moroccron import Job
    from moroccron.config import Settings
    from moroccron.hooks.manager import PluginManager
    from moroccron.mesos.local import AgentSpec, LocalMaster
    from moroccron.service import Scheduler
    from moroccron.store import Store

    with tempfile.TemporaryDirectory(prefix="mcr-bench-skew-") as tmp:
        agents = [AgentSpec(id=f"agent-{i}", hostname=f"agent{i}", cpus=10_000.0, mem=10_000_000.0)
                  for i in range(20)]
        master = LocalMaster(port=0, agents=agents, work_dir=Path(tmp) / "mesos", heartbeat_interval=1.0,
                             offer_interval=0.2, run_tasks=False).start()
        store = Store(f"sqlite:///{tmp}/skew.db")
        store.ensure_schema()
        due = _due()
        store.apply_jobs([Job(name=f"job-{i:05d}", command="true", schedule=_cron(due), catchup="none")
                          for i in range(n)])
        settings = Settings(db=f"sqlite:///{tmp}/skew.db", master=master.address, job_poll_seconds=0,
                            prune_interval_seconds=0, log_level="WARNING")
        plugins = PluginManager(load_entrypoints=False)
        scheduler = Scheduler(settings, store, plugins, master=master.address)
        try:
            scheduler.start()
            deadline = time.monotonic() + LEAD + 120
            while sum(len(c["launched"]) for c in master.accepted_calls) < n:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {sum(len(c['launched']) for c in master.accepted_calls)} of {n} "
                                       "tasks reached the master")
                time.sleep(0.05)
            if datetime.now(UTC) < due:
                raise RuntimeError("launched before the due second")
            skews = [c["received"] - due.timestamp() for c in master.accepted_calls for _ in c["launched"]]
            _check_recorded(store, n, due, deadline)
            return skews
        finally:
            scheduler.stop()
            master.stop()
            store.close()


def _check_recorded(store: Any, n: int, due: datetime, deadline: float) -> None:
    """Every launch was also recorded, with its launch time (the record follows the ACCEPT)."""
    from moroccron.model import RunState

    while True:
        runs, total = store.list_runs(states=[RunState.LAUNCHED], limit=1000)
        if total == n and all(r.launched_at is not None and r.launched_at >= due for r in runs):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {total} of {n} launches were recorded")
        time.sleep(0.1)


def engine_only(n: int, prepare: float) -> list[float]:
    """The engine's work on the due second (and, prepared, the work done before it)."""
    from moroccron import Job
    from moroccron.engine import Engine
    from moroccron.events import Launch, Loaded, OffersReceived, Subscribed, Tick
    from moroccron.hooks.types import Offer
    from moroccron.model import Resources
    from moroccron.packing import first_fit

    t0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    jobs = tuple(Job(name=f"j{i}", command="true", schedule="*/10 * * * * *", catchup="none") for i in range(n))
    engine = Engine(lambda t, o, j: first_fit(t, o, j), prepare_horizon=prepare)
    engine.step(t0, Loaded(jobs))
    engine.step(t0, Subscribed("fw"))
    offers = tuple(Offer(id=f"o{i}", agent_id=f"a{i}", hostname=f"h{i}",
                         resources=Resources.unchecked(10_000.0, 1e7, 1e6, 0.0)) for i in range(20))
    engine.step(t0 + timedelta(seconds=8), OffersReceived(offers))
    start = time.perf_counter()
    engine.step(t0 + timedelta(seconds=8.6), Tick())  # prepared: created and placed here
    ahead = time.perf_counter() - start
    start = time.perf_counter()
    actions = engine.step(t0 + timedelta(seconds=10), Tick())
    elapsed = time.perf_counter() - start
    assert sum(len(a.runs) for a in actions if isinstance(a, Launch)) == n
    ENGINE_AHEAD[(n, prepare)] = ahead
    return [elapsed] * n  # every run is decided in the same step


ENGINE_AHEAD: dict[tuple[int, float], float] = {}


def apscheduler(n: int) -> list[float]:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    sched = BackgroundScheduler(executors={"default": {"type": "threadpool", "max_workers": 20}},
                                job_defaults={"misfire_grace_time": 60, "coalesce": True})
    due = _due()
    called: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def fire() -> None:
        with lock:
            called.append(time.time() - due.timestamp())
            if len(called) == n:
                done.set()

    for i in range(n):
        sched.add_job(fire, CronTrigger(hour=due.hour, minute=due.minute, second=due.second, timezone=UTC),
                      id=str(i))
    sched.start()
    done.wait(timeout=LEAD + 120)
    sched.shutdown(wait=False)
    if len(called) < n:
        raise RuntimeError(f"APScheduler called {len(called)} of {n} jobs")
    return called


def main(quick: bool = False) -> list[tuple[str, ...]]:
    rows = []
    for n in ((1000,) if quick else (1000, 10_000)):
        name = f"launch skew, {n} jobs due in one second"
        rows.append(latency_row(name, "moroccron, due -> ACCEPT at the master (HTTP)", moroccron_end_to_end(n),
                                extra="target p99 < 100 ms at 10,000" if n == 10_000 else ""))
        rows.append(latency_row(name, "moroccron engine alone, on the second, not prepared", engine_only(n, 0.0)))
        rows.append(latency_row(name, "moroccron engine alone, on the second, prepared", engine_only(n, 1.5),
                                extra=f"{ENGINE_AHEAD[(n, 1.5)] * 1000:.0f} ms of work 1.4 s ahead"))
        rows.append(latency_row(name, "peer: APScheduler 3, due -> job function called", apscheduler(n)))
    return rows


if __name__ == "__main__":
    print_table(main(quick="--quick" in sys.argv))
