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
from moroccron.commands import SchedulerCommands
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


class Recorder(SchedulerCommands):
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
    call = {
        "framework_id": {"value": "fw"},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "o1"}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [info]}}],
        },
    }
    validate_call(call)
    return info


def chronos_job(client: TestClient, name: str) -> dict[str, Any]:
    [job] = [j for j in client.get(f"{V1}/jobs").json() if j["name"] == name]
    return job


# --------------------------------------------------------------------------- docker parameters


def test_docker_parameters_may_repeat_a_key_in_order_through_the_store_to_docker_info(client, store):
    params = [
        {"key": "add-host", "value": "db:10.0.0.5"},
        {"key": "env", "value": "A=1"},
        {"key": "add-host", "value": "cache:10.0.0.6"},
        {"key": "volume", "value": "/a:/a"},
        {"key": "env", "value": "B=2"},
        {"key": "volume", "value": "/b:/b"},
    ]
    body = {
        "name": "dock",
        "command": "true",
        "schedule": LATER,
        "container": {"type": "DOCKER", "image": "busybox:1.36", "parameters": params},
    }
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
    r = client.post(
        "/api/v1/jobs",
        json={
            "name": "nat",
            "command": "true",
            "container": {"type": "docker", "image": "busybox", "parameters": params},
        },
    )
    assert r.status_code in (200, 201), r.text
    assert r.json()["container"]["parameters"] == params
    assert [p.to_dict() for p in store.get_job("nat").container.parameters] == params


# --------------------------------------------------------------------------- disabled jobs


def test_a_disabled_job_is_not_started_by_hand_under_the_chronos_routes(client, recorder):
    assert (
        client.post(
            f"{V1}/iso8601", json={"name": "off", "command": "true", "schedule": LATER, "disabled": True}
        ).status_code
        == 204
    )
    for prefix in (V1, "/scheduler"):
        r = client.put(f"{prefix}/job/off")
        assert r.status_code == 409
        assert "disabled" in r.text
    assert not [e for e in recorder.events if isinstance(e, RunRequested)], "nothing reached the engine"


def test_an_enabled_job_starts_and_the_native_api_still_starts_a_disabled_one(client, recorder):
    assert client.post(f"{V1}/iso8601", json={"name": "on", "command": "true", "schedule": LATER}).status_code == 204
    assert client.put(f"{V1}/job/on").status_code == 204
    assert (
        client.post(
            f"{V1}/iso8601", json={"name": "off", "command": "true", "schedule": LATER, "disabled": True}
        ).status_code
        == 204
    )
    # The native API keeps its meaning: disabling stops the schedule, not an explicit start.
    assert client.post("/api/v1/jobs/off/runs").status_code == 202
    assert [e.job for e in recorder.events if isinstance(e, RunRequested)] == ["on", "off"]


# --------------------------------------------------------------------------- fetch


def test_fetch_flags_are_kept_and_reach_command_info_uris(client, store):
    fetch = [
        {"uri": "https://example.com/tool", "executable": True, "cache": True, "extract": False},
        {
            "uri": "https://example.com/data.tgz",
            "executable": False,
            "cache": False,
            "extract": True,
            "output_file": "in/data.tgz",
        },
    ]
    body = {
        "name": "fetcher",
        "command": "./tool",
        "schedule": LATER,
        "fetch": fetch,
        "uris": ["https://example.com/conf.json", "https://example.com/tool"],
    }
    r = client.post(f"{V1}/iso8601", json=body)
    assert r.status_code == 204, r.text
    assert "fetch" not in r.headers.get("X-Moroccron-Ignored-Fields", "")
    got = chronos_job(client, "fetcher")
    assert got["fetch"] == fetch and got["uris"] == body["uris"]
    info = launch(task_info(store.get_job("fetcher"), Run(job="fetcher", scheduled_at=T0), "agent-1"))
    assert info["command"]["uris"] == [
        {"value": "https://example.com/tool", "extract": False, "executable": True, "cache": True},
        {
            "value": "https://example.com/data.tgz",
            "extract": True,
            "executable": False,
            "cache": False,
            "output_file": "in/data.tgz",
        },
        # the plain uri no fetch entry names; the one both name is fetched once, with its flags
        {"value": "https://example.com/conf.json", "extract": False, "executable": False, "cache": False},
    ]


