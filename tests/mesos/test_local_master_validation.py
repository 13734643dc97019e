"""The local master refuses what a real master refuses, the way it refuses it.

Invalid tasks in an ACCEPT are answered TASK_ERROR (REASON_TASK_INVALID, source master,
no uuid) with the real master's message, never an HTTP error, and the valid tasks of the
same ACCEPT still launch. Calls of the wrong shape are still 400. Reservations, GPUs,
roles, ACLs and authentication behave as on a real cluster.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import requests

from moroccron.mesos.local import AgentSpec, LocalMaster
from tests.mesos.conftest import API, MasterFactory, Scheduler, task_info, wait_until

Schedulers = Callable[..., Scheduler]


def _error(scheduler: Scheduler, task_id: str) -> str:
    status = scheduler.update(task_id, "TASK_ERROR")
    assert status["reason"] == "REASON_TASK_INVALID", status
    assert status["source"] == "SOURCE_MASTER"
    assert "uuid" not in status
    return str(status["message"])


def _scalar(name: str, value: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}, **extra}


# ---------------------------------------------------------------------------------------
# Task validation (validation.cpp task::validate, in its order)
# ---------------------------------------------------------------------------------------


def test_invalid_tasks_are_task_error_with_the_masters_reasons(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    volume = {"container_path": "data", "mode": "RW"}
    bad: dict[str, tuple[dict[str, Any], str]] = {
        "no-volume-source": (
            task_info("no-volume-source", offer, "true", container={"type": "MESOS", "volumes": [volume]}),
            "Task's `ContainerInfo` is invalid: Invalid volume: Only one of them should be set: "
            "'host_path', 'image' and 'source'",
        ),
        "two-volume-sources": (
            task_info(
                "two-volume-sources",
                offer,
                "true",
                container={
                    "type": "MESOS",
                    "volumes": [
                        {
                            **volume,
                            "host_path": "/tmp",
                            "source": {"type": "SANDBOX_PATH", "sandbox_path": {"path": "x"}},
                        }
                    ],
                },
            ),
            "Only one of them should be set",
        ),
        "source-without-body": (
            task_info(
                "source-without-body",
                offer,
                "true",
                container={"type": "MESOS", "volumes": [{**volume, "source": {"type": "HOST_PATH"}}]},
            ),
            "'source.host_path' is not set for HOST_PATH volume",
        ),
        "docker-without-docker": (
            task_info("docker-without-docker", offer, "true", container={"type": "DOCKER"}),
            "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo",
        ),
        "docker-name": (
            task_info(
                "docker-name",
                offer,
                "true",
                container={
                    "type": "DOCKER",
                    "docker": {"image": "busybox", "parameters": [{"key": "name", "value": "mine"}]},
                },
            ),
            "Parameter in DockerInfo must not be 'name'",
        ),
        "env-without-value": (
            task_info("env-without-value", offer, {"value": "true", "environment": {"variables": [{"name": "A"}]}}),
            "Task's `CommandInfo` is invalid: Environment variable 'A' of type 'VALUE' must have a value set",
        ),
        "negative-grace": (
            task_info("negative-grace", offer, "true", kill_policy={"grace_period": {"nanoseconds": -1}}),
            "Task's 'kill_policy.grace_period' must be non-negative",
        ),
        "negative-completion": (
            task_info("negative-completion", offer, "true", max_completion_time={"nanoseconds": -5}),
            "Task's `max_completion_time` must be non-negative",
        ),
        "bad-health": (
            task_info("bad-health", offer, "true", health_check={"delay_seconds": 1}),
            "Task uses invalid health check: HealthCheck must specify 'type'",
        ),
        "no-resources": ({**task_info("no-resources", offer, "true"), "resources": []}, "Task uses no resources"),
        "fractional-gpu": (
            task_info("fractional-gpu", offer, "true", resources=[_scalar("cpus", 0.1), _scalar("gpus", 0.5)]),
            "Invalid 'gpus' resource: The 'gpus' resource must be an unsigned integer",
        ),
        "two-roles": (
            task_info(
                "two-roles",
                offer,
                "true",
                resources=[
                    _scalar("cpus", 0.1, allocation_info={"role": "a"}),
                    _scalar("mem", 32, allocation_info={"role": "b"}),
                ],
            ),
            "The resources have multiple allocation roles",
        ),
        "other-role": (
            task_info("other-role", offer, "true", resources=[_scalar("cpus", 0.1, allocation_info={"role": "x"})]),
            "is more than available",
        ),
        "reserved-not-offered": (
            task_info("reserved-not-offered", offer, "true", resources=[_scalar("cpus", 0.1, role="prod")]),
            "is more than available",
        ),
        "limits": (
            task_info("limits", offer, "true", limits={"disk": {"value": 1}}),
            "Only cpus and mem may be included in a task's resource limits",
        ),
    }
    scheduler.accept([offer], [ti for ti, _ in bad.values()] + [task_info("fine", offer, "true")])
    for task_id, (_, message) in bad.items():
        assert message in _error(scheduler, task_id), task_id
    scheduler.follow("fine", "TASK_FINISHED")


@pytest.mark.parametrize(
    ("task_id", "message"),
    [
        ("a/b", "'a/b' contains invalid characters"),
        ("back\\slash", "contains invalid characters"),
        ("tab\there", "contains invalid characters"),
        ("..", "'..' is disallowed"),
        ("x" * 256, "ID must not be greater than 255 characters"),
    ],
)
def test_task_ids_that_cannot_name_a_directory_are_refused(scheduler: Scheduler, task_id: str, message: str) -> None:
    offer = scheduler.offer()
    scheduler.accept([offer], [task_info(task_id, offer, "true")], refuse_seconds=0)
    assert message in _error(scheduler, task_id)


def test_duplicate_ids_and_the_launch_operation_id(scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.accept(
        [offer], [task_info("twice", offer, "sleep 30"), task_info("twice", offer, "true")], refuse_seconds=0
    )
    assert _error(scheduler, "twice") == "Task has duplicate ID: twice"
    scheduler.follow("twice", "TASK_RUNNING")
    offer = scheduler.offer()
    operation = {"type": "LAUNCH", "id": {"value": "op-1"}, "launch": {"task_infos": [task_info("op", offer, "true")]}}
    scheduler.must({"type": "ACCEPT", "accept": {"offer_ids": [offer["id"]], "operations": [operation]}})
    assert _error(scheduler, "op") == "The `id` field cannot be set on LAUNCH operations"


def test_offers_of_two_agents_cannot_be_aggregated(master: LocalMaster, scheduler: Scheduler) -> None:
    master.add_agent(AgentSpec(id="agent-2", hostname="host-2", cpus=1, mem=256))
    first = scheduler.offer(agent_id="agent-1")
    second = scheduler.offer(agent_id="agent-2")
    scheduler.accept([first, second], [task_info("both", first, "true")])
    status = scheduler.update("both", "TASK_DROPPED")
    assert status["reason"] == "REASON_INVALID_OFFERS"
    assert "Aggregated offers must belong to one single agent" in status["message"]


def test_wrong_shaped_calls_are_still_400(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    no_mode = task_info(
        "vol", offer, "true", container={"type": "MESOS", "volumes": [{"container_path": "data", "host_path": "/tmp"}]}
    )
    response = scheduler.call(
        {
            "type": "ACCEPT",
            "accept": {
                "offer_ids": [offer["id"]],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": [no_mode]}}],
            },
        }
    )
    assert response.status_code == 400
    assert "container.volumes[0].mode: missing required field" in response.text
    short = base64.b64encode(b"12345678").decode()
    ack = scheduler.call(
        {
            "type": "ACKNOWLEDGE",
            "acknowledge": {"agent_id": offer["agent_id"], "task_id": {"value": "t"}, "uuid": short},
        }
    )
    assert ack.status_code == 400 and "not a UUID" in ack.text
    mismatch = requests.post(
        master.url + API,
        json={
            "type": "SUBSCRIBE",
            "subscribe": {"framework_info": {"user": "root", "name": "n", "id": {"value": "a"}}},
        },
        timeout=5,
    )
    assert mismatch.status_code == 400 and "'framework_id' differs" in mismatch.text


# ---------------------------------------------------------------------------------------
# SUBSCRIBE refusals, authentication, ACLs
# ---------------------------------------------------------------------------------------


def _refusal(master: LocalMaster, info: dict[str, Any], **kwargs: Any) -> str:
    from moroccron.mesos import recordio

    response = requests.post(
        master.url + API, json={"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}, timeout=5, **kwargs
    )
    assert response.status_code == 200, response.text
    records = recordio.Decoder().feed(response.content)
    import json

    events = [json.loads(r) for r in records]
    assert [e["type"] for e in events] == ["ERROR"], events
    return str(events[0]["error"]["message"])


def test_subscriptions_a_master_refuses(make_master: MasterFactory) -> None:
    master = make_master(root_submissions=False)
    multi = [{"type": "MULTI_ROLE"}]
    assert "must not be set when the framework is MULTI_ROLE capable" in _refusal(
        master, {"user": "u", "name": "n", "role": "a", "capabilities": multi}
    )
    assert "must not be set when the framework is not MULTI_ROLE capable" in _refusal(
        master, {"user": "u", "name": "n", "roles": ["a"]}
    )
    assert "contains duplicate items" in _refusal(
        master, {"user": "u", "name": "n", "roles": ["a", "a"], "capabilities": multi}
    )
    assert "cannot start with a slash" in _refusal(
        master, {"user": "u", "name": "n", "roles": ["/a"], "capabilities": multi}
    )
    assert _refusal(master, {"user": "root", "name": "n"}) == (
        "User 'root' is not allowed to run frameworks without --root_submissions set"
    )


def test_http_authentication_of_frameworks(make_master: MasterFactory) -> None:
    master = make_master(credentials={"moroccron": "s3cret"})
    info = {"user": "root", "name": "n", "principal": "moroccron"}
    body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
    anonymous = requests.post(master.url + API, json=body, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="mesos"'
    wrong = requests.post(master.url + API, json=body, auth=("moroccron", "guess"), timeout=5)
    assert wrong.status_code == 401
    other = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {**info, "principal": "someone-else"}}}
    mismatch = requests.post(master.url + API, json=other, auth=("moroccron", "s3cret"), timeout=5)
    assert mismatch.status_code == 400 and "does not match principal 'someone-else'" in mismatch.text
    stream = requests.post(master.url + API, json=body, auth=("moroccron", "s3cret"), stream=True, timeout=5)
    assert stream.status_code == 200
    stream_id = stream.headers["Mesos-Stream-Id"]
    framework_id = master.frameworks()[0]["id"]
    revive = {"type": "REVIVE", "framework_id": {"value": framework_id}}
    headers = {"Mesos-Stream-Id": stream_id}
    assert requests.post(master.url + API, json=revive, headers=headers, timeout=5).status_code == 401
    ok = requests.post(master.url + API, json=revive, headers=headers, auth=("moroccron", "s3cret"), timeout=5)
    assert ok.status_code == 202
    stream.close()


def test_run_tasks_acl_decides_who_a_task_runs_as(make_master: MasterFactory, schedulers: Schedulers) -> None:
    acls = {
        "permissive": False,
        "run_tasks": [
            {"principals": {"values": ["etl"]}, "users": {"values": ["root", "nobody"]}},
            {"principals": {"type": "ANY"}, "users": {"type": "NONE"}},
        ],
    }
    master = make_master(acls=acls)
    etl = schedulers(master, principal="etl")
    etl.subscribe()
    offer = etl.offer()
    etl.accept(
        [offer],
        [task_info("as-root", offer, "true"), task_info("as-daemon", offer, {"value": "true", "user": "daemon"})],
        refuse_seconds=0,
    )
    refused = etl.update("as-daemon", "TASK_ERROR")
    assert refused["reason"] == "REASON_TASK_UNAUTHORIZED"
    assert "as user 'daemon'" in refused["message"]
    etl.follow("as-root", "TASK_FINISHED")
    etl.close()  # so that the agent is offered to the next one
    other = schedulers(master, principal="other", name="other")
    other.subscribe()
    offer = other.offer()
    other.accept([offer], [task_info("denied", offer, "true")])
    assert other.update("denied", "TASK_ERROR")["reason"] == "REASON_TASK_UNAUTHORIZED"


# ---------------------------------------------------------------------------------------
# GPUs and reservations
# ---------------------------------------------------------------------------------------


def test_gpu_agents_only_for_gpu_frameworks(make_master: MasterFactory, schedulers: Schedulers) -> None:
    master = make_master(agents=[AgentSpec(id="plain", cpus=1, mem=512), AgentSpec(id="gpu", cpus=1, mem=512, gpus=2)])
    plain = schedulers(master, name="plain")
    plain.subscribe()
    offer = plain.offer(agent_id="plain")
    plain.expect_none(
        lambda e: any(o["agent_id"]["value"] == "gpu" for o in e["offers"]["offers"]), type="OFFERS", within=0.6
    )
    # A task asking for GPUs on an agent without them asks for more than the offer holds.
    plain.accept([offer], [task_info("wants-gpu", offer, "true", resources=[_scalar("cpus", 0.1), _scalar("gpus", 1)])])
    assert "is more than available" in _error(plain, "wants-gpu")
    plain.close()

    aware = schedulers(master, name="aware", capabilities=[{"type": "GPU_RESOURCES"}])
    aware.subscribe()
    offer = aware.offer(agent_id="gpu")
    gpus = next(r for r in offer["resources"] if r["name"] == "gpus")
    assert gpus["scalar"]["value"] == 2.0
    aware.accept([offer], [task_info("one-gpu", offer, "true", resources=[_scalar("cpus", 0.1), _scalar("gpus", 1)])])
    aware.follow("one-gpu", "TASK_FINISHED")


def test_reservations_are_offered_to_their_role_only(make_master: MasterFactory, schedulers: Schedulers) -> None:
    agent = AgentSpec(id="r1", hostname="r1", cpus=4, mem=2048, ports=[], reserved={"prod": {"cpus": 3, "mem": 1024}})
    master = make_master(agents=[agent])
    prod = schedulers(master, name="prod", roles=["prod"], capabilities=[{"type": "MULTI_ROLE"}])
    prod.subscribe()
    offer = prod.offer()
    assert offer["allocation_info"] == {"role": "prod"}
    cpus = sorted((r.get("role"), r["scalar"]["value"]) for r in offer["resources"] if r["name"] == "cpus")
    assert cpus == [("*", 1.0), ("prod", 3.0)]  # the old format, without RESERVATION_REFINEMENT
    assert all(r["allocation_info"] == {"role": "prod"} for r in offer["resources"])

    # Unreserved and reserved cpus are different resources: 2 unreserved cpus are not there.
    unreserved = task_info("unreserved", offer, "true", resources=[_scalar("cpus", 2), _scalar("mem", 32)])
    reserved = task_info(
        "reserved", offer, "sleep 30", resources=[_scalar("cpus", 2, role="prod"), _scalar("mem", 32, role="prod")]
    )
    prod.accept([offer], [unreserved, reserved], refuse_seconds=0)
    message = _error(prod, "unreserved")
    assert "is more than available" in message and "cpus(prod):3" in message
    prod.follow("reserved", "TASK_RUNNING")
    used = master.agents()[0]["used_resources"]
    assert used["cpus"] == 2.0
    prod.close()

    # A framework of another role never sees prod's reservation.
    other = schedulers(
        master, name="other", roles=["dev"], capabilities=[{"type": "MULTI_ROLE"}, {"type": "RESERVATION_REFINEMENT"}]
    )
    other.subscribe()
    offer = other.offer()
    assert offer["allocation_info"] == {"role": "dev"}
    assert all("reservations" not in r and "role" not in r for r in offer["resources"])
    assert next(r for r in offer["resources"] if r["name"] == "cpus")["scalar"]["value"] == 1.0


def test_refined_reservation_format_and_no_allocation_info_without_multi_role(
    make_master: MasterFactory, schedulers: Schedulers
) -> None:
    agent = AgentSpec(id="r1", cpus=2, mem=1024, ports=[], reserved={"prod": {"cpus": 1}})
    master = make_master(agents=[agent])
    refined = schedulers(
        master, roles=["prod"], capabilities=[{"type": "MULTI_ROLE"}, {"type": "RESERVATION_REFINEMENT"}]
    )
    refined.subscribe()
    offer = refined.offer()
    reserved = next(r for r in offer["resources"] if r["name"] == "cpus" and "reservations" in r)
    assert reserved["reservations"] == [{"type": "STATIC", "role": "prod"}]
    assert "role" not in reserved
    task = task_info(
        "refined", offer, "true", resources=[_scalar("cpus", 1, reservations=[{"type": "STATIC", "role": "prod"}])]
    )
    refined.accept([offer], [task])
    refined.follow("refined", "TASK_FINISHED")
    refined.close()
    wait_until(lambda: not master.offers())

    legacy = schedulers(master, name="legacy", role="prod", capabilities=[])
    legacy.subscribe()
    offer = legacy.offer()
    assert "allocation_info" not in offer
    assert all("allocation_info" not in r for r in offer["resources"])
    assert {r.get("role") for r in offer["resources"]} == {"*", "prod"}
