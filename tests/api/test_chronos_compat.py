"""Chronos compatibility, written from Chronos' own docs and source (its job
deserializer and serializer, its REST resources and its default settings): what a
Chronos client sends and reads must work unchanged against moroccron.

The real chronos-python client is driven through every call it has against a live
server on loopback, and a ``chronos-sync.rb`` style pass (read every job, send each back
unchanged) must change nothing, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import chronos
import pytest
import requests
import uvicorn
from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.config import Settings
from moroccron.events import KillRequested, RunRequested
from moroccron.hooks.manager import PluginManager
from moroccron.metrics import Metrics
from moroccron.model import JobSpec
from moroccron.schedule import parse_schedule
from moroccron.store import Store
from tests.api.test_chronos import RecordingScheduler
from tests.e2e.harness import wait_for
from tests.servers import free_port

V1 = "/v1/scheduler"
STATS = ("successCount", "errorCount", "lastSuccess", "lastError", "errorsSinceLastSuccess")

EVERY_FIELD: dict[str, Any] = {
    "name": "camus_kafka2hdfs",
    "command": "/srv/kafka/camus/kafka_hdfs_job.bash",
    "shell": True,
    "executor": "com.example.Executor",
    "executorFlags": "-Xmx1g",
    "taskInfoData": '{"k": 1}',
    "retries": 3,
    "owner": "ops@example.com,dev@example.com",
    "ownerName": "Ops Team",
    "description": "Kafka to HDFS",
    "cpus": 1.5,
    "disk": 10240.0,
    "mem": 1024.0,
    "disabled": False,
    "softError": True,
    "dataProcessingJobType": True,
    "fetch": [
        {
            "uri": "https://example.com/tool.tgz",
            "executable": True,
            "cache": True,
            "extract": False,
            "output_file": "tool",
        }
    ],
    "uris": ["https://example.com/tool.tgz"],
    "environmentVariables": [
        {"name": "JVMOPTS", "value": "-Xmx1000m"},
        {"name": "MODE", "value": "a"},
        {"name": "MODE", "value": "b"},
    ],
    "arguments": ["-verbose", "-debug"],
    "highPriority": True,
    "runAsUser": "hdfs",
    "concurrent": True,
    "maxCompletionTime": 3600,
    "async": True,
    "epsilon": "PT30M",
    "container": {
        "type": "DOCKER",
        "image": "libmesos/ubuntu",
        "network": "USER",
        "networkName": "calico",
        "networkInfos": [
            {
                "name": "calico",
                "protocol": "IPv4",
                "labels": [{"key": "a", "value": "b"}],
                "portMappings": [{"hostPort": "8080", "containerPort": "80"}],
            }
        ],
        "volumes": [
            {"hostPath": "/logs/", "containerPath": "/var/log/", "mode": "RW"},
            {
                "containerPath": "/data",
                "mode": "RW",
                "external": {
                    "name": "vol1",
                    "provider": "dvdi",
                    "options": [{"key": "dvdi/driver", "value": "rexray"}],
                },
            },
        ],
        "forcePullImage": True,
        "parameters": [{"key": "add-host", "value": "db:10.0.0.5"}, {"key": "add-host", "value": "cache:10.0.0.6"}],
    },
    "constraints": [["rack", "EQUALS", "rack-1"], ["zone", "CLUSTER", "z1"]],
    "schedule": "R/2036-03-08T20:00:00.000Z/PT2H",
    "scheduleTimeZone": "America/New_York",
}
"""A job hash with every field Chronos' serializer writes (and Chronos 2's epsilon and async)."""


def make_client(store: Store, scheduler: Any = None, **settings: Any) -> TestClient:
    return TestClient(
        create_app(
            AppContext(
                Settings(**settings),
                store,
                PluginManager(load_entrypoints=False),
                scheduler=scheduler,
                metrics=Metrics(),
            )
        )
    )


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with make_client(store, RecordingScheduler()) as c:
        yield c


def without_stats(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k not in STATS}


# --------------------------------------------------------------------------- fields


def test_every_field_is_returned_as_posted(client: TestClient) -> None:
    """Chronos stored every field and sent it back: GET equals POST, statistics aside."""
    assert client.post(f"{V1}/iso8601", json=EVERY_FIELD).status_code == 204
    got = client.get(f"{V1}/job/{EVERY_FIELD['name']}").json()
    assert {k: got[k] for k in EVERY_FIELD} == EVERY_FIELD
    listed = client.get(f"{V1}/jobs").json()
    assert [{k: j[k] for k in EVERY_FIELD} for j in listed] == [EVERY_FIELD]


def test_chronos_defaults(client: TestClient) -> None:
    """What Chronos' deserializer and settings fill in for a minimal job."""
    client.post(
        f"{V1}/iso8601",
        json={"name": "min", "schedule": "R/2036-01-01T00:00:00Z/PT1H", "container": {"image": "busybox"}},
    )
    got = client.get(f"{V1}/job/min").json()
    assert (got["cpus"], got["mem"], got["disk"]) == (0.1, 128.0, 256.0)
    assert got["runAsUser"] == "root" and got["retries"] == 2 and got["epsilon"] == "PT60S"
    assert got["command"] == "" and got["shell"] is True and got["scheduleTimeZone"] == ""
    assert got["container"]["network"] == "HOST" and got["container"]["type"] == "DOCKER"
    for key, value in {
        "executor": "",
        "executorFlags": "",
        "taskInfoData": "",
        "highPriority": False,
        "dataProcessingJobType": False,
        "maxCompletionTime": 0,
        "ownerName": "",
        "owner": "",
        "concurrent": False,
        "softError": False,
        "disabled": False,
        "fetch": [],
        "uris": [],
        "arguments": [],
        "environmentVariables": [],
        "constraints": [],
    }.items():
        assert got[key] == value, key


