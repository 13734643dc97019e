"""The fault harness: three moroccron instances, real ZooKeeper and PostgreSQL, the
local Mesos master as its own process, jobs due every 2 seconds, and each failure of
the HA issue injected in turn, repeatedly (``MOROCCRON_FAULT_ROUNDS``, default 2): SIGTERM
(a clean stop, as systemd sends) and SIGKILL of the leader, SIGSTOP, a ZooKeeper partition
and restart, a PostgreSQL restart, a Mesos master failover and a lost agent.

After every injection the whole history is checked: every (job, scheduled_at) that
fell due has exactly one run, which the master launched exactly once or which was
skipped with the reason its catch-up policy gives, and the master never started a
task the store does not know. The failover times are printed (run with ``-s``).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from moroccron.model import RunState, RunTrigger
from moroccron.store import Store
from tests.e2e.harness import wait_for
from tests.ha.cluster import SESSION_TIMEOUT, Cluster, before_the_next_second

pytestmark = [pytest.mark.slow, pytest.mark.zookeeper, pytest.mark.postgres]

ROUNDS = int(os.environ.get("MOROCCRON_FAULT_ROUNDS", "2"))

JOBS = """
from moroccron import Job

every_all = Job(name="every-all", command="true", schedule="*/2 * * * * *", catchup="all", concurrency="allow")
every_latest = Job(name="every-latest", command="true", schedule="*/2 * * * * *", catchup="latest")
every_none = Job(name="every-none", command="true", schedule="*/2 * * * * *", catchup="none")
long = Job(name="long", command="sleep 6", schedule="*/10 * * * * *", catchup="all", retries=3,
           retry_delay_seconds=1, concurrency="allow")
every_second = Job(name="every-second", command="true", schedule="* * * * * *", catchup="all", concurrency="allow")
"""

POLICIES = {"every-all": "all", "every-latest": "latest", "every-none": "none", "every-second": "all"}
PERIODS = {"every-second": 1}
"""Seconds between fire times, where not 2. every-second gives a hand-over a launch to make
within a second of taking over, so that the time to it measures the hand-over."""

CLEAN_HANDOVER = 2.0
"""The issue's bound: after SIGTERM of the leader, a standby launches within 2 s."""
SKIP_REASONS = {
    "all": (),
    "latest": ("catchup=latest", "concurrency=forbid"),
    "none": ("catchup=none", "concurrency=forbid"),
}
"""What a skipped fire time's reason must say, per job policy (every-all, catchup=all with
concurrency=allow, skips none; the others forbid overlapping runs, the default)."""

failovers: dict[str, list[float]] = {}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("ha-faults")
    c = Cluster(root, JOBS, size=3, agents=2)
    with c.running():
        yield c
    if failovers:
        print("\nrecovery after each fault (fault to the first launch by the leader after it):")
        for fault, times in failovers.items():
            print(f"  {fault:28s} " + " ".join(f"{t:.2f}s" for t in times))


@pytest.fixture(scope="module")
def store(cluster):
    s = Store(cluster.db)
    yield s
    s.close()


def recovered(cluster: Cluster, fault: str, since: float, old_stream: str | None = None) -> float:
    """Wait for a subscribed leader that launches again; record and return the recovery time.

    With ``old_stream``, only launches over another event stream count: those of a new
    leader, or of the same one subscribed again.
    """
    cluster.leader(timeout=90)
    calls = wait_for(
        lambda: [c for c in cluster.launched_since(since) if c["stream_id"] != old_stream],
        60,
        0.1,
        what=f"a launch after {fault}",
    )
    took = calls[0]["time"] - since
    failovers.setdefault(fault, []).append(took)
    return took


