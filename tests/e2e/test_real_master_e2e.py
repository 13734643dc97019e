"""moroccron against a local master as strict and as unkind as a real one.

Each test drives one way a real Mesos cluster differs from a kind one (a failover whose
agents come back late, a partition, an ACCEPT lost on the wire, task shapes each
containerizer reads its own way, reservations, users, maintenance, offer churn) and, where
scheduling must go on through it, counts that every fire time of a steady job was either
launched exactly once or recorded skipped with a reason.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from moroccron import Job
from moroccron.events import RunRequested
from moroccron.mesos.local import AgentSpec
from moroccron.model import RunState, RunTrigger
from tests.e2e.harness import Cluster, wait_for

pytestmark = pytest.mark.slow

SMALL = {"cpus": 0.05, "mem": 16}


def steady(name: str = "steady") -> Job:
    return Job(name=name, command="true", schedule="*/2 * * * * *", catchup="all", concurrency="allow", resources=SMALL)


def every_fire_once(c: Cluster, job: str, since: datetime, until: datetime) -> int:
    """Every even second in [since, until] has a run of ``job`` launched once, or skipped with a reason."""
    runs = c.runs(job)
    sent = Counter(t for call in list(c.master.accepted_calls) for t in call["task_ids"] if t.startswith(job + "."))
    twice = [t for t, n in sent.items() if n > 1]
    assert not twice, f"task ids sent twice: {twice}"
    by_second: dict[datetime, list] = {}
    for r in runs:
        by_second.setdefault(r.scheduled_at, []).append(r)
    t, checked = since.replace(microsecond=0), 0
    while t <= until:
        if t.second % 2 == 0:
            found = by_second.get(t, [])
            assert found, f"{job}: no run for {t:%H:%M:%S}"
            launched = [r for r in found if r.launched_at is not None]
            skipped = [r for r in found if r.state == RunState.SKIPPED and r.reason]
            assert launched or skipped, f"{job} at {t:%H:%M:%S}: {[(r.state, r.reason) for r in found]}"
            checked += 1
        t += timedelta(seconds=1)
    return checked


def now() -> datetime:
    return datetime.now(UTC)


def running(c: Cluster, job: str) -> list:
    return [r for r in c.runs(job) if r.state == RunState.RUNNING]


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, agents=2)
    yield c
    c.close()


def test_a_master_failover_with_late_agents_holds_up_only_the_runs_in_doubt(cluster):
    c = cluster
    c.add_job(steady())
    c.add_job(Job(name="long", command="sleep 600", resources=SMALL))
    c.start_scheduler()
    c.scheduler.submit(RunRequested("long"))
    (long_run,) = wait_for(lambda: running(c, "long"), 30, what="long running")
    late = long_run.agent_id
    # the new master hears from the agent running "long" only 20 s later; until then it
    # says nothing at all about that task
    c.master.restart_master(agent_delays={late: 20.0})
    since = now() + timedelta(seconds=4)
    wait_for(lambda: now() >= since + timedelta(seconds=12), 40, what="twelve seconds of failover window")
    assert c.store.get_run_by_task_id(long_run.task_id).state == RunState.RUNNING, "not declared lost meanwhile"
    checked = every_fire_once(c, "steady", since, since + timedelta(seconds=10))
    assert checked >= 5, "the steady job ran through the window"
    wait_for(lambda: c.scheduler.status()["reconciling"] == 0, 60, what="the late agent's task answered for")
    assert c.store.get_run_by_task_id(long_run.task_id).state == RunState.RUNNING
    assert len(c.runs("long")) == 1


def test_a_partitioned_agent_that_comes_back_keeps_its_task_and_nothing_runs_twice(cluster):
    c = cluster
    c.add_job(steady())
    c.add_job(Job(name="long", command="sleep 600", retries=2, retry_delay_seconds=1, resources=SMALL))
    c.start_scheduler()
    c.scheduler.submit(RunRequested("long"))
    (long_run,) = wait_for(lambda: running(c, "long"), 30, what="long running")
    c.master.partition_agent(long_run.agent_id)
    wait_for(
        lambda: "unreachable" in (c.store.get_run_by_task_id(long_run.task_id).message or ""),
        30,
        what="TASK_UNREACHABLE recorded",
    )
    since = now() + timedelta(seconds=3)
    wait_for(lambda: now() >= since + timedelta(seconds=8), 30, what="eight seconds of partition")
    c.master.reconnect_agent(long_run.agent_id)
    wait_for(
        lambda: "unreachable" not in (c.store.get_run_by_task_id(long_run.task_id).message or "x"),
        30,
        what="the task heard of again",
    )
    every_fire_once(c, "steady", since, since + timedelta(seconds=6))
    assert c.store.get_run_by_task_id(long_run.task_id).state == RunState.RUNNING
    assert len(c.runs("long")) == 1, "no retry while the agent was away"
    assert c.master.task_id_conflicts() == []


@pytest.mark.parametrize("mode", ["after", "before"])
def test_an_accept_lost_on_the_wire_is_reconciled_at_once_and_launched_once(cluster, mode):
    c = cluster
    c.add_job(steady())
    c.add_job(Job(name="once", command="sleep 2", resources=SMALL))
    c.start_scheduler()
    wait_for(lambda: c.runs("steady"), 30, what="steady running")
    since = now() + timedelta(seconds=1)
    c.master.fail_calls("ACCEPT", 1, mode)  # "after": taken, then the connection cut; "before": never taken
    c.scheduler.submit(RunRequested("once"))
    done = wait_for(lambda: [r for r in c.runs("once") if r.state == RunState.SUCCEEDED], 60, what="the run done, once")
    runs = c.runs("once")
    if mode == "after":
        assert len(runs) == 1 and done[0].attempt == 0, "the master had it: found by reconciliation"
    else:
        assert [r.trigger for r in runs] == [RunTrigger.MANUAL, RunTrigger.RELAUNCH]
        assert runs[0].state == RunState.LOST and "relaunched as" in runs[0].reason
    started = [t for t in c.master.tasks() if t["task_id"].startswith("once.")]
    assert len(started) == 1, "one task ran"
    every_fire_once(c, "steady", since, now() - timedelta(seconds=2))


def test_every_task_shape_is_accepted_and_run_as_its_containerizer_reads_it(tmp_path):
    # busybox has no ENTRYPOINT (only CMD ["sh"]); "hello" is an image whose ENTRYPOINT prints
    c = Cluster(
        tmp_path,
        agents=1,
        images={"busybox:1.36": {"cmd": ["sh"]}, "hello:1": {"entrypoint": ["/bin/echo"], "cmd": ["from-image"]}},
    )
    try:
        shapes = {
            "mesos-shell": Job(name="mesos-shell", command="echo hi", arguments=["a b"]),
            "mesos-exec": Job(name="mesos-exec", command="/bin/echo", shell=False, arguments=["hello"]),
            "docker-exec": Job(
                name="docker-exec",
                command="/bin/echo",
                shell=False,
                arguments=["hello"],
                container={"type": "docker", "image": "busybox:1.36"},
            ),
            "docker-shell": Job(
                name="docker-shell", command="echo hi", container={"type": "docker", "image": "busybox:1.36"}
            ),
            "image-only": Job(name="image-only", container={"type": "docker", "image": "hello:1"}),
        }
        for job in shapes.values():
            c.add_job(job)
        c.start_scheduler()
        for name in shapes:
            c.scheduler.submit(RunRequested(name))
        for name in shapes:
            c.finished(name, 1, timeout=60)
        for name in shapes:
            (run,) = c.runs(name)
            assert run.state == RunState.SUCCEEDED, (name, run.reason, run.message)
        plans = {t["task_id"].split(".")[0]: t["launch"] for t in c.master.tasks() if t["launch"]}
        assert plans["mesos-exec"]["argv"] == ["/bin/echo", "hello"]
        assert plans["docker-exec"]["argv"] == ["/bin/echo", "hello"], "the program once, not twice"
        assert plans["image-only"]["argv"] == ["/bin/echo", "from-image"], "the image's entrypoint and cmd run"
        assert plans["docker-shell"]["argv"][:2] == ["/bin/sh", "-c"]
    finally:
        c.close()


def test_jobs_bigger_than_the_unreserved_pool_use_the_reservation_without_errors(tmp_path):
    c = Cluster(tmp_path, agents=0, settings={"role": "batch"})
    try:
        c.master.add_agent(
            AgentSpec(
                id="r1", hostname="r1.local", cpus=4.0, mem=4096.0, reserved={"batch": {"cpus": 3.0, "mem": 3072.0}}
            )
        )
        for i in range(3):
            c.add_job(Job(name=f"big-{i}", command="sleep 1", resources={"cpus": 1.0, "mem": 900}))
        c.start_scheduler()
        for i in range(3):
            c.scheduler.submit(RunRequested(f"big-{i}"))
        for i in range(3):
            (run,) = c.finished(f"big-{i}", 1, timeout=60)
            assert run.state == RunState.SUCCEEDED, (run.reason, run.message)
    finally:
        c.close()


def test_a_jobs_user_runs_its_task_and_the_framework_user_the_rest(tmp_path):
    c = Cluster(tmp_path, agents=1, settings={"framework_user": "root"})
    try:
        c.add_job(Job(name="as-nobody", command="id -un", user="nobody"))
        c.add_job(Job(name="as-framework", command="id -un"))
        c.start_scheduler()
        for name in ("as-nobody", "as-framework"):
            c.scheduler.submit(RunRequested(name))
        outputs = {}
        for name in ("as-nobody", "as-framework"):
            (run,) = c.finished(name, 1, timeout=60)
            assert run.state == RunState.SUCCEEDED, (run.reason, run.message)
            task = next(t for t in c.master.tasks() if t["task_id"] == run.task_id)
            with open(f"{task['directory']}/stdout") as out:
                outputs[name] = out.read().strip()
        assert outputs == {"as-nobody": "nobody", "as-framework": "root"}
    finally:
        c.close()


def test_a_job_with_a_timeout_keeps_off_an_agent_about_to_go_into_maintenance(tmp_path):
    c = Cluster(tmp_path, agents=2)
    try:
        c.master.set_maintenance("agent-0", time.time() + 300, 3600)
        for i in range(4):
            c.add_job(Job(name=f"t-{i}", command="true", timeout_seconds=3600, resources=SMALL))
            c.add_job(Job(name=f"u-{i}", command="true", resources=SMALL))
        c.start_scheduler()
        for i in range(4):
            c.scheduler.submit(RunRequested(f"t-{i}"))
        for i in range(4):
            (run,) = c.finished(f"t-{i}", 1, timeout=60)
            assert run.agent_id == "agent-1", "an hour-long run would meet agent-0's window in 5 minutes"
    finally:
        c.close()


def test_a_job_every_few_seconds_does_not_churn_revive_and_suppress(cluster):
    c = cluster
    c.add_job(Job(name="five", command="true", schedule="*/5 * * * * *", catchup="none", resources=SMALL))
    c.start_scheduler()
    wait_for(lambda: c.runs("five"), 30, what="a first run")
    revives, suppresses = c.master.revive_count, c.master.suppress_count
    wait_for(lambda: len(c.runs("five")) >= 9, 90, what="eight more runs")
    # 40 s of a job every 5 s: offers stay on (declined until just before each run)
    assert c.master.revive_count - revives <= 1 and c.master.suppress_count - suppresses <= 1
    runs = c.runs("five")
    assert all(r.launched_at is not None for r in runs[:-1])


def test_the_scheduler_runs_jobs_through_a_master_that_speaks_only_tls_with_client_certificates(tmp_path):
    from tests.mesos.certs import make_pki

    ca, server, client = make_pki(tmp_path / "pki")
    c = Cluster(
        tmp_path,
        agents=1,
        tls_cert=server.cert,
        tls_key=server.key,
        tls_client_ca=ca.cert,
        settings={
            "mesos_ca_file": str(ca.cert),
            "mesos_client_cert": str(client.cert),
            "mesos_client_key": str(client.key),
        },
    )
    try:
        assert c.master.url.startswith("https://")
        c.add_job(Job(name="over-tls", command="echo secure", resources=SMALL))
        sched = c.start_scheduler()
        assert sched.client.scheme == "https"
        sched.submit(RunRequested("over-tls"))
        (run,) = c.finished("over-tls", 1, timeout=60)
        assert run.state == RunState.SUCCEEDED
    finally:
        c.close()


def test_a_run_the_master_forgot_is_found_at_start_and_retried(tmp_path):
    from moroccron.model import Run

    c = Cluster(tmp_path, agents=1)
    try:
        c.add_job(Job(name="forgotten", command="sleep 1", retries=1, retry_delay_seconds=0.5, resources=SMALL))
        # what a run looks like when its leader recorded the launch and the master then lost
        # the task without a word (an agent wiped clean, a lost registry)
        at = now().replace(microsecond=0) - timedelta(seconds=30)
        c.store.create_run(
            Run(
                job="forgotten",
                scheduled_at=at,
                state=RunState.RUNNING,
                queued_at=at,
                launched_at=at,
                started_at=at,
                agent_id="agent-0",
                hostname="agent0.local",
            )
        )
        c.start_scheduler()
        wait_for(lambda: c.runs("forgotten")[0].state.final, 60, what="the forgotten run settled")
        first = c.runs("forgotten")[0]
        assert first.state == RunState.LOST, (first.state, first.reason)
        retry = wait_for(
            lambda: [r for r in c.runs("forgotten") if r.attempt == 1 and r.state == RunState.SUCCEEDED],
            60,
            what="its retry to run",
        )
        assert retry[0].trigger == RunTrigger.RETRY
    finally:
        c.close()


def test_a_launch_lost_with_its_first_reconciliations_is_found_by_a_later_one_and_relaunched(tmp_path):
    c = Cluster(tmp_path, agents=1, settings={"reconcile_interval_seconds": 10})
    try:
        c.add_job(Job(name="lost-twice", command="sleep 1", resources=SMALL))
        sched = c.start_scheduler()
        # the ACCEPT never arrives, and neither do the next two reconciliations
        c.master.fail_calls("ACCEPT", 1, "before")
        c.master.fail_calls("RECONCILE", 2, "before")
        sched.submit(RunRequested("lost-twice"))
        done = wait_for(
            lambda: [r for r in c.runs("lost-twice") if r.state == RunState.SUCCEEDED],
            90,
            what="the run, relaunched, done",
        )
        runs = c.runs("lost-twice")
        assert runs[0].state == RunState.LOST and "relaunched as" in runs[0].reason
        assert done[0].trigger == RunTrigger.RELAUNCH
        assert [t["task_id"] for t in c.master.tasks() if t["task_id"].startswith("lost-twice.")] == [done[0].task_id]
    finally:
        c.close()
