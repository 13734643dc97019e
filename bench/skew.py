"""Launch skew: N jobs due in the same second, end to end.

moroccron: the scheduler (engine, SQLite store, Mesos client) against the local Mesos
master, in a process of its own, over HTTP on loopback (20 agents of 64 cpus), N jobs
with the same cron line due a few seconds after start. The skew of a run is from its
scheduled second to the moment the HTTP request with the ACCEPT carrying its task
reached the master (stamped as the request arrives, before the master does anything
with it), and to the moment moroccron began that request. The master places the tasks
but starts no processes, so what is measured is the framework, not the machine running
N commands.

Also shown: the engine alone (the decision, packing included, no I/O).

Peer: APScheduler 3 in the same run, N jobs with the same cron schedule (CronTrigger),
thread-pool executor: the time from the due second to the job function being called.

Run alone: ``.venv/bin/python bench/skew.py [--quick]``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from bench.common import free_port, latency_row, print_table  # noqa: E402

LEAD = 8.0  # seconds from start to the due second: time to load and subscribe


def _due() -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=LEAD)).replace(microsecond=0)


def _cron(due: datetime) -> str:
    return f"{due.second} {due.minute} {due.hour} * * *"


def _start_master(work: Path, cpus: float, mem: float) -> tuple[subprocess.Popen[bytes], str]:
    """The local Mesos master in a process of its own, as a real master would be (and not
    sharing the scheduler's interpreter lock while it takes ten thousand tasks in)."""
    port = free_port()
    log = open(work / "master.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moroccron.cli",
            "local-mesos",
            "--bind",
            f"127.0.0.1:{port}",
            "--agents",
            "20",
            "--agent-cpus",
            f"{cpus:g}",
            "--agent-mem",
            f"{mem:g}",
            "--work-dir",
            str(work / "mesos"),
            "--heartbeat-interval",
            "1",
            "--offer-interval",
            "0.2",
            "--no-run-tasks",
            "--log-level",
            "WARNING",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"http://{address}/__local__/agents", timeout=1).raise_for_status()
            return proc, address
        except requests.RequestException:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local master did not start; see {work / 'master.log'}") from None
            time.sleep(0.1)


SHAPES = {
    # 20 agents of 64 cpus / ~20 GB: 10,000 tasks of 0.1 cpu / 32 MB fill 16 of them, so
    # they go out as 16 ACCEPTs (one per agent's offer), side by side.
    "16 offers": (64.0, 20_000.0),
    # agents big enough for every task: one ACCEPT carries them all
    "1 offer": (10_000.0, 10_000_000.0),
}


def moroccron_end_to_end(n: int, shape: str) -> tuple[list[float], list[float]]:
    """Per task: (due -> its ACCEPT read by the master, due -> its ACCEPT's POST begun)."""
    from moroccron import Job
    from moroccron.config import Settings
    from moroccron.hooks.manager import PluginManager
    from moroccron.mesos.client import MesosSchedulerClient
    from moroccron.service import Scheduler
    from moroccron.store import Store

    # When each ACCEPT leaves moroccron: the client's call, wrapped for this run only.
    sent: list[tuple[float, int]] = []
    real_call = MesosSchedulerClient._call

    def timed_call(self: Any, call_type: str, *args: Any, **kwargs: Any) -> None:
        if call_type == "ACCEPT":
            body = kwargs.get("encoded") or b""
            sent.append((time.time(), body.count(b'"task_id"')))
        return real_call(self, call_type, *args, **kwargs)

    with tempfile.TemporaryDirectory(prefix="mcr-bench-skew-") as tmp:
        master, address = _start_master(Path(tmp), *SHAPES[shape])
        MesosSchedulerClient._call = timed_call  # type: ignore[method-assign]

        def accepted() -> list[dict[str, Any]]:
            return list(requests.get(f"http://{address}/__local__/accepted-calls", timeout=30).json())

        store = Store(f"sqlite:///{tmp}/skew.db")
        store.ensure_schema()
        due = _due()
        store.apply_jobs(
            [Job(name=f"job-{i:05d}", command="true", schedule=_cron(due), catchup="none") for i in range(n)]
        )
        settings = Settings(
            db=f"sqlite:///{tmp}/skew.db",
            master=address,
            job_poll_seconds=0,
            prune_interval_seconds=0,
            log_level="WARNING",
        )
        plugins = PluginManager(load_entrypoints=False)
        scheduler = Scheduler(settings, store, plugins, master=address)
        try:
            scheduler.start()
            deadline = time.monotonic() + LEAD + 120
            while True:
                calls = accepted()
                got = sum(len(c["launched"]) for c in calls)
                if got >= n:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {got} of {n} tasks reached the master")
                time.sleep(0.2)
            if datetime.now(UTC) < due:
                raise RuntimeError("launched before the due second")
            skews = [c["received"] - due.timestamp() for c in calls for _ in c["launched"]]
            _check_recorded(store, n, due, deadline)
            left = [t - due.timestamp() for t, tasks in sent for _ in range(tasks)]
            return skews, left
        finally:
            MesosSchedulerClient._call = real_call  # type: ignore[method-assign]
            scheduler.stop()
            master.send_signal(signal.SIGTERM)
            try:
                master.wait(timeout=20)
            except subprocess.TimeoutExpired:
                master.kill()
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
    offers = tuple(
        Offer(id=f"o{i}", agent_id=f"a{i}", hostname=f"h{i}", resources=Resources.unchecked(10_000.0, 1e7, 1e6, 0.0))
        for i in range(20)
    )
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

    sched = BackgroundScheduler(
        executors={"default": {"type": "threadpool", "max_workers": 20}},
        job_defaults={"misfire_grace_time": 60, "coalesce": True},
    )
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
        sched.add_job(fire, CronTrigger(hour=due.hour, minute=due.minute, second=due.second, timezone=UTC), id=str(i))
    sched.start()
    done.wait(timeout=LEAD + 120)
    sched.shutdown(wait=False)
    if len(called) < n:
        raise RuntimeError(f"APScheduler called {len(called)} of {n} jobs")
    return called


def main(quick: bool = False) -> list[tuple[str, ...]]:
    rows = []
    for n in (1000,) if quick else (1000, 10_000):
        name = f"launch skew, {n} jobs due in one second"
        for shape in SHAPES:
            arrived, left = moroccron_end_to_end(n, shape)
            rows.append(
                latency_row(
                    name,
                    f"moroccron, due -> ACCEPT read by the master, {shape}",
                    arrived,
                    extra="target p99 < 100 ms at 10,000" if n == 10_000 else "",
                )
            )
            rows.append(latency_row(name, f"moroccron, due -> ACCEPT sent, {shape}", left))
        rows.append(latency_row(name, "moroccron engine alone, on the second, not prepared", engine_only(n, 0.0)))
        rows.append(
            latency_row(
                name,
                "moroccron engine alone, on the second, prepared",
                engine_only(n, 1.5),
                extra=f"{ENGINE_AHEAD[(n, 1.5)] * 1000:.0f} ms of work 1.4 s ahead",
            )
        )
        rows.append(latency_row(name, "peer: APScheduler 3, due -> job function called", apscheduler(n)))
    return rows


if __name__ == "__main__":
    print_table(main(quick="--quick" in sys.argv))
