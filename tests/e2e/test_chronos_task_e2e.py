"""Chronos jobs run through the local Mesos master as Chronos ran them: the task's
environment, fetched files and behaviour fields, seen from inside the running process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.harness import Cluster, api_over_a_cluster, wait_for

pytestmark = pytest.mark.slow

V1 = "/v1/scheduler"
LATER = "R/2099-01-01T00:00:00Z/P1D"  # scheduled, but never due during a test: runs are started by hand


@pytest.fixture
def api(tmp_path) -> Iterator[tuple[Cluster, TestClient]]:
    with api_over_a_cluster(tmp_path) as pair:
        yield pair


def finished_run(client: TestClient, name: str, count: int = 1) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        runs = client.get(f"/api/v1/jobs/{name}/runs").json()["runs"]
        final = [r for r in runs if r["state"] in ("succeeded", "failed", "killed", "lost")]
        return final[0] if len(final) >= count else None

    return wait_for(done, 30, what=f"a finished run of {name}")


def stdout(client: TestClient, task_id: str) -> str:
    return client.get(f"/api/v1/runs/{task_id}/stdout").json()["data"]


def test_a_chronos_job_sees_the_chronos_variables_in_its_environment(api):
    cluster, client = api
    job = {
        "name": "envy",
        "command": "env",
        "schedule": LATER,
        "owner": "a@example.com,b@example.com",
        "cpus": 0.25,
        "mem": 64,
        "disk": 16,
        "environmentVariables": [{"name": "MINE", "value": "kept"}, {"name": "CHRONOS_JOB_NAME", "value": "spoofed"}],
    }
    assert client.post(f"{V1}/iso8601", json=job).status_code == 204
    assert client.put(f"{V1}/job/envy").status_code == 204
    run = finished_run(client, "envy")
    assert run["state"] == "succeeded"
    env = dict(line.split("=", 1) for line in stdout(client, run["task_id"]).splitlines() if "=" in line)
    assert env["CHRONOS_JOB_NAME"] == "envy"
    assert env["CHRONOS_JOB_OWNER"] == "a@example.com,b@example.com"
    assert env["CHRONOS_RESOURCE_CPU"] == "0.25"
    assert env["CHRONOS_RESOURCE_MEM"] == "64.0"
    assert env["CHRONOS_RESOURCE_DISK"] == "16.0"
    assert env["CHRONOS_JOB_RUN_ATTEMPT"] == "0"
    assert env["mesos_task_id"] == env["MESOS_TASK_ID"] == run["task_id"]
    scheduled_ms = int(run["task_id"].rsplit(".", 2)[1]) * 1000
    assert env["CHRONOS_JOB_RUN_TIME"] == str(scheduled_ms)
    assert env["HOST"] == "agent0.local"
    assert env["MINE"] == "kept"


def test_a_fetched_tool_is_executable_and_an_archive_is_kept_when_extract_is_false(api, tmp_path):
    cluster, client = api
    tool = tmp_path / "tool.sh"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    tool.chmod(0o644)  # not executable where it is: only the fetch flag makes it so in the sandbox
    archive = tmp_path / "data.tgz"
    archive.write_bytes(b"not really an archive")
    job = {
        "name": "fetchy",
        "command": "./bin/tool && ls data.tgz",
        "schedule": LATER,
        "fetch": [
            {"uri": tool.as_uri(), "executable": True, "output_file": "bin/tool"},
            {"uri": archive.as_uri(), "extract": False},
        ],
    }
    assert client.post(f"{V1}/iso8601", json=job).status_code == 204
    assert client.put(f"{V1}/job/fetchy").status_code == 204
    run = finished_run(client, "fetchy")
    assert run["state"] == "succeeded", run
    assert stdout(client, run["task_id"]) == "tool ran\ndata.tgz\n"


def test_max_completion_time_stops_a_run_that_takes_longer(api):
    cluster, client = api
    job = {"name": "slowpoke", "command": "sleep 60", "schedule": LATER, "maxCompletionTime": 1, "retries": 0}
    assert client.post(f"{V1}/iso8601", json=job).status_code == 204
    assert client.put(f"{V1}/job/slowpoke").status_code == 204
    run = finished_run(client, "slowpoke")
    assert run["state"] == "failed" and run["reason"].startswith("timeout"), run


def test_manual_start_arguments_reach_the_shell_as_chronos_gave_them(api):
    _, client = api
    job = {"name": "args", "command": "printf '<%s>\\n'", "schedule": LATER}
    assert client.post(f"{V1}/iso8601", json=job).status_code == 204
    r = client.put(f"{V1}/job/args", params={"arguments": "--date 2020-01-01 --list=a,b,c; echo injected"})
    assert r.status_code == 204, r.text
    run = finished_run(client, "args")
    assert run["state"] == "succeeded", run
    # two words, then one (commas kept), and ';' taken out as Chronos did: no second command
    assert stdout(client, run["task_id"]).splitlines() == [
        "<--date>",
        "<2020-01-01>",
        "<--list=a,b,c>",
        "<echo>",
        "<injected>",
    ]
