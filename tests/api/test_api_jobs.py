"""The native API in process, over a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager


@pytest.fixture
def client(store):
    app = create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False)))
    with TestClient(app) as c:
        yield c


def job(name="a", **kw):
    return {"name": name, "command": "echo hi", **kw}


def test_create_get_list_replace_delete(client):
    r = client.post("/api/v1/jobs", json=job(schedule="@daily", owners=["x@y"], labels={"team": "sre"}))
    assert r.status_code == 201 and r.json()["schedule"] == "@daily"
    assert client.post("/api/v1/jobs", json=job()).status_code == 409
    assert client.get("/api/v1/jobs/a").json()["owners"] == ["x@y"]
    listed = client.get("/api/v1/jobs", params={"owner": "x@y"}).json()
    assert listed["total"] == 1 and listed["jobs"][0]["name"] == "a"
    assert client.get("/api/v1/jobs", params={"label": "team=sre"}).json()["total"] == 1
    assert client.get("/api/v1/jobs", params={"label": "team=data"}).json()["total"] == 0
    r = client.put("/api/v1/jobs/a", json=job(schedule="@hourly"))
    assert r.status_code == 200 and client.get("/api/v1/jobs/a").json()["schedule"] == "@hourly"
    assert client.put("/api/v1/jobs/b", json=job("b")).status_code == 201
    assert client.delete("/api/v1/jobs/a").status_code == 204
    assert client.get("/api/v1/jobs/a").status_code == 404


def test_validation_error_names_field_and_allowed(client):
    r = client.post("/api/v1/jobs", json=job(schedule="every tuesday", concurrency="maybe"))
    assert r.status_code == 422
    body = r.json()
    fields = {e["field"]: e for e in body["errors"]}
    assert {"schedule", "concurrency"} <= set(fields)
    assert fields["concurrency"]["allowed"] == "forbid | allow | replace"
    assert body["field"] in fields and body["error"]
    assert client.get("/api/v1/jobs").json()["total"] == 0


def test_missing_parent_and_delete_with_children(client):
    r = client.post("/api/v1/jobs", json=job("child", parents=["ghost"]))
    assert r.status_code == 422 and "ghost" in r.json()["error"]
    assert client.post("/api/v1/jobs", json=job("parent")).status_code == 201
    assert client.post("/api/v1/jobs", json=job("child", parents=["parent"])).status_code == 201
    r = client.delete("/api/v1/jobs/parent")
    assert r.status_code == 409 and "child" in r.json()["error"]
    assert client.get("/api/v1/jobs/parent").status_code == 200


def test_enable_disable_and_run_needs_scheduler(client):
    client.post("/api/v1/jobs", json=job())
    assert client.post("/api/v1/jobs/a/disable").json()["disabled"] is True
    assert client.post("/api/v1/jobs/a/enable").json()["disabled"] is False
    r = client.post("/api/v1/jobs/a/runs")
    assert r.status_code == 503 and "not scheduling" in r.json()["error"]
    assert client.get("/api/v1/jobs/a/runs").json() == {"total": 0, "offset": 0, "limit": 50, "runs": []}
    assert client.get("/api/v1/jobs/a/runs", params={"state": "bogus"}).status_code == 422


def test_health_and_status(client):
    assert client.get("/healthz").json() == {"ok": True}
    status = client.get("/api/v1/status").json()
    assert status["leader"] is False and "version" in status


def test_graph_checks_walk_up_from_the_job_only(client, store):
    """A cycle through the changed job is found through its ancestors, named in full."""
    client.post("/api/v1/jobs", json={"name": "a", "command": "true", "schedule": "@daily"})
    client.post("/api/v1/jobs", json={"name": "b", "command": "true", "parents": ["a"]})
    client.post("/api/v1/jobs", json={"name": "c", "command": "true", "parents": ["b"]})
    r = client.put("/api/v1/jobs/b", json={"command": "true", "parents": ["c"]})
    assert r.status_code == 422
    assert "cycle" in r.text and ("b -> c -> b" in r.text or "c -> b -> c" in r.text), r.text
    r = client.post("/api/v1/jobs", json={"name": "d", "command": "true", "parents": ["c", "ghost"]})
    assert r.status_code == 422 and "ghost" in r.text
    assert store.parent_map(["a", "b", "c", "nope"]) == {"a": (), "b": ("a",), "c": ("b",)}
    assert client.get("/api/v1/jobs/b").json()["parents"] == ["a"], "nothing stored on refusal"


def test_stored_jobs_view_reads_on_demand(store):
    from moroccron import Job
    from moroccron.store.view import StoredJobs

    store.put_job(Job(name="a", command="true"))
    pending = Job(name="b", command="true", parents=("a",))
    view = StoredJobs(store, {"b": pending})
    assert "a" in view and "b" in view and "c" not in view and 3 not in view
    assert view["a"].name == "a" and view["b"] is pending
    with pytest.raises(KeyError):
        view["c"]
    assert list(view) == ["a", "b"] and len(view) == 2


def test_openapi_describes_the_job_body_field_by_field(client):
    from moroccron import Job
    from moroccron.model import Container, Resources

    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    ref = {"$ref": "#/components/schemas/JobSpec"}
    assert doc["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"] == ref
    assert doc["paths"]["/api/v1/jobs/{name}"]["put"]["requestBody"]["content"]["application/json"]["schema"] == ref
    # An answer is the JobSpec fields plus the read-only source of the apply that wrote it.
    assert doc["paths"]["/api/v1/jobs/{name}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Job"
    }
    assert set(schemas["Job"]["properties"]) == set(schemas["JobSpec"]["properties"]) | {"source"}
    assert schemas["Job"]["properties"]["source"]["readOnly"] is True
    job = Job(
        name="x",
        command="true",
        schedule="@daily",
        resources=Resources(cpus=0.5, mem=64.0),
        container=Container(type="docker", image="busybox"),
    )
    props = schemas["JobSpec"]["properties"]
    assert set(job.to_dict()) <= set(props), "every field the API returns is described"
    assert set(job.to_dict()["resources"]) <= set(schemas["Resources"]["properties"])
    refs = [v for v in str(doc).split("'$ref': '")[1:]]
    assert all(r.startswith("#/components/schemas/") for r in refs)
