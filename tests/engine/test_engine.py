from datetime import timedelta

from moroccron import Job
from moroccron.events import JobPut, JobRemoved, KillRequested, RunRequested, Subscribed
from moroccron.model import Run, RunState
from tests.engine.helpers import (
    T0,
    Acknowledge,
    Decline,
    Kill,
    Launch,
    Reconcile,
    Revive,
    Sim,
    Suppress,
)


def every(seconds: int) -> str:
    return f"*/{seconds} * * * * *"


def test_fires_on_its_second_and_launches_on_held_offer():
    sim = Sim([Job(name="a", command="x", schedule="0 */2 * * * *")])
    # idle: nothing due for over a minute -> suppressed
    assert sim.of(Suppress)
    sim.advance(118)  # 12:01:58, due at 12:02:00 is within the 2 s horizon
    assert sim.of(Revive)
    sim.give_offers()
    assert not sim.launched, "nothing is due yet; the offer is held"
    assert not sim.of(Decline)
    sim.advance(2)  # 12:02:00
    assert sim.launched == [f"a.{int((T0 + timedelta(minutes=2)).timestamp())}.0"]
    run = sim.saved[sim.launched[0]]
    assert run.state == RunState.LAUNCHED and run.skew == 0.0
    assert sim.engine.next_wakeup(sim.now) == T0 + timedelta(minutes=3, seconds=58)


def test_work_due_soon_keeps_offers_coming_without_suppress_and_revive_churn():
    sim = Sim([Job(name="a", command="x", schedule=every(5), concurrency="allow")])
    for _ in range(60):  # five minutes of a job every five seconds, offers now and then
        sim.give_offers()
        sim.advance(3)
        sim.give_offers()
        sim.advance(2)
    assert len(sim.of(Revive)) <= 1 and not sim.of(Suppress)
    assert len(sim.launched) == 60
    declines = [d for d in sim.of(Decline)]
    assert declines and all(d.refuse_seconds <= 5 for d in declines), "declined until just before the next run"


def test_next_wakeup_wakes_before_fire_for_revive():
    sim = Sim([Job(name="a", command="x", schedule="0 13 * * *")], connect=False)
    assert sim.engine.next_wakeup(sim.now) == T0.replace(hour=12, minute=59, second=58)


def test_status_lifecycle_ack_after_save_and_success():
    sim = Sim([Job(name="a", command="x", schedule=every(10))])
    sim.advance(10)
    sim.give_offers()
    tid = sim.launched[0]
    acts = sim.status(tid, "TASK_RUNNING", uuid="u1")
    assert [type(a).__name__ for a in acts][:2] == ["SaveRun", "Acknowledge"]
    assert sim.saved[tid].state == RunState.RUNNING and sim.saved[tid].started_at == sim.now
    sim.advance(1)
    acts = sim.status(tid, "TASK_FINISHED", uuid="u2")
    assert sim.saved[tid].state == RunState.SUCCEEDED and sim.saved[tid].exit_status == 0
    assert isinstance(acts[-1], Acknowledge) and acts[-1].uuid == "u2"
    assert any(a in sim.hooks("moroccron_task_succeeded") for a in acts)


def test_failure_retries_with_exponential_backoff_then_gives_up():
    sim = Sim([Job(name="a", command="x", retries=2, retry_delay_seconds=5)])
    sim.step(RunRequested("a"))
    sim.give_offers()
    first = sim.launched[0]
    sim.finish(first, ok=False)
    assert sim.saved[first].state == RunState.FAILED
    hook = sim.hooks("moroccron_task_failed")[-1]
    assert hook.final is False
    sim.advance(4.9)
    assert len(sim.launched) == 1
    sim.advance(0.1)
    sim.give_offers()
    assert len(sim.launched) == 2 and sim.launched[1].endswith(".1")
    sim.finish(sim.launched[1], ok=False)
    sim.advance(9.9)  # second delay doubles: 10 s
    sim.give_offers()
    assert len(sim.launched) == 2
    sim.advance(0.1)
    sim.give_offers()
    assert sim.launched[2].endswith(".2")
    sim.finish(sim.launched[2], ok=False)
    hook = sim.hooks("moroccron_task_failed")[-1]
    assert hook.final is True
    sim.advance(100)
    sim.give_offers()
    assert len(sim.launched) == 3
    assert all(r.scheduled_at == sim.saved[first].scheduled_at for r in sim.runs("a"))