def test_a_fetch_entry_without_flags_gets_chronos_defaults(client, store):
    body = {"name": "f2", "command": "true", "schedule": LATER, "fetch": [{"uri": "https://example.com/a.zip"}]}
    assert client.post(f"{V1}/iso8601", json=body).status_code == 204
    assert chronos_job(client, "f2")["fetch"] == [
        {"uri": "https://example.com/a.zip", "executable": False, "cache": False, "extract": True}
    ]


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"uri": "https://example.com/x", "output_file": "/etc/passwd"}, "fetch[0].output_file"),
        ({"uri": "https://example.com/x", "output_file": "../../x"}, "fetch[0].output_file"),
        ({"uri": ""}, "fetch[0].uri"),
        ({"uri": "https://example.com/x", "executable": "maybe"}, "fetch[0].executable"),
    ],
)
def test_a_bad_fetch_entry_is_refused_by_its_chronos_field(client, store, entry, field):
    r = client.post(f"{V1}/iso8601", json={"name": "bad", "command": "true", "schedule": LATER, "fetch": [entry]})
    assert r.status_code == 400
    assert field in {e["field"] for e in r.json()["errors"]}
    assert store.list_jobs(limit=10)[0] == [], "nothing stored"


def test_the_native_api_takes_fetch_entries(client, store):
    r = client.post(
        "/api/v1/jobs",
        json={
            "name": "nf",
            "command": "./tool",
            "fetch": ["https://example.com/plain", {"uri": "https://example.com/tool", "executable": True}],
        },
    )
    assert r.status_code in (200, 201), r.text
    assert r.json()["fetch"][1] == {
        "uri": "https://example.com/tool",
        "executable": True,
        "extract": True,
        "cache": False,
        "output_file": None,
    }
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
    assert (
        client.post(
            f"{V1}/iso8601", json={"name": "z", "command": "true", "schedule": LATER, "maxCompletionTime": 0}
        ).status_code
        == 204
    )
    assert store.get_job("z").timeout_seconds is None
    assert chronos_job(client, "z")["maxCompletionTime"] == 0
    r = client.post(f"{V1}/iso8601", json={"name": "n", "command": "true", "schedule": LATER, "maxCompletionTime": -5})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "maxCompletionTime"
    # Milliseconds by mistake (an hour as 3600000) exceed the longest timeout: refused by
    # the Chronos field, not by the native one it maps to.
    r = client.post(
        f"{V1}/iso8601", json={"name": "ms", "command": "true", "schedule": LATER, "maxCompletionTime": 3600000}
    )
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["maxCompletionTime"]
    assert store.list_jobs(limit=10)[0] == [store.get_job("z")], "nothing else stored"


# --------------------------------------------------------------------------- volumes and networks


def post_ok(client: TestClient, body: dict[str, Any]) -> Any:
    r = client.post(f"{V1}/iso8601", json=body)
    assert r.status_code == 204, r.text
    return r


def test_an_external_volume_is_a_docker_volume_kept_and_returned_as_posted(client, store):
    volumes = [
        {
            "containerPath": "/data",
            "mode": "RW",
            "external": {
                "name": "pgdata",
                "provider": "rexray",
                "options": [{"key": "size", "value": "10"}, {"key": "iops", "value": "100"}],
            },
        },
        {"containerPath": "/cache", "mode": "RO", "external": {"name": "cache", "options": []}},
    ]
    r = post_ok(
        client,
        {
            "name": "vol",
            "command": "true",
            "schedule": LATER,
            "container": {"type": "DOCKER", "image": "busybox:1.36", "volumes": volumes},
        },
    )
    assert "external" not in r.headers.get("X-Moroccron-Ignored-Fields", "")
    got = chronos_job(client, "vol")
    assert got["container"]["volumes"] == volumes
    job = store.get_job("vol")
    info = launch(task_info(job, Run(job="vol", scheduled_at=T0), "agent-1"))
    assert info["container"]["volumes"] == [
        {
            "container_path": "/data",
            "mode": "RW",
            "source": {
                "type": "DOCKER_VOLUME",
                "docker_volume": {
                    "name": "pgdata",
                    "driver": "rexray",
                    "driver_options": {"parameter": [{"key": "size", "value": "10"}, {"key": "iops", "value": "100"}]},
                },
            },
        },
        {
            "container_path": "/cache",
            "mode": "RO",
            "source": {"type": "DOCKER_VOLUME", "docker_volume": {"name": "cache"}},
        },
    ]
    post_ok(client, got)  # a sync tool sends back what it read: nothing changes
    assert store.get_job("vol") == job


@pytest.mark.parametrize(
    ("volume", "field"),
    [
        ({"containerPath": "/d", "external": {"provider": "rexray"}}, "container.volumes[0].external.name"),
        ({"containerPath": "/d", "external": "pgdata"}, "container.volumes[0].external"),
        (
            {"containerPath": "/d", "external": {"name": "v", "options": [{"value": "1"}]}},
            "container.volumes[0].external.options[0].key",
        ),
        ({"containerPath": "/d", "hostPath": "/srv", "external": {"name": "v"}}, "container.volumes[0].hostPath"),
    ],
)
def test_a_bad_external_volume_is_refused_by_its_chronos_field(client, store, volume, field):
    r = client.post(
        f"{V1}/iso8601",
        json={
            "name": "bad",
            "command": "true",
            "schedule": LATER,
            "container": {"type": "DOCKER", "image": "busybox", "volumes": [volume]},
        },
    )
    assert r.status_code == 400, r.text
    assert field in {e["field"] for e in r.json()["errors"]}
    assert store.list_jobs(limit=10)[0] == [], "nothing stored"


