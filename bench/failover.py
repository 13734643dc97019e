"""Failover: a stop of the leader to the first launch by the next leader.

The local Mesos master in a process of its own, PostgreSQL, a job due every second, and:

- three moroccron instances electing through a real ZooKeeper (session timeout 4 s);
- two instances without ZooKeeper, sharing the database's leadership lease (4 s,
  renewed every second);
- peer: a lone instance with no standby, restarted by its supervisor after 0.5 s
  (systemd ``Restart=always``, ``RestartSec=0.5``), the deployment people use when they
  do without HA. It leads on the same lease.

Each setup's leader is stopped cleanly (SIGTERM, what ``systemctl stop`` and
``restart`` send) and killed (SIGKILL), 20 times each (3 with --quick). The time is
from the signal to the master receiving the first ACCEPT over another event stream
than the old leader's. The signal goes 0.2 s before a whole second, so that a run falls
due as the next leader takes over: the figure is the hand-over, not the hand-over plus
a wait of up to a second for the next fire time. Target for a clean stop: under 2 s.

Run alone: ``.venv/bin/python bench/failover.py [--quick]``.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import latency_row, print_table  # noqa: E402
from tests.e2e.harness import wait_for  # noqa: E402
from tests.ha.cluster import LEASE_SECONDS, SESSION_TIMEOUT, Cluster, before_the_next_second  # noqa: E402

JOBS = """
from moroccron import Job
every_second = Job(name="every-second", command="true", schedule="* * * * * *", catchup="all",
                   concurrency="allow")
"""

SIGNALS = ((signal.SIGTERM, "clean stop (SIGTERM)", "target: under 2 s"), (signal.SIGKILL, "SIGKILL", ""))


def failovers(cluster: Cluster, sig: signal.Signals, times: int) -> list[float]:
    took = []
    for _ in range(times):
        leader = cluster.leader(timeout=90)
        for instance in cluster.instances:  # every standby back and waiting (a stopped one is restarted)
            wait_for(instance.status, 60, 0.1, what=f"instance {instance.name} to serve")
        old_stream = cluster.stream_id()
        time.sleep(1.5)  # steady state: the leader is launching, the standbys have seen its lease renewed
        before_the_next_second()  # a run falls due as the next leader takes over: no wait for one
        sent = time.time()
        cluster.signal(leader, sig)
        calls = wait_for(
            lambda since=sent, old=old_stream: [c for c in cluster.launched_since(since) if c["stream_id"] != old],
            90,
            0.05,
            what="a launch by the next leader",
        )
        took.append(calls[0]["time"] - sent)
    return took


def main(quick: bool = False) -> list[tuple[str, ...]]:
    n = 3 if quick else 20
    rows = []
    setups = (
        (f"moroccron, 3 instances, ZooKeeper session {SESSION_TIMEOUT:g} s", 3, True),
        (f"moroccron, 2 instances, database lease {LEASE_SECONDS:g} s", 2, False),
        ("peer: a lone instance restarted by its supervisor", 1, False),
    )
    for who, size, elect in setups:
        with tempfile.TemporaryDirectory(prefix="mcr-bench-failover-") as tmp:
            cluster = Cluster(Path(tmp), JOBS, size=size, agents=1, elect=elect)
            try:
                cluster.start()
                for sig, what, target in SIGNALS:
                    took = failovers(cluster, sig, n)
                    rows.append(
                        latency_row(
                            f"failover: {what} of the leader to the next leader's first launch, x{n}",
                            who,
                            took,
                            extra=target if size > 1 else "",
                        )
                    )
            finally:
                cluster.stop()
    return rows


if __name__ == "__main__":
    print_table(main(quick="--quick" in sys.argv))
