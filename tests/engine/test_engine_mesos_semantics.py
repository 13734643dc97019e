"""What a real Mesos master does that a kind one does not: silence during failover,
partitions, forgotten tasks, maintenance windows, dropped launches."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from moroccron import Job
from moroccron.engine import MAX_RELAUNCHES, RECONCILE_PERIOD, UNREACHABLE_GRACE
from moroccron.events import KillRequested, Loaded, ReconcileTasks, RunRequested, Subscribed
from moroccron.model import Run, RunState, RunTrigger
from tests.engine.helpers import T0, Kill, Launch, Reconcile, Sim, offer


def launched_one(sim: Sim, job: str = "a") -> str:
    sim.step(RunRequested(job))
    sim.give_offers()
    return sim.launched[-1]


def test_an_unreachable_agents_task_that_comes_back_keeps_its_run():
    sim = Sim([Job(name="a", command="x")])
    tid = launched_one(sim)
    sim.status(tid, "TASK_RUNNING")
    sim.advance(1)
    sim.status(tid, "TASK_UNREACHABLE", reason="REASON_AGENT_PARTITIONED", uuid="u1")
    run = sim.saved[tid]
    assert run.state == RunState.RUNNING and "unreachable" in run.message
    sim.advance(UNREACHABLE_GRACE / 2)
    sim.status(tid, "TASK_RUNNING", reason="REASON_RECONCILIATION")
    sim.advance(UNREACHABLE_GRACE)
    assert sim.saved[tid].state == RunState.RUNNING, "back from the partition: not given up on"
    sim.status(tid, "TASK_FINISHED", exit_status=0)
    assert sim.saved[tid].state == RunState.SUCCEEDED


def test_an_unreachable_task_that_never_comes_back_is_lost_killed_and_retried_under_a_new_id():
    sim = Sim([Job(name="a", command="x", retries=1, retry_delay_seconds=1)])
    tid = launched_one(sim)
    sim.status(tid, "TASK_RUNNING")
    sim.status(tid, "TASK_UNREACHABLE", reason="REASON_AGENT_PARTITIONED")
    sim.advance(UNREACHABLE_GRACE + 1)
    lost = sim.saved[tid]
    assert lost.state == RunState.LOST and "unreachable" in lost.reason
    assert any(isinstance(k, Kill) and k.task_id == tid for k in sim.actions)
    sim.advance(2)
    sim.give_offers()
    assert len(sim.launched) == 2 and sim.launched[1].endswith(".1")
    # the old task turns up after all: killed, not adopted
    acts = sim.status(tid, "TASK_RUNNING", uuid="late")
    assert any(isinstance(a, Kill) and a.task_id == tid for a in acts)


def test_a_failed_accept_is_reconciled_at_once():
    sim = Sim([Job(name="a", command="x")])
    tid = launched_one(sim)
    acts = sim.step(ReconcileTasks((tid,)))
    assert [a.tasks for a in acts if isinstance(a, Reconcile)] == [((tid, "a1"),)]
    sim.status(tid, "TASK_UNKNOWN", reason="REASON_RECONCILIATION")
    sim.give_offers()
    assert len(sim.launched) == 2 and sim.launched[1] != tid, "relaunched under a new task id"


def test_live_runs_are_reconciled_every_few_minutes_and_a_forgotten_one_is_settled():
    sim = Sim([Job(name="a", command="x", retries=1, retry_delay_seconds=1)])
    tid = launched_one(sim)
    sim.status(tid, "TASK_RUNNING")
    asked = []
    for _ in range(3):
        acts = sim.advance(RECONCILE_PERIOD)
        asked += [a for a in acts if isinstance(a, Reconcile) and tid in dict(a.tasks)]
    assert len(asked) >= 2
    sim.status(tid, "TASK_UNKNOWN", reason="REASON_RECONCILIATION")
    assert sim.saved[tid].state == RunState.LOST, "a task the master forgot is lost"
    sim.advance(2)
    sim.give_offers()
    assert sim.launched[-1].endswith(".1"), "and retried per its policy"


def test_a_job_with_a_timeout_avoids_an_agent_going_into_maintenance():
    sim = Sim([Job(name="t", command="x", timeout_seconds=3600), Job(name="u", command="x")])
    sim.step(RunRequested("t"))
    sim.step(RunRequested("u"))
    soon = replace(offer(1, agent="a1"), unavailable_from=T0 + timedelta(minutes=30), unavailable_for=3600.0)
    later = replace(offer(2, agent="a2"), unavailable_from=T0 + timedelta(days=2), unavailable_for=3600.0)
    from moroccron.events import OffersReceived

    acts = sim.step(OffersReceived((soon, later)))
    placed = {r.job: a.agent_id for a in acts if isinstance(a, Launch) for r in a.runs}
    assert placed["t"] == "a2", "an hour-long run would run into a1's window"
    assert "u" in placed, "a job without a timeout may use either"


def test_a_job_with_a_timeout_waits_when_every_agent_is_about_to_go_down():
    sim = Sim([Job(name="t", command="x", timeout_seconds=3600)])
    sim.step(RunRequested("t"))
    from moroccron.events import OffersReceived

    down = replace(offer(1), unavailable_from=T0 + timedelta(minutes=5), unavailable_for=None)
    sim.step(OffersReceived((down,)))
    assert not sim.launched and [r.state for r in sim.runs("t")] == [RunState.QUEUED]


def test_a_launch_dropped_again_and_again_ends_lost_instead_of_looping():
    sim = Sim([Job(name="a", command="x")])
    sim.step(RunRequested("a"))
    for _ in range(MAX_RELAUNCHES + 1):
        sim.give_offers()
        sim.status(sim.launched[-1], "TASK_DROPPED", reason="REASON_INVALID_OFFERS", source="SOURCE_MASTER")
    runs = sim.runs("a")
    assert len(runs) == MAX_RELAUNCHES + 1
    assert [r.trigger for r in runs[1:]] == [RunTrigger.RELAUNCH] * MAX_RELAUNCHES
    assert runs[-1].state == RunState.LOST and "relaunches already" in runs[-1].reason
    sim.give_offers()
    assert len(sim.launched) == MAX_RELAUNCHES + 1


def test_a_relaunched_run_still_has_its_retries():
    sim = Sim([Job(name="a", command="x", retries=1, retry_delay_seconds=1)])
    tid = launched_one(sim)
    sim.status(tid, "TASK_DROPPED", reason="REASON_INVALID_OFFERS", source="SOURCE_MASTER")
    sim.give_offers()
    second = sim.launched[-1]
    sim.finish(second, ok=False)
    sim.advance(2)
    sim.give_offers()
    third = sim.saved[sim.launched[-1]]
    assert (third.attempt, third.trigger, third.relaunches) == (2, RunTrigger.RETRY, 1)


def test_a_loaded_unsure_run_the_master_never_saw_is_launched_under_a_new_id():
    due = T0 - timedelta(seconds=2)
    queued = Run(job="a", scheduled_at=due, state=RunState.QUEUED, queued_at=due - timedelta(seconds=1))
    sim = Sim(
        [Job(name="a", command="x", schedule="* * * * * *", concurrency="allow", catchup="none")],
        runs=[queued],
        last_scheduled={"a": due},
    )
    sim.give_offers()
    assert queued.task_id not in sim.launched, "not launched until the master has answered for it"
    sim.status(queued.task_id, "TASK_UNKNOWN", reason="REASON_RECONCILIATION")
    sim.give_offers()
    relaunch = [t for t in sim.launched if t.startswith(f"a.{int(due.timestamp())}.")]
    assert relaunch == [f"a.{int(due.timestamp())}.1"]


def test_a_kill_by_request_is_recorded_with_who_and_stays_final_across_a_reload():
    job = Job(name="a", command="x", retries=3, retry_delay_seconds=1)
    sim = Sim([job])
    tid = launched_one(sim)
    sim.status(tid, "TASK_RUNNING")
    sim.step(KillRequested("a", by="alice"))
    recorded = sim.saved[tid]
    assert recorded.kill_requested == "killed by request of alice", "written before the KILL goes out"
    # the leader reloads from the store (a conflict) before the task is dead
    sim.step(Loaded((job,), {}, (recorded,)))
    sim.step(Subscribed("fw-1"))
    sim.status(tid, "TASK_KILLED", uuid="k")
    final = sim.saved[tid]
    assert final.state == RunState.KILLED and final.reason == "killed by request of alice"
    sim.advance(30)
    sim.give_offers()
    assert sim.launched == [tid], "no retry of a run killed by request"