@pytest.mark.parametrize("network", ["USER", None])
def test_network_name_with_user_or_no_mode_is_the_docker_network(client, store, network):
    container = {"type": "DOCKER", "image": "busybox:1.36", "networkName": "backend"}
    if network is not None:
        container["network"] = network
    r = post_ok(client, {"name": "net", "command": "true", "schedule": LATER, "container": container})
    assert "network" not in r.headers.get("X-Moroccron-Ignored-Fields", "")
    job = store.get_job("net")
    assert job.container.network == "backend"
    info = launch(task_info(job, Run(job="net", scheduled_at=T0), "agent-1"))
    assert info["container"]["docker"]["network"] == "USER"
    assert info["container"]["network_infos"] == [{"name": "backend"}]
    got = chronos_job(client, "net")
    assert (got["container"]["network"], got["container"]["networkName"]) == ("USER", "backend")
    assert got["container"]["networkInfos"] == []
    post_ok(client, got)
    assert store.get_job("net") == job


def test_network_infos_join_cni_networks_after_network_name_with_their_labels(client, store):
    infos = [
        {"name": "calico", "protocol": "IPv4", "labels": [{"key": "group", "value": "etl"}], "portMappings": []},
        {"name": "weave", "labels": [], "portMappings": []},
    ]
    container = {
        "type": "MESOS",
        "image": "busybox:1.36",
        "network": "USER",
        "networkName": "default-cni",
        "networkInfos": infos,
    }
    r = post_ok(client, {"name": "cni", "command": "true", "schedule": LATER, "container": container})
    assert not r.headers.get("X-Moroccron-Ignored-Fields")
    job = store.get_job("cni")
    info = launch(task_info(job, Run(job="cni", scheduled_at=T0), "agent-1"))
    assert info["container"]["network_infos"] == [
        {"name": "default-cni"},
        {"name": "calico", "labels": {"labels": [{"key": "group", "value": "etl"}]}},
        {"name": "weave"},
    ]
    got = chronos_job(client, "cni")["container"]
    assert (got["network"], got["networkName"], got["networkInfos"]) == ("USER", "default-cni", infos)
    post_ok(client, chronos_job(client, "cni"))
    assert store.get_job("cni") == job


def test_one_network_info_with_user_is_the_docker_network_with_its_labels(client, store):
    infos = [{"name": "backend", "labels": [{"key": "tier", "value": "db"}], "portMappings": []}]
    post_ok(
        client,
        {
            "name": "ni",
            "command": "true",
            "schedule": LATER,
            "container": {"type": "DOCKER", "image": "busybox", "network": "USER", "networkInfos": infos},
        },
    )
    job = store.get_job("ni")
    info = launch(task_info(job, Run(job="ni", scheduled_at=T0), "agent-1"))
    assert info["container"]["docker"]["network"] == "USER"
    assert info["container"]["network_infos"] == [
        {"name": "backend", "labels": {"labels": [{"key": "tier", "value": "db"}]}}
    ]
    got = chronos_job(client, "ni")
    assert got["container"]["network"] == "USER" and got["container"]["networkInfos"] == infos
    assert "networkName" not in got["container"]
    post_ok(client, got)
    assert store.get_job("ni") == job


def test_with_host_or_bridge_docker_ignored_network_name_and_infos_and_so_do_we(client, store):
    r = post_ok(
        client,
        {
            "name": "hb",
            "command": "true",
            "schedule": LATER,
            "container": {
                "type": "DOCKER",
                "image": "busybox",
                "network": "BRIDGE",
                "networkName": "backend",
                "networkInfos": [{"name": "x"}],
            },
        },
    )
    ignored = r.headers["X-Moroccron-Ignored-Fields"]
    assert "container.networkName" in ignored and "container.networkInfos" in ignored
    info = launch(task_info(store.get_job("hb"), Run(job="hb", scheduled_at=T0), "agent-1"))
    assert info["container"]["docker"]["network"] == "BRIDGE" and "network_infos" not in info["container"]


