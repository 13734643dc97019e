"""The variables every task gets, as Chronos's MesosTaskBuilder gave them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from moroccron import Job, Resources
from moroccron.mesos.framework import task_info
from moroccron.mesos.proto import validate_call
from moroccron.mesos.task_env import java_double, task_environment
from moroccron.model import Run
from tests.engine.helpers import T0


def env_of(info: dict) -> dict[str, str]:
    names = [v["name"] for v in info["command"]["environment"]["variables"]]
    assert len(names) == len(set(names)), "each variable once: the agent would keep only one"
    return {v["name"]: v["value"] for v in info["command"]["environment"]["variables"]}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (128, "128.0"),
        (128.0, "128.0"),
        (0.5, "0.5"),
        (0.1, "0.1"),
        (0, "0.0"),
        (256.0, "256.0"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (1e7, "1.0E7"),
        (12500000.0, "1.25E7"),
        (9999999.0, "9999999.0"),
        (1.5, "1.5"),
        (4096.0, "4096.0"),
    ],
)
def test_resources_are_written_as_java_doubles(value, text):
    assert java_double(value) == text


def test_every_task_carries_the_chronos_variables():
    job = Job(
        name="etl",
        command="./run.sh",
        owners=["a@example.com", "b@example.com"],
        resources=Resources(cpus=0.5, mem=128, disk=256),
        env={"A": "1"},
    )
    run = Run(job="etl", scheduled_at=T0 + timedelta(milliseconds=250), attempt=2, hostname="agent7.local")
    info = task_info(job, run, "agent-7")
    env = env_of(info)
    assert env["CHRONOS_JOB_NAME"] == "etl"
    assert env["CHRONOS_JOB_OWNER"] == "a@example.com,b@example.com"
    assert env["CHRONOS_JOB_RUN_TIME"] == str(int(T0.timestamp()) * 1000 + 250)
    assert env["CHRONOS_JOB_RUN_ATTEMPT"] == "2"
    assert env["CHRONOS_RESOURCE_CPU"] == "0.5"
    assert env["CHRONOS_RESOURCE_MEM"] == "128.0"
    assert env["CHRONOS_RESOURCE_DISK"] == "256.0"
    assert env["mesos_task_id"] == env["MESOS_TASK_ID"] == run.task_id == info["task_id"]["value"]
    assert env["HOST"] == "agent7.local"
    assert env["A"] == "1" and env["MOROCCRON_JOB"] == "etl"


def test_a_job_without_owners_gets_an_empty_owner_and_no_host_without_an_offer():
    env = task_environment(Job(name="x", command="true"), Run(job="x", scheduled_at=T0))
    assert env["CHRONOS_JOB_OWNER"] == ""
    assert env["CHRONOS_RESOURCE_DISK"] == "0.0"
    assert "HOST" not in env


def test_the_job_cannot_replace_chronos_variables_but_keeps_its_own_host():
    # Chronos dropped a job variable named like one of its own; HOST is moroccron's exception.
    job = Job(
        name="etl",
        command="env",
        owners=["o@example.com"],
        env={"CHRONOS_JOB_NAME": "spoofed", "mesos_task_id": "fake", "HOST": "db.example.com", "MOROCCRON_JOB": "mine"},
    )
    run = Run(job="etl", scheduled_at=T0, hostname="agent1.local")
    info = task_info(job, run, "agent-1")
    validate_call(
        {
            "framework_id": {"value": "fw"},
            "type": "ACCEPT",
            "accept": {
                "offer_ids": [{"value": "o1"}],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": [info]}}],
            },
        }
    )
    env = env_of(info)
    assert env["CHRONOS_JOB_NAME"] == "etl"
    assert env["mesos_task_id"] == run.task_id
    assert env["HOST"] == "db.example.com"
    assert env["MOROCCRON_JOB"] == "mine"
