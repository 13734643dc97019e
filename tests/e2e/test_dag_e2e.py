"""Dependencies over the local Mesos master: a diamond A -> B, A -> C, B + C -> D."""

from __future__ import annotations

import pytest

from moroccron import Job, hookimpl
from moroccron.events import MarkSuccess, RunRequested
from moroccron.model import RunState, RunTrigger
from tests.e2e.harness import Cluster, wait_for

pytestmark = pytest.mark.slow


class Recorder:
    """A plugin that remembers the dependency and failure hooks it saw."""

    def __init__(self):
        self.failed = []
        self.unblocked = []

    @hookimpl
    def moroccron_task_failed(self, job, run, pending_subtree, final):
        self.failed.append((job.name, final, [(n.job, n.owners, [c.job for c in n.children]) for n in pending_subtree]))

    @hookimpl
    def moroccron_dependency_unblocked(self, job, parents, caused_by):
        self.unblocked.append((job.name, tuple(parents), caused_by.task_id if caused_by else None))


def diamond(b_command="echo B", c_command="echo C", **b_kw):
    return [
        Job(name="A", command="echo A", owners=["a@example.com"]),
        Job(name="B", command=b_command, parents=["A"], owners=["b@example.com"], **b_kw),
        Job(name="C", command=c_command, parents=["A"], owners=["c@example.com"]),
        Job(name="D", command="echo D", parents=["B", "C"], owners=["d@example.com"]),
    ]


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def make_cluster(tmp_path, recorder):
    clusters = []

    def make(jobs):
        c = Cluster(tmp_path, agents=2, plugins=[recorder])
        for job in jobs:
            c.add_job(job)
        c.start_scheduler()
        clusters.append(c)
        return c

    yield make
    for c in clusters:
        c.close()


def succeeded(cluster, job):
    return [r for r in cluster.runs(job) if r.state == RunState.SUCCEEDED]


def test_diamond_runs_in_order_and_d_once_per_cycle(make_cluster, recorder):
    cluster = make_cluster(diamond())
    for cycle in (1, 2):
        cluster.scheduler.submit(RunRequested("A"))
        wait_for(lambda c=cycle: len(succeeded(cluster, "D")) == c, 30, what=f"D to run in cycle {cycle}")
    a, b, c, d = (succeeded(cluster, j) for j in "ABCD")
    assert len(a) == len(b) == len(c) == len(d) == 2, "D runs exactly once per A cycle"
    for i in range(2):
        assert a[i].finished_at <= b[i].launched_at and a[i].finished_at <= c[i].launched_at
        assert max(b[i].finished_at, c[i].finished_at) <= d[i].launched_at
        assert d[i].trigger == RunTrigger.DEPENDENCY and d[i].caused_by
    assert [u[0] for u in recorder.unblocked].count("D") == 2


def test_failed_parent_leaves_child_pending_with_subtree_then_mark_success_unblocks(make_cluster, recorder):
    cluster = make_cluster(diamond(b_command="exit 1"))
    cluster.scheduler.submit(RunRequested("A"))
    wait_for(
        lambda: succeeded(cluster, "C") and [r for r in cluster.runs("B") if r.state == RunState.FAILED],
        30,
        what="C to succeed and B to fail",
    )
    failures = [f for f in recorder.failed if f[0] == "B"]
    assert failures == [("B", True, [("D", ("d@example.com",), [])])]
    assert cluster.runs("D") == [], "D stays pending while B has failed"
    assert cluster.store.get_dependency_progress()["D"].keys() == {"C"}

    cluster.scheduler.submit(MarkSuccess("B"))
    wait_for(lambda: succeeded(cluster, "D"), 30, what="D after mark-success")
    assert [r.trigger for r in cluster.runs("B")] == [RunTrigger.DEPENDENCY, RunTrigger.MARK_SUCCESS]


def test_soft_error_lets_children_run(make_cluster, recorder):
    cluster = make_cluster(diamond(b_command="exit 1", soft_error=True))
    cluster.scheduler.submit(RunRequested("A"))
    wait_for(lambda: succeeded(cluster, "D"), 30, what="D despite B failing softly")
    assert [r.state for r in cluster.runs("B")] == [RunState.FAILED]
    assert [f for f in recorder.failed if f[0] == "B"] == [("B", True, [])]


def test_dependency_progress_survives_a_restart_between_parents(make_cluster):
    cluster = make_cluster(diamond(c_command="sleep 3"))
    cluster.scheduler.submit(RunRequested("A"))
    wait_for(
        lambda: succeeded(cluster, "B") and [r for r in cluster.runs("C") if r.state == RunState.RUNNING],
        30,
        what="B done while C runs",
    )
    cluster.stop_scheduler()
    assert cluster.store.get_dependency_progress()["D"].keys() == {"B"}
    cluster.start_scheduler()
    wait_for(lambda: succeeded(cluster, "D"), 30, what="D after C finishes under the new scheduler")
    assert len(cluster.runs("C")) == 1 and len(cluster.runs("D")) == 1
    assert cluster.runs("D")[0].caused_by == cluster.runs("C")[0].task_id
