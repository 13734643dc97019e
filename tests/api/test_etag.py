"""Optimistic concurrency on the native job API: ETag out, If-Match / If-None-Match in (RFC 9110)."""

from __future__ import annotations

import re
import threading
from functools import partial

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


def _job(**kw):
    return {"name": "a", "command": "true", **kw}


def test_every_read_and_write_of_a_job_carries_its_etag(client, store):
    created = client.post("/api/v1/jobs", json=_job())
    tag = created.headers["etag"]
    assert re.fullmatch(r'"1-[0-9a-f]{12}"', tag), "strong, quoted, the stored version first"
    identity = tag.strip('"').split("-")[1]
    assert client.get("/api/v1/jobs/a").headers["etag"] == tag
    put = client.put("/api/v1/jobs/a", json=_job(description="v2"))
    assert put.headers["etag"] == f'"2-{identity}"'
    patched = client.patch("/api/v1/jobs/a", json={"description": "v3"})
    assert patched.headers["etag"] == f'"3-{identity}"' == client.get("/api/v1/jobs/a").headers["etag"]
    client.post("/api/v1/jobs/a/disable")
    assert client.get("/api/v1/jobs/a").headers["etag"] == f'"4-{identity}"', "enable/disable is a new version"
    same = client.put("/api/v1/jobs/a", json=_job(description="v3", disabled=True))
    assert same.headers["etag"] == f'"4-{identity}"', "storing the same spec keeps the version"
    assert store.get_job_record("a").version == 4


def test_a_stale_if_match_is_refused_with_412_and_nothing_changes(client, store):
    first = client.post("/api/v1/jobs", json=_job()).headers["etag"]
    second = client.put("/api/v1/jobs/a", json=_job(description="by alice"), headers={"If-Match": first})
    assert second.status_code == 200
    # Bob still holds the first version: his replace, patch and delete are all refused.
    for r in (
        client.put("/api/v1/jobs/a", json=_job(description="by bob"), headers={"If-Match": first}),
        client.patch("/api/v1/jobs/a", json={"description": "by bob"}, headers={"If-Match": first}),
        client.delete("/api/v1/jobs/a", headers={"If-Match": first}),
    ):
        assert r.status_code == 412, r.text
        body = r.json()
        assert "changed since you read it" in body["error"] and set(body) >= {"error", "field", "allowed", "errors"}
        assert r.headers["etag"] == second.headers["etag"], "the current version, to read again"
    assert client.get("/api/v1/jobs/a").json()["description"] == "by alice"
    # With the current tag, each goes through; a list of tags matches if any does.
    current = second.headers["etag"]
    r = client.patch("/api/v1/jobs/a", json={"description": "by bob"}, headers={"If-Match": f'"0-9", {current}'})
    assert r.status_code == 200 and r.json()["description"] == "by bob"
    assert client.delete("/api/v1/jobs/a", headers={"If-Match": r.headers["etag"]}).status_code == 204


def test_if_match_follows_rfc_9110(client, store):
    # If-Match: * -> only if the job exists; a PUT creating it is refused.
    r = client.put("/api/v1/jobs/a", json=_job(), headers={"If-Match": "*"})
    assert r.status_code == 412 and "does not exist" in r.json()["error"]
    assert store.job_names() == set()
    # If-None-Match: * -> create only.
    created = client.put("/api/v1/jobs/a", json=_job(), headers={"If-None-Match": "*"})
    assert created.status_code == 201
    r = client.put("/api/v1/jobs/a", json=_job(description="x"), headers={"If-None-Match": "*"})
    assert r.status_code == 412 and "exists" in r.json()["error"]
    assert client.put("/api/v1/jobs/a", json=_job(description="x"), headers={"If-Match": "*"}).status_code == 200
    tag = client.get("/api/v1/jobs/a").headers["etag"]
    # If-Match compares strongly: a weak tag never matches, nor does an unquoted one.
    assert client.patch("/api/v1/jobs/a", json={}, headers={"If-Match": f"W/{tag}"}).status_code == 412
    assert client.patch("/api/v1/jobs/a", json={}, headers={"If-Match": tag.strip('"')}).status_code == 412
    # A request that would be a 404 without conditions is a 404 with them.
    assert client.patch("/api/v1/jobs/nope", json={}, headers={"If-Match": tag}).status_code == 404
    assert client.delete("/api/v1/jobs/nope", headers={"If-Match": tag}).status_code == 404


def test_a_job_created_again_under_the_same_name_has_another_tag(client):
    old = client.post("/api/v1/jobs", json=_job()).headers["etag"]
    client.delete("/api/v1/jobs/a")
    new = client.post("/api/v1/jobs", json=_job()).headers["etag"]
    assert new != old
    r = client.put("/api/v1/jobs/a", json=_job(description="meant for the old job"), headers={"If-Match": old})
    assert r.status_code == 412


def test_if_match_is_checked_in_the_write_transaction(store):
    """Two clients that read the same version write at the same moment: exactly one wins
    each round, the other gets 412 (a check made before the write would let both in)."""
    app = create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False)))
    with TestClient(app) as a, TestClient(app) as b:
        a.post("/api/v1/jobs", json=_job())
        for i in range(20):
            tag = a.get("/api/v1/jobs/a").headers["etag"]
            barrier = threading.Barrier(2)
            results: dict[str, int] = {}

            def write(
                client: TestClient,
                who: str,
                tag: str = tag,
                barrier: threading.Barrier = barrier,
                results: dict[str, int] = results,
                i: int = i,
            ) -> None:
                barrier.wait(timeout=60)
                results[who] = client.patch(
                    "/api/v1/jobs/a", json={"description": f"{who} {i}"}, headers={"If-Match": tag}
                ).status_code

            threads = [
                threading.Thread(target=partial(write, a, "alice")),
                threading.Thread(target=partial(write, b, "bob")),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            assert sorted(results.values()) == [200, 412], results
            winner = next(who for who, code in results.items() if code == 200)
            assert store.get_job("a").description == f"{winner} {i}"


def test_without_conditions_writes_behave_as_before(client):
    client.post("/api/v1/jobs", json=_job())
    assert client.put("/api/v1/jobs/a", json=_job(description="x")).status_code == 200
    assert client.patch("/api/v1/jobs/a", json={"description": "y"}).status_code == 200
    assert client.delete("/api/v1/jobs/a").status_code == 204


def test_openapi_lists_412_and_the_conditional_headers(client):
    doc = client.get("/openapi.json").json()
    job = doc["paths"]["/api/v1/jobs/{name}"]
    for method in ("put", "patch", "delete"):
        assert "412" in job[method]["responses"], method
        headers = {p["name"].lower() for p in job[method].get("parameters", []) if p["in"] == "header"}
        assert {"if-match", "if-none-match"} <= headers, method
    assert "ETag" in job["get"]["responses"]["200"]["headers"]
