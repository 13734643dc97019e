"""Container and resource combinations a real master or agent refuses, sent through the
API: each is a 4xx naming the field, and nothing is stored. Then the shapes that work are
accepted and read back, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.auth import Authenticator
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.store import Store
from moroccron.store.models import JobRow

WRITE = {"Authorization": "Bearer tok-write"}


def _client(store: Store) -> TestClient:
    auth = Authenticator.from_sources(None, environ={"MOROCCRON_AUTH_TOKENS": "tok-write:write"})
    settings = Settings(roles=("etl", "adhoc"), role="etl")
    return TestClient(create_app(AppContext(settings, store, PluginManager(load_entrypoints=False), auth=auth)))


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with _client(store) as c:
        yield c


@pytest.fixture
def lite(sqlite_store: Store) -> Iterator[TestClient]:
    with _client(sqlite_store) as c:
        yield c


def fields_of(response: Any) -> dict[str, dict[str, Any]]:
    return {e["field"]: e for e in response.json()["errors"]}


DOCKER = {"type": "docker", "image": "busybox:1.36"}
REFUSED = [
    (
        "a volume with none of host_path, image, source",
        {"container": {**DOCKER, "volumes": [{"container_path": "/d"}]}},
        "container.volumes[0].host_path",
    ),
    (
        "a volume with two of them",
        {
            "container": {
                "type": "mesos",
                "image": "alpine",
                "volumes": [{"container_path": "/d", "host_path": "/srv", "image": "busybox"}],
            }
        },
        "container.volumes[0].host_path",
    ),
    (
        "an image volume under Docker",
        {"container": {**DOCKER, "volumes": [{"container_path": "/d", "image": "busybox"}]}},
        "container.volumes[0].image",
    ),
    (
        "a host_path source under Docker (ignored by it)",
        {"container": {**DOCKER, "volumes": [{"container_path": "/d", "source": {"type": "host_path", "path": "/s"}}]}},
        "container.volumes[0].source.type",
    ),
    (
        "relative paths on both sides under Docker",
        {"container": {**DOCKER, "volumes": [{"container_path": "d", "host_path": "s"}]}},
        "container.volumes[0].host_path",
    ),
    (
        "a docker_volume without a name",
        {"container": {**DOCKER, "volumes": [{"container_path": "/d", "source": {"type": "docker_volume"}}]}},
        "container.volumes[0].source.name",
    ),
    (
        "a relative HOST_PATH source",
        {
            "container": {
                "type": "mesos",
                "volumes": [{"container_path": "/d", "source": {"type": "host_path", "path": "srv"}}],
            }
        },
        "container.volumes[0].source.path",
    ),
    (
        "a sandbox path leaving the sandbox",
        {
            "container": {
                "type": "mesos",
                "volumes": [{"container_path": "/d", "source": {"type": "sandbox_path", "path": "../x"}}],
            }
        },
        "container.volumes[0].source.path",
    ),
    (
        "an unknown kind of source",
        {"container": {"type": "mesos", "volumes": [{"container_path": "/d", "source": {"type": "secret"}}]}},
        "container.volumes[0].source.type",
    ),
    (
        "the docker parameter name",
        {"container": {**DOCKER, "parameters": [{"key": "name", "value": "x"}]}},
        "container.parameters[0].key",
    ),
    (
        "docker parameters under the Mesos containerizer",
        {"container": {"type": "mesos", "parameters": [{"key": "env", "value": "A=1"}]}},
        "container.parameters",
    ),
    (
        "a Docker network mode under the Mesos containerizer",
        {"container": {"type": "mesos", "network": "bridge"}},
        "container.network",
    ),
    ("USER without the network's name", {"container": {**DOCKER, "network": "USER"}}, "container.network"),
    ("force_pull without an image", {"container": {"type": "mesos", "force_pull": True}}, "container.force_pull"),
    ("an image-only job with shell true", {"command": None, "shell": True, "container": DOCKER}, "shell"),
    ("GPUs under Docker", {"container": DOCKER, "resources": {"gpus": 1}}, "resources.gpus"),
    ("a fraction of a GPU", {"resources": {"gpus": 0.5}}, "resources.gpus"),
    ("a role a master refuses", {"role": "etl//x"}, "role"),
    ("a role this scheduler does not register", {"role": "ops"}, "role"),
    ("a negative kill grace period", {"kill_grace_seconds": -1}, "kill_grace_seconds"),
    ("an endless kill grace period", {"kill_grace_seconds": 601}, "kill_grace_seconds"),
]


@pytest.mark.parametrize(("what", "body", "field"), REFUSED, ids=[r[0] for r in REFUSED])
def test_combinations_a_master_refuses_are_a_422_naming_the_field(
    lite: TestClient, what: str, body: dict[str, Any], field: str
) -> None:
    r = lite.post("/api/v1/jobs", json={"name": "j", "command": "true", **body}, headers=WRITE)
    assert r.status_code == 422, (what, r.text)
    errors = fields_of(r)
    assert field in errors, (what, errors)
    assert errors[field]["allowed"], what  # and what would be accepted
    assert lite.get("/api/v1/jobs", headers=WRITE).json()["jobs"] == []


def test_the_chronos_api_refuses_them_by_chronos_name(lite: TestClient) -> None:
    base = {"name": "c", "schedule": "R/2026-01-01T00:00:00Z/PT1H"}
    r = lite.post(
        "/v1/scheduler/iso8601",
        json={**base, "command": "", "shell": True, "container": {"type": "DOCKER", "image": "app:1"}},
        headers=WRITE,
    )
    assert r.status_code == 400 and "shell" in fields_of(r)
    r = lite.post(
        "/v1/scheduler/iso8601",
        json={
            **base,
            "command": "true",
            "container": {"type": "DOCKER", "image": "app:1", "volumes": [{"containerPath": "/d", "mode": "RW"}]},
        },
        headers=WRITE,
    )
    assert r.status_code == 400 and "container.volumes[0].hostPath" in fields_of(r)
    # An image-only job that says nothing about the shell runs the image's entrypoint.
    r = lite.post(
        "/v1/scheduler/iso8601",
        json={
            **base,
            "command": "",
            "container": {
                "type": "DOCKER",
                "image": "app:1",
                "parameters": [{"key": "env", "value": "A=1"}, {"key": "env", "value": "B=2"}],
            },
        },
        headers=WRITE,
    )
    assert r.status_code in (200, 204), r.text
    job = lite.get("/api/v1/jobs/c", headers=WRITE).json()
    assert job["shell"] is False
    assert job["container"]["parameters"] == [{"key": "env", "value": "A=1"}, {"key": "env", "value": "B=2"}]


def test_every_shape_that_works_is_stored_and_read_back(client: TestClient) -> None:
    jobs = [
        {
            "name": "docker-exec",
            "command": "/bin/echo",
            "shell": False,
            "arguments": ["hi"],
            "role": "adhoc",
            "kill_grace_seconds": 30,
            "user": "nobody",
            "container": {
                **DOCKER,
                "network": "backend",
                "force_pull": True,
                "parameters": [{"key": "env", "value": "A=1"}, {"key": "env", "value": "B=2"}],
                "volumes": [
                    {"container_path": "/data", "host_path": "/srv/data", "mode": "RW"},
                    {"container_path": "/cache", "source": {"type": "docker_volume", "name": "c", "driver": "local"}},
                ],
            },
        },
        {
            "name": "image-only",
            "container": {
                "type": "mesos",
                "image": "registry/app:1",
                "network": "calico",
                "volumes": [
                    {"container_path": "/tools", "image": "tools:2"},
                    {"container_path": "tmp", "source": {"type": "sandbox_path", "path": "scratch"}},
                ],
            },
            "resources": {"cpus": 1, "mem": 512, "gpus": 2},
        },
    ]
    for body in jobs:
        r = client.post("/api/v1/jobs", json=body, headers=WRITE)
        assert r.status_code == 201, r.text
        got = client.get(f"/api/v1/jobs/{body['name']}", headers=WRITE).json()
        for key, value in body.items():
            if key == "container":
                for ckey, cvalue in value.items():
                    if ckey == "volumes":
                        for sent, back in zip(cvalue, got["container"]["volumes"], strict=True):
                            assert {k: back[k] for k in sent if k != "source"} == {
                                k: v for k, v in sent.items() if k != "source"
                            }
                    else:
                        assert got["container"][ckey] == cvalue, ckey
            elif key == "resources":
                assert got["resources"]["gpus"] == 2.0
            else:
                assert got[key] == value, key
    assert client.get("/api/v1/jobs/image-only", headers=WRITE).json()["shell"] is False
    # A PATCH of one field keeps the rest as it was.
    r = client.patch("/api/v1/jobs/docker-exec", json={"kill_grace_seconds": 2}, headers=WRITE)
    assert r.status_code == 200 and r.json()["container"]["parameters"][1] == {"key": "env", "value": "B=2"}


def test_jobs_stored_in_the_older_shapes_still_load(client: TestClient, store: Store) -> None:
    """Parameters as an object, a volume with no source, an image-only job with shell true:
    what earlier versions accepted is listed and shown, and the next change names what to fix."""
    r = client.post("/api/v1/jobs", json={"name": "old", "command": "true"}, headers=WRITE)
    assert r.status_code == 201
    old = {
        **r.json(),
        "command": None,
        "shell": True,
        "container": {
            "type": "docker",
            "image": "app:1",
            "volumes": [{"container_path": "/d", "mode": "RO"}],
            "force_pull": False,
            "network": None,
            "parameters": {"memory-swap": "1g"},
        },
    }
    for key in ("role", "kill_grace_seconds", "source"):  # older versions had no such fields (source is not in a spec)
        old.pop(key, None)
    with store.engine.begin() as conn:
        conn.execute(update(JobRow).where(JobRow.name == "old").values(spec=old))
    got = client.get("/api/v1/jobs/old", headers=WRITE).json()
    assert got["shell"] is False and got["kill_grace_seconds"] == 5.0 and got["role"] is None
    assert got["container"]["parameters"] == [{"key": "memory-swap", "value": "1g"}]
    listed = client.get("/api/v1/jobs", headers=WRITE).json()["jobs"]
    assert [j["container"]["parameters"] for j in listed] == [[{"key": "memory-swap", "value": "1g"}]]
    r = client.patch("/api/v1/jobs/old", json={"retries": 1}, headers=WRITE)
    assert r.status_code == 422 and "container.volumes[0].host_path" in fields_of(r)