def test_lost_task_is_retried():
    sim = Sim([Job(name="a", command="x", retries=1, retry_delay_seconds=1)])
    sim.step(RunRequested("a"))
    sim.give_offers()
    sim.status(sim.launched[0], "TASK_RUNNING")
    sim.status(sim.launched[0], "TASK_GONE", reason="REASON_AGENT_REMOVED")
    assert sim.saved[sim.launched[0]].state == RunState.LOST
    sim.advance(1)
    sim.give_offers()
    assert len(sim.launched) == 2


def test_timeout_kills_and_records_failure():
    sim = Sim([Job(name="a", command="sleep 100", timeout_seconds=30)])
    sim.step(RunRequested("a"))
    sim.give_offers()
    tid = sim.launched[0]
    sim.status(tid, "TASK_RUNNING")
    sim.advance(29)
    assert not sim.killed
    sim.advance(1)
    assert sim.killed == [tid]
    sim.status(tid, "TASK_KILLED")
    run = sim.saved[tid]
    assert run.state == RunState.FAILED and run.reason.startswith("timeout")


def test_concurrency_forbid_skips_and_records_reason():
    sim = Sim([Job(name="a", command="x", schedule=every(10))])
    sim.advance(10)
    sim.give_offers()
    sim.status(sim.launched[0], "TASK_RUNNING")
    sim.advance(10)
    skipped = [r for r in sim.runs("a") if r.state == RunState.SKIPPED]
    assert len(skipped) == 1 and "concurrency=forbid" in skipped[0].reason


def test_concurrency_replace_kills_running_one():
    sim = Sim([Job(name="a", command="x", schedule=every(10), concurrency="replace")])
    sim.advance(10)
    sim.give_offers()
    first = sim.launched[0]
    sim.status(first, "TASK_RUNNING")
    sim.advance(10)
    assert sim.killed == [first]
    sim.status(first, "TASK_KILLED")
    assert sim.saved[first].state == RunState.KILLED and "replaced" in sim.saved[first].reason
    sim.give_offers()
    assert len(sim.launched) == 2


def test_concurrency_allow_runs_both():
    sim = Sim([Job(name="a", command="x", schedule=every(10), concurrency="allow")])
    sim.advance(10)
    sim.give_offers()
    sim.status(sim.launched[0], "TASK_RUNNING")
    sim.advance(10)
    sim.give_offers()
    assert len(sim.launched) == 2


def test_catchup_policies_after_downtime():
    last = {"a": T0 - timedelta(minutes=5), "b": T0 - timedelta(minutes=5), "c": T0 - timedelta(minutes=5)}
    jobs = [
        Job(name=n, command="x", schedule="* * * * *", catchup=p)
        for n, p in (("a", "none"), ("b", "latest"), ("c", "all"))
    ]
    sim = Sim(jobs, last_scheduled=last, now=T0 + timedelta(seconds=30))
    states = {n: [r.state for r in sim.runs(n)] for n in "abc"}
    assert states["a"] == [RunState.SKIPPED] * 5
    assert states["b"] == [RunState.SKIPPED] * 4 + [RunState.QUEUED]
    # all: five missed times, each queued; forbid makes them run one at a time, oldest
    # first (tests/engine/test_engine_catchup.py)
    assert states["c"] == [RunState.QUEUED] * 5
    assert sim.engine.next_fire["a"] == T0 + timedelta(minutes=1)


