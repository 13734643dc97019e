"""The native API against a live scheduler: run now, logs from the sandbox, kill, mark success."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from moroccron import Job
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from tests.e2e.harness import Cluster, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def api(tmp_path):
    cluster = Cluster(tmp_path, agents=1)
    cluster.add_job(Job(name="talk", command="echo err line >&2; echo out", arguments=["default"]))
    cluster.add_job(Job(name="sleepy", command="sleep 60"))
    cluster.add_job(Job(name="child", command="true", parents=["sleepy"]))
    sched = cluster.start_scheduler()
    app = create_app(AppContext(sched.settings, cluster.store, sched.plugins, sched, metrics=sched.metrics))
    with TestClient(app) as client:
        yield cluster, client
    cluster.close()


def test_run_now_with_arguments_and_read_its_logs(api):
    cluster, client = api
    r = client.post("/api/v1/jobs/talk/runs", json={"arguments": ["custom"]})
    assert r.status_code == 202 and r.json()["state"] == "queued"
    task = r.json()["task_id"]
    wait_for(lambda: client.get(f"/api/v1/runs/{task}").json()["state"] == "succeeded", 20, what="talk")
    out = client.get(f"/api/v1/runs/{task}/stdout").json()
    assert out["data"] == "out custom\n" and out["size"] == len("out custom\n")
    err = client.get(f"/api/v1/runs/{task}/stderr", params={"offset": 0, "length": 3}).json()
    assert err["data"] == "err" and err["offset"] == 0


def test_kill_a_run_and_mark_success_unblocks_child(api):
    cluster, client = api
    task = client.post("/api/v1/jobs/sleepy/runs").json()["task_id"]
    wait_for(lambda: client.get(f"/api/v1/runs/{task}").json()["state"] == "running", 20, what="running")
    assert client.post(f"/api/v1/runs/{task}/kill").status_code == 202
    wait_for(lambda: client.get(f"/api/v1/runs/{task}").json()["state"] == "killed", 20, what="killed")
    assert client.post(f"/api/v1/runs/{task}/kill").status_code == 409
    r = client.post("/api/v1/jobs/sleepy/success")
    assert r.status_code == 200 and r.json()["started"] == ["child"]
    wait_for(
        lambda: [x for x in client.get("/api/v1/jobs/child/runs").json()["runs"] if x["state"] == "succeeded"],
        20,
        what="child after mark-success",
    )
    status = client.get("/api/v1/status").json()
    assert status["leader"] and status["connected"] and status["framework_id"]
