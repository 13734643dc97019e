"""Idle cost: N registered jobs, none due for the next minute: CPU seconds and peak RSS.

Each contender runs in a process of its own (so its memory is its own), loads N jobs,
then sits for the measured window (60 s; 10 s with --quick) while this process samples
its CPU time and resident memory with psutil.

moroccron: the scheduler (engine, SQLite store, Mesos client) subscribed to the local
Mesos master, which runs in the same process; the jobs fire daily at a time far from
now. Peer: APScheduler 3 BackgroundScheduler holding the same N cron jobs.

Run alone: ``.venv/bin/python bench/idle.py [--quick] [--jobs N ...]``. The moroccron row gives its
RSS as a multiple of APScheduler's at the same number of jobs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import print_table, value_row  # noqa: E402


def _far_cron() -> tuple[int, int]:
    """An hour and minute of day about twelve hours away: nothing is due during the run."""
    far = datetime.now(UTC) + timedelta(hours=12)
    return far.hour, far.minute


def child_moroccron(n: int) -> None:
    from moroccron import Job
    from moroccron.config import Settings
    from moroccron.hooks.manager import PluginManager
    from moroccron.mesos.local import AgentSpec, LocalMaster
    from moroccron.service import Scheduler
    from moroccron.store import Store

    tmp = tempfile.mkdtemp(prefix="mcr-bench-idle-")
    hour, minute = _far_cron()
    store = Store(f"sqlite:///{tmp}/idle.db")
    store.ensure_schema()
    store.apply_jobs(
        [
            Job(name=f"job-{i:06d}", command="true", schedule=f"{i % 60} {minute} {hour} * * *", catchup="none")
            for i in range(n)
        ]
    )
    master = LocalMaster(
        port=0, agents=[AgentSpec(id="agent-0")], work_dir=Path(tmp) / "mesos", heartbeat_interval=15.0, run_tasks=False
    ).start()
    start = time.perf_counter()
    settings = Settings(
        db=f"sqlite:///{tmp}/idle.db",
        master=master.address,
        log_level="WARNING",
        job_poll_seconds=float(__import__("os").environ.get("POLL", "5")),
    )
    scheduler = Scheduler(settings, store, PluginManager(load_entrypoints=False), master=master.address)
    scheduler.start()
    while not (scheduler.client and scheduler.client.connected):
        time.sleep(0.05)
    print(json.dumps({"ready": time.perf_counter() - start}), flush=True)
    time.sleep(3600)


def child_apscheduler(n: int) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    hour, minute = _far_cron()
    start = time.perf_counter()
    sched = BackgroundScheduler()
    for i in range(n):
        sched.add_job(print, CronTrigger(hour=hour, minute=minute, second=i % 60, timezone=UTC), id=str(i))
    sched.start()
    print(json.dumps({"ready": time.perf_counter() - start}), flush=True)
    time.sleep(3600)


def measure(who: str, n: int, window: float) -> dict[str, float]:
    import psutil

    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", who, str(n)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            raise RuntimeError(f"{who} with {n} jobs did not start")
        ready = json.loads(line)["ready"]
        ps = psutil.Process(proc.pid)
        time.sleep(2)  # let start-up work (first allocations, the first offers) settle
        cpu0 = sum(ps.cpu_times()[:2])
        peak = ps.memory_info().rss
        end = time.monotonic() + window
        while time.monotonic() < end:
            peak = max(peak, ps.memory_info().rss)
            time.sleep(0.5)
        cpu = sum(ps.cpu_times()[:2]) - cpu0
        return {"ready": ready, "cpu": cpu, "rss": peak / 2**20}
    finally:
        proc.kill()
        proc.wait()


def main(quick: bool = False, sizes: tuple[int, ...] | None = None) -> list[tuple[str, ...]]:
    window = 10.0 if quick else 60.0
    rows = []
    for n in sizes or ((10_000,) if quick else (10_000, 100_000)):
        ours, peer = measure("moroccron", n, window), measure("apscheduler", n, window)
        ratio = ours["rss"] / peer["rss"] if peer["rss"] else float("nan")
        for m, label, extra in (
            (ours, "moroccron scheduler + local master", f", {ratio:.2f}x APScheduler's RSS"),
            (peer, "peer: APScheduler 3", ""),
        ):
            rows.append(
                value_row(
                    f"idle, {n} jobs, none due, over {window:.0f} s",
                    label,
                    f"{m['cpu']:.2f} cpu-s",
                    f"{m['cpu'] / window:.2%} of a core, peak RSS {m['rss']:.0f} MB{extra}, ready in {m['ready']:.1f} s",
                )
            )
    return rows


def _sizes(argv: list[str]) -> tuple[int, ...] | None:
    """``--jobs N`` (repeatable): measure only these numbers of jobs."""
    sizes = []
    for i, arg in enumerate(argv):
        if arg == "--jobs":
            if i + 1 >= len(argv) or not argv[i + 1].isdigit() or int(argv[i + 1]) < 1:
                sys.exit("bench/idle.py: --jobs needs a positive whole number of jobs, e.g. --jobs 100000")
            sizes.append(int(argv[i + 1]))
    return tuple(sizes) or None


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--child":
        {"moroccron": child_moroccron, "apscheduler": child_apscheduler}[sys.argv[2]](int(sys.argv[3]))
    else:
        print_table(main(quick="--quick" in sys.argv, sizes=_sizes(sys.argv[1:])))