def test_native_api_keeps_its_own_defaults(client: TestClient, store: Store) -> None:
    r = client.post("/api/v1/jobs", json={"name": "native", "command": "x"})
    assert r.status_code in (200, 201), r.text
    job = store.get_job("native")
    assert (job.resources.mem, job.resources.disk, job.user, job.retries) == (32.0, 0.0, None, 0)
    chronos_job = client.post(
        f"{V1}/iso8601", json={"name": "c", "command": "x", "schedule": "R/2036-01-01T00:00:00Z/PT1H"}
    )
    assert chronos_job.status_code == 204
    job = store.get_job("c")
    assert (job.resources.mem, job.resources.disk, job.user, job.retries) == (128.0, 256.0, "root", 2)
    assert job.starting_deadline_seconds == 60


def test_run_as_user_default_is_a_setting(store: Store) -> None:
    with make_client(store, chronos_run_as_user="") as c:
        c.post(f"{V1}/iso8601", json={"name": "u", "command": "x", "schedule": "R/2036-01-01T00:00:00Z/PT1H"})
    assert store.get_job("u").user is None  # the framework's user


def test_schedule_time_zone_wins_over_the_zone_in_the_schedule(client: TestClient, store: Store) -> None:
    client.post(
        f"{V1}/iso8601",
        json={
            "name": "ny",
            "command": "x",
            "schedule": "R/2030-01-01T02:00:00Z/P1D",
            "scheduleTimeZone": "America/New_York",
        },
    )
    job = store.get_job("ny")
    first = parse_schedule(job.schedule, job.timezone).next_after(datetime(2029, 12, 31, tzinfo=UTC))
    assert first == datetime(2030, 1, 1, 7, 0, tzinfo=UTC)  # 02:00 in New York
    got = client.get(f"{V1}/job/ny").json()
    assert got["schedule"] == "R/2030-01-01T02:00:00Z/P1D" and got["scheduleTimeZone"] == "America/New_York"
    client.post(
        f"{V1}/iso8601",
        json={"name": "pst", "command": "x", "schedule": "R/2030-01-01T02:00:00Z/P1D", "scheduleTimeZone": "PST"},
    )
    assert client.get(f"{V1}/job/pst").json()["scheduleTimeZone"] == "PST"
    assert store.get_job("pst").timezone == "America/Los_Angeles"