def test_starting_deadline_skips_a_run_that_cannot_start():
    sim = Sim([Job(name="a", command="x", schedule=every(10), starting_deadline_seconds=5)])
    sim.advance(10)
    tid = next(iter(sim.engine.queue))
    sim.advance(5)
    assert sim.saved[tid].state == RunState.QUEUED, "may still start at exactly the deadline"
    sim.advance(0.001)
    assert sim.saved[tid].state == RunState.SKIPPED
    assert "starting_deadline_seconds=5" in sim.saved[tid].reason


def test_reconciliation_never_holds_up_new_runs():
    running = Run(
        job="a",
        scheduled_at=T0 - timedelta(seconds=10),
        state=RunState.RUNNING,
        agent_id="a1",
        launched_at=T0 - timedelta(seconds=10),
    )
    sim = Sim(
        [Job(name="a", command="x", concurrency="allow"), Job(name="b", command="y")], runs=[running], connect=False
    )
    acts = sim.step(Subscribed("fw-1"))
    recs = [a for a in acts if isinstance(a, Reconcile)]
    assert recs[0].tasks == () and recs[1].tasks == ((running.task_id, "a1"),)
    sim.step(RunRequested("b"))
    sim.give_offers()
    assert len(sim.launched) == 1 and sim.launched[0].startswith("b."), "a new task id launches at once"
    sim.status(running.task_id, "TASK_UNKNOWN", reason="REASON_RECONCILIATION")
    assert sim.saved[running.task_id].state == RunState.LOST


def test_unanswered_reconciliation_is_asked_again_with_backoff_then_given_up_as_lost():
    running = Run(
        job="a",
        scheduled_at=T0 - timedelta(seconds=10),
        state=RunState.RUNNING,
        agent_id="a1",
        launched_at=T0 - timedelta(seconds=10),
    )
    sim = Sim([Job(name="a", command="x", concurrency="allow")], runs=[running])
    asked = []
    for _ in range(300):  # the master stays silent (its agents have not re-registered)
        acts = sim.advance(5)
        asked += [sim.now for a in acts if isinstance(a, Reconcile) and running.task_id in dict(a.tasks)]
    gaps = [(b - a).total_seconds() for a, b in zip(asked, asked[1:], strict=False)]
    retries = gaps[:5]  # later ones mix with the periodic reconciliation of every live run
    assert retries[0] <= 10 and retries == sorted(retries) and max(gaps) <= 300, f"growing delays: {gaps}"
    lost = sim.saved[running.task_id]
    assert lost.state == RunState.LOST and "has not said what became of it" in lost.reason
    assert (lost.finished_at - T0).total_seconds() <= 900 + 300
    assert any(isinstance(k, Kill) and k.task_id == running.task_id for k in sim.actions), "killed if it turns up"


def test_unknown_live_task_is_killed_and_acked():
    sim = Sim([Job(name="a", command="x")])
    acts = sim.status("ghost.1.0", "TASK_RUNNING", uuid="u")
    assert any(isinstance(a, Kill) and a.task_id == "ghost.1.0" for a in acts)
    assert any(isinstance(a, Acknowledge) for a in acts)


def test_kill_request_and_job_removal():
    sim = Sim([Job(name="a", command="x")])
    sim.step(RunRequested("a"))
    sim.give_offers()
    tid = sim.launched[0]
    sim.step(KillRequested("a"))
    assert sim.killed == [tid]
    sim.status(tid, "TASK_KILLED")
    assert sim.saved[tid].state == RunState.KILLED and sim.saved[tid].reason == "killed by request"
    sim.step(RunRequested("a"))
    sim.step(JobRemoved("a"))
    assert not sim.engine.queue and not sim.engine.active


def test_two_manual_runs_in_one_second_are_both_kept():
    sim = Sim([Job(name="a", command="x", concurrency="allow")])
    sim.step(RunRequested("a"))
    sim.step(RunRequested("a"))
    assert len({r.scheduled_at for r in sim.runs("a")}) == 2


def test_job_update_reschedules_and_disable_stops_firing():
    sim = Sim([Job(name="a", command="x", schedule=every(10))])
    job = sim.engine.jobs["a"]
    sim.step(JobPut(job.evolve(schedule=every(30))))
    assert sim.engine.next_fire["a"] == T0 + timedelta(seconds=30)
    sim.step(JobPut(job.evolve(disabled=True)))
    sim.advance(60)
    assert sim.runs("a") == []
    sim.step(JobPut(job))
    assert sim.engine.next_fire["a"] == T0 + timedelta(seconds=70)


