"""plan_step: one step's actions sorted into what the shell does, in which order."""

from __future__ import annotations

from dataclasses import replace

from moroccron import Job
from moroccron.events import (
    Acknowledge,
    DisableJob,
    JobDisabled,
    Kill,
    Launch,
    Launched,
    RunFinished,
    RunQueued,
    RunRequested,
    SaveJobState,
    SaveRun,
)
from moroccron.model import RunState
from moroccron.plan import plan_step
from moroccron.routing import notice

from .helpers import T0, Sim

JOB = Job(name="a", command="x", disable_after_failures=1)


def _run(state=RunState.QUEUED, **kw):
    sim = Sim([JOB])
    sim.step(RunRequested("a"))
    return replace(sim.runs("a")[0], state=state, **kw), sim.engine.jobs["a"]


def test_saves_first_then_accepts_then_calls_then_records_after_the_accept_then_reports():
    queued, job = _run()
    launched = replace(queued, state=RunState.LAUNCHED, launched_at=T0)
    prepared = replace(queued, scheduled_at=T0.replace(second=5), state=RunState.LAUNCHED, launched_at=T0)
    finished = replace(prepared, state=RunState.FAILED)
    actions = [
        SaveRun(queued, new=True),
        RunQueued(job, queued),
        Acknowledge("a1", "t", "u"),
        Launch("o1", "a1", "h", (launched,)),
        SaveRun(launched),
        Kill("t0", "a1", "why"),
        Launched((prepared,)),
        SaveRun(finished),
        SaveJobState("a", T0, None),
        RunFinished(job, finished, failure_count=1),
        DisableJob("a", "too many"),
        JobDisabled(job, "too many", 1),
    ]
    plan = plan_step(actions)
    assert plan.saves == (
        SaveRun(queued, new=True),
        SaveRun(launched),
        SaveJobState("a", T0, None),
        RunFinished(job, finished, failure_count=1),
        DisableJob("a", "too many"),
        JobDisabled(job, "too many", 1),
    )
    assert plan.launches == (Launch("o1", "a1", "h", (launched,)),)
    assert plan.calls == (Acknowledge("a1", "t", "u"), Kill("t0", "a1", "why")), "in the engine's order"
    assert plan.recorded_after == (SaveRun(prepared), SaveRun(finished)), (
        "a later change of a run launched ahead is written after its launch, in order"
    )
    assert [type(a).__name__ for a in plan.after] == [
        "SaveRun",
        "RunQueued",
        "SaveRun",
        "Launched",
        "SaveRun",
        "RunFinished",
        "DisableJob",
        "JobDisabled",
    ]


def test_an_empty_step_plans_nothing():
    plan = plan_step([])
    assert (plan.saves, plan.launches, plan.calls, plan.recorded_after, plan.after) == ((), (), (), (), ())


def test_a_final_failure_is_one_event_with_its_subtree_and_tells_people_once():
    sim = Sim([JOB, Job(name="b", command="x", parents=("a",), owners=("b@x",))])
    sim.step(RunRequested("a"))
    sim.give_offers()
    acts = sim.finish(sim.launched[0], ok=False)
    finished = [a for a in acts if isinstance(a, RunFinished)]
    assert len(finished) == 1 and finished[0].final and finished[0].failure_count == 1
    assert [(n.job, n.owners) for n in finished[0].pending_subtree] == [("b", ("b@x",))]
    told = [n.event for a in acts if (n := notice(a, sim.engine.jobs.get("a") or JOB, dict)) is not None]
    assert told == ["failure", "disabled"]
    assert plan_step(acts).saves[-1] == next(a for a in acts if isinstance(a, JobDisabled))
    assert next(a for a in acts if isinstance(a, JobDisabled)).job.disabled, "the spec as disabled"