@pytest.mark.parametrize(
    ("container", "field"),
    [
        ({"network": "USER"}, "container.network"),  # the agent refuses USER without a network
        ({"network": "USER", "networkName": "a", "networkInfos": [{"name": "b"}]}, "container.networkInfos"),
        ({"networkInfos": [{"name": "a"}, {"name": "b"}]}, "container.networkInfos"),
        ({"network": "USER", "networkInfos": [{"name": ""}]}, "container.networkInfos[0].name"),
        ({"network": "USER", "networkInfos": [{"name": "a", "protocol": "IPX"}]}, "container.networkInfos[0].protocol"),
    ],
)
def test_docker_networks_the_agent_would_refuse_are_refused_by_their_chronos_field(client, store, container, field):
    body = {
        "name": "bad",
        "command": "true",
        "schedule": LATER,
        "container": {"type": "DOCKER", "image": "busybox", **container},
    }
    r = client.post(f"{V1}/iso8601", json=body)
    assert r.status_code == 400, r.text
    assert field in {e["field"] for e in r.json()["errors"]}
    assert store.list_jobs(limit=10)[0] == [], "nothing stored"


def test_the_native_api_takes_network_infos(client, store):
    container = {
        "type": "mesos",
        "network": "cni-a",
        "network_infos": [{"name": "cni-b", "labels": {"k": "v"}, "protocol": "IPv6"}],
    }
    r = client.post("/api/v1/jobs", json={"name": "nn", "command": "true", "container": container})
    assert r.status_code in (200, 201), r.text
    assert r.json()["container"]["network_infos"] == container["network_infos"]
    info = launch(task_info(store.get_job("nn"), Run(job="nn", scheduled_at=T0), "agent-1"))
    assert info["container"]["network_infos"] == [
        {"name": "cni-a"},
        {"name": "cni-b", "labels": {"labels": [{"key": "k", "value": "v"}]}},
    ]


# --------------------------------------------------------------------------- manual-start arguments


def started(recorder: Recorder) -> list[RunRequested]:
    return [e for e in recorder.events if isinstance(e, RunRequested)]


def test_manual_start_arguments_go_onto_a_shell_command_line_as_given(client, store, recorder):
    post_ok(client, {"name": "sh", "command": "printf '<%s>\\n'", "schedule": LATER, "arguments": ["own"]})
    r = client.put(f"{V1}/job/sh", params={"arguments": "--date 2020-01-01 --list=a,b,c 'two words'"})
    assert r.status_code == 204, r.text
    [event] = started(recorder)
    assert event.argument_line == "--date 2020-01-01 --list=a,b,c 'two words'" and event.arguments is None
    run = Run(job="sh", scheduled_at=T0, argument_line=event.argument_line)
    info = launch(task_info(store.get_job("sh"), run, "agent-1"))
    # command, a space, the string: the job's own arguments are replaced, as Chronos did
    assert info["command"]["value"] == "printf '<%s>\\n' --date 2020-01-01 --list=a,b,c 'two words'"
    assert info["command"]["shell"] is True


def test_chronos_takes_semicolons_out_of_manual_start_arguments(client, recorder):
    post_ok(client, {"name": "sc", "command": "echo", "schedule": LATER})
    assert client.put(f"{V1}/job/sc", params={"arguments": "x; rm -rf /tmp/y"}).status_code == 204
    assert started(recorder)[0].argument_line == "x rm -rf /tmp/y"
    assert client.put(f"{V1}/job/sc", params={"arguments": " ; "}).status_code == 204
    assert started(recorder)[1] == RunRequested("sc"), "nothing left: the job's own arguments"


def test_without_a_shell_manual_start_arguments_are_split_into_words(client, store, recorder):
    post_ok(client, {"name": "ns", "command": "/bin/echo", "shell": False, "schedule": LATER})
    r = client.put(f"{V1}/job/ns", params={"arguments": "--date 2020-01-01 --list=a,b,c 'two words'"})
    assert r.status_code == 204, r.text
    [event] = started(recorder)
    assert event.arguments == ("--date", "2020-01-01", "--list=a,b,c", "two words") and event.argument_line is None


@pytest.mark.parametrize(("shell", "arguments"), [(False, "'unclosed"), (True, "a\x00b"), (True, "x" * 40_000)])
def test_bad_manual_start_arguments_are_a_400_naming_arguments(client, recorder, shell, arguments):
    post_ok(client, {"name": "bad", "command": "/bin/echo", "shell": shell, "schedule": LATER})
    r = client.put(f"{V1}/job/bad", params={"arguments": arguments})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == "arguments"
    assert not started(recorder), "nothing reached the engine"


def test_a_run_argument_line_is_stored_and_read_back(store):
    store.create_job(JobSpec(name="j", command="echo"))
    run = store.create_run(Run(job="j", scheduled_at=T0, argument_line="--date 2020-01-01 --list=a,b,c"))
    back = store.get_run_by_task_id(run.task_id)
    assert back.argument_line == "--date 2020-01-01 --list=a,b,c" and back.arguments is None
    listed = store.create_run(Run(job="j", scheduled_at=T0, attempt=1, arguments=("a", "b")))
    back = store.get_run_by_task_id(listed.task_id)
    assert back.arguments == ("a", "b") and back.argument_line is None
