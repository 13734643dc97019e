import math

from moroccron import Job, Resources
from moroccron.hooks.types import Offer, PendingTask
from moroccron.model import Run
from moroccron.packing import best_fit_decreasing, first_fit
from tests.engine.helpers import T0


def offer(i, cpus=4.0, mem=4096.0, host=None, **attrs):
    return Offer(
        id=f"o{i}",
        agent_id=f"a{i}",
        hostname=host or f"host{i}",
        resources=Resources.unchecked(cpus, mem, 1000.0, 0.0),
        attributes=attrs,
    )


def task(job, cpus=1.0, mem=128.0, n=0):
    return PendingTask(Run(job=job, scheduled_at=T0.replace(second=n)), Resources(cpus=cpus, mem=mem))


def jobs_for(*specs):
    return {j.name: j for j in specs}


def check_plan(plan, tasks, offers):
    """No task twice, no offer over its resources."""
    placed = plan.placed()
    assert len(placed) == sum(len(v) for v in plan.assignments.values())
    by_id = {t.task_id: t for t in tasks}
    for o in offers:
        used = [by_id[t].resources for t in plan.assignments.get(o.id, ())]
        assert sum(r.cpus for r in used) <= o.resources.cpus + 1e-9
        assert sum(r.mem for r in used) <= o.resources.mem + 1e-9


def test_first_fit_packs_several_tasks_per_offer_in_order():
    offers = [offer(1), offer(2)]
    tasks = [task(f"j{i}", n=i) for i in range(6)]
    jobs = jobs_for(*(Job(name=f"j{i}", command="x") for i in range(6)))
    plan = first_fit(tasks, offers, jobs)
    check_plan(plan, tasks, offers)
    assert [t.split(".")[0] for t in plan.assignments["o1"]] == ["j0", "j1", "j2", "j3"]
    assert len(plan.assignments["o2"]) == 2 and plan.unplaced == ()


def test_unplaced_when_nothing_fits():
    plan = first_fit([task("big", cpus=8)], [offer(1)], jobs_for(Job(name="big", command="x")))
    assert plan.assignments == {} and len(plan.unplaced) == 1


def test_best_fit_decreasing_uses_fewer_offers_than_first_fit_on_mixed_sizes():
    # capacity 10 cpus per offer; sizes chosen so that first-fit in arrival order wastes space
    sizes = [2, 5, 4, 7, 1, 3, 8, 2, 6, 2]
    offers = [offer(i, cpus=10.0, mem=100000.0) for i in range(10)]
    tasks = [task(f"t{i}", cpus=s, n=i) for i, s in enumerate(sizes)]
    jobs = jobs_for(*(Job(name=f"t{i}", command="x") for i in range(len(sizes))))
    ff, bfd = first_fit(tasks, offers, jobs), best_fit_decreasing(tasks, offers, jobs)
    check_plan(ff, tasks, offers)
    check_plan(bfd, tasks, offers)
    assert not ff.unplaced and not bfd.unplaced
    lower_bound = math.ceil(sum(sizes) / 10)
    assert len(bfd.assignments) == lower_bound == 4
    assert len(ff.assignments) >= len(bfd.assignments)


def test_constraints_equals_like_unlike():
    offers = [offer(1, rack="r1"), offer(2, rack="r2"), offer(3)]
    jobs = jobs_for(
        Job(name="eq", command="x", constraints=[["rack", "EQUALS", "r2"]]),
        Job(name="like", command="x", constraints=[["rack", "LIKE", "r[0-9]"]]),
        Job(name="unlike", command="x", constraints=[["rack", "UNLIKE", "r[12]"]]),
        Job(name="host", command="x", constraints=[["hostname", "EQUALS", "host3"]]),
    )
    plan = first_fit([task("eq"), task("like"), task("unlike"), task("host")], offers, jobs).placed()
    by_job = {t.split(".")[0]: o for t, o in plan.items()}
    assert by_job == {"eq": "o2", "like": "o1", "unlike": "o3", "host": "o3"}


def test_unique_and_group_by_spread_tasks():
    offers = [offer(1, rack="r1"), offer(2, rack="r1"), offer(3, rack="r2")]
    jobs = jobs_for(
        Job(name="u", command="x", constraints=[["rack", "UNIQUE"]]),
        Job(name="g", command="x", constraints=[["rack", "GROUP_BY"]]),
    )
    unique = first_fit([task("u", n=i) for i in range(3)], offers, jobs)
    racks = {dict(o.attributes)["rack"] for o in offers if o.id in unique.assignments}
    assert racks == {"r1", "r2"} and len(unique.unplaced) == 1
    grouped = first_fit([task("g", n=i) for i in range(4)], offers, jobs)
    per_rack = {"r1": 0, "r2": 0}
    for o in offers:
        per_rack[dict(o.attributes)["rack"]] += len(grouped.assignments.get(o.id, ()))
    assert per_rack == {"r1": 2, "r2": 2}
