"""Fault isolation in the engine: one job's error never stops the others.

Each test poisons one job in a way validation would refuse today (a spec altered after
it was built, as a stored definition from an older release or a bug would be), or makes
a piece of the engine raise for it, and shows that every other job goes on exactly as
if the poisoned one did not exist, that the poisoned one is quarantined once, and that
nothing repeats.
"""

from __future__ import annotations

from datetime import timedelta

from moroccron import Job
from moroccron.events import (
    EngineFault,
    JobPut,
    JobQuarantined,
    JobRemoved,
    JobRestored,
    Loaded,
    Quarantine,
    RunRequested,
    SaveRun,
    Subscribed,
)
from moroccron.model import JobSpec, Run, RunState, RunTrigger
from moroccron.packing import first_fit
from tests.engine.helpers import T0, Acknowledge, Kill, Launch, Sim


def every(seconds: int) -> str:
    return f"*/{seconds} * * * * *"


def poisoned(job: JobSpec, **fields: object) -> JobSpec:
    """``job`` with fields no validator would let through, as a bug or old data could give."""
    for name, value in fields.items():
        object.__setattr__(job, name, value)
    return job


def quarantines(sim: Sim) -> list[JobQuarantined]:
    return sim.of(JobQuarantined)


def test_a_job_whose_timeout_overflows_is_quarantined_and_a_thousand_others_launch_on_their_second():
    healthy = [
        Job(
            name=f"ok-{i:04d}",
            command="true",
            schedule=every(10),
            resources={"cpus": 0.01, "mem": 1},
            concurrency="allow",
        )
        for i in range(1000)
    ]
    bad = poisoned(
        Job(name="bad", command="true", schedule=every(10), resources={"cpus": 0.01, "mem": 1}), timeout_seconds=1e12
    )
    jobs = healthy[:500] + [bad] + healthy[500:]
    sim = Sim(jobs, faults_expected=True)
    sim.advance(8)
    sim.give_offers(1, cpus=100.0, mem=100_000.0)
    acts = sim.advance(2)  # 12:00:10: every job is due on this second
    due = int((T0 + timedelta(seconds=10)).timestamp())
    launched = {t for a in acts if isinstance(a, Launch) for t in (r.task_id for r in a.runs)}
    assert launched == {f"ok-{i:04d}.{due}.0" for i in range(1000)}
    assert all(sim.saved[t].state == RunState.LAUNCHED and sim.saved[t].skew == 0.0 for t in launched)
    (q,) = quarantines(sim)
    assert q.name == "bad" and "OverflowError" in q.reason and q.job is not None and "Traceback" in q.detail
    assert sim.saved[f"bad.{due}.0"].state == RunState.FAILED
    assert sim.saved[f"bad.{due}.0"].reason.startswith("quarantined: ")
    assert "bad" in sim.engine.quarantined and "bad" not in sim.engine.jobs
    # The next second of every healthy job still comes, and the bad job never again.
    sim.advance(8)
    sim.give_offers(1, cpus=100.0, mem=100_000.0)
    acts = sim.advance(2)
    assert len([r for a in acts if isinstance(a, Launch) for r in a.runs]) == 1000
    assert len(quarantines(sim)) == 1
    assert not sim.of(EngineFault)


def test_deleting_a_quarantined_job_is_quiet_and_later_steps_are_clean():
    bad = poisoned(Job(name="bad", command="true", schedule=every(5)), starting_deadline_seconds=1e12)
    sim = Sim([bad, Job(name="good", command="true", schedule=every(5), concurrency="allow")], faults_expected=True)
    sim.advance(5)
    assert [q.name for q in quarantines(sim)] == ["bad"]
    before = len(sim.actions)
    sim.step(JobRemoved("bad"))
    for _ in range(5):
        sim.give_offers()
        sim.advance(5)
    new = sim.actions[before:]
    assert not [a for a in new if isinstance(a, (JobQuarantined, EngineFault))]
    assert "bad" not in sim.engine.quarantined
    assert len([r for r in sim.runs("good") if r.state == RunState.LAUNCHED]) >= 5