def check_history(cluster: Cluster, store: Store) -> None:
    """Every fire time so far: one run, launched once by the master or skipped with its policy's reason."""
    # everything due until a few seconds ago must be settled by now
    until = datetime.now(UTC) - timedelta(seconds=4)
    # The master's calls first, then the store: every task is recorded before its ACCEPT is
    # sent, so each task read here has its run in the listing below (the other order races
    # with a launch made between the two reads).
    started = Counter(t for call in cluster.accepted() for t in call["launched"])
    runs, _ = store.list_runs(limit=100_000, newest_first=False)
    twice = sorted(t for t, n in started.items() if n > 1)
    assert not twice, f"the master started these tasks more than once: {twice}"
    known = {r.task_id for r in runs}
    rogue = sorted(set(started) - known)
    assert not rogue, f"the master started tasks no run in the store stands for: {rogue}"

    relaunched = {(r.job, r.scheduled_at, r.attempt - 1) for r in runs if r.trigger == RunTrigger.RELAUNCH}
    for job, policy in POLICIES.items():
        mine = [r for r in runs if r.job == job and r.scheduled_at <= until]
        assert mine, f"{job} never ran"
        identities = Counter((r.scheduled_at, r.attempt) for r in mine)
        assert max(identities.values()) == 1
        times = sorted({r.scheduled_at for r in mine})
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert all(g == PERIODS.get(job, 2) for g in gaps), f"{job}: fire times went unrecorded: gaps {gaps}"
        for r in mine:
            if r.state == RunState.SKIPPED:
                assert r.reason and any(word in r.reason for word in SKIP_REASONS[policy]), (
                    f"{r.task_id} skipped with a reason catchup={policy} does not give: {r.reason!r}"
                )
            elif r.state == RunState.LOST and (r.job, r.scheduled_at, r.attempt) in relaunched:
                # a launch the master never got (the leader went between recording and ACCEPT):
                # LOST "never started", and launched again under the next task id
                assert started[r.task_id] == 0 and "never started" in (r.reason or ""), r
            else:
                assert started[r.task_id] == 1, f"{r.task_id} is {r.state.value} but the master never started it"
                assert r.state in (
                    RunState.SUCCEEDED,
                    RunState.RUNNING,
                    RunState.STARTING,
                    RunState.LAUNCHED,
                    RunState.LOST,
                ), f"{r.task_id} ended {r.state.value}: {r.reason} {r.message}"
    # the 10-second job that runs for 6 s: each fire time has a run, retried when lost
    longs = [r for r in runs if r.job == "long" and r.scheduled_at <= until - timedelta(seconds=10)]
    for at in {r.scheduled_at for r in longs}:
        attempts = sorted((r for r in longs if r.scheduled_at == at), key=lambda r: r.attempt)
        assert [r.attempt for r in attempts] == list(range(len(attempts)))
        for r in attempts[:-1]:
            assert r.state == RunState.LOST, f"{r.task_id} was retried after {r.state.value}"


def test_steady_state_and_standbys(cluster, store):
    import requests

    leader = cluster.leader()
    standby = next(i for i in cluster.instances if i is not leader)
    assert standby.status()["leader_address"] == f"127.0.0.1:{leader.port}"
    r = requests.post(f"{standby.url}/api/v1/jobs/every-all/runs", allow_redirects=False, timeout=5)
    assert r.status_code == 307 and r.headers["location"].startswith(leader.url)
    # the FrameworkID is kept in ZooKeeper as well as in the database
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=cluster.zk.address)
    zk.start(timeout=10)
    try:
        kept, _ = zk.get(f"{cluster.zk_path}/framework_id")
    finally:
        zk.stop()
        zk.close()
    assert kept.decode() == store.get_framework_id() == cluster.master("/__local__/frameworks")[0]["id"]
    metrics = requests.get(f"{standby.url}/metrics", timeout=5)
    assert metrics.status_code == 200 and "moroccron_leader 0.0" in metrics.text
    wait_for(
        lambda: len(store.list_runs("every-all", states=[RunState.SUCCEEDED])[0]) >= 3,
        30,
        what="runs under the first leader",
    )
    check_history(cluster, store)
    assert_both_launch_paths(store, after_failover=False)


