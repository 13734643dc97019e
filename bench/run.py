"""`make bench`: moroccron beside a peer, in the same run, on the same machine.

Now: launch decision latency for N jobs due in the same second, moroccron's engine
(time from the tick at the due second to the LAUNCH actions, packing included, no
network) beside APScheduler 3.x (time from the due second to the job function being
called). The end-to-end figures through the local Mesos master over HTTP, idle cost,
API, packing and failover benchmarks are still to come (issue 9).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moroccron import Job  # noqa: E402
from moroccron.engine import Engine  # noqa: E402
from moroccron.events import Launch, Loaded, OffersReceived, Subscribed, Tick  # noqa: E402
from moroccron.hooks.types import Offer  # noqa: E402
from moroccron.model import Resources  # noqa: E402
from moroccron.packing import first_fit  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_engine(n: int) -> list[float]:
    t0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    jobs = tuple(Job(name=f"j{i}", command="true", schedule="*/10 * * * * *", catchup="none") for i in range(n))
    engine = Engine(lambda t, o, j: first_fit(t, o, j))
    engine.step(t0, Loaded(jobs))
    engine.step(t0, Subscribed("fw"))
    offers = tuple(Offer(id=f"o{i}", agent_id=f"a{i}", hostname=f"h{i}",
                         resources=Resources.unchecked(64.0, 65536.0, 1e6, 0.0)) for i in range(max(1, n // 500)))
    engine.step(t0 + timedelta(seconds=9), OffersReceived(offers))
    due = t0 + timedelta(seconds=10)
    start = time.perf_counter()
    actions = engine.step(due, Tick())
    elapsed = time.perf_counter() - start
    launched = sum(len(a.runs) for a in actions if isinstance(a, Launch))
    assert launched == n, f"launched {launched} of {n}"
    # every run is decided in the same step: its latency is the step's duration
    return [elapsed] * n


def bench_apscheduler(n: int) -> list[float]:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.date import DateTrigger

    sched = BackgroundScheduler(executors={"default": {"type": "threadpool", "max_workers": 20}},
                                job_defaults={"misfire_grace_time": 60})
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    lat: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def fire() -> None:
        with lock:
            lat.append(time.time() - due.timestamp())
            if len(lat) == n:
                done.set()

    for i in range(n):
        sched.add_job(fire, DateTrigger(run_date=due), id=str(i))
    sched.start()
    done.wait(timeout=120)
    sched.shutdown(wait=False)
    return lat


def main() -> int:
    rows = [("benchmark", "who", "p50 ms", "p99 ms", "max ms")]
    for n in (1000, 10000):
        for who, fn in (("moroccron engine", bench_engine), ("APScheduler 3", bench_apscheduler)):
            lat = fn(n)
            rows.append((f"{n} jobs due in one second: due -> launch decision", who,
                         f"{statistics.median(lat) * 1000:.1f}", f"{pct(lat, 99) * 1000:.1f}",
                         f"{max(lat) * 1000:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