def test_a_schedule_that_raises_quarantines_its_job_only():
    class Broken:
        def times_between(self, *a: object, **k: object) -> list:
            raise RuntimeError("schedule library bug")

        def next_after(self, *a: object, **k: object) -> None:
            raise RuntimeError("schedule library bug")

    sim = Sim(
        [Job(name="a", command="x", schedule=every(10)), Job(name="b", command="x", schedule=every(10))],
        faults_expected=True,
    )
    sim.engine._schedules["a"] = Broken()  # type: ignore[assignment]
    sim.advance(8)
    sim.give_offers()
    sim.advance(2)
    assert [q.name for q in quarantines(sim)] == ["a"]
    assert "RuntimeError: schedule library bug" in quarantines(sim)[0].reason
    assert [r.job for r in sim.runs("b") if r.state == RunState.LAUNCHED] == ["b"]


def test_a_status_update_that_cannot_be_handled_quarantines_the_job_and_is_still_acknowledged():
    sim = Sim(
        [Job(name="a", command="x", retries=1, retry_delay_seconds=5), Job(name="b", command="x")], faults_expected=True
    )
    sim.step(RunRequested("a"))
    sim.step(RunRequested("b"))
    sim.give_offers()
    tid_a, tid_b = sorted(sim.launched)
    # a's retry delay cannot be computed when its failure is handled
    poisoned(sim.engine.jobs["a"], retry_delay_seconds=float("nan"))
    acts = sim.status(tid_a, "TASK_FAILED", uuid="u-a")
    assert [a.uuid for a in acts if isinstance(a, Acknowledge)] == ["u-a"]
    assert [q.name for q in quarantines(sim)] == ["a"]
    assert sim.saved[tid_a].state == RunState.FAILED
    # the same update again (the master resends until acknowledged) is just acknowledged
    acts = sim.status(tid_a, "TASK_FAILED", uuid="u-a")
    assert [a.uuid for a in acts if isinstance(a, Acknowledge)] == ["u-a"] and len(quarantines(sim)) == 1
    sim.status(tid_b, "TASK_RUNNING", uuid="u-b1")
    sim.status(tid_b, "TASK_FINISHED", uuid="u-b2")
    assert sim.saved[tid_b].state == RunState.SUCCEEDED


def test_quarantine_kills_the_jobs_live_tasks_and_a_change_lifts_it():
    job = Job(name="a", command="x", schedule=every(10))
    sim = Sim([job], faults_expected=True)
    sim.advance(10)
    sim.give_offers()
    (tid,) = sim.launched
    acts = sim.step(Quarantine("a", "its task could not be described to Mesos"))
    assert [k.task_id for k in acts if isinstance(k, Kill)] == [tid]
    assert sim.saved[tid].state == RunState.FAILED
    assert sim.engine.next_fire.get("a") is None
    sim.advance(30)
    assert len(sim.launched) == 1, "a quarantined job does not fire"
    # the kill's answer is about a task nobody tracks any more: acknowledged, nothing else
    acts = sim.status(tid, "TASK_KILLED", uuid="u")
    assert [type(a) for a in acts if not isinstance(a, (Launch, SaveRun))][:1] == [Acknowledge]
    acts = sim.step(JobPut(job))
    assert JobRestored("a") in acts and "a" not in sim.engine.quarantined
    sim.advance(10)
    sim.give_offers()
    assert len(sim.launched) == 2


def test_a_packer_that_fails_on_one_jobs_task_places_all_the_others():
    def packer(tasks, offers, jobs):
        if any(t.run.job == "bad" for t in tasks):
            raise ValueError("cannot place bad")
        return first_fit(tasks, offers, jobs)

    sim = Sim([Job(name=n, command="x", schedule=every(10)) for n in ("a", "bad", "c")], faults_expected=True)
    sim.engine.packer = packer
    sim.advance(8)
    sim.give_offers()
    sim.advance(2)
    assert sorted(r.split(".")[0] for r in sim.launched) == ["a", "c"]
    assert [q.name for q in quarantines(sim)] == ["bad"]


