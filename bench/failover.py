"""Failover: SIGKILL of the leader to the first launch by the new leader.

Three moroccron instances electing through a real ZooKeeper (session timeout 4 s),
sharing a real PostgreSQL, in front of the local Mesos master (its own process), with a
job due every second; the leader is SIGKILLed 20 times (3 with --quick). The time is
from the kill to the master receiving the first ACCEPT over the new leader's stream.

Peer: the same job on a lone instance with no standby, SIGKILLed and restarted by its
supervisor after 0.5 s (systemd ``Restart=always``, ``RestartSec=0.5``), the
deployment people use when they do without HA.

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
from tests.ha.cluster import SESSION_TIMEOUT, Cluster  # noqa: E402

JOBS = '''
from moroccron import Job
every_second = Job(name="every-second", command="true", schedule="* * * * * *", catchup="all",
                   concurrency="allow")
'''


def failovers(cluster: Cluster, times: int) -> list[float]:
    took = []
    for _ in range(times):
        leader = cluster.leader(timeout=90)
        old_stream = cluster.stream_id()
        time.sleep(1.5)  # steady state: the leader is launching
        killed = time.time()
        cluster.signal(leader, signal.SIGKILL)
        calls = wait_for(lambda since=killed, old=old_stream: [
            c for c in cluster.launched_since(since) if c["stream_id"] != old], 90, 0.05,
            what="a launch by the new leader")
        took.append(calls[0]["time"] - killed)
    return took


def main(quick: bool = False) -> list[tuple[str, ...]]:
    n = 3 if quick else 20
    rows = []
    for who, size, elect in ((f"moroccron, 3 instances, ZooKeeper session {SESSION_TIMEOUT:g} s", 3, True),
                             ("peer: a lone instance restarted by its supervisor", 1, False)):
        with tempfile.TemporaryDirectory(prefix="mcr-bench-failover-") as tmp:
            cluster = Cluster(Path(tmp), JOBS, size=size, agents=1, elect=elect)
            try:
                cluster.start()
                took = failovers(cluster, n)
            finally:
                cluster.stop()
        rows.append(latency_row(f"failover: SIGKILL of the leader to its successor's first launch, x{n}",
                                who, took, extra="target: under 5 s" if elect else ""))
    return rows


if __name__ == "__main__":
    print_table(main(quick="--quick" in sys.argv))
