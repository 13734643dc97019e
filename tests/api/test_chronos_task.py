"""What the Chronos routes hand the engine and Mesos: docker parameters, fetch entries,
behaviour fields, manual starts of disabled jobs. Over a real store (SQLite and
PostgreSQL); the scheduler is a recorder, what the engine does is tested in tests/engine
and, through the local master, in tests/e2e/test_chronos_task_e2e.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.config import Settings
from moroccron.events import Action, Event, RunRequested, SaveRun
from moroccron.hooks.manager import PluginManager
from moroccron.mesos.framework import task_info
from moroccron.mesos.proto import validate_call
from moroccron.model import JobSpec, Run, RunState
from moroccron.store import Store

V1 = "/v1/scheduler"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = "R/2099-01-01T00:00:00Z/P1D"


class Recorder:
    """The leader's Scheduler as the routes see it: records events; a run request gets a
    queued run back, as the engine would answer."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def submit(self, event: Event) -> list[Action]:
        self.events.append(event)
        if isinstance(event, RunRequested):
            return [SaveRun(Run(job=event.job, scheduled_at=T0, state=RunState.QUEUED), new=True)]
        return []

    def job_changed(self, job: JobSpec) -> None:
        pass

    def job_removed(self, name: str) -> None:
        pass

    @property
    def snapshot(self) -> Any:
        return type("Snapshot", (), {"quarantined": {}})()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(store: Store, recorder: Recorder) -> Iterator[TestClient]:
    app = create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False), scheduler=recorder))
    with TestClient(app) as c:
        yield c


def launch(info: dict[str, Any]) -> dict[str, Any]:
    call = {"framework_id": {"value": "fw"}, "type": "ACCEPT",
            "accept": {"offer_ids": [{"value": "o1"}],
                       "operations": [{"type": "LAUNCH", "launch": {"task_infos": [info]}}]}}
    validate_call(call)
    return info


def chronos_job(client: TestClient, name: str) -> dict[str, Any]:
    [job] = [j for j in client.get(f"{V1}/jobs").json() if j["name"] == name]
    return job


# --------------------------------------------------------------------------- docker parameters


def test_docker_parameters_may_repeat_a_key_in_order_through_the_store_to_docker_info(client, store):
    params = [{"key": "add-host", "value": "db:10.0.0.5"}, {"key": "env", "value": "A=1"},
              {"key": "add-host", "value": "cache:10.0.0.6"}, {"key": "volume", "value": "/a:/a"},
              {"key": "env", "value": "B=2"}, {"key": "volume", "value": "/b:/b"}]
    body = {"name": "dock", "command": "true", "schedule": LATER,
            "container": {"type": "DOCKER", "image": "busybox:1.36", "parameters": params}}
    r = client.post(f"{V1}/iso8601", json=body)
    assert r.status_code == 204, r.text
    assert chronos_job(client, "dock")["container"]["parameters"] == params
    job = store.get_job("dock")
    info = launch(task_info(job, Run(job="dock", scheduled_at=T0), "agent-1"))
    assert info["container"]["docker"]["parameters"] == params
    # re-sent as read (a sync tool): unchanged
    assert client.post(f"{V1}/iso8601", json=chronos_job(client, "dock")).status_code == 204
    assert store.get_job("dock").container.parameters == job.container.parameters


def test_the_native_api_takes_repeated_docker_parameters_too(client, store):
    params = [{"key": "add-host", "value": "a:10.0.0.1"}, {"key": "add-host", "value": "b:10.0.0.2"}]
    r = client.post("/api/v1/jobs", json={"name": "nat", "command": "true",
                                          "container": {"type": "docker", "image": "busybox", "parameters": params}})
    assert r.status_code in (200, 201), r.text
    assert r.json()["container"]["parameters"] == params
    assert [p.to_dict() for p in store.get_job("nat").container.parameters] == params


# --------------------------------------------------------------------------- disabled jobs


def test_a_disabled_job_is_not_started_by_hand_under_the_chronos_routes(client, recorder):
    assert client.post(f"{V1}/iso8601", json={"name": "off", "command": "true", "schedule": LATER,
                                              "disabled": True}).status_code == 204
    for prefix in (V1, "/scheduler"):
        r = client.put(f"{prefix}/job/off")
        assert r.status_code == 409
        assert "disabled" in r.text
    assert not [e for e in recorder.events if isinstance(e, RunRequested)], "nothing reached the engine"


def test_an_enabled_job_starts_and_the_native_api_still_starts_a_disabled_one(client, recorder):
    assert client.post(f"{V1}/iso8601", json={"name": "on", "command": "true", "schedule": LATER}).status_code == 204
    assert client.put(f"{V1}/job/on").status_code == 204
    assert client.post(f"{V1}/iso8601", json={"name": "off", "command": "true", "schedule": LATER,
                                              "disabled": True}).status_code == 204
    # The native API keeps its meaning: disabling stops the schedule, not an explicit start.
    assert client.post("/api/v1/jobs/off/runs").status_code == 202
    assert [e.job for e in recorder.events if isinstance(e, RunRequested)] == ["on", "off"]


