"""Two moroccron processes, real ZooKeeper and PostgreSQL, a local Mesos master process:
SIGKILL the leader, the standby takes over, and no fire time runs twice or goes unrecorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
import requests

from moroccron.model import RunState
from moroccron.store import Store
from tests.e2e.harness import wait_for
from tests.servers import create_database, free_port

pytestmark = [pytest.mark.slow, pytest.mark.zookeeper, pytest.mark.postgres]

JOBS = '''
from moroccron import Job
tick = Job(name="tick", command="echo tick", schedule="*/2 * * * * *", catchup="all")
'''


def spawn(args, tmp_path, name):
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    # a short ZooKeeper session: the failover time is mostly the session expiring
    env = dict(os.environ, MOROCCRON_LOCAL_WORK_DIR=str(tmp_path / "mesos"), MOROCCRON_ZK_SESSION_TIMEOUT="4")
    return subprocess.Popen([sys.executable, "-m", "moroccron.cli", *args], stdout=log, stderr=subprocess.STDOUT,
                            cwd=tmp_path, env=env, start_new_session=True)


def status(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=2).json()
    except (requests.RequestException, ValueError):
        return None


@pytest.fixture
def cluster(tmp_path, zk_address, postgres_url):
    db = create_database(postgres_url, f"ha_{uuid.uuid4().hex[:8]}")
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "tick.py").write_text(JOBS)
    mesos_port = free_port()
    procs = {"mesos": spawn(["local-mesos", "--bind", f"127.0.0.1:{mesos_port}", "--work-dir",
                             str(tmp_path / "mesos"), "--heartbeat-interval", "1"], tmp_path, "mesos")}
    ports = {}
    zk = f"zk://{zk_address}/moroccron-{uuid.uuid4().hex[:8]}"
    for name in ("a", "b"):
        ports[name] = free_port()
        procs[name] = spawn(["serve", "--master", f"127.0.0.1:{mesos_port}", "--zk", zk, "--db", db,
                             "--bind", f"127.0.0.1:{ports[name]}", "--jobs", str(jobs)], tmp_path, name)
        if name == "a":
            wait_for(lambda: (s := status(ports["a"])) and s.get("connected"), 30, what="a to lead")
    yield db, ports, procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_sigkill_leader_standby_takes_over_without_duplicates(cluster):
    db, ports, procs = cluster
    wait_for(lambda: status(ports["b"]) is not None, 30, what="b to serve")
    sb = status(ports["b"])
    assert sb["leader"] is False and sb["leader_address"] == f"127.0.0.1:{ports['a']}"
    metrics = requests.get(f"http://127.0.0.1:{ports['b']}/metrics", timeout=5)
    assert metrics.status_code == 200 and "moroccron_leader 0.0" in metrics.text
    # a standby sends writes to the leader
    r = requests.post(f"http://127.0.0.1:{ports['b']}/api/v1/jobs/tick/runs", allow_redirects=False, timeout=5)
    assert r.status_code == 307 and r.headers["location"].startswith(f"http://127.0.0.1:{ports['a']}/")

    store = Store(db)
    wait_for(lambda: len([r for r in store.list_runs("tick", limit=1000)[0] if r.state == RunState.SUCCEEDED]) >= 2,
             30, what="runs under the first leader")
    killed_at = time.time()
    procs["a"].send_signal(signal.SIGKILL)
    procs["a"].wait()
    wait_for(lambda: (s := status(ports["b"])) and s.get("leader") and s.get("connected"), 60,
             what="b to take over")
    first_new = wait_for(lambda: [r for r in store.list_runs("tick", limit=1000)[0]
                                  if r.launched_at and r.launched_at.timestamp() > killed_at], 30,
                         what="a launch by the new leader")
    failover = min(r.launched_at.timestamp() for r in first_new) - killed_at
    print(f"\nfailover: SIGKILL of the leader to the first launch by the new leader: {failover:.2f}s")
    time.sleep(4)
    runs, _ = store.list_runs("tick", limit=1000, newest_first=False)
    identities = Counter((r.scheduled_at, r.attempt) for r in runs)
    assert max(identities.values()) == 1, "a fire time was recorded twice"
    times = sorted({r.scheduled_at for r in runs})
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert all(g == 2 for g in gaps), f"a fire time went unrecorded: {gaps}"
    assert all(r.reason for r in runs if r.state == RunState.SKIPPED)
    assert len({r.task_id for r in runs}) == len(runs)
    store.close()
