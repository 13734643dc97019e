"""Dependent jobs in the engine: Chronos semantics, soft errors, mark-success, progress on restart."""

from __future__ import annotations

from moroccron import Job
from moroccron.events import (
    ClearDependency,
    DisableJob,
    Loaded,
    MarkSuccess,
    RunRequested,
    SaveDependency,
)
from moroccron.model import RunState, RunTrigger
from tests.engine.helpers import Sim


def diamond(**b_kw):
    return [
        Job(name="A", command="x", owners=["a@x"]),
        Job(name="B", command="x", parents=["A"], owners=["b@x"], **b_kw),
        Job(name="C", command="x", parents=["A"], owners=["c@x"]),
        Job(name="D", command="x", parents=["B", "C"], owners=["d@x"]),
    ]


def run_and_finish(sim, job, ok=True):
    """Start the job's queued run on a fresh offer and finish it."""
    sim.give_offers()
    task = [t for t in sim.launched if t.startswith(job + ".")][-1]
    sim.finish(task, ok=ok)
    return task


def hooks(sim, name):
    return sim.hooks(name)


def test_diamond_runs_in_order_and_d_once_per_cycle():
    sim = Sim(diamond())
    for cycle in range(2):
        sim.step(RunRequested("A"))
        run_and_finish(sim, "A")
        assert {r.job for r in sim.engine.active.values()} == {"B", "C"}
        run_and_finish(sim, "B")
        assert "D" not in {r.job for r in sim.engine.active.values()}, "D waits for C too"
        assert set(sim.engine.dep_progress["D"]) == {"B"}
        run_and_finish(sim, "C")
        assert [r.job for r in sim.engine.active.values()] == ["D"]
        d = [r for r in sim.engine.active.values()][0]
        assert d.trigger == RunTrigger.DEPENDENCY and d.caused_by.startswith("C.")
        run_and_finish(sim, "D")
        assert len([r for r in sim.runs("D") if r.state == RunState.SUCCEEDED]) == cycle + 1
        sim.advance(1)
    unblocked = hooks(sim, "moroccron_dependency_unblocked")
    assert [h.job.name for h in unblocked].count("D") == 2


def test_failed_parent_leaves_child_pending_and_reports_subtree():
    sim = Sim(diamond())
    sim.step(RunRequested("A"))
    run_and_finish(sim, "A")
    run_and_finish(sim, "C")
    run_and_finish(sim, "B", ok=False)
    assert "D" not in {r.job for r in sim.engine.active.values()}
    failed = hooks(sim, "moroccron_task_failed")[-1]
    assert failed.final is True
    subtree = failed.pending_subtree
    assert [(n.job, n.owners) for n in subtree] == [("D", ("d@x",))]


def test_soft_error_lets_children_run():
    sim = Sim(diamond(soft_error=True))
    sim.step(RunRequested("A"))
    run_and_finish(sim, "A")
    run_and_finish(sim, "C")
    run_and_finish(sim, "B", ok=False)
    assert [r.job for r in sim.engine.active.values()] == ["D"]
    assert hooks(sim, "moroccron_task_failed")[-1].pending_subtree == ()


def test_mark_success_unblocks_children():
    sim = Sim(diamond())
    sim.step(RunRequested("A"))
    run_and_finish(sim, "A")
    run_and_finish(sim, "C")
    run_and_finish(sim, "B", ok=False)
    sim.step(MarkSuccess("B"))
    marked = [r for r in sim.runs("B") if r.trigger == RunTrigger.MARK_SUCCESS]
    assert marked and marked[0].state == RunState.SUCCEEDED
    assert [r.job for r in sim.engine.active.values()] == ["D"]


def test_progress_is_saved_and_restored_on_restart():
    sim = Sim(diamond())
    sim.step(RunRequested("A"))
    run_and_finish(sim, "A")
    run_and_finish(sim, "B")
    saves = [a for a in sim.actions if isinstance(a, SaveDependency) and a.child == "D"]
    assert [(a.parent, a.task_id.split(".")[0]) for a in saves] == [("B", "B")]
    progress = {"D": {a.parent: (a.task_id, a.at) for a in saves}}
    # a new leader rebuilds from the store: C still queued, D's progress {B}
    runs = tuple(r for r in sim.saved.values() if not r.state.final)
    sim.step(Loaded(tuple(sim.engine.jobs.values()), {}, runs, {}, progress))
    assert set(sim.engine.dep_progress["D"]) == {"B"}
    from moroccron.events import Subscribed

    sim.step(Subscribed("fw"))
    sim.give_offers()
    task = [t for t in sim.launched if t.startswith("C.")][-1]
    sim.status(task, "TASK_RUNNING")
    sim.status(task, "TASK_FINISHED")
    assert [r.job for r in sim.engine.active.values()] == ["D"]
    assert any(isinstance(a, ClearDependency) and a.child == "D" for a in sim.actions)


def test_disable_after_consecutive_failures():
    sim = Sim([Job(name="flaky", command="x", disable_after_failures=2, schedule="*/10 * * * * *")])
    for _ in range(2):
        sim.advance(10)
        run_and_finish(sim, "flaky", ok=False)
    disabled = [a for a in sim.actions if isinstance(a, DisableJob)]
    assert len(disabled) == 1 and "2 consecutive failures" in disabled[0].reason
    assert sim.engine.jobs["flaky"].disabled
    sim.advance(60)
    assert len(sim.runs("flaky")) == 2


def test_success_resets_the_failure_count():
    sim = Sim([Job(name="f", command="x", disable_after_failures=2)])
    for ok in (False, True, False):
        sim.step(RunRequested("f"))
        run_and_finish(sim, "f", ok=ok)
        sim.advance(1)
    assert not [a for a in sim.actions if isinstance(a, DisableJob)]
    assert sim.engine.failures_in_row["f"] == 1
