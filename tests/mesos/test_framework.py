"""FrameworkInfo and TaskInfo built from jobs: shapes the master accepts, fields mapped."""

from __future__ import annotations

from moroccron import Container, Job, Resources
from moroccron.mesos.framework import framework_info, offer_from_json, status_from_json, task_info
from moroccron.mesos.proto import validate_call
from moroccron.model import Run
from tests.engine.helpers import T0


def launch_call(info):
    return {
        "framework_id": {"value": "fw"},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "o1"}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [info]}}],
        },
    }


def test_framework_info_is_checkpointed_with_failover_timeout():
    info = framework_info(name="m", role="etl", principal="p", failover_timeout=3600, framework_id="fw-1")
    assert info["checkpoint"] is True and info["failover_timeout"] == 3600.0
    assert info["id"] == {"value": "fw-1"} and info["roles"] == ["etl"] and info["principal"] == "p"
    validate_call({"type": "SUBSCRIBE", "framework_id": {"value": "fw-1"}, "subscribe": {"framework_info": info}})


def test_docker_job_maps_to_container_and_command_info():
    job = Job(
        name="etl",
        command="python run.py",
        arguments=["--day", "2026-01-01"],
        env={"A": "1"},
        uris=["file:///tmp/bundle.tar.gz"],
        user="nobody",
        resources=Resources(cpus=0.5, mem=256, disk=10),
        container=Container(
            type="docker",
            image="python:3.11",
            force_pull=True,
            volumes=[{"container_path": "/data", "host_path": "/srv/data", "mode": "RW"}],
        ),
        labels={"team": "data"},
    )
    run = Run(job="etl", scheduled_at=T0, attempt=1)
    info = task_info(job, run, "agent-1")
    validate_call(launch_call(info))
    assert info["task_id"] == {"value": run.task_id}
    cmd = info["command"]
    assert cmd["value"] == "python run.py --day 2026-01-01" and cmd["shell"] is True
    assert cmd["user"] == "nobody"
    assert cmd["uris"][0] == {
        "value": "file:///tmp/bundle.tar.gz",
        "extract": True,
        "executable": False,
        "cache": False,
    }
    env = {v["name"]: v["value"] for v in cmd["environment"]["variables"]}
    assert env["A"] == "1" and env["MOROCCRON_JOB"] == "etl" and env["MOROCCRON_ATTEMPT"] == "1"
    container = info["container"]
    assert container["type"] == "DOCKER"
    assert container["docker"] == {"image": "python:3.11", "force_pull_image": True}
    assert container["volumes"] == [{"container_path": "/data", "mode": "RW", "host_path": "/srv/data"}]
    resources = {r["name"]: r["scalar"]["value"] for r in info["resources"]}
    assert resources == {"cpus": 0.5, "mem": 256.0, "disk": 10.0}
    assert {"key": "team", "value": "data"} in info["labels"]["labels"]


def test_shell_false_uses_argv_and_run_arguments_override():
    job = Job(name="raw", command="/bin/echo", shell=False, arguments=["a"])
    run = Run(job="raw", scheduled_at=T0, arguments=("x", "y z"))
    info = task_info(job, run, "agent-1")
    validate_call(launch_call(info))
    assert info["command"]["shell"] is False
    assert info["command"]["value"] == "/bin/echo"
    assert info["command"]["arguments"] == ["/bin/echo", "x", "y z"]


def test_mesos_container_with_image():
    job = Job(name="m", container=Container(type="mesos", image="alpine:3"))
    info = task_info(job, Run(job="m", scheduled_at=T0), "agent-1")
    validate_call(launch_call(info))
    assert info["container"]["mesos"]["image"]["docker"] == {"name": "alpine:3"}


def test_offer_and_status_parsing():
    offer = offer_from_json(
        {
            "id": {"value": "o1"},
            "agent_id": {"value": "a1"},
            "hostname": "h1",
            "framework_id": {"value": "fw"},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024}},
                {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 2}]}},
            ],
            "attributes": [
                {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
                {"name": "size", "type": "SCALAR", "scalar": {"value": 3}},
            ],
        }
    )
    assert offer.resources.cpus == 2 and offer.resources.mem == 1024
    assert dict(offer.attributes) == {"rack": "r1", "size": 3.0}
    st = status_from_json(
        {
            "task_id": {"value": "t"},
            "state": "TASK_FAILED",
            "agent_id": {"value": "a1"},
            "uuid": "abc=",
            "message": "Command exited with status 7",
        }
    )
    assert (st.exit_status, st.uuid, st.agent_id) == (7, "abc=", "a1")
