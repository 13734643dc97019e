"""What the run page reads: the run's offer time and actors (engine, store), the attempts of
its fire time and the notifications about it (store, API), and the page's own routes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from moroccron import Job
from moroccron.events import KillRequested, RunRequested
from moroccron.model import Run, RunState, RunTrigger
from moroccron.ui.runs import attempt_text, started_by, why
from tests.e2e.harness import api_over_a_cluster
from tests.engine.helpers import T0, Sim


def test_the_engine_records_who_asked_for_a_run_and_when_its_offer_came():
    sim = Sim([Job(name="a", command="x")])
    sim.step(RunRequested("a", by="alice"))
    [tid] = [r.task_id for r in sim.runs("a")]
    assert sim.saved[tid].requested_by == "alice" and sim.saved[tid].offered_at is None
    offered = sim.now
    sim.advance(2)
    sim.give_offers()  # the offer arrives now, and the run launches on it at once
    run = sim.saved[tid]
    assert run.state == RunState.LAUNCHED and run.offered_at == sim.now and run.launched_at == sim.now
    assert run.offered_at > offered


def test_the_engine_records_who_killed_a_run():
    sim = Sim([Job(name="a", command="sleep 100"), Job(name="b", command="x")])
    sim.step(RunRequested("a"))
    sim.give_offers()
    tid = sim.launched[0]
    sim.status(tid, "TASK_RUNNING")
    sim.step(KillRequested("a", tid, by="bob"))
    assert sim.saved[tid].killed_by == "bob" and sim.saved[tid].kill_requested == "killed by request of bob"
    sim.status(tid, "TASK_KILLED")
    assert sim.saved[tid].state == RunState.KILLED and sim.saved[tid].killed_by == "bob"
    sim.step(RunRequested("b"))  # a queued run killed before it launched
    [queued] = [r.task_id for r in sim.runs("b")]
    sim.step(KillRequested("b", queued, by="carol"))
    assert sim.saved[queued].state == RunState.KILLED and sim.saved[queued].killed_by == "carol"


def test_the_store_keeps_offer_time_and_actors_and_finds_attempts_and_notifications(store):
    store.put_job(Job(name="j", command="x", retries=2))
    first = store.create_run(Run(job="j", scheduled_at=T0, state=RunState.QUEUED, queued_at=T0, requested_by="alice"))
    store.update_run(
        first.evolve(
            state=RunState.FAILED,
            offered_at=T0 + timedelta(seconds=1),
            launched_at=T0 + timedelta(seconds=2),
            finished_at=T0 + timedelta(seconds=5),
            killed_by="bob",
            kill_requested="killed by request of bob",
        )
    )
    second = store.create_run(
        Run(
            job="j",
            scheduled_at=T0,
            attempt=1,
            trigger=RunTrigger.RETRY,
            caused_by=first.task_id,
            queued_at=T0 + timedelta(seconds=9),
        )
    )
    store.create_run(Run(job="j", scheduled_at=T0 + timedelta(minutes=1), queued_at=T0))  # another fire time
    back = store.get_run_by_task_id(first.task_id)
    assert (back.offered_at, back.requested_by, back.killed_by) == (T0 + timedelta(seconds=1), "alice", "bob")
    assert [r.task_id for r in store.attempts_of("j", T0)] == [first.task_id, second.task_id]
    store.enqueue_notification("failure", "j", first.task_id, {}, now=T0)
    store.enqueue_notification("recovery", "j", "j.99.0", {}, now=T0)
    assert [n.event for n in store.notifications(task_id=first.task_id)] == ["failure"]


def test_how_a_run_is_described():
    job = Job(name="j", command="x", retries=3)
    run = Run(
        job="j",
        scheduled_at=T0,
        attempt=1,
        trigger=RunTrigger.RETRY,
        caused_by="j.1772366400.0",
        reason="REASON_CONTAINER_LAUNCH_FAILED",
        message="Failed to launch container: no image",
    )
    assert attempt_text(run, job) == "attempt 2 of 4"
    assert why(run) == {"text": "Failed to launch container: no image", "code": "REASON_CONTAINER_LAUNCH_FAILED"}
    assert why(run.evolve(message=None)) == {
        "text": "container launch failed",
        "code": "REASON_CONTAINER_LAUNCH_FAILED",
    }
    assert started_by(run)["cause"] == "j.1772366400.0" and "retrying" in started_by(run)["words"]
    manual = Run(job="j", scheduled_at=T0, trigger=RunTrigger.MANUAL, requested_by="ops")
    assert started_by(manual)["words"].startswith("ops")


@pytest.mark.slow
def test_run_page_api_and_old_links_over_a_cluster(tmp_path):
    with api_over_a_cluster(tmp_path) as (cluster, client):
        cluster.add_job(
            Job(
                name="flaky",
                command="echo out-$MESOS_TASK_ID; echo bad >&2; exit 3",
                retries=1,
                retry_delay_seconds=0.5,
            )
        )
        started = client.post("/api/v1/jobs/flaky/runs")
        assert started.status_code == 202, started.text
        first = started.json()["task_id"]
        runs = cluster.finished("flaky", 2, timeout=60)
        assert [r.state for r in runs] == [RunState.FAILED, RunState.FAILED]
        second = runs[1].task_id

        detail = client.get(f"/api/v1/runs/{first}").json()
        assert detail["task_id"] == first and detail["exit_status"] == 3
        assert detail["offered_at"] and detail["offered_at"] <= detail["launched_at"]
        assert "requested_by" in detail and "killed_by" in detail
        attempts = client.get(f"/api/v1/runs/{second}/attempts").json()
        assert [a["task_id"] for a in attempts["runs"]] == [first, second]
        notes = client.get(f"/api/v1/runs/{first}/notifications")
        assert notes.status_code == 200 and notes.json()["task_id"] == first
        assert client.get("/api/v1/runs/nope.1.0/notifications").status_code == 404

        page = client.get(f"/runs/{second}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        html = page.text
        for step in ("due", "queued", "offered", "launched", "started", "finished", "confirmed"):
            assert f'data-step="{step}"' in html
        assert f'href="/runs/{first}"' in html, "the other attempt is linked"
        assert "attempt 2 of 2" in html and "retrying a failed attempt" in html
        assert re.search(r'id="exit">3<', html)

        old = client.get(f"/jobs/flaky/runs/{first}", follow_redirects=False)
        assert old.status_code in (303, 307) and old.headers["location"] == f"/runs/{first}"
        assert client.get(f"/jobs/flaky/runs/{first}").status_code == 200

        missing = client.get("/runs/flaky.1.0")
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
        assert "not found" in missing.text and not missing.text.lstrip().startswith("{")

        job_page = client.get("/jobs/flaky").text
        assert f'href="/runs/{first}"' in job_page and f'href="/runs/{second}"' in job_page