def test_past_starts(store: Store) -> None:
    scheduler = RecordingScheduler()
    now = datetime.now(UTC)
    with make_client(store, scheduler) as c:
        # Rn/<past>/P: runs now, then n-1 more on the series.
        assert (
            c.post(
                f"{V1}/iso8601", json={"name": "r3", "command": "x", "schedule": "R3/2020-01-01T00:30:00Z/PT1H"}
            ).status_code
            == 204
        )
        got = c.get(f"{V1}/job/r3").json()["schedule"]
        repeats, start, period = got.split("/")
        start_at = datetime.fromisoformat(start)
        assert repeats == "R2" and period == "PT1H" and start_at > now and start_at.minute == 30
        # R/<past>/P: runs at once; GET shows the advanced start.
        c.post(f"{V1}/iso8601", json={"name": "r", "command": "x", "schedule": "R/2020-01-01T02:00:00Z/P1D"})
        start_at = datetime.fromisoformat(c.get(f"{V1}/job/r").json()["schedule"].split("/")[1])
        assert now < start_at <= now + timedelta(days=1) and (start_at.hour, start_at.minute) == (2, 0)
        # Before 1970: refused.
        r = c.post(f"{V1}/iso8601", json={"name": "old", "command": "x", "schedule": "R/1969-12-31T00:00:00Z/P1D"})
        assert r.status_code == 400 and r.json()["field"] == "schedule" and "1970" in r.json()["message"]
    assert scheduler.events == [RunRequested("r3", None), RunRequested("r", None)]


def test_names_follow_chronos_rule(client: TestClient, store: Store) -> None:
    for name in ("-x", ".x", "a.b-c_d"):
        r = client.post(f"{V1}/iso8601", json={"name": name, "command": "x", "schedule": "R/2036-01-01T00:00:00Z/PT1H"})
        assert r.status_code == 204, (name, r.text)
        assert client.get(f"{V1}/job/{name}").json()["name"] == name
    for name in ("..", "a b", "a/b"):
        r = client.post(f"{V1}/iso8601", json={"name": name, "command": "x", "schedule": "R/2036-01-01T00:00:00Z/PT1H"})
        assert r.status_code == 400 and r.json()["field"] == "name", name
    assert {j.name for j in store.all_jobs()} == {"-x", ".x", "a.b-c_d"}


# --------------------------------------------------------------------------- endpoints


def test_ping(client: TestClient) -> None:
    r = client.get("/ping")
    assert r.status_code == 200 and r.text == "pong"


def test_kill_all(store: Store) -> None:
    scheduler = RecordingScheduler()
    with make_client(store, scheduler) as c:
        for name in ("a", "b"):
            c.post(f"{V1}/iso8601", json={"name": name, "command": "x", "schedule": "R/2036-01-01T00:00:00Z/PT1H"})
        assert c.delete(f"{V1}/task/all").status_code == 204
    assert scheduler.events == [KillRequested("a"), KillRequested("b")]


def test_cors_header_is_a_setting(store: Store) -> None:
    with make_client(store) as c:
        assert "access-control-allow-origin" not in c.get(f"{V1}/jobs").headers
    with make_client(store, chronos_cors_origin="*") as c:
        assert c.get(f"{V1}/jobs").headers["access-control-allow-origin"] == "*"
        assert c.get(f"{V1}/job/ghost").headers["access-control-allow-origin"] == "*"  # errors too
        assert "access-control-allow-origin" not in c.get("/api/v1/jobs").headers  # Chronos routes only


def test_errors_in_chronos_shape(client: TestClient) -> None:
    r = client.post(
        f"{V1}/iso8601", json={"name": "x", "command": "x", "schedule": "R/2036-01-01T00:00:00Z/PT1H", "cpus": "lots"}
    )
    assert r.status_code == 400 and r.json()["status"] == "Bad Request"
    assert "cpus" in r.json()["message"] and r.json()["field"] == "cpus"
    r = client.get(f"{V1}/jobs/search", params={"limit": "-1"})
    assert r.status_code == 400 and r.json()["status"] == "Bad Request"


# --------------------------------------------------------------------------- sync tools


def _sample_jobs() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/iso8601", EVERY_FIELD),
        (
            "/iso8601",
            {
                "name": "past",
                "command": "x",
                "schedule": "R/2015-01-01T03:00:00Z/P1D",
                "scheduleTimeZone": "Europe/Paris",
            },
        ),
        ("/iso8601", {"name": "empty-start", "command": "x", "schedule": "R//PT6H"}),
        ("/iso8601", {"name": "minimal", "schedule": "R5/2036-01-01T00:00:00Z/PT1H"}),
        (
            "/dependency",
            {
                "name": "child",
                "command": "y",
                "parents": ["past", "minimal"],
                "epsilon": "P1M",
                "fetch": [{"uri": "https://example.com/a.sh"}],
                "cpus": "0.5",
            },
        ),
    ]