def test_idle_offers_are_declined_with_refuse_filter():
    sim = Sim([Job(name="a", command="x", schedule="0 13 * * *")])
    sim.give_offers(2)
    declines = sim.of(Decline)
    assert declines and len(declines[-1].offer_ids) == 2 and declines[-1].refuse_seconds >= 1


def test_packs_many_due_runs_into_few_offers():
    jobs = [Job(name=f"j{i}", command="x", schedule=every(10)) for i in range(50)]
    sim = Sim(jobs)
    sim.advance(8)
    sim.give_offers(3, cpus=2.0)  # 3 offers x 2 cpus fit 20 tasks of 0.1 cpus each
    sim.advance(2)
    launches = sim.of(Launch)
    assert len(sim.launched) == 50 and len(launches) == 3


def test_resubscription_with_work_queued_revives_to_clear_decline_filters():
    sim = Sim([Job(name="a", command="x")])
    sim.give_offers()  # idle: declined with a long refuse filter
    assert sim.of(Decline)[-1].refuse_seconds >= 1
    sim.step(RunRequested("a"))
    revives = len(sim.of(Revive))
    sim.step(Subscribed("fw-1"))  # the stream broke and came back while the run was queued
    assert len(sim.of(Revive)) == revives + 1


def test_launch_the_master_dropped_is_launched_again_as_a_new_attempt_without_using_a_retry():
    sim = Sim([Job(name="a", command="x", retries=0)])
    sim.step(RunRequested("a"))
    sim.give_offers()
    tid = sim.launched[0]
    # the offer was gone by the time the ACCEPT arrived (a master failover, a rescind)
    sim.status(tid, "TASK_LOST", reason="REASON_INVALID_OFFERS", source="SOURCE_MASTER", agent_id=None)
    old = sim.saved[tid]
    assert old.state == RunState.LOST and "REASON_INVALID_OFFERS" in old.reason and "relaunched as" in old.reason
    sim.give_offers()
    assert len(sim.launched) == 2 and sim.launched[1] != tid, "a task id is never used twice"
    new = sim.saved[sim.launched[1]]
    assert (new.attempt, new.relaunches, new.trigger.value, new.caused_by) == (1, 1, "relaunch", tid)
    assert all(n.event != "failure" for n in sim.notices()), "not a failure"
    # if the dropped task turns up after all, it is killed
    acts = sim.status(tid, "TASK_RUNNING", uuid="late")
    assert any(isinstance(a, Kill) and a.task_id == tid for a in acts)


def test_launch_the_master_never_heard_of_is_relaunched_after_reconciliation():
    # a leader committed the launch, then died before its ACCEPT reached the master
    launched = Run(
        job="a",
        scheduled_at=T0 - timedelta(seconds=5),
        state=RunState.LAUNCHED,
        agent_id="a1",
        launched_at=T0 - timedelta(seconds=5),
    )
    sim = Sim([Job(name="a", command="x")], runs=[launched])
    sim.status(launched.task_id, "TASK_LOST", reason="REASON_RECONCILIATION", source="SOURCE_MASTER")
    assert sim.saved[launched.task_id].state == RunState.LOST
    sim.give_offers()
    assert len(sim.launched) == 1 and sim.launched[0].endswith(".1")


def test_a_task_that_started_and_was_lost_is_a_failure_not_a_relaunch():
    sim = Sim([Job(name="a", command="x")])
    sim.step(RunRequested("a"))
    sim.give_offers()
    tid = sim.launched[0]
    sim.status(tid, "TASK_RUNNING")
    sim.status(tid, "TASK_LOST", reason="REASON_RECONCILIATION", source="SOURCE_MASTER")
    assert sim.saved[tid].state == RunState.LOST
    sim.give_offers()
    assert sim.launched == [tid]
