"""Prometheus metrics: what observe_run counts, the gauges read at scrape time, /metrics."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from moroccron.api import metrics as metrics_api
from moroccron.metrics import Metrics
from moroccron.model import Run, RunState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def launched(job: str = "a", minute: int = 0, attempt: int = 0, skew: float = 0.02) -> Run:
    due = T0 + timedelta(minutes=minute)
    return Run(
        job=job,
        scheduled_at=due,
        attempt=attempt,
        state=RunState.LAUNCHED,
        queued_at=due,
        launched_at=due + timedelta(seconds=skew),
    )


def finished(r: Run, state: RunState, duration: float = 5.0) -> Run:
    assert r.launched_at is not None
    started = r.launched_at + timedelta(seconds=1)
    return r.evolve(state=state, started_at=started, finished_at=started + timedelta(seconds=duration))


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def runs_total(m: Metrics, job: str, state: str) -> float | None:
    return value(m, "moroccron_runs_total", job=job, state=state)


def test_a_run_is_counted_at_launch_and_at_its_end() -> None:
    m = Metrics()
    r = launched(skew=0.02)
    m.observe_run(r.evolve(state=RunState.QUEUED, launched_at=None))  # not counted: not launched yet
    m.observe_run(r)
    m.observe_run(r.evolve(state=RunState.STARTING))  # nor are states on the way
    m.observe_run(r.evolve(state=RunState.RUNNING))
    m.observe_run(finished(r, RunState.SUCCEEDED, duration=5.0))
    assert runs_total(m, "a", "launched") == 1 and runs_total(m, "a", "succeeded") == 1
    assert runs_total(m, "a", "running") is None and runs_total(m, "a", "queued") is None
    assert value(m, "moroccron_run_skew_seconds_count") == 1
    assert value(m, "moroccron_run_skew_seconds_sum") == pytest.approx(0.02)
    assert value(m, "moroccron_run_skew_seconds_bucket", le="0.01") == 0
    assert value(m, "moroccron_run_skew_seconds_bucket", le="0.025") == 1
    assert value(m, "moroccron_run_duration_seconds_count") == 1
    assert value(m, "moroccron_run_duration_seconds_sum") == pytest.approx(5.0)
    assert value(m, "moroccron_run_duration_seconds_bucket", le="1.0") == 0
    assert value(m, "moroccron_run_duration_seconds_bucket", le="5.0") == 1
    assert (
        value(m, "moroccron_job_last_success_timestamp_seconds", job="a")
        == (T0 + timedelta(seconds=0.02 + 1 + 5)).timestamp()
    )


def test_every_final_state_is_counted_by_job_and_state() -> None:
    m = Metrics()
    for minute, state in enumerate(
        [RunState.SUCCEEDED, RunState.FAILED, RunState.FAILED, RunState.KILLED, RunState.LOST]
    ):
        r = launched("a", minute)
        m.observe_run(r)
        m.observe_run(finished(r, state, duration=minute * 100))
    r = launched("b", 0, skew=90)
    m.observe_run(r)
    m.observe_run(finished(r, RunState.FAILED, duration=30_000))
    skipped = Run(job="b", scheduled_at=T0 + timedelta(minutes=1), state=RunState.SKIPPED, reason="deadline")
    m.observe_run(skipped)

    assert [runs_total(m, "a", s) for s in ("launched", "succeeded", "failed", "killed", "lost")] == [5, 1, 2, 1, 1]
    assert [runs_total(m, "b", s) for s in ("launched", "failed", "skipped")] == [1, 1, 1]
    assert value(m, "moroccron_run_skew_seconds_count") == 6
    assert value(m, "moroccron_run_skew_seconds_bucket", le="60.0") == 5  # b's 90 s is past the last bucket
    assert value(m, "moroccron_run_skew_seconds_bucket", le="+Inf") == 6
    # A skipped run has no duration; the others have 0, 100, 200, 300, 400 and 30,000 s.
    assert value(m, "moroccron_run_duration_seconds_count") == 6
    assert value(m, "moroccron_run_duration_seconds_bucket", le="0.1") == 1
    assert value(m, "moroccron_run_duration_seconds_bucket", le="300.0") == 4
    assert value(m, "moroccron_run_duration_seconds_bucket", le="21600.0") == 5
    assert value(m, "moroccron_run_duration_seconds_sum") == pytest.approx(31_000)
    assert value(m, "moroccron_job_last_success_timestamp_seconds", job="b") is None


def test_each_transition_counts_once_however_often_it_is_seen() -> None:
    m = Metrics(dedup_size=3)
    r = launched()
    for _ in range(3):  # a commit retried, an update delivered twice
        m.observe_run(r)
        m.observe_run(finished(r, RunState.FAILED))
    retry = launched(attempt=1)  # another attempt is another task: counted
    m.observe_run(retry)
    m.observe_run(finished(retry, RunState.FAILED))
    assert runs_total(m, "a", "launched") == 2 and runs_total(m, "a", "failed") == 2
    assert value(m, "moroccron_run_skew_seconds_count") == 2
    assert value(m, "moroccron_run_duration_seconds_count") == 2

    # Remembering is bounded (3 here): once pushed out, a transition would count again.
    for minute in range(1, 4):
        m.observe_run(launched(minute=minute))
    m.observe_run(finished(r, RunState.FAILED))
    assert runs_total(m, "a", "failed") == 3
    m.observe_run(launched(minute=3))  # recently seen: still remembered
    assert runs_total(m, "a", "launched") == 5


def test_last_success_starts_from_the_store_and_never_goes_back() -> None:
    m = Metrics(clock=lambda: 1_000.0)
    m.load_last_success({"a": T0, "b": T0 - timedelta(days=1)})
    assert value(m, "moroccron_job_last_success_timestamp_seconds", job="a") == T0.timestamp()
    old = finished(launched("a", -60), RunState.SUCCEEDED)  # an old run reconciled late
    m.observe_run(old)
    assert value(m, "moroccron_job_last_success_timestamp_seconds", job="a") == T0.timestamp()
    new = finished(launched("a", 10), RunState.SUCCEEDED)
    m.observe_run(new)
    assert new.finished_at is not None
    assert value(m, "moroccron_job_last_success_timestamp_seconds", job="a") == new.finished_at.timestamp()
    m.load_last_success({"a": T0})  # a reload does not undo what was observed since
    assert value(m, "moroccron_job_last_success_timestamp_seconds", job="a") == new.finished_at.timestamp()
    # Marked as succeeded without a finish time: the clock says when.
    m.observe_run(Run(job="c", scheduled_at=T0, state=RunState.SUCCEEDED))
    assert value(m, "moroccron_job_last_success_timestamp_seconds", job="c") == 1_000.0


def test_forget_job_removes_its_series() -> None:
    m = Metrics()
    for job in ("a", "b"):
        r = launched(job)
        m.observe_run(r)
        m.observe_run(finished(r, RunState.SUCCEEDED))
    m.load_last_success({"only-loaded": T0})
    m.forget_job("a")
    m.forget_job("only-loaded")
    m.forget_job("never-seen")  # nothing to remove is fine
    body = m.render()[0].decode()
    assert 'job="a"' not in body and 'job="only-loaded"' not in body
    assert runs_total(m, "b", "succeeded") == 1
    assert value(m, "moroccron_job_last_success_timestamp_seconds", job="b") is not None
    r = launched("a", 5)  # a new job of the same name starts from zero
    m.observe_run(r)
    assert runs_total(m, "a", "launched") == 1 and runs_total(m, "a", "succeeded") is None


def test_status_gauges_are_read_at_scrape_time() -> None:
    status: dict[str, Any] = {
        "queue": 4,
        "offers_held": 2,
        "tasks_running": 7,
        "leader": True,
        "connected": False,
        "epoch": 3,
    }
    m = Metrics(status=lambda: status)
    gauges = (
        "moroccron_queue_length",
        "moroccron_offers_held",
        "moroccron_tasks_running",
        "moroccron_leader",
        "moroccron_connected",
        "moroccron_jobs",
    )
    assert [value(m, g) for g in gauges] == [4, 2, 7, 1, 0, 0]  # jobs is missing: 0
    status.update(queue=0, connected=True, jobs=1200, leader=None)
    assert [value(m, g) for g in gauges] == [0, 2, 7, 0, 1, 1200]
    assert Metrics().registry.get_sample_value("moroccron_leader") is None  # no status: no gauges


def test_a_failing_status_leaves_its_gauges_out_but_the_scrape_works() -> None:
    def status() -> dict[str, Any]:
        raise RuntimeError("scheduler stopping")

    m = Metrics(status=status)
    m.observe_run(launched())
    body, _ = m.render()
    assert b"moroccron_leader" not in body
    assert b'moroccron_runs_total{job="a",state="launched"} 1.0' in body


def test_instances_do_not_share_series() -> None:
    one, two = Metrics(), Metrics()
    one.observe_run(launched())
    assert runs_total(one, "a", "launched") == 1 and runs_total(two, "a", "launched") is None


def test_observing_from_many_threads_counts_everything_once() -> None:
    m = Metrics()
    runs = [launched(minute=i) for i in range(200)]

    def observe() -> None:
        for r in runs:
            m.observe_run(r)
            m.observe_run(finished(r, RunState.SUCCEEDED))

    threads = [threading.Thread(target=observe) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert runs_total(m, "a", "launched") == 200 and runs_total(m, "a", "succeeded") == 200
    assert value(m, "moroccron_run_duration_seconds_count") == 200


# --------------------------------------------------------------------------- /metrics


def app_with(context: object) -> TestClient:
    app = FastAPI()
    app.state.context = context
    app.include_router(metrics_api.router)
    return TestClient(app)


def test_metrics_endpoint_serves_the_text_format() -> None:
    m = Metrics(status=lambda: {"leader": True, "queue": 2})
    r = launched()
    m.observe_run(r)
    m.observe_run(finished(r, RunState.FAILED))
    response = app_with(SimpleNamespace(metrics=m)).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert samples[("moroccron_runs_total", (("job", "a"), ("state", "failed")))] == 1
    assert samples[("moroccron_run_skew_seconds_count", ())] == 1
    assert samples[("moroccron_leader", ())] == 1 and samples[("moroccron_queue_length", ())] == 2


@pytest.mark.parametrize("context", [SimpleNamespace(metrics=None), SimpleNamespace()])
def test_metrics_endpoint_without_metrics_is_a_404_that_says_so(context: object) -> None:
    response = app_with(context).get("/metrics")
    assert response.status_code == 404
    assert response.json() == {"error": "metrics are not enabled", "field": None, "allowed": None}


def test_metrics_endpoint_negotiates_codahale_json_for_chronos_clients() -> None:
    """Chronos served Codahale JSON at /metrics (chronos-python's metrics() reads a dict);
    Prometheus, which asks for text, still gets the text format at the same path."""
    m = Metrics(status=lambda: {"leader": True, "queue": 2})
    r = launched()
    m.observe_run(r)
    m.observe_run(finished(r, RunState.FAILED))
    client = app_with(SimpleNamespace(metrics=m))
    for accept in ("application/json", "", "text/plain;q=0.5, application/json"):
        response = client.get("/metrics", headers={"Accept": accept})
        assert response.headers["content-type"].startswith("application/json"), accept
        body = response.json()
        assert set(body) == {"version", "gauges", "counters", "histograms", "meters", "timers"}
        assert body["counters"]["moroccron_runs_total.job=a.state=failed"] == {"count": 1.0}
        assert body["gauges"]["moroccron_queue_length"] == {"value": 2.0}
    prometheus = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    for accept in (prometheus, "*/*", "text/plain"):
        response = client.get("/metrics", headers={"Accept": accept})
        assert response.headers["content-type"].startswith("text/plain"), accept
        assert "moroccron_runs_total" in response.text
