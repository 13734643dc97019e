"""Native API: patch, filters, dependencies, graph, owners."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.model import Run, RunState


@pytest.fixture
def client(store):
    app = create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False)))
    with TestClient(app) as c:
        c.store = store
        yield c


def add(client, name, **kw):
    r = client.post("/api/v1/jobs", json={"name": name, "command": "true", **kw})
    assert r.status_code == 201, r.text


def test_patch_changes_only_given_fields_and_validates(client):
    add(client, "a", schedule="@daily", owners=["x@y"], retries=1)
    r = client.patch("/api/v1/jobs/a", json={"retries": 3})
    assert r.status_code == 200 and r.json()["retries"] == 3 and r.json()["owners"] == ["x@y"]
    r = client.patch("/api/v1/jobs/a", json={"retries": -1})
    assert r.status_code == 422 and r.json()["field"] == "retries"
    assert client.get("/api/v1/jobs/a").json()["retries"] == 3
    assert client.patch("/api/v1/jobs/a", json={"name": "b"}).status_code == 422
    assert client.patch("/api/v1/jobs/nope", json={}).status_code == 404


def test_filters_and_pagination(client):
    for i in range(25):
        add(
            client,
            f"job-{i:02d}",
            owners=["even@x" if i % 2 == 0 else "odd@x"],
            disabled=i < 5,
            description="nightly backup" if i == 7 else "",
        )
    page = client.get("/api/v1/jobs", params={"limit": 10, "offset": 10}).json()
    assert page["total"] == 25 and [j["name"] for j in page["jobs"]][0] == "job-10" and len(page["jobs"]) == 10
    assert client.get("/api/v1/jobs", params={"owner": "odd@x"}).json()["total"] == 12
    assert client.get("/api/v1/jobs", params={"state": "disabled"}).json()["total"] == 5
    assert client.get("/api/v1/jobs", params={"q": "BACKUP"}).json()["jobs"][0]["name"] == "job-07"
    r = client.get("/api/v1/jobs", params={"state": "sleepy"})
    assert r.status_code == 422 and r.json()["field"] == "state"
    assert r.json()["allowed"] == "enabled | disabled | failed | running | quarantined"
    assert client.get("/api/v1/jobs", params={"limit": 0}).status_code == 422


def test_state_filter_failed_running_quarantined(client):
    """``failed``: the newest run that ended did not succeed; a skipped run after it changes
    nothing, a success after it clears it; a retry's attempts count by attempt number."""
    for name in ("ok", "broke", "recovered", "broke-then-skipped", "retried-ok", "killed", "live", "fresh"):
        add(client, name, owners=["team@x"])
    t1, t2, t3 = (datetime(2026, 1, 1, h, tzinfo=UTC) for h in (1, 2, 3))

    def run(job, at, state, attempt=0):
        client.store.create_run(
            Run(job=job, scheduled_at=at, attempt=attempt, state=state, finished_at=at if state.final else None)
        )

    run("ok", t1, RunState.SUCCEEDED)
    run("broke", t1, RunState.SUCCEEDED)
    run("broke", t2, RunState.FAILED)
    run("recovered", t1, RunState.FAILED)
    run("recovered", t2, RunState.SUCCEEDED)
    run("broke-then-skipped", t1, RunState.LOST)
    run("broke-then-skipped", t2, RunState.SKIPPED)
    run("retried-ok", t3, RunState.FAILED, attempt=0)
    run("retried-ok", t3, RunState.SUCCEEDED, attempt=1)
    run("killed", t1, RunState.KILLED)
    run("live", t1, RunState.FAILED)
    run("live", t2, RunState.RUNNING)
    client.store.set_job_errors({"fresh": ("no executor", t1)})

    def names(**params):
        r = client.get("/api/v1/jobs", params=params)
        assert r.status_code == 200, r.text
        return [j["name"] for j in r.json()["jobs"]]

    assert names(state="failed") == ["broke", "broke-then-skipped", "killed", "live"]
    assert client.get("/api/v1/jobs", params={"state": "failed"}).json()["total"] == 4
    assert names(state="running") == ["live"]
    assert names(state="quarantined") == ["fresh"]
    assert names(state="failed", q="broke") == ["broke", "broke-then-skipped"]
    assert names(state="failed", owner="nobody@x") == []
    client.post("/api/v1/jobs/broke/disable")
    assert "broke" in names(state="disabled") and "broke" not in names(state="enabled")