def test_a_packer_that_fails_for_everyone_is_one_engine_fault_not_a_quarantine():
    def packer(tasks, offers, jobs):
        raise RuntimeError("packing plugin down")

    sim = Sim([Job(name=n, command="x", schedule=every(10)) for n in ("a", "b")], faults_expected=True)
    sim.engine.packer = packer
    sim.advance(8)
    sim.give_offers()
    sim.advance(2)
    assert not quarantines(sim)
    faults = sim.of(EngineFault)
    assert faults and all(f.key == faults[0].key for f in faults) and "packing plugin down" in faults[0].reason


def test_a_childs_error_is_the_childs_not_its_parents():
    parent = Job(name="p", command="x")
    child = poisoned(Job(name="c", command="x", parents=["p"]), starting_deadline_seconds=1e12)
    other = Job(name="d", command="x", parents=["p"])
    sim = Sim([parent, child, other], faults_expected=True)
    sim.step(RunRequested("p"))
    sim.give_offers()
    sim.finish(sim.launched[0])
    assert [q.name for q in quarantines(sim)] == ["c"]
    assert sim.saved[sim.launched[0]].state == RunState.SUCCEEDED
    assert [r.trigger for r in sim.runs("d")] == [RunTrigger.DEPENDENCY]


def test_a_job_whose_schedule_fails_at_load_is_quarantined_and_the_rest_load():
    bad = poisoned(Job(name="bad", command="x", schedule=every(10)), schedule="not a schedule")
    sim = Sim([bad, Job(name="good", command="x", schedule=every(10))], faults_expected=True)
    assert [q.name for q in quarantines(sim)] == ["bad"]
    sim.advance(10)
    sim.give_offers()
    assert [t.split(".")[0] for t in sim.launched] == ["good"]


def test_a_loaded_run_whose_job_cannot_arm_its_timers_is_quarantined_and_the_rest_load():
    bad = poisoned(Job(name="bad", command="x", schedule=every(10)), timeout_seconds=1e12)
    good = Job(name="good", command="x", schedule=every(10))
    at = T0 - timedelta(seconds=30)
    live = Run(job="bad", scheduled_at=at, state=RunState.RUNNING, launched_at=at, agent_id="a1")
    sim = Sim([bad, good], runs=[live], faults_expected=True)
    assert [q.name for q in quarantines(sim)] == ["bad"]
    assert sim.saved[live.task_id].state == RunState.FAILED
    assert [k.task_id for k in sim.of(Kill)] == [live.task_id]
    sim.advance(10)
    sim.give_offers()
    assert [t.split(".")[0] for t in sim.launched] == ["good"]


def test_quarantined_jobs_loaded_from_the_store_are_not_scheduled():
    jobs = (Job(name="q", command="x", schedule=every(10)), Job(name="ok", command="x", schedule=every(10)))
    sim = Sim(jobs, connect=False)
    sim.step(Loaded(jobs, quarantined={"q": "internal error earlier"}))
    sim.step(Subscribed("fw"))
    sim.advance(10)
    sim.give_offers()
    assert [t.split(".")[0] for t in sim.launched] == ["ok"]
    assert sim.engine.quarantined == {"q": "internal error earlier"}
    assert not quarantines(sim), "already recorded: not announced again"


# ------------------------------------------------------------------ catch-up after reconciliation


def _live_run(job: str, at, **kw) -> Run:
    return Run(
        job=job,
        scheduled_at=at,
        state=RunState.RUNNING,
        queued_at=at,
        launched_at=at,
        started_at=at,
        agent_id="a1",
        **kw,
    )


def test_catch_up_waits_for_reconciliation_so_a_lost_run_does_not_skip_its_own_jobs_missed_fires():
    job = Job(name="c", command="x", schedule="*/1 * * * *", catchup="all", concurrency="allow")
    before = T0 - timedelta(minutes=5)
    running = _live_run("c", before)
    sim = Sim([job], now=T0, last_scheduled={"c": before}, runs=[running])
    assert not [r for r in sim.runs("c") if r.state == RunState.SKIPPED], "decided before the master answered"
    # the master says the run was lost while nobody led
    sim.status(running.task_id, "TASK_LOST", reason="REASON_RECONCILIATION", uuid=None)
    sim.advance(0)
    runs = sim.runs("c")
    caught_up = [r for r in runs if r.trigger == RunTrigger.CATCHUP and r.state != RunState.SKIPPED]
    assert len(caught_up) == 5, [(r.scheduled_at, r.state, r.reason) for r in runs]
    assert not [r for r in runs if r.state == RunState.SKIPPED]


