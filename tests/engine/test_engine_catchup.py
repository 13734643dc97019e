"""Catch-up in the engine: ``catchup=all`` runs every missed time, one after another under
``concurrency=forbid``; the deadline narrows the missed times before the cap.
"""

from datetime import timedelta

from moroccron import Job
from moroccron.events import JobPut, KillRequested
from moroccron.model import RunState, RunTrigger
from tests.engine.helpers import T0, Sim

MISSED = [T0 - timedelta(minutes=m) for m in (4, 3, 2, 1, 0)]  # five per-minute fires up to T0


def job(**kw) -> Job:
    kw.setdefault("catchup", "all")
    return Job(name="c", command="x", schedule="* * * * *", **kw)


def downtime(sim_job: Job, **kw) -> Sim:
    """The leader was down from T0 - 5 min (the last fire it scheduled) to T0 + 30 s."""
    return Sim([sim_job], last_scheduled={"c": T0 - timedelta(minutes=5)}, now=T0 + timedelta(seconds=30), **kw)


def catchup_runs(sim: Sim):
    return [r for r in sim.runs("c") if r.trigger == RunTrigger.CATCHUP]


def test_all_with_forbid_runs_every_missed_time_one_after_another_in_order():
    sim = downtime(job())
    runs = catchup_runs(sim)
    assert [r.scheduled_at for r in runs] == MISSED
    assert all(r.state == RunState.QUEUED for r in runs), "queued, not skipped"
    assert list(sim.engine.queue) == [runs[0].task_id], "only the oldest may launch"
    for i, run in enumerate(runs):
        sim.give_offers(3)
        assert sim.launched == [r.task_id for r in runs[: i + 1]], "one at a time, oldest first"
        sim.give_offers(3)
        assert len(sim.launched) == i + 1, "the next waits until this one has ended"
        sim.finish(run.task_id)
    assert [sim.saved[r.task_id].state for r in runs] == [RunState.SUCCEEDED] * 5
    assert [sim.saved[r.task_id].scheduled_at for r in runs] == MISSED, "each with its own scheduled time"


def test_a_regular_fire_while_the_backlog_drains_is_skipped_by_forbid():
    sim = downtime(job())
    sim.give_offers()
    sim.advance(30)  # T0 + 1 min fires while the first missed run is running
    regular = [r for r in sim.runs("c") if r.scheduled_at == T0 + timedelta(minutes=1)]
    assert regular[0].state == RunState.SKIPPED and "concurrency=forbid" in regular[0].reason
    assert [r.state for r in catchup_runs(sim)].count(RunState.QUEUED) == 4, "the backlog is kept"


def test_a_failed_missed_run_is_retried_before_the_next_missed_time():
    sim = downtime(job(retries=1, retry_delay_seconds=10))
    first = catchup_runs(sim)[0]
    sim.give_offers()
    sim.finish(first.task_id, ok=False)
    sim.give_offers()
    assert sim.launched == [first.task_id], "waits for the retry"
    sim.advance(10)
    sim.give_offers()
    retry = sim.launched[-1]
    assert retry.startswith(f"c.{int(MISSED[0].timestamp())}.1")
    sim.finish(retry)
    sim.give_offers()
    assert sim.launched[-1] == catchup_runs(sim)[1].task_id


