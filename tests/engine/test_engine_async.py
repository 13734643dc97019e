"""Async jobs (Chronos's ``async``) in the pure engine: a run whose task exits 0 waits
for a completion report, which decides whether it succeeded."""

from __future__ import annotations

from moroccron import Job
from moroccron.events import (
    AsyncCompleted,
    KillRequested,
    Loaded,
    Reconcile,
    RunRequested,
    Subscribed,
)
from moroccron.model import RunState
from tests.engine.helpers import Sim


def async_job(name: str = "a", **kw) -> Job:
    return Job(name=name, command="submit-and-exit", async_completion=True, **kw)


def launched_and_finished(sim: Sim, job: str = "a") -> str:
    sim.step(RunRequested(job))
    sim.give_offers()
    tid = sim.launched[-1]
    sim.finish(tid)
    return tid


def test_a_finished_task_of_an_async_job_waits_for_its_report():
    sim = Sim([async_job(), Job(name="child", command="true", parents=("a",))])
    tid = launched_and_finished(sim)
    run = sim.saved[tid]
    assert run.state == RunState.RUNNING and run.awaiting_completion
    assert tid in sim.engine.active, "still in flight"
    assert not [n for n in sim.notices() if n.event == "success"]
    assert not sim.hooks("moroccron_task_succeeded")
    assert not sim.runs("child"), "its children wait for the report"

    sim.step(AsyncCompleted(tid, 0))
    run = sim.saved[tid]
    assert run.state == RunState.SUCCEEDED and not run.awaiting_completion and run.exit_status == 0
    assert "statusCode 0" in run.reason
    assert [r.trigger.value for r in sim.runs("child")] == ["dependency"], "children run as for any success"


def test_a_non_zero_report_fails_the_run_and_it_is_retried():
    sim = Sim([async_job(retries=1, retry_delay_seconds=1)])
    tid = launched_and_finished(sim)
    sim.step(AsyncCompleted(tid, 3))
    run = sim.saved[tid]
    assert run.state == RunState.FAILED and run.exit_status == 3
    assert [n.event for n in sim.notices()] == [], "a failure that will be retried is not announced"
    sim.advance(1)
    sim.give_offers()
    assert len(sim.launched) == 2 and sim.saved[sim.launched[1]].attempt == 1


def test_a_failed_task_of_an_async_job_fails_as_any_other():
    sim = Sim([async_job()])
    sim.step(RunRequested("a"))
    sim.give_offers()
    tid = sim.launched[0]
    sim.finish(tid, ok=False)
    run = sim.saved[tid]
    assert run.state == RunState.FAILED and not run.awaiting_completion
    assert tid not in sim.engine.active


def test_a_report_before_the_task_exits_decides_when_it_exits():
    sim = Sim([async_job()])
    sim.step(RunRequested("a"))
    sim.give_offers()
    tid = sim.launched[0]
    sim.status(tid, "TASK_RUNNING")
    sim.step(AsyncCompleted(tid, 0))
    assert sim.saved[tid].state == RunState.RUNNING and sim.saved[tid].reported_status == 0
    sim.status(tid, "TASK_FINISHED", exit_status=0)
    assert sim.saved[tid].state == RunState.SUCCEEDED


def test_a_report_before_the_task_fails_does_not_hide_the_failure():
    sim = Sim([async_job()])
    sim.step(RunRequested("a"))
    sim.give_offers()
    tid = sim.launched[0]
    sim.status(tid, "TASK_RUNNING")
    sim.step(AsyncCompleted(tid, 0))
    sim.status(tid, "TASK_FAILED", exit_status=2)
    assert sim.saved[tid].state == RunState.FAILED and sim.saved[tid].exit_status == 2


def test_reconciliation_does_not_lose_a_waiting_run():
    sim = Sim([async_job()])
    tid = launched_and_finished(sim)
    before = len(sim.of(Reconcile))
    sim.step(Subscribed("fw-1"))  # a re-subscription reconciles every live task
    asked = [t for r in sim.of(Reconcile)[before:] for t, _ in r.tasks]
    assert tid not in asked, "its task is gone on purpose: nothing to ask the master"
    sim.status(tid, "TASK_LOST", reason="REASON_RECONCILIATION")  # the master's word on the old task
    assert sim.saved[tid].state == RunState.RUNNING and sim.saved[tid].awaiting_completion
    sim.advance(3600)  # past every reconciliation give-up
    assert sim.saved[tid].awaiting_completion and not sim.killed
    sim.step(AsyncCompleted(tid, 0))
    assert sim.saved[tid].state == RunState.SUCCEEDED


def test_a_new_leader_keeps_waiting_for_the_report():
    jobs = [async_job()]
    sim = Sim(jobs)
    tid = launched_and_finished(sim)
    waiting = sim.saved[tid]
    sim.step(Loaded(tuple(jobs), {}, (waiting,)))  # as a new leader loads it from the store
    sim.step(Subscribed("fw-2"))
    assert all(tid not in [t for t, _ in r.tasks] for r in sim.of(Reconcile))
    sim.step(AsyncCompleted(tid, 1))
    assert sim.saved[tid].state == RunState.FAILED


def test_the_timeout_covers_the_wait_for_the_report():
    sim = Sim([async_job(timeout_seconds=60)])
    tid = launched_and_finished(sim)
    sim.advance(59)
    assert sim.saved[tid].awaiting_completion
    sim.advance(2)
    run = sim.saved[tid]
    assert run.state == RunState.FAILED and run.reason.startswith("timeout")
    assert not sim.killed, "there is no task to kill"


def test_a_waiting_run_is_in_flight_for_concurrency_forbid():
    sim = Sim([async_job(schedule="* * * * *")])
    sim.advance(60)
    sim.give_offers()
    tid = sim.launched[0]
    sim.finish(tid)
    sim.advance(60)  # the next fire time, while the first run waits for its report
    skipped = [r for r in sim.runs("a") if r.state == RunState.SKIPPED]
    assert skipped and "concurrency=forbid" in skipped[0].reason
    assert len(sim.launched) == 1


def test_a_kill_request_ends_a_waiting_run_without_a_kill_call():
    sim = Sim([async_job(retries=2)])
    tid = launched_and_finished(sim)
    sim.step(KillRequested("a", by="ops"))
    run = sim.saved[tid]
    assert run.state == RunState.KILLED and "ops" in run.reason and not sim.killed
    sim.advance(3600)
    assert len(sim.launched) == 1, "a kill by request is not retried"


def test_reports_of_unknown_tasks_and_of_plain_jobs_change_nothing():
    sim = Sim([Job(name="plain", command="true")])
    assert sim.step(AsyncCompleted("nosuch.1.0", 0)) == []
    sim.step(RunRequested("plain"))
    sim.give_offers()
    tid = sim.launched[0]
    sim.status(tid, "TASK_RUNNING")
    sim.step(AsyncCompleted(tid, 1))
    assert sim.saved[tid].reported_status is None
    sim.status(tid, "TASK_FINISHED", exit_status=0)
    assert sim.saved[tid].state == RunState.SUCCEEDED, "a job that is not async ends with its task"
    assert sim.step(AsyncCompleted(tid, 1)) == [], "a finished run is not reopened"
