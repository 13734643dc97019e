"""A Chronos async job through the local Mesos master: its task exits 0, its run waits
for the completion report, and the report decides it (and whether its child runs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from tests.e2e.harness import Cluster, api_over_a_cluster, wait_for

pytestmark = pytest.mark.slow

V1 = "/v1/scheduler"
LATER = "R/2099-01-01T00:00:00Z/P1D"  # never due during a test: runs are started by hand


@pytest.fixture
def api(tmp_path) -> Iterator[tuple[Cluster, TestClient]]:
    with api_over_a_cluster(tmp_path) as pair:
        yield pair


def runs(client: TestClient, name: str) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/jobs/{name}/runs").json()["runs"]


def waiting_run(client: TestClient, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: next((r for r in runs(client, name) if r["awaiting_completion"]), None),
        30,
        what=f"a run of {name} waiting for its completion report",
    )


def final_run(client: TestClient, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: next((r for r in runs(client, name) if r["state"] in ("succeeded", "failed", "killed", "lost")), None),
        30,
        what=f"a finished run of {name}",
    )


def test_an_async_run_waits_for_its_report_and_then_its_child_runs(api):
    _, client = api
    assert (
        client.post(
            f"{V1}/iso8601", json={"name": "hadoop", "command": "echo submitted", "schedule": LATER, "async": True}
        ).status_code
        == 204
    )
    assert (
        client.post(
            f"{V1}/dependency", json={"name": "after", "command": "echo after", "parents": ["hadoop"]}
        ).status_code
        == 204
    )
    assert client.put(f"{V1}/job/hadoop").status_code == 204
    run = waiting_run(client, "hadoop")
    assert run["state"] == "running" and run["exit_status"] == 0
    summary = {j["name"]: j for j in client.get(f"{V1}/jobs/summary").json()["jobs"]}
    assert summary["hadoop"]["state"] == "1 running", "still in flight for Chronos clients"
    assert runs(client, "after") == [], "the child waits for the report"

    assert client.put(f"/scheduler/task/{run['task_id']}", json={"statusCode": 0}).status_code == 204
    done = final_run(client, "hadoop")
    assert done["state"] == "succeeded" and not done["awaiting_completion"]
    assert final_run(client, "after")["state"] == "succeeded"
    assert client.get(f"{V1}/job/hadoop").json()["successCount"] == 1


def test_a_failure_report_fails_the_run_once_its_retries_are_spent(api):
    _, client = api
    assert (
        client.post(
            f"{V1}/iso8601", json={"name": "spark", "command": "true", "schedule": LATER, "async": True, "retries": 0}
        ).status_code
        == 204
    )
    assert client.put(f"{V1}/job/spark").status_code == 204
    run = waiting_run(client, "spark")
    assert client.put(f"{V1}/task/{run['task_id']}", json={"statusCode": 2}).status_code == 204
    done = final_run(client, "spark")
    assert done["state"] == "failed" and done["exit_status"] == 2
    got = client.get(f"{V1}/job/spark").json()
    assert got["errorCount"] == 1 and got["async"] is True


def test_a_new_scheduler_keeps_waiting_for_the_report(tmp_path):
    cluster = Cluster(tmp_path, agents=1)
    try:
        first = cluster.start_scheduler()
        app = create_app(AppContext(first.settings, cluster.store, first.plugins, first, metrics=first.metrics))
        with TestClient(app) as client:
            assert (
                client.post(
                    f"{V1}/iso8601", json={"name": "slow", "command": "true", "schedule": LATER, "async": True}
                ).status_code
                == 204
            )
            assert client.put(f"{V1}/job/slow").status_code == 204
            task_id = waiting_run(client, "slow")["task_id"]
        cluster.stop_scheduler()
        second = cluster.start_scheduler()  # loads the waiting run and reconciles with the master
        app = create_app(AppContext(second.settings, cluster.store, second.plugins, second, metrics=second.metrics))
        with TestClient(app) as client:
            # Another job run to its end shows the new scheduler subscribed and hearing from the master.
            assert (
                client.post(f"{V1}/iso8601", json={"name": "probe", "command": "true", "schedule": LATER}).status_code
                == 204
            )
            assert client.put(f"{V1}/job/probe").status_code == 204
            assert final_run(client, "probe")["state"] == "succeeded"
            (still,) = [r for r in runs(client, "slow") if r["task_id"] == task_id]
            assert still["state"] == "running" and still["awaiting_completion"], "not reconciled away as lost"
            assert client.put(f"{V1}/task/{task_id}", json={"statusCode": 0}).status_code == 204
            assert final_run(client, "slow")["state"] == "succeeded"
    finally:
        cluster.close()