def test_a_new_leader_continues_the_backlog_without_losing_or_repeating_one():
    sim = downtime(job())
    runs = catchup_runs(sim)
    sim.give_offers()
    sim.finish(runs[0].task_id)
    sim.give_offers()
    assert sim.launched == [runs[0].task_id, runs[1].task_id]
    sim.status(runs[1].task_id, "TASK_RUNNING")
    # the leader dies; a new one loads what was stored
    stored = [r for r in sim.saved.values() if not r.state.final]
    last = {"c": max(r.scheduled_at for r in sim.saved.values())}
    new = Sim([job()], last_scheduled=last, runs=stored, now=sim.now + timedelta(seconds=5))
    new.status(runs[1].task_id, "TASK_RUNNING", reason="REASON_RECONCILIATION")
    new.give_offers()
    assert new.launched == [], "the running one is still running"
    new.finish(runs[1].task_id)
    for run in runs[2:]:
        new.give_offers(3)
        assert new.launched[-1] == run.task_id
        new.give_offers(3)
        assert new.launched[-1] == run.task_id
        new.finish(run.task_id)
    assert new.launched == [r.task_id for r in runs[2:]]
    created = [r for r in new.runs("c") if r.task_id not in {x.task_id for x in runs}]
    assert all(r.state == RunState.SKIPPED for r in created), "no missed time created twice"


def test_a_new_leader_with_the_backlog_and_nothing_running_starts_the_oldest():
    sim = downtime(job())
    stored = [r for r in sim.saved.values() if not r.state.final]
    new = Sim([job()], last_scheduled={"c": T0}, runs=stored, now=sim.now + timedelta(seconds=5))
    assert list(new.engine.queue) == [catchup_runs(sim)[0].task_id]
    new.give_offers(3)
    assert new.launched == [catchup_runs(sim)[0].task_id]


def test_the_deadline_still_applies_while_a_missed_run_waits_its_turn():
    sim = downtime(job(starting_deadline_seconds=90))
    runs = catchup_runs(sim)
    # candidates: T0 - 1 min (90 s old) and T0; the three older are past the deadline
    assert [r.scheduled_at for r in runs if r.state == RunState.QUEUED] == MISSED[3:]
    assert all("starting_deadline_seconds=90" in r.reason for r in runs if r.state == RunState.SKIPPED)
    sim.give_offers()
    sim.status(runs[3].task_id, "TASK_RUNNING")
    sim.advance(60)  # T0 + 90 s: T0's run may still start...
    assert sim.saved[runs[4].task_id].state == RunState.QUEUED
    sim.advance(0.5)  # ...but not later
    assert sim.saved[runs[4].task_id].state == RunState.SKIPPED
    assert "starting_deadline_seconds=90" in sim.saved[runs[4].task_id].reason


def test_disabling_the_job_skips_the_missed_runs_still_waiting():
    sim = downtime(job())
    runs = catchup_runs(sim)
    sim.give_offers()
    sim.step(JobPut(job(disabled=True)))
    assert [sim.saved[r.task_id].state for r in runs[1:]] == [RunState.SKIPPED] * 4
    assert "disabled" in sim.saved[runs[1].task_id].reason
    assert sim.saved[runs[0].task_id].state == RunState.LAUNCHED


def test_killing_the_job_kills_the_waiting_ones_too():
    sim = downtime(job())
    sim.step(KillRequested("c"))
    assert {sim.saved[r.task_id].state for r in catchup_runs(sim)} == {RunState.KILLED}
    sim.give_offers()
    assert sim.launched == []


def test_all_with_allow_launches_every_missed_time_at_once():
    sim = downtime(job(concurrency="allow"))
    sim.give_offers()
    assert sorted(sim.launched) == sorted(r.task_id for r in catchup_runs(sim))
    assert len(sim.launched) == 5


def test_all_with_replace_leaves_only_the_newest():
    sim = downtime(job(concurrency="replace"))
    runs = catchup_runs(sim)
    assert [r.state for r in runs] == [RunState.SKIPPED] * 4 + [RunState.QUEUED]
    assert all("concurrency=replace" in r.reason for r in runs[:4])
    sim.give_offers()
    assert sim.launched == [runs[4].task_id]


def test_the_issue_example_50_missed_with_a_600s_deadline_in_the_engine():
    j = job(concurrency="allow", starting_deadline_seconds=600)
    sim = Sim([j], last_scheduled={"c": T0 - timedelta(minutes=50)}, now=T0)
    runs = catchup_runs(sim)
    assert len(runs) == 50
    queued = [r.scheduled_at for r in runs if r.state == RunState.QUEUED]
    assert queued == [T0 - timedelta(minutes=m) for m in range(10, -1, -1)]
    skipped = [r for r in runs if r.state == RunState.SKIPPED]
    assert len(skipped) == 39 and all("starting_deadline_seconds=600" in r.reason for r in skipped)