def test_a_second_serve_on_the_leaders_address_changes_nothing(cluster, store):
    """The same command line started again by mistake: it cannot bind, so it never contends."""
    import subprocess
    import sys

    leader = cluster.leader()
    before = leader.status()
    stream = cluster.stream_id()
    second = subprocess.run(
        [sys.executable, "-m", "moroccron.cli", *leader.args],
        cwd=cluster.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1 and "bind: address already in use" in second.stderr, second.stderr
    after = leader.status()
    assert after["leader"] and after["connected"] and after["epoch"] == before["epoch"] == store.current_epoch()
    assert cluster.stream_id() == stream and leader.proc.poll() is None


def assert_both_launch_paths(store: Store, *, after_failover: bool) -> None:
    """The harness covers runs prepared ahead of their second (created before it) and,
    once a leader has taken over, runs decided on it (the missed ones it catches up)."""
    runs, _ = store.list_runs(limit=100_000)
    launched = [r for r in runs if r.launched_at is not None and r.queued_at is not None]
    assert any(r.queued_at < r.scheduled_at for r in launched), "no run was prepared ahead"
    if after_failover:
        assert any(r.queued_at >= r.scheduled_at for r in launched), "every run was prepared ahead"


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_sigkill_of_the_leader(cluster, store, round_):
    leader = cluster.leader()
    old_stream = cluster.stream_id()
    killed = time.time()
    cluster.signal(leader, signal.SIGKILL)
    took = recovered(cluster, "SIGKILL leader", killed, old_stream)
    assert cluster.leader() is not leader
    assert took < SESSION_TIMEOUT + 10
    time.sleep(3)
    check_history(cluster, store)
    assert_both_launch_paths(store, after_failover=True)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_sigterm_of_the_leader(cluster, store, round_):
    """What systemctl stop/restart sends: a clean stop, exit 0, and a standby elected at once."""
    leader = cluster.leader()
    old_stream = cluster.stream_id()
    log = leader.log
    before_the_next_second()  # every-second falls due as a standby takes over
    sent = time.time()
    cluster.signal(leader, signal.SIGTERM)
    took = recovered(cluster, "SIGTERM leader", sent, old_stream)
    _, code = wait_for(
        lambda: next((e for e in leader.exits if e[0] >= sent), None), 30, 0.05, what="the old leader to exit"
    )
    text = log.read_text()
    assert code == 0, text[-3000:]
    for line in (
        "SIGTERM received: stopping cleanly",
        "Mesos scheduler client stopped",
        "leadership released",
        "stopped in",
    ):
        assert line in text, f"{line!r} not logged:\n{text[-3000:]}"
    assert "leadership lost" not in text, "a clean stop is not a loss of leadership"
    assert cluster.leader() is not leader
    assert took < CLEAN_HANDOVER, f"a standby launched {took:.2f}s after the leader's SIGTERM"
    time.sleep(3)
    check_history(cluster, store)
    assert_both_launch_paths(store, after_failover=True)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_paused_leader_resumes_and_launches_nothing(cluster, store, round_):
    """SIGSTOP the leader past its session; another takes over; SIGCONT: the old one is fenced."""
    old = cluster.leader()
    old_stream = cluster.stream_id()
    old_log = old.log
    paused = time.time()
    cluster.signal(old, signal.SIGSTOP)
    time.sleep(0.2)
    offset = old_log.stat().st_size  # everything past here, the old leader wrote after it resumed
    try:
        recovered(cluster, "SIGSTOP leader", paused, old_stream)
        assert cluster.stream_id() != old_stream
        time.sleep(2)  # let fire times pass that the paused process believes are its own
    finally:
        resumed = time.time()
        cluster.signal(old, signal.SIGCONT)
    wait_for(lambda: old.exits and old.exits[-1][0] >= resumed, 30, what="the resumed old leader to step down")
    assert old.exits[-1][1] == 1, "a deposed leader exits 1 so that its supervisor restarts it"
    after_resume = old_log.read_bytes()[offset:].decode(errors="replace")
    assert "leadership lost" in after_resume, after_resume[-3000:]
    assert "launched " not in after_resume, after_resume[-3000:]
    late = [c for c in cluster.accepted() if c["stream_id"] == old_stream and c["time"] >= resumed]
    assert not late, f"the master took ACCEPTs from the old leader after it resumed: {late}"
    time.sleep(2)
    check_history(cluster, store)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_zookeeper_session_expiry_of_the_leader(cluster, store, round_):
    """Cut the leader off ZooKeeper until its session expires there."""
    old = cluster.leader()
    old_stream = cluster.stream_id()
    cut = time.time()
    old.proxy.cut()
    try:
        recovered(cluster, "ZooKeeper session expiry", cut, old_stream)
        wait_for(lambda: old.exits and old.exits[-1][0] >= cut, 30, what="the cut-off leader to step down")
        time.sleep(SESSION_TIMEOUT)
    finally:
        old.proxy.heal()
    assert old.exits[-1][1] == 1
    time.sleep(2)
    check_history(cluster, store)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_zookeeper_server_restart(cluster, store, round_):
    cluster.leader()
    old_stream = cluster.stream_id()
    stopped = time.time()
    cluster.zk.restart()
    recovered(cluster, "ZooKeeper restart", stopped, old_stream)
    time.sleep(3)
    check_history(cluster, store)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_postgresql_restart(cluster, store, round_):
    """The leader waits for the database and carries on: it neither crashes nor loses leadership."""
    leader = cluster.leader()
    pid = leader.proc.pid
    exits = sum(len(i.exits) for i in cluster.instances)
    stopped = time.time()
    cluster.pg.stop()
    time.sleep(3)  # fire times fall due while the database is down
    cluster.pg.start()
    recovered(cluster, "PostgreSQL restart", stopped + 3)
    assert cluster.leader() is leader and leader.proc.pid == pid, "the leader must wait, not crash"
    assert sum(len(i.exits) for i in cluster.instances) == exits, "no instance may exit"
    time.sleep(3)
    check_history(cluster, store)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_mesos_master_restart(cluster, store, round_):
    """A master failover: streams dropped, offers gone; the framework re-subscribes and reconciles."""
    leader = cluster.leader()
    old_stream = cluster.stream_id()
    restarted = time.time()
    cluster.master_post("/__local__/restart")
    recovered(cluster, "Mesos master restart", restarted, old_stream)
    assert cluster.stream_id() != old_stream
    assert cluster.leader() is leader
    time.sleep(3)
    check_history(cluster, store)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_agent_lost_mid_run(cluster, store, round_):
    """Kill the agent under a running 6-second task: the run is LOST and its retry runs elsewhere."""

    def running_long():
        tasks = [
            t
            for t in cluster.master("/__local__/tasks")
            if t["active"] and t["task_id"].startswith("long.") and t["state"] == "TASK_RUNNING"
        ]
        return tasks[0] if tasks else None

    task = wait_for(running_long, 30, 0.2, what="a running 'long' task")
    cluster.replace_agent(task["agent_id"])
    lost = wait_for(
        lambda: next(
            (
                r
                for r in store.list_runs("long", limit=50)[0]
                if r.task_id == task["task_id"] and r.state == RunState.LOST
            ),
            None,
        ),
        30,
        what="the run on the dead agent to be LOST",
    )
    retry = wait_for(
        lambda: next(
            (
                r
                for r in store.list_runs("long", limit=50)[0]
                if r.scheduled_at == lost.scheduled_at and r.attempt == lost.attempt + 1 and r.launched_at is not None
            ),
            None,
        ),
        30,
        what="its retry to launch",
    )
    assert retry.agent_id != task["agent_id"]
    time.sleep(2)
    check_history(cluster, store)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_framework_removed_by_the_master(cluster, store, round_):
    """The master removes the framework (an operator's teardown, an expired failover timeout):
    the leader registers a new one, the old one's runs end LOST and are retried, and no
    fire time is lost or launched twice."""
    leader = cluster.leader()
    old_id = store.get_framework_id()
    old_stream = cluster.stream_id()
    removed = time.time()
    cluster.master_post(f"/__local__/frameworks/{old_id}/remove")
    recovered(cluster, "framework removed", removed, old_stream)
    new_id = wait_for(
        lambda: (fid := store.get_framework_id()) not in (None, old_id) and fid, 30, what="the new FrameworkID stored"
    )
    assert [fw["id"] for fw in cluster.master("/__local__/frameworks")] == [new_id]
    assert cluster.leader() is leader, "a removal is no reason to change leader"
    status = leader.status()
    assert status["framework_removed"]["framework_id"] == old_id
    assert status["framework_removed"]["new_framework_id"] == new_id
    time.sleep(3)
    check_history(cluster, store)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_master_failover_with_agents_re_registering_late(cluster, store, round_):
    """A master failover after which the agents come back 15 s late: the new master says
    nothing about their tasks meanwhile. New runs still launch (on the agents once they are
    back), the runs in doubt are answered for later, nothing runs twice, no fire time is lost."""
    leader = cluster.leader()
    old_stream = cluster.stream_id()
    failed_over = time.time()
    cluster.fail_over_master(agent_reregister_delay=15.0)
    recovered(cluster, "master failover, agents late", failed_over, old_stream)
    assert cluster.leader() is leader
    wait_for(lambda: (leader.status() or {}).get("reconciling") == 0, 90, what="every task in doubt answered for")
    time.sleep(2)
    check_history(cluster, store)
    assert cluster.conflicts() == []


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_agent_back_after_its_tasks_were_reported_lost(cluster, store, round_):
    """A partition: the master reports the agent's tasks unreachable, then the agent comes
    back with them still running. No task id runs twice and the runs go on where they were."""

    def running_long():
        tasks = [
            t
            for t in cluster.master("/__local__/tasks")
            if t["active"] and t["task_id"].startswith("long.") and t["state"] == "TASK_RUNNING"
        ]
        return tasks[0] if tasks else None

    task = wait_for(running_long, 30, 0.2, what="a running 'long' task")
    cluster.partition_agent(task["agent_id"])
    wait_for(
        lambda: "unreachable" in (store.get_run_by_task_id(task["task_id"]).message or ""),
        90,  # generous: a clean-clone run on a loaded 2-core machine once needed more than 30 s
        what="the run marked unreachable",
    )
    time.sleep(4)  # scheduling goes on on the other agent meanwhile
    cluster.reconnect_agent(task["agent_id"])
    run = wait_for(
        lambda: (r := store.get_run_by_task_id(task["task_id"])).state.final and r,
        30,
        what="the task, back with its agent, to end",
    )
    assert run.state == RunState.SUCCEEDED, (run.state, run.reason)
    assert [r.attempt for r in store.list_runs("long", limit=200)[0] if r.scheduled_at == run.scheduled_at] == [0]
    assert cluster.conflicts() == []
    time.sleep(2)
    check_history(cluster, store)