# --------------------------------------------------------------------------- fetch


def test_fetch_flags_are_kept_and_reach_command_info_uris(client, store):
    fetch = [{"uri": "https://example.com/tool", "executable": True, "cache": True, "extract": False},
             {"uri": "https://example.com/data.tgz", "executable": False, "cache": False, "extract": True,
              "output_file": "in/data.tgz"}]
    body = {"name": "fetcher", "command": "./tool", "schedule": LATER, "fetch": fetch,
            "uris": ["https://example.com/conf.json", "https://example.com/tool"]}
    r = client.post(f"{V1}/iso8601", json=body)
    assert r.status_code == 204, r.text
    assert "fetch" not in r.headers.get("X-Moroccron-Ignored-Fields", "")
    got = chronos_job(client, "fetcher")
    assert got["fetch"] == fetch and got["uris"] == body["uris"]
    info = launch(task_info(store.get_job("fetcher"), Run(job="fetcher", scheduled_at=T0), "agent-1"))
    assert info["command"]["uris"] == [
        {"value": "https://example.com/tool", "extract": False, "executable": True, "cache": True},
        {"value": "https://example.com/data.tgz", "extract": True, "executable": False, "cache": False,
         "output_file": "in/data.tgz"},
        # the plain uri no fetch entry names; the one both name is fetched once, with its flags
        {"value": "https://example.com/conf.json", "extract": False, "executable": False, "cache": False},
    ]


def test_a_fetch_entry_without_flags_gets_chronos_defaults(client, store):
    body = {"name": "f2", "command": "true", "schedule": LATER, "fetch": [{"uri": "https://example.com/a.zip"}]}
    assert client.post(f"{V1}/iso8601", json=body).status_code == 204
    assert chronos_job(client, "f2")["fetch"] == [{"uri": "https://example.com/a.zip", "executable": False,
                                                    "cache": False, "extract": True}]


@pytest.mark.parametrize(("entry", "field"), [
    ({"uri": "https://example.com/x", "output_file": "/etc/passwd"}, "fetch[0].output_file"),
    ({"uri": "https://example.com/x", "output_file": "../../x"}, "fetch[0].output_file"),
    ({"uri": ""}, "fetch[0].uri"),
    ({"uri": "https://example.com/x", "executable": "maybe"}, "fetch[0].executable"),
])
def test_a_bad_fetch_entry_is_refused_by_its_chronos_field(client, store, entry, field):
    r = client.post(f"{V1}/iso8601", json={"name": "bad", "command": "true", "schedule": LATER, "fetch": [entry]})
    assert r.status_code == 400
    assert field in {e["field"] for e in r.json()["errors"]}
    assert store.list_jobs(limit=10)[0] == [], "nothing stored"


def test_the_native_api_takes_fetch_entries(client, store):
    r = client.post("/api/v1/jobs", json={"name": "nf", "command": "./tool",
                                          "fetch": ["https://example.com/plain",
                                                    {"uri": "https://example.com/tool", "executable": True}]})
    assert r.status_code in (200, 201), r.text
    assert r.json()["fetch"][1] == {"uri": "https://example.com/tool", "executable": True, "extract": True,
                                    "cache": False, "output_file": None}
    r = client.post("/api/v1/jobs", json={"name": "nf2", "command": "x", "fetch": [{"uri": "u", "output_file": "/x"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "fetch[0].output_file"


# --------------------------------------------------------------------------- behaviour fields


def test_high_priority_and_max_completion_time_are_kept_and_returned(client, store):
    body = {"name": "vip", "command": "true", "schedule": LATER, "highPriority": True, "maxCompletionTime": 90}
    r = client.post(f"{V1}/iso8601", json=body)
    assert r.status_code == 204 and not r.headers.get("X-Moroccron-Ignored-Fields")
    job = store.get_job("vip")
    assert job.high_priority is True and job.timeout_seconds == 90
    got = chronos_job(client, "vip")
    assert got["highPriority"] is True and got["maxCompletionTime"] == 90
    # sent back as read: nothing changes (a sync tool settles)
    assert client.post(f"{V1}/iso8601", json=got).status_code == 204
    assert store.get_job("vip") == job


def test_max_completion_time_zero_means_none_and_a_negative_one_is_refused(client, store):
    assert client.post(f"{V1}/iso8601", json={"name": "z", "command": "true", "schedule": LATER,
                                              "maxCompletionTime": 0}).status_code == 204
    assert store.get_job("z").timeout_seconds is None
    assert chronos_job(client, "z")["maxCompletionTime"] == 0
    r = client.post(f"{V1}/iso8601", json={"name": "n", "command": "true", "schedule": LATER,
                                           "maxCompletionTime": -5})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "maxCompletionTime"
