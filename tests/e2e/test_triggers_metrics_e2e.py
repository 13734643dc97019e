"""Triggers, the http trigger plugin and /metrics, over the local Mesos master."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from moroccron import Job
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.events import RunRequested
from moroccron.model import RunState, RunTrigger
from tests.e2e.harness import Cluster, wait_for
from tests.receivers import Receiver

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver():
    r = Receiver(path="/hook?token=secret")
    yield r
    r.close()


@pytest.fixture
def cluster(tmp_path, receiver):
    c = Cluster(tmp_path, agents=1, settings={"http_trigger_urls": (receiver.url,)})
    for job in (
        Job(name="T", command="echo t", triggers={"on_success": ["S"], "on_failure": ["F"]}),
        Job(name="U", command="exit 2", triggers={"on_success": ["S"], "on_failure": ["F"]}),
        Job(name="S", command="echo s", concurrency="allow"),
        Job(name="F", command="echo f", concurrency="allow"),
    ):
        c.add_job(job)
    c.start_scheduler()
    yield c
    c.close()


def finals(cluster, job):
    return [r for r in cluster.runs(job) if r.state.final]


def test_triggers_fire_once_per_run_and_http_trigger_posts(cluster, receiver):
    cluster.scheduler.submit(RunRequested("T"))
    wait_for(lambda: finals(cluster, "S"), 30, what="S triggered by T's success")
    cluster.scheduler.submit(RunRequested("U"))
    wait_for(lambda: finals(cluster, "F"), 30, what="F triggered by U's failure")
    cluster.scheduler.submit(RunRequested("T"))
    wait_for(lambda: len(finals(cluster, "S")) == 2, 30, what="S again after T's second run")
    wait_for(lambda: len(receiver.bodies) >= 6, 30, what="http trigger deliveries")

    t_runs, s_runs = cluster.runs("T"), cluster.runs("S")
    assert [r.caused_by for r in s_runs] == [r.task_id for r in t_runs]
    assert all(r.trigger == RunTrigger.TRIGGER for r in s_runs)
    f_runs = cluster.runs("F")
    assert len(f_runs) == 1 and f_runs[0].caused_by == cluster.runs("U")[0].task_id
    assert cluster.runs("U")[0].state == RunState.FAILED

    by_job = {}
    for body in receiver.bodies:
        by_job.setdefault(body["job"], []).append(body)
    failed = by_job["U"][0]
    assert failed["event"] == "run.failed" and failed["final"] is True
    assert failed["run"]["exit_status"] == 2 and failed["run"]["task_id"] == cluster.runs("U")[0].task_id
    assert [b["event"] for b in by_job["T"]] == ["run.succeeded", "run.succeeded"]


def test_metrics_expose_runs_and_skew(cluster):
    for job in ("T", "U"):
        cluster.scheduler.submit(RunRequested(job))
    wait_for(lambda: finals(cluster, "S") and finals(cluster, "F"), 30, what="the four runs")
    wait_for(lambda: all(finals(cluster, j) for j in "TUSF"), 30, what="all final")
    app = create_app(
        AppContext(
            cluster.scheduler.settings,
            cluster.store,
            cluster.scheduler.plugins,
            cluster.scheduler,
            metrics=cluster.scheduler.metrics,
        )
    )
    text = TestClient(app).get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert samples[("moroccron_runs_total", (("job", "T"), ("state", "succeeded")))] == 1
    assert samples[("moroccron_runs_total", (("job", "U"), ("state", "failed")))] == 1
    launched = sum(1 for j in "TUSF" for r in cluster.runs(j) if r.launched_at)
    assert samples[("moroccron_run_skew_seconds_count", ())] == launched == 4
    assert samples[("moroccron_leader", ())] == 1
    assert ("moroccron_job_last_success_timestamp_seconds", (("job", "T"),)) in samples
    assert samples[("moroccron_queue_length", ())] == 0