# ------------------------------------------------------------------ deadlines and timeouts, as documented


def test_the_deadline_counts_from_the_fire_time_for_every_attempt():
    from moroccron.events import RunRequested

    sim = Sim([Job(name="a", command="x", retries=2, retry_delay_seconds=20, starting_deadline_seconds=30)])
    sim.step(RunRequested("a"))
    sim.give_offers()
    first = sim.launched[0]
    sim.finish(first, ok=False)
    sim.advance(20)  # the retry is due 20 s after the fire time: within the deadline
    sim.give_offers()
    second = sim.launched[-1]
    assert second != first
    sim.finish(second, ok=False)
    sim.advance(40)  # the next retry comes 60 s after the fire time: past the deadline
    third = [r for r in sim.runs("a") if r.attempt == 2]
    assert third[0].state == RunState.SKIPPED and "starting_deadline_seconds=30" in third[0].reason


def test_a_timeout_is_a_failure_and_is_retried():
    from moroccron.events import RunRequested

    sim = Sim([Job(name="a", command="x", timeout_seconds=30, retries=1, retry_delay_seconds=1)])
    sim.step(RunRequested("a"))
    sim.give_offers()
    tid = sim.launched[0]
    sim.status(tid, "TASK_RUNNING")
    sim.advance(30)
    assert sim.killed == [tid]
    sim.status(tid, "TASK_KILLED")
    assert sim.saved[tid].state == RunState.FAILED and sim.saved[tid].reason.startswith("timeout")
    sim.advance(2)
    sim.give_offers()
    assert len(sim.launched) == 2 and sim.launched[1].endswith(".1")


def test_time_spent_disabled_is_not_missed():
    sim = Sim([job(disabled=True)], last_scheduled={"c": T0 - timedelta(minutes=10)}, now=T0 + timedelta(seconds=30))
    assert catchup_runs(sim) == []
    sim.step(JobPut(job()))
    assert sim.runs("c") == [], "enabled again: counts from now"
    sim.advance(30)  # T0 + 1 min
    assert [r.scheduled_at for r in sim.runs("c")] == [T0 + timedelta(minutes=1)]


def test_one_late_fire_while_running_just_runs_and_two_go_through_the_policy():
    sim = Sim([job(catchup="none")])
    sim.advance(61)  # one fire time (T0 + 1 min) late by a second: it runs
    assert [(r.trigger, r.state) for r in sim.runs("c")] == [(RunTrigger.SCHEDULE, RunState.QUEUED)]
    sim.now += timedelta(minutes=2)  # paused over two fire times: catchup=none skips them
    from moroccron.events import Tick

    sim.step(Tick())
    later = [r for r in sim.runs("c") if r.scheduled_at > T0 + timedelta(minutes=1)]
    assert [(r.trigger, r.state) for r in later] == [(RunTrigger.CATCHUP, RunState.SKIPPED)] * 2


def test_a_new_leader_counts_a_timeout_from_the_recorded_launch():
    from moroccron.model import Run

    launched = T0 - timedelta(seconds=25)
    running = Run(
        job="a",
        scheduled_at=launched,
        state=RunState.RUNNING,
        queued_at=launched,
        launched_at=launched,
        started_at=launched,
        agent_id="a1",
    )
    sim = Sim([Job(name="a", command="x", timeout_seconds=30)], runs=[running])
    sim.status(running.task_id, "TASK_RUNNING", reason="REASON_RECONCILIATION")
    sim.advance(4)
    assert not sim.killed
    sim.advance(1)  # 30 s after the recorded launch, not after the takeover
    assert sim.killed == [running.task_id]
