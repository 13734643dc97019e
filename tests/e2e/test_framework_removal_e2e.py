"""The master removes moroccron's framework: it registers a new one and goes on scheduling.

Over real HTTP against the local master, on SQLite and PostgreSQL. What a real master does
(apache/mesos src/master/master.cpp): it closes the removed framework's stream, kills its
tasks without telling it, and answers the next SUBSCRIBE with that FrameworkID with ERROR
"Framework has been removed". ``LocalMaster.remove_framework`` does the same.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from moroccron import Job
from moroccron.events import RunRequested
from moroccron.model import RunState
from tests.e2e.harness import Cluster, wait_for
from tests.receivers import Receiver

pytestmark = pytest.mark.slow

TICK = 2  # seconds between the fire times of the scheduled job


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def cluster(tmp_path, db_url, receiver):
    c = Cluster(
        tmp_path,
        agents=2,
        db_url=db_url,
        settings={"webhooks": {"ops": receiver.url}, "admin_contacts": ("webhook:ops",)},
    )
    yield c
    c.close()


def framework_notices(receiver: Receiver) -> list[dict]:
    return [b for b in receiver.bodies if b["event"] == "framework"]


def assert_every_fire_time_accounted(cluster: Cluster, job: str, until: datetime) -> int:
    """Each fire time of ``job`` from its first run to ``until`` has exactly one first
    attempt, which was launched (once) or recorded skipped with a reason. Returns how many."""
    runs = cluster.runs(job)
    firsts = [r for r in runs if r.attempt == 0]
    by_time = Counter(r.scheduled_at for r in firsts)
    assert max(by_time.values()) == 1, "one first attempt per fire time"
    start = min(by_time)
    expected = []
    at = start
    while at <= until:
        expected.append(at)
        at += timedelta(seconds=TICK)
    missing = [t for t in expected if t not in by_time]
    assert not missing, f"fire times with no run at all: {missing}"
    for run in firsts:
        if run.scheduled_at > until:
            continue
        if run.state == RunState.SKIPPED:
            assert run.reason, f"{run.task_id} skipped without a reason"
        else:
            assert run.launched_at is not None, f"{run.task_id} neither launched nor skipped: {run.state}"
    launched = Counter(t for call in cluster.master.accepted_calls for t in call["task_ids"])
    twice = [t for t, n in launched.items() if n > 1]
    assert not twice, f"task ids sent in more than one ACCEPT: {twice}"
    return len(expected)


def test_removal_mid_run_registers_a_new_framework_and_scheduling_goes_on(cluster, receiver, caplog):
    caplog.set_level(logging.INFO)
    cluster.add_job(Job(name="tick", command="true", schedule=f"*/{TICK} * * * * *", catchup="none"))
    cluster.add_job(Job(name="long", command="sleep 60", retries=2, retry_delay_seconds=0.5))
    sched = cluster.start_scheduler()
    old_id = sched.client.framework_id
    sched.submit(RunRequested("long"))
    wait_for(lambda: any(r.state == RunState.RUNNING for r in cluster.runs("long")), 20, what="long running")
    wait_for(
        lambda: len([r for r in cluster.runs("tick") if r.state == RunState.SUCCEEDED]) >= 2,
        30,
        what="two ticks before the removal",
    )

    removed_at = datetime.now(UTC)
    cluster.master.remove_framework(old_id)

    new_id = wait_for(
        lambda: (
            sched.client.connected and sched.client.framework_id not in (None, old_id) and sched.client.framework_id
        ),
        30,
        what="a new framework",
    )
    # the run the old framework had launched is LOST, with the reason, and retried in the new one
    first = wait_for(
        lambda: next((r for r in cluster.runs("long") if r.attempt == 0 and r.state.final), None),
        20,
        what="the old run settled",
    )
    assert first.state == RunState.LOST and old_id in first.reason and "removed" in first.reason
    retry = wait_for(
        lambda: next((r for r in cluster.runs("long") if r.attempt == 1 and r.state == RunState.RUNNING), None),
        20,
        what="the retry running",
    )
    assert retry.task_id != first.task_id
    assert any(
        t["task_id"] == retry.task_id and t["framework_id"] == new_id and t["active"] for t in cluster.master.tasks()
    )
    # scheduling goes on in the new framework
    after = wait_for(
        lambda: (
            (
                ticks := [
                    r
                    for r in cluster.runs("tick")
                    if r.state == RunState.SUCCEEDED and r.launched_at and r.launched_at > removed_at
                ]
            )[2:]
            and ticks
        ),
        30,
        what="three ticks in the new framework",
    )
    assert assert_every_fire_time_accounted(cluster, "tick", max(r.scheduled_at for r in after)) >= 5

    # the new id is stored (database), so a restart keeps the new framework
    assert cluster.store.get_framework_id() == new_id
    status = sched.status()
    assert status["framework_removed"]["framework_id"] == old_id
    assert status["framework_removed"]["new_framework_id"] == new_id
    assert status["framework_error"] is None and sched.readiness() == []
    # the decision, logged once at ERROR with both ids
    decisions = [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR and old_id in r.getMessage() and new_id in r.getMessage()
    ]
    assert len(decisions) == 1, [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    # the admin contacts are told, through the outbox
    [notice] = wait_for(lambda: framework_notices(receiver), 20, what="the admin notice")
    assert notice["details"]["framework"]["kind"] == "removed"
    assert notice["details"]["framework"]["framework_id"] == old_id
    assert "REMOVED" in notice["subject"] and old_id in notice["text"]
    assert [i.state for i in cluster.store.notifications() if i.event == "framework"] == ["delivered"]


def test_restart_after_removal_does_not_loop_on_the_dead_framework_id(cluster, receiver):
    cluster.add_job(Job(name="tick", command="true", schedule=f"*/{TICK} * * * * *", catchup="none"))
    cluster.add_job(Job(name="long", command="sleep 60"))
    sched = cluster.start_scheduler()
    old_id = sched.client.framework_id
    sched.submit(RunRequested("long"))
    wait_for(lambda: any(r.state == RunState.RUNNING for r in cluster.runs("long")), 20, what="long running")
    cluster.stop_scheduler()
    # While moroccron is down, an operator tears the framework down (or its failover timeout ends).
    cluster.master.remove_framework(old_id)
    assert cluster.store.get_framework_id() == old_id

    sched = cluster.start_scheduler()  # subscribes with the stored, dead, id
    new_id = sched.client.framework_id
    assert new_id and new_id != old_id
    wait_for(lambda: cluster.store.get_framework_id() == new_id, 10, what="the new id stored")
    [long_run] = wait_for(lambda: [r for r in cluster.runs("long") if r.state.final], 20, what="long settled")
    assert long_run.state == RunState.LOST and old_id in long_run.reason
    restarted_at = datetime.now(UTC)
    wait_for(
        lambda: [r for r in cluster.runs("tick") if r.launched_at and r.launched_at > restarted_at],
        20,
        what="a tick in the new framework",
    )
    wait_for(lambda: framework_notices(receiver), 20, what="the admin notice")

    # and once more: the stored id is the new one, which the master knows
    cluster.stop_scheduler()
    sched = cluster.start_scheduler()
    assert sched.client.framework_id == new_id
    assert sched.status()["framework_removed"] is None
    assert len(framework_notices(receiver)) == 1
    assert [fw["id"] for fw in cluster.master.frameworks()] == [new_id]