def test_sync_pass_changes_nothing(store: Store) -> None:
    """chronos-sync.rb reads /jobs and sends back what differs from its files; files
    written from that read, sent back, must change no job (no write at all)."""
    with make_client(store, RecordingScheduler()) as c:
        for path, job in _sample_jobs():
            assert c.post(V1 + path, json=job).status_code == 204, job["name"]
        exported = c.get(f"{V1}/jobs").json()
        versions = {r.name: (r.version, r.updated_at) for r in (store.get_job_record(j["name"]) for j in exported)}
        for job in exported:
            path = "/dependency" if "parents" in job else "/iso8601"
            assert c.post(V1 + path, json=job).status_code == 204, job["name"]
        again = c.get(f"{V1}/jobs").json()
    assert [without_stats(j) for j in again] == [without_stats(j) for j in exported]
    assert {r.name: (r.version, r.updated_at) for r in (store.get_job_record(j["name"]) for j in exported)} == versions


def test_a_native_job_survives_a_chronos_sync_pass(store: Store) -> None:
    """A job made with the native API, read and sent back by a Chronos tool, keeps its
    meaning: a past start with a zone is not re-read the Chronos way, nor run."""
    native = JobSpec(name="native", command="x", schedule="R/2020-01-01T02:00:00Z/P1D", timezone="Europe/Paris")
    store.create_job(native)
    scheduler = RecordingScheduler()
    with make_client(store, scheduler) as c:
        job = c.get(f"{V1}/job/native").json()
        assert c.post(f"{V1}/iso8601", json=job).status_code == 204
    assert store.get_job("native").evolve(chronos_extra={}) == native
    assert scheduler.events == []


# --------------------------------------------------------------------------- chronos-python


@pytest.fixture
def live(store: Store) -> Iterator[tuple[str, RecordingScheduler]]:
    """The app on a real socket, for a real HTTP client."""
    scheduler = RecordingScheduler()
    app = create_app(
        AppContext(Settings(), store, PluginManager(load_entrypoints=False), scheduler=scheduler, metrics=Metrics())
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"http://{url}/ping", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, 30, what="uvicorn")
    yield url, scheduler
    server.should_exit = True
    thread.join(timeout=20)


def test_chronos_python_client_every_call(live: tuple[str, RecordingScheduler], store: Store) -> None:
    url, scheduler = live
    client = chronos.connect(url)
    scheduled = {
        "name": "etl",
        "command": "echo etl",
        "owner": "ops@example.com",
        "disabled": False,
        "schedule": "R/2036-01-01T00:00:00Z/PT1H",
    }
    dependent = {
        "name": "report",
        "command": "echo report",
        "owner": "ops@example.com",
        "disabled": False,
        "parents": ["etl"],
    }
    client.add(scheduled)
    client.add(dependent)
    assert sorted(j["name"] for j in client.list()) == ["etl", "report"]
    assert [j["name"] for j in client.search(name="rep")] == ["report"]
    assert [j["name"] for j in client.search(command="echo etl")] == ["etl"]
    client.update({**scheduled, "command": "echo etl v2"})
    assert store.get_job("etl").command == "echo etl v2"
    client.run("etl")
    assert scheduler.events[-1] == RunRequested("etl", None)
    stat = client.job_stat("etl")
    assert stat["histogram"]["count"] == 0 and stat["taskStatHistory"] == []
    assert "node,etl," in client.scheduler_graph()
    for call in (
        client.scheduler_stat_99th,
        client.scheduler_stat_98th,
        client.scheduler_stat_95th,
        client.scheduler_stat_75th,
        client.scheduler_stat_median,
        client.scheduler_stat_mean,
    ):
        assert sorted(row["jobNameLabel"] for row in call()) == ["etl", "report"]
    metrics = client.metrics()
    assert isinstance(metrics, dict) and "counters" in metrics and "gauges" in metrics
    client.delete_tasks("etl")
    assert scheduler.events[-1] == KillRequested("etl")
    client.delete("etl")  # a parent: its child becomes scheduled, as in Chronos
    remaining = client.list()
    assert [j["name"] for j in remaining] == ["report"] and remaining[0]["schedule"] == scheduled["schedule"]
    with pytest.raises(chronos.ChronosAPIError):
        client.delete("ghost")