def test_with_forbid_the_lost_run_is_not_what_blocks_the_catch_up():
    job = Job(name="c", command="x", schedule="*/1 * * * *", catchup="latest")
    before = T0 - timedelta(minutes=5)
    running = _live_run("c", before)
    sim = Sim([job], now=T0, last_scheduled={"c": before}, runs=[running])
    sim.status(running.task_id, "TASK_LOST", reason="REASON_RECONCILIATION")
    runs = sim.runs("c")
    latest = [r for r in runs if r.trigger == RunTrigger.CATCHUP and r.state != RunState.SKIPPED]
    assert [r.scheduled_at for r in latest] == [T0]
    assert not [r for r in runs if running.task_id in (r.reason or "")]


def test_catch_up_of_a_job_with_a_run_that_is_really_running_still_obeys_forbid():
    # catchup=all: the missed times wait behind the run that is really running
    job = Job(name="c", command="x", schedule="*/1 * * * *", catchup="all")
    before = T0 - timedelta(minutes=3)
    running = _live_run("c", before)
    sim = Sim([job], now=T0, last_scheduled={"c": before}, runs=[running])
    sim.status(running.task_id, "TASK_RUNNING", reason="REASON_RECONCILIATION")
    waiting = [r for r in sim.runs("c") if r.trigger == RunTrigger.CATCHUP]
    assert [r.state for r in waiting] == [RunState.QUEUED] * 3
    sim.give_offers()
    assert not sim.launched, "nothing starts while the old run is running"
    sim.status(running.task_id, "TASK_FINISHED")
    sim.give_offers()
    assert sim.launched == [waiting[0].task_id]
    # catchup=latest: the latest is skipped as "still running"
    job = Job(name="c", command="x", schedule="*/1 * * * *", catchup="latest")
    sim = Sim([job], now=T0, last_scheduled={"c": before}, runs=[running])
    sim.status(running.task_id, "TASK_RUNNING", reason="REASON_RECONCILIATION")
    skipped = [r for r in sim.runs("c") if r.state == RunState.SKIPPED]
    assert len(skipped) == 3 and "still running" in skipped[-1].reason


def test_catch_up_is_decided_after_a_bounded_wait_when_the_master_never_answers():
    job = Job(name="c", command="x", schedule="*/1 * * * *", catchup="all")
    before = T0 - timedelta(minutes=2)
    running = _live_run("c", before)
    sim = Sim([job], now=T0, last_scheduled={"c": before}, runs=[running])
    assert sim.engine.next_wakeup(sim.now) <= T0 + timedelta(seconds=60)
    sim.advance(30)
    assert not [r for r in sim.runs("c") if r.trigger == RunTrigger.CATCHUP]
    sim.advance(30)
    assert [r for r in sim.runs("c") if r.trigger == RunTrigger.CATCHUP]


def test_a_removed_framework_loses_its_launched_runs_and_keeps_the_queue():
    from moroccron.events import FrameworkLost

    sim = Sim([Job(name="a", command="x", retries=1, retry_delay_seconds=1), Job(name="b", command="x")])
    sim.step(RunRequested("a"))
    sim.give_offers()
    (tid,) = sim.launched
    sim.step(FrameworkLost("Framework has been removed"))
    assert sim.saved[tid].state == RunState.LOST and sim.saved[tid].reason == "Framework has been removed"
    assert not sim.engine.connected and not sim.engine.offers
    sim.step(RunRequested("b"))
    assert [r.state for r in sim.runs("b")] == [RunState.QUEUED], "waits for the new framework"
    sim.step(Subscribed("fw-2"))
    sim.advance(1)
    sim.give_offers()
    assert sorted(t.split(".")[0] for t in sim.launched) == ["a", "a", "b"], "a retried, b launched"