def test_dependencies_subtree_waiting_and_graph(client):
    add(client, "A")
    add(client, "B", parents=["A"], owners=["b@x"])
    add(client, "C", parents=["A"])
    add(client, "D", parents=["B", "C"], owners=["d@x"])
    t = datetime(2026, 1, 1, tzinfo=UTC)
    client.store.create_run(Run(job="B", scheduled_at=t, state=RunState.SUCCEEDED, finished_at=t))
    client.store.set_dependency_progress("D", "B", "B.1767225600.0", t)
    assert client.get("/api/v1/jobs/D/parents").json()["parents"] == [
        {"job": "B", "succeeded_since_last_run": True, "satisfied_by": "B.1767225600.0"},
        {"job": "C", "succeeded_since_last_run": False, "satisfied_by": None},
    ]
    assert client.get("/api/v1/jobs/A/children").json()["children"] == ["B", "C"]
    sub = client.get("/api/v1/jobs/A/subtree").json()
    assert [c["job"] for c in sub["tree"]["children"]] == ["B", "C"]
    d = sub["tree"]["children"][0]["children"][0]
    assert d == {"job": "D", "owners": ["d@x"], "last_outcome": "never", "waiting_for": ["C"], "children": []}
    assert sub["waiting"] == ["B", "C", "D"]
    graph = client.get("/api/v1/graph").json()
    assert {"parent": "B", "child": "D"} in graph["edges"] and len(graph["nodes"]) == 4
    assert next(n for n in graph["nodes"] if n["job"] == "B")["last_outcome"] == "succeeded"
    dot = client.get("/api/v1/graph", params={"format": "dot"})
    assert dot.headers["content-type"].startswith("text/vnd.graphviz") and '"B" -> "D";' in dot.text


def test_delete_refused_with_children_unless_cascade(client):
    add(client, "A")
    add(client, "B", parents=["A"])
    add(client, "C", parents=["B"])
    add(client, "other")
    r = client.delete("/api/v1/jobs/A")
    assert r.status_code == 409 and "B" in r.json()["error"] and "cascade" in r.json()["error"]
    assert client.delete("/api/v1/jobs/A", params={"cascade": "true"}).status_code == 204
    assert [j["name"] for j in client.get("/api/v1/jobs").json()["jobs"]] == ["other"]


def test_owners_crud_and_preferences(client):
    r = client.put("/api/v1/owners/ops@example.com", json={"name": "Ops", "slack": "#ops"})
    assert r.status_code == 201 and r.json()["email"] == "ops@example.com"
    r = client.patch(
        "/api/v1/owners/ops@example.com", json={"preferences": {"failure": []}, "mute_until": "2026-12-01T00:00:00Z"}
    )
    body = r.json()
    assert body["preferences"]["failure"] == [] and body["preferences"]["recovery"] == ["email"]
    assert body["mute_until"].startswith("2026-12-01T00:00:00")
    r = client.patch("/api/v1/owners/ops@example.com", json={"preferences": {"failure": ["fax"]}})
    assert r.status_code == 422 and r.json()["field"] == "preferences.failure"
    assert client.put("/api/v1/owners/x", json={"colour": "red"}).json()["field"] == "colour"
    assert [o["id"] for o in client.get("/api/v1/owners").json()["owners"]] == ["ops@example.com"]
    assert client.delete("/api/v1/owners/ops@example.com").status_code == 204
    assert client.get("/api/v1/owners/ops@example.com").status_code == 404


def test_run_logs_need_a_launched_run(client):
    add(client, "a")
    t = datetime(2026, 1, 1, tzinfo=UTC)
    client.store.create_run(Run(job="a", scheduled_at=t, state=RunState.SKIPPED, reason="x"))
    r = client.get("/api/v1/runs/a.1767225600.0/stdout")
    assert r.status_code == 409 and "never launched" in r.json()["error"]
    assert client.get("/api/v1/runs/a.1767225600.0/journal").status_code == 422
    assert client.get("/api/v1/runs/zzz.1.0/stdout").status_code == 404


def test_job_stats(client):
    add(client, "s")
    t = datetime(2026, 1, 1, tzinfo=UTC)
    for i, state in enumerate([RunState.SUCCEEDED, RunState.FAILED, RunState.FAILED]):
        at = t.replace(minute=i)
        client.store.create_run(
            Run(job="s", scheduled_at=at, state=state, launched_at=at, started_at=at, finished_at=at.replace(second=10))
        )
    stats = client.get("/api/v1/jobs/s/stats").json()
    assert stats["success_count"] == 1 and stats["failure_count"] == 2
    assert stats["consecutive_failures"] == 2
    assert stats["last_success_at"].startswith("2026-01-01T00:00:10")
    assert stats["duration_p50"] == 10.0
    assert client.get("/api/v1/jobs/nope/stats").status_code == 404
