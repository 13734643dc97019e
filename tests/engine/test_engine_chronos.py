"""Behaviour fields that came from Chronos, in the pure engine: highPriority jumps the
launch queue, async runs end when told, maxCompletionTime is a timeout."""

from __future__ import annotations

from moroccron import Job, Resources
from moroccron.events import RunRequested
from moroccron.hooks.types import PendingTask
from moroccron.model import Run
from moroccron.packing import best_fit_decreasing
from tests.engine.helpers import T0, Sim, offer


def big(name: str, **kw) -> Job:
    return Job(name=name, command="true", resources=Resources(cpus=6, mem=64), **kw)


def test_a_high_priority_run_queued_last_launches_first_when_only_one_fits():
    sim = Sim([big("low"), big("also-low"), big("high", high_priority=True)])
    sim.step(RunRequested("low"))
    sim.step(RunRequested("also-low"))
    sim.step(RunRequested("high"))
    sim.give_offers(1)  # 8 cpus: room for one of the three
    assert [t.split(".")[0] for t in sim.launched] == ["high"]
    sim.give_offers(1)
    assert [t.split(".")[0] for t in sim.launched] == ["high", "low"], "the others keep their queue order"


def test_without_high_priority_the_queue_order_decides():
    sim = Sim([big("first"), big("second")])
    sim.step(RunRequested("first"))
    sim.step(RunRequested("second"))
    sim.give_offers(1)
    assert [t.split(".")[0] for t in sim.launched] == ["first"]


def test_best_fit_decreasing_places_high_priority_before_bigger_tasks():
    jobs = {
        "huge": Job(name="huge", command="x", resources=Resources(cpus=7, mem=64)),
        "vip": Job(name="vip", command="x", resources=Resources(cpus=2, mem=64), high_priority=True),
    }
    tasks = [PendingTask(Run(job=name, scheduled_at=T0), jobs[name].resources) for name in ("huge", "vip")]
    plan = best_fit_decreasing(tasks, [offer(1)], jobs)
    placed = [t for ids in plan.assignments.values() for t in ids]
    assert [t.split(".")[0] for t in placed] == ["vip"] and plan.unplaced == (tasks[0].run.task_id,)


def test_a_manual_start_argument_line_stays_with_its_retries():
    sim = Sim([Job(name="a", command="echo", retries=1, retry_delay_seconds=1)])
    sim.step(RunRequested("a", argument_line="--date 2020-01-01"))
    sim.give_offers()
    first = sim.launched[0]
    assert sim.saved[first].argument_line == "--date 2020-01-01" and sim.saved[first].arguments is None
    sim.finish(first, ok=False)
    sim.advance(1)
    sim.give_offers()
    assert len(sim.launched) == 2
    assert sim.saved[sim.launched[1]].argument_line == "--date 2020-01-01"
