"""End to end over real HTTP: scheduler -> local Mesos master -> real processes -> store."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from moroccron import Job
from moroccron.errors import StaleEpoch
from moroccron.events import RunRequested
from moroccron.hooks import hookimpl
from moroccron.model import RunState
from tests.e2e.harness import Cluster, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, agents=2)
    yield c
    c.close()


def test_six_field_cron_runs_three_times_with_skew(cluster):
    cluster.add_job(Job(name="tick", command="echo tick", schedule="*/2 * * * * *", catchup="none"))
    cluster.start_scheduler()
    runs = cluster.finished("tick", 3, timeout=20)
    for run in runs[:3]:
        assert run.state == RunState.SUCCEEDED and run.exit_status == 0
        assert run.scheduled_at.second % 2 == 0 and run.scheduled_at.microsecond == 0
        assert run.skew is not None and run.skew >= 0
        assert run.launched_at and run.started_at and run.finished_at
        assert run.agent_id in ("agent-0", "agent-1") and run.hostname
        assert run.launched_at <= run.started_at <= run.finished_at
    scheduled = [r.scheduled_at for r in runs]
    assert len(set(scheduled)) == len(scheduled)


def test_fifty_jobs_due_together_are_packed_into_few_offers(cluster):
    for i in range(50):
        cluster.add_job(Job(name=f"burst-{i:02d}", command="true", schedule="*/5 * * * * *", catchup="none"))
    cluster.start_scheduler()
    for i in range(50):
        cluster.finished(f"burst-{i:02d}", 1, timeout=30)
    accepts = [c for c in cluster.master.accepted_calls if any(t.startswith("burst-") for t in c["task_ids"])]
    by_second: dict[str, tuple[set, set]] = {}
    for index, call in enumerate(accepts):
        for task_id in call["task_ids"]:
            tasks, calls = by_second.setdefault(task_id.split(".")[1], (set(), set()))
            tasks.add(task_id)
            calls.add(index)
    full = [calls for tasks, calls in by_second.values() if len(tasks) == 50]
    assert full, "all fifty due in the same second were launched"
    assert len(full[0]) <= 4, "several tasks per offer: a handful of ACCEPTs, not fifty"


def test_failing_command_records_exit_status(cluster):
    cluster.add_job(Job(name="fails", command="echo oops >&2; exit 3"))
    cluster.start_scheduler()
    cluster.scheduler.submit(RunRequested("fails"))
    run = cluster.finished("fails")[0]
    assert run.state == RunState.FAILED and run.exit_status == 3
    assert "3" in (run.message or "")


def test_timeout_kills_the_task(cluster):
    cluster.add_job(Job(name="slow", command="sleep 60", timeout_seconds=1.5))
    cluster.start_scheduler()
    cluster.scheduler.submit(RunRequested("slow"))
    run = cluster.finished("slow", timeout=20)[0]
    assert run.state == RunState.FAILED and run.reason.startswith("timeout")
    assert (run.finished_at - run.launched_at).total_seconds() < 20


def test_agent_lost_mid_run_is_retried(cluster):
    cluster.add_job(Job(name="long", command="sleep 3", retries=2, retry_delay_seconds=0.5))
    cluster.start_scheduler()
    cluster.scheduler.submit(RunRequested("long"))
    first = wait_for(lambda: [r for r in cluster.runs("long") if r.state == RunState.RUNNING], what="running")[0]
    cluster.master.kill_agent(first.agent_id)
    runs = wait_for(
        lambda: [r for r in cluster.runs("long") if r.attempt == 1 and r.state == RunState.SUCCEEDED],
        timeout=30,
        what="retry to succeed",
    )
    lost = [r for r in cluster.runs("long") if r.attempt == 0]
    assert lost[0].state == RunState.LOST
    assert runs[0].agent_id != first.agent_id
    assert runs[0].scheduled_at == first.scheduled_at


def test_scheduler_restart_mid_run_keeps_framework_and_neither_loses_nor_duplicates(cluster):
    cluster.add_job(Job(name="steady", command="sleep 2", schedule="*/4 * * * * *", catchup="all"))
    cluster.start_scheduler()
    fw = wait_for(lambda: cluster.store.get_framework_id(), what="framework id")
    wait_for(lambda: [r for r in cluster.runs("steady") if r.state == RunState.RUNNING], what="a running run")
    cluster.stop_scheduler()
    time.sleep(1.0)
    cluster.start_scheduler()
    assert cluster.scheduler.client.framework_id == fw
    assert [f["id"] for f in cluster.master.frameworks()] == [fw]
    cluster.finished("steady", 3, timeout=30)
    cluster.stop_scheduler()
    runs = cluster.runs("steady")
    counts = Counter((r.scheduled_at, r.attempt) for r in runs)
    assert max(counts.values()) == 1
    launched = [t for c in cluster.master.accepted_calls for t in c["task_ids"]]
    assert len(launched) == len(set(launched)), "a task launched twice"
    # every fire time up to the last one recorded has a run (run, or skipped with a reason)
    first, last = runs[0].scheduled_at, runs[-1].scheduled_at
    expected = int((last - first).total_seconds() // 4) + 1
    assert len({r.scheduled_at for r in runs}) == expected
    assert all(r.reason for r in runs if r.state == RunState.SKIPPED)


def test_broken_event_stream_reconnects(cluster):
    cluster.add_job(Job(name="after-drop", command="echo ok"))
    sched = cluster.start_scheduler()
    fw = sched.client.framework_id
    cluster.master.drop_streams()
    wait_for(lambda: not sched.client.connected or True, what="disconnect noticed")
    wait_for(lambda: sched.client.connected, what="re-subscription")
    assert sched.client.framework_id == fw
    sched.submit(RunRequested("after-drop"))
    assert cluster.finished("after-drop")[0].state == RunState.SUCCEEDED


def test_a_leader_whose_epoch_was_taken_stops_and_says_so(cluster):
    """Another instance took leadership in the database: the next commit is refused
    (StaleEpoch), the scheduler stops launching and tells its owner, which exits."""
    told: list[str] = []
    sched = cluster.start_scheduler()
    sched.on_fenced = told.append
    cluster.add_job(Job(name="tick", command="true", schedule="* * * * * *"))
    wait_for(lambda: cluster.runs("tick"), 10, what="a first run")
    cluster.store.take_leadership("usurper", "10.0.0.9:4400")
    wait_for(lambda: told, 10, what="the scheduler to learn it was fenced")
    assert "leadership epoch" in told[0]
    with pytest.raises(StaleEpoch):
        sched.submit(RunRequested("tick"), timeout=5)
    launched = len(cluster.master.accepted_calls)
    time.sleep(2)
    assert len(cluster.master.accepted_calls) == launched, "a fenced scheduler launched again"


def test_jobs_written_to_the_database_by_someone_else_are_picked_up(tmp_path):
    """`moroccron jobs apply` writes the database directly: the running leader notices."""
    c = Cluster(tmp_path, agents=1, settings={"job_poll_seconds": 0.5})
    try:
        c.start_scheduler()
        c.store.put_job(Job(name="behind-its-back", command="true", schedule="* * * * * *"))
        wait_for(
            lambda: [r for r in c.runs("behind-its-back") if r.state == RunState.SUCCEEDED],
            15,
            what="the job written to the database to run",
        )
        c.store.delete_job("behind-its-back")
        wait_for(lambda: "behind-its-back" not in c.scheduler.engine.jobs, 10, what="the deleted job to go")
    finally:
        c.close()


class _Leadership:
    def __init__(self, kept):
        self.kept = kept
        self.saved = []

    def framework_id(self):
        return self.kept

    def set_framework_id(self, framework_id):
        self.saved.append(framework_id)


def test_framework_id_comes_from_zookeeper_when_the_database_has_none(cluster):
    """A database restored from before the first subscription must not orphan the tasks."""
    first = cluster.start_scheduler()
    fid = first.client.framework_id
    cluster.stop_scheduler()
    cluster.store.set_framework_id(None)
    zk = _Leadership(fid)
    cluster.scheduler = None
    from moroccron.service import Scheduler

    sched = Scheduler(first.settings, cluster.store, first.plugins, master=cluster.master.address, leadership=zk)
    cluster.scheduler = sched
    sched.start()
    wait_for(lambda: sched.client.connected, what="subscription")
    assert sched.client.framework_id == fid and cluster.store.get_framework_id() == fid
    assert zk.saved and zk.saved[-1] == fid, "the leader keeps it in ZooKeeper on subscribing"


class LaunchRecorder:
    def __init__(self):
        self.launched = []

    @hookimpl
    def moroccron_task_launched(self, job, run):
        self.launched.append((job.name, run))


def test_runs_prepared_ahead_launch_on_their_second_once_with_their_hook(tmp_path):
    hooks = LaunchRecorder()
    c = Cluster(tmp_path, agents=2, plugins=[hooks])
    try:
        c.add_job(Job(name="tick", command="true", schedule="*/3 * * * * *", catchup="none"))
        c.start_scheduler()
        runs = c.finished("tick", 3, timeout=30)
        prepared = [r for r in runs if r.queued_at < r.scheduled_at]
        assert prepared, "no run was created ahead of its second"
        for run in prepared:
            assert run.state == RunState.SUCCEEDED and run.launched_at is not None
            assert 0 <= run.skew < 1.0, f"{run.task_id} launched {run.skew:.3f} s after its second"
        called = Counter(run.task_id for name, run in hooks.launched if name == "tick")
        for run in runs:
            assert called[run.task_id] == 1, f"moroccron_task_launched for {run.task_id}: {called[run.task_id]}"
        assert all(run.state == RunState.LAUNCHED and run.launched_at for _, run in hooks.launched)
        started = Counter(t for call in c.master.accepted_calls for t in call["launched"])
        assert all(started[r.task_id] == 1 for r in runs)
    finally:
        c.close()
