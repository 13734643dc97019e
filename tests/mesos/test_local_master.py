"""The local Mesos master, driven over real HTTP like a framework drives a real master.

Also the unit tests of its building blocks: RecordIO framing, Call validation against
the protobuf tables, resource arithmetic and the files API's UTF-8 handling.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import sys
import tarfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from moroccron.mesos import proto, recordio
from moroccron.mesos.local import (
    AgentSpec,
    LocalMaster,
    ResourceSet,
    _utf8_prefix,
    main,
    parse_attributes,
)
from tests.mesos.conftest import (
    API,
    DEFAULT_AGENT,
    MasterFactory,
    Scheduler,
    process_alive,
    task_info,
    wait_until,
)

Schedulers = Callable[..., Scheduler]


# ---------------------------------------------------------------------------------------
# RecordIO
# ---------------------------------------------------------------------------------------


def test_recordio_encode_prefixes_byte_length() -> None:
    assert recordio.encode(b'{"a":1}') == b'7\n{"a":1}'
    assert recordio.encode(b"") == b"0\n"
    # Length counts bytes, not characters: "é" is two bytes in UTF-8.
    assert recordio.encode("é".encode()) == b"2\n\xc3\xa9"
    with pytest.raises(TypeError):
        recordio.encode("text")  # type: ignore[arg-type]


def test_recordio_decoder_handles_every_split_point() -> None:
    records = [b'{"type":"HEARTBEAT"}', b"", '{"message":"h\u00e9llo \u2603 \U0001f600"}'.encode(), b"x" * 300]
    stream = b"".join(recordio.encode(r) for r in records)
    for cut in range(len(stream) + 1):
        decoder = recordio.Decoder()
        out = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert out == records, f"split at byte {cut}"
        assert decoder.buffered == 0
    # One byte at a time, and multi-byte characters survive the byte-wise split.
    decoder = recordio.Decoder()
    out = [record for byte in stream for record in decoder.feed(bytes([byte]))]
    assert out == records
    assert json.loads(out[2])["message"] == "h\u00e9llo \u2603 \U0001f600"


@given(st.lists(st.binary(max_size=64), max_size=8), st.lists(st.integers(min_value=0, max_value=600), max_size=6))
def test_recordio_roundtrip_any_chunking(records: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(recordio.encode(r) for r in records)
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    decoder = recordio.Decoder()
    out: list[bytes] = []
    for start, end in zip(points, points[1:], strict=False):
        out += decoder.feed(stream[start:end])
    assert out == records


@pytest.mark.parametrize("garbage", [b"abc\n", b"12x\n{}", b"\n", b"9" * 20])
def test_recordio_decoder_rejects_bad_headers(garbage: bytes) -> None:
    decoder = recordio.Decoder()
    with pytest.raises(recordio.RecordIOError):
        decoder.feed(garbage)
    with pytest.raises(recordio.RecordIOError):  # and stays failed
        decoder.feed(b"2\n{}")


def test_recordio_decoder_enforces_record_limit() -> None:
    decoder = recordio.Decoder(max_record_size=10)
    assert decoder.feed(b"10\n0123456789") == [b"0123456789"]
    with pytest.raises(recordio.RecordIOError, match="exceeds"):
        decoder.feed(b"11\n")


# ---------------------------------------------------------------------------------------
# Call validation
# ---------------------------------------------------------------------------------------


def _launch_call(task: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "ACCEPT",
        "framework_id": {"value": "fw"},
        "accept": {
            "offer_ids": [{"value": "o1"}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
            "filters": {"refuse_seconds": 1},
        },
    }


FULL_TASK: dict[str, Any] = {
    "name": "etl",
    "task_id": {"value": "etl.1"},
    "agent_id": {"value": "a1"},
    "resources": [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*"},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": "31001"}]}},
        {"name": "disks", "type": "SET", "set": {"item": ["ssd"]}},
    ],
    "command": {
        "value": "run.sh",
        "shell": False,
        "arguments": ["run.sh", "--fast"],
        "user": "nobody",
        "uris": [
            {"value": "file:///tmp/x.tgz", "extract": True, "executable": False, "cache": False, "output_file": "x.tgz"}
        ],
        "environment": {"variables": [{"name": "A", "type": "VALUE", "value": "1"}]},
    },
    "container": {
        "type": "DOCKER",
        "hostname": "box",
        "volumes": [{"container_path": "/data", "host_path": "/srv/data", "mode": "RO"}],
        "docker": {
            "image": "busybox",
            "network": "BRIDGE",
            "force_pull_image": True,
            "privileged": False,
            "parameters": [{"key": "memory-swap", "value": "1g"}],
            "port_mappings": [{"host_port": 31000, "container_port": 80, "protocol": "tcp"}],
        },
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": "busybox"}}},
    },
    "labels": {"labels": [{"key": "team", "value": "sre"}]},
    "health_check": {"command": {"value": "true"}, "anything": "goes"},
    "kill_policy": {"grace_period": {"nanoseconds": 2000000000}},
    "discovery": {"visibility": "FRAMEWORK"},
    "max_completion_time": {"nanoseconds": "60000000000"},
    "data": base64.b64encode(b"opaque").decode(),
}


def test_validate_call_accepts_every_supported_shape() -> None:
    proto.validate_call(_launch_call(FULL_TASK))
    proto.validate_call(
        {
            "type": "SUBSCRIBE",
            "framework_id": {"value": "fw"},
            "subscribe": {
                "framework_info": {
                    "user": "root",
                    "name": "moroccron",
                    "id": {"value": "fw"},
                    "failover_timeout": 604800,
                    "checkpoint": True,
                    "roles": ["*"],
                    "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}],
                    "labels": {"labels": [{"key": "k"}]},
                }
            },
        }
    )
    fw = {"framework_id": {"value": "fw"}}
    proto.validate_call({**fw, "type": "TEARDOWN"})
    proto.validate_call({**fw, "type": "REVIVE"})
    proto.validate_call({**fw, "type": "SUPPRESS", "suppress": {"roles": ["*"]}})
    proto.validate_call({**fw, "type": "DECLINE", "decline": {"offer_ids": [{"value": "o"}], "filters": {}}})
    proto.validate_call({**fw, "type": "RECONCILE", "reconcile": {"tasks": []}})
    proto.validate_call(
        {**fw, "type": "KILL", "kill": {"task_id": {"value": "t"}, "kill_policy": {"grace_period": {"nanoseconds": 1}}}}
    )
    proto.validate_call(
        {
            **fw,
            "type": "ACKNOWLEDGE",
            "acknowledge": {
                "agent_id": {"value": "a"},
                "task_id": {"value": "t"},
                "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
            },
        }
    )
    # Calls the local master does not act on still have to name known fields.
    proto.validate_call({**fw, "type": "REQUEST", "request": {"requests": []}})


def _with(path: list[str | int], value: Any, *, delete: bool = False) -> dict[str, Any]:
    call: dict[str, Any] = json.loads(json.dumps(_launch_call(FULL_TASK)))
    target: Any = call
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return call


TASK: list[str | int] = ["accept", "operations", 0, "launch", "task_infos", 0]


@pytest.mark.parametrize(
    ("call", "path", "reason"),
    [
        ({"type": "ACCEPT"}, "call.accept", "must carry 'accept'"),
        ({"type": "TEARDOWN"}, "call.framework_id", "must carry 'framework_id'"),
        ({"framework_id": {"value": "f"}}, "call.type", "missing required field"),
        ({"type": "EXPLODE", "framework_id": {"value": "f"}}, "call.type", "unknown enum value 'EXPLODE'"),
        (
            {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "x"}}},
            "call.subscribe.framework_info.user",
            "missing required field",
        ),
        (_with([*TASK, "bogus"], 1), "call.accept.operations[0].launch.task_infos[0].bogus", "unknown field"),
        (
            _with([*TASK, "task_id"], None, delete=True),
            "call.accept.operations[0].launch.task_infos[0].task_id",
            "missing required field",
        ),
        (
            _with([*TASK, "command", "shell"], "yes"),
            "call.accept.operations[0].launch.task_infos[0].command.shell",
            "expected true or false",
        ),
        (
            _with([*TASK, "container", "type"], "RKT"),
            "call.accept.operations[0].launch.task_infos[0].container.type",
            "unknown enum value 'RKT'",
        ),
        (
            _with([*TASK, "container", "volumes", 0, "mode"], "RWX"),
            "call.accept.operations[0].launch.task_infos[0].container.volumes[0].mode",
            "unknown enum value",
        ),
        (
            _with([*TASK, "resources", 0, "scalar", "value"], "1"),
            "call.accept.operations[0].launch.task_infos[0].resources[0].scalar.value",
            "expected a number",
        ),
        (
            _with([*TASK, "resources", 1, "ranges", "range", 0, "begin"], -1),
            "call.accept.operations[0].launch.task_infos[0].resources[1].ranges.range[0].begin",
            "out of range",
        ),
        (
            _with([*TASK, "resources"], {"name": "cpus"}),
            "call.accept.operations[0].launch.task_infos[0].resources",
            "expected a JSON array",
        ),
        (
            _with([*TASK, "command", "uris", 0, "value"], None, delete=True),
            "call.accept.operations[0].launch.task_infos[0].command.uris[0].value",
            "missing required field",
        ),
        (
            _with([*TASK, "command", "environment", "variables", 0, "type"], "PLAIN"),
            "call.accept.operations[0].launch.task_infos[0].command.environment.variables[0].type",
            "unknown enum value",
        ),
        (_with([*TASK, "data"], "not base64!"), "call.accept.operations[0].launch.task_infos[0].data", "base64"),
        (
            _with([*TASK, "health_check"], "curl"),
            "call.accept.operations[0].launch.task_infos[0].health_check",
            "expected a JSON object",
        ),
        (
            _with([*TASK, "container", "docker", "image"], None, delete=True),
            "call.accept.operations[0].launch.task_infos[0].container.docker.image",
            "missing required field",
        ),
        (
            _with(["accept", "operations", 0, "launch"], None, delete=True),
            "call.accept.operations[0].launch",
            "must carry 'launch'",
        ),
        (
            _with(["accept", "filters", "refuse_seconds"], True),
            "call.accept.filters.refuse_seconds",
            "expected a number",
        ),
        (
            {
                "type": "ACKNOWLEDGE",
                "framework_id": {"value": "f"},
                "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": 12},
            },
            "call.acknowledge.uuid",
            "expected base64",
        ),
        (
            {"type": "KILL", "framework_id": {"value": "f"}, "kill": {"task_id": {"value": 7}}},
            "call.kill.task_id.value",
            "expected a string",
        ),
        ([], "call", "expected a JSON object"),
    ],
)
def test_validate_call_rejects_with_exact_path(call: Any, path: str, reason: str) -> None:
    with pytest.raises(proto.ProtoError) as caught:
        proto.validate_call(call)
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}: ")


def test_decode_bytes_accepts_standard_and_urlsafe_base64() -> None:
    data = bytes(range(250, 256)) + b"\x00?"
    assert proto.decode_bytes(base64.b64encode(data).decode()) == data
    assert proto.decode_bytes(base64.urlsafe_b64encode(data).decode().rstrip("=")) == data
    assert proto.decode_bytes("a") is None
    assert proto.decode_bytes("@@@@") is None


# ---------------------------------------------------------------------------------------
# Resources, attributes, agents, helpers
# ---------------------------------------------------------------------------------------


def test_resources_arithmetic() -> None:
    total = AgentSpec(id="a", cpus=2, mem=1024, disk=10, ports=[(31000, 31009)]).resources()
    task = ResourceSet.from_json(
        [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.3}},
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.2}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31002, "end": 31003}]}},
        ]
    )
    assert task.scalar("cpus") == 0.5
    assert total.contains(task)
    left = total - task
    assert left.scalar("cpus") == 1.5
    assert left.ranges["ports"] == ((31000, 31001), (31004, 31009))
    assert not left.contains(task)
    assert (left + task).ranges == total.ranges
    assert (left + task).scalars == total.scalars
    # Ten times 0.1 cpus fit into 1 cpu: scalars are fixed point, as in Mesos.
    tenth = ResourceSet({"cpus": 0.1})
    pool = ResourceSet({"cpus": 1.0})
    for _ in range(10):
        assert pool.contains(tenth)
        pool = pool - tenth
    assert pool.empty
    assert str(total) == "cpus:2;mem:1024;disk:10;ports:[31000-31009]"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"name": "cpus", "type": "SCALAR"}], "has no 'scalar'"),
        ([{"name": "cpus", "type": "SCALAR", "scalar": {"value": -1}}], "invalid scalar"),
        ([{"name": "p", "type": "RANGES", "ranges": {"range": [{"begin": 5, "end": 1}]}}], "inverted"),
        ([{"name": "x", "type": "TEXT"}], "cannot be allocated"),
        ([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "role": "prod"}], "role 'prod'"),
        (
            [{"name": "c", "type": "SCALAR", "scalar": {"value": 1}}, {"name": "c", "type": "SET", "set": {}}],
            "both SCALAR and SET",
        ),
    ],
)
def test_resources_reject_invalid(items: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResourceSet.from_json(items)


def test_parse_attributes_and_agent_json() -> None:
    assert parse_attributes("rack:r1; zone:eu-1;weight:3") == {"rack": "r1", "zone": "eu-1", "weight": 3.0}
    with pytest.raises(ValueError, match="NAME:VALUE"):
        parse_attributes("rack")
    spec = AgentSpec.from_json({"id": "x", "cpus": 1, "ports": [[1, 2]], "attributes": {"rack": "r2"}})
    assert spec == AgentSpec(id="x", cpus=1.0, ports=[(1, 2)], attributes={"rack": "r2"})
    assert AgentSpec.from_json(spec.to_json()) == spec
    assert spec.attributes_json() == [{"name": "rack", "type": "TEXT", "text": {"value": "r2"}}]
    with pytest.raises(ValueError, match="unknown agent fields: cores"):
        AgentSpec.from_json({"id": "x", "cores": 1})


def test_agents_from_machine_split_the_host(tmp_path: Path) -> None:
    one = AgentSpec.from_machine(1, work_dir=tmp_path)
    three = AgentSpec.from_machine(3, work_dir=tmp_path, attributes={"rack": "r"})
    assert one[0].cpus == float(os.cpu_count() or 1)
    assert one[0].mem > 0 and one[0].disk > 0
    assert [a.id for a in three] == ["local-S0", "local-S1", "local-S2"]
    assert len({a.hostname for a in three}) == 3
    assert sum(a.cpus for a in three) == pytest.approx(one[0].cpus, abs=0.01)
    ports = [set(range(a.ports[0][0], a.ports[0][1] + 1)) for a in three]
    assert not (ports[0] & ports[1]) and not (ports[1] & ports[2])
    assert min(ports[0]) == 31000 and max(ports[2]) == 32000
    assert all(a.attributes == {"rack": "r"} for a in three)


@pytest.mark.parametrize(
    ("data", "kept"),
    [
        (b"abc", "abc"),
        ("ab\u00e9".encode()[:-1], "ab"),  # 2-byte character cut after its lead byte
        ("a\u2603".encode()[:-1], "a"),  # 3-byte character cut after two bytes
        ("a\U0001f600".encode()[:-2], "a"),
        ("a\U0001f600".encode(), "a\U0001f600"),
    ],
)
def test_utf8_prefix_drops_cut_character(data: bytes, kept: str) -> None:
    assert _utf8_prefix(data).decode("utf-8") == kept


# ---------------------------------------------------------------------------------------
# The master over HTTP: basics
# ---------------------------------------------------------------------------------------


def test_version_health_and_state(master: LocalMaster) -> None:
    version = requests.get(master.url + "/version", timeout=5)
    assert version.status_code == 200
    assert version.json()["version"] == "1.11.0-moroccron-local"
    assert requests.get(master.url + "/health", timeout=5).status_code == 200
    state = requests.get(master.url + "/master/state", timeout=5).json()
    assert state["id"] == master.master_id
    assert state["leader_info"]["port"] == master.port
    assert [s["id"] for s in state["slaves"]] == ["agent-1"]
    assert state["slaves"][0]["resources"]["cpus"] == 2.0
    assert state["slaves"][0]["resources"]["ports"] == "[31000-31009]"
    assert requests.get(master.url + "/state", timeout=5).json()["id"] == master.master_id
    assert requests.get(master.url + "/nope", timeout=5).status_code == 404
    assert requests.get(master.url + API, timeout=5).status_code == 405
    assert master.address == f"127.0.0.1:{master.port}"
    assert master.url == f"http://127.0.0.1:{master.port}"


def test_subscribe_opens_stream_with_subscribed_and_heartbeats(master: LocalMaster, schedulers: Schedulers) -> None:
    sched = schedulers(master, failover_timeout=60.0)
    subscribed = sched.subscribe()
    response = sched.subscribe_response
    assert response is not None
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert str(uuid.UUID(response.headers["Mesos-Stream-Id"])) == response.headers["Mesos-Stream-Id"]
    assert sched.events[0] is subscribed  # the first event of the stream
    body = subscribed["subscribed"]
    assert body["framework_id"]["value"].startswith(master.master_id)
    assert body["heartbeat_interval_seconds"] == 0.2
    info = body["master_info"]
    assert info["address"] == {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": master.port}
    # The deprecated uint32 ip holds the address bytes in network order (16777343 on x86).
    assert info["ip"] == int.from_bytes(bytes([127, 0, 0, 1]), sys.byteorder)
    assert info["version"] == "1.11.0-moroccron-local"
    start = time.monotonic()
    for _ in range(3):
        assert sched.wait(type="HEARTBEAT") == {"type": "HEARTBEAT"}
    assert time.monotonic() - start < 2.0
    assert master.frameworks()[0]["connected"] is True
    assert master.frameworks()[0]["stream_id"] == sched.stream_id


def test_offers_have_the_mesos_shape(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    assert offer["framework_id"]["value"] == scheduler.framework_id
    assert offer["agent_id"] == {"value": "agent-1"}
    assert offer["hostname"] == "host-1"
    assert offer["url"]["address"]["port"] == master.port
    assert offer["url"]["path"] == "/agents/agent-1"
    resources = {r["name"]: r for r in offer["resources"]}
    assert resources["cpus"]["scalar"] == {"value": 2.0}
    assert resources["mem"]["scalar"] == {"value": 1024.0}
    assert resources["ports"]["ranges"] == {"range": [{"begin": 31000, "end": 31009}]}
    assert all(r["role"] == "*" for r in offer["resources"])
    assert {(a["name"], a["type"]) for a in offer["attributes"]} == {("rack", "TEXT"), ("weight", "SCALAR")}
    # Outstanding offers are not offered twice.
    scheduler.expect_none(lambda e: True, type="OFFERS", within=0.5)
    assert len(master.offers()) == 1
    # Agents added later are offered at once; their offer ids are unique.
    master.add_agent(AgentSpec(id="agent-2", hostname="host-2", cpus=1, mem=256))
    second = scheduler.offer(agent_id="agent-2")
    assert second["id"] != offer["id"]


# ---------------------------------------------------------------------------------------
# Launching tasks
# ---------------------------------------------------------------------------------------


def test_launch_two_tasks_in_one_offer_with_reliable_updates(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.accept(
        [offer],
        [
            task_info("t1", offer, "echo hello from $MESOS_TASK_ID; echo oops >&2"),
            task_info("t2", offer, "echo hello from $MESOS_TASK_ID"),
        ],
    )
    assert [c["task_ids"] for c in master.accepted_calls] == [["t1", "t2"]]
    assert master.accepted_calls[0]["offer_ids"] == [offer["id"]["value"]]

    # The first update is retried, unchanged, until acknowledged; nothing overtakes it.
    first = scheduler.update("t1")
    assert first["state"] == "TASK_STARTING"
    assert first["source"] == "SOURCE_EXECUTOR"
    assert len(base64.b64decode(first["uuid"])) == 16
    again = scheduler.update("t1", timeout=2.0)
    assert again == first
    t1 = [first, *scheduler.follow("t1", "TASK_FINISHED")]
    t2 = scheduler.follow("t2", "TASK_FINISHED")
    for statuses in (t1, t2):
        states = [s["state"] for s in statuses]
        assert states[0] == "TASK_STARTING"
        assert states[-2:] == ["TASK_RUNNING", "TASK_FINISHED"]
        assert all("uuid" in s for s in statuses)
        assert statuses[-1]["message"] == "Command exited with status 0"
        assert statuses[-1]["agent_id"] == {"value": "agent-1"}
        assert statuses[-1]["executor_id"] == statuses[-1]["task_id"]
        assert isinstance(statuses[-1]["container_status"]["executor_pid"], int)
        assert statuses[-1]["timestamp"] == pytest.approx(time.time(), abs=30)

    # Acknowledged terminal tasks leave the active set; the sandbox stays readable.
    wait_until(lambda: all(not t["active"] for t in master.tasks()))
    agent_state = requests.get(master.url + "/agents/agent-1/state", timeout=5).json()
    executors = {e["id"]: e for fw in agent_state["frameworks"] for e in fw["completed_executors"]}
    sandbox = executors["t1"]["directory"]
    assert sandbox.startswith(str(master.work_dir / "agents" / "agent-1" / "frameworks"))
    read = requests.get(master.url + "/files/read", params={"path": sandbox + "/stdout", "offset": 0}, timeout=5)
    assert read.json() == {"data": "hello from t1\n", "offset": 0}
    err = requests.get(master.url + "/files/read", params={"path": sandbox + "/stderr", "offset": 0}, timeout=5)
    assert err.json()["data"] == "oops\n"
    size = requests.get(master.url + "/files/read", params={"path": sandbox + "/stdout", "offset": -1}, timeout=5)
    assert size.json() == {"data": "", "offset": len("hello from t1\n")}
    part = requests.get(
        master.url + "/files/read", params={"path": sandbox + "/stdout", "offset": 6, "length": 4}, timeout=5
    )
    assert part.json() == {"data": "from", "offset": 6}
    latest = Path(master.tasks()[0]["sandbox"])
    assert latest.name == "latest" and latest.is_symlink()
    assert (latest / "stdout").read_text() in ("hello from t1\n", "hello from t2\n")

    # The resources came back: the agent is offered whole again.
    wait_until(lambda: not master.agents()[0]["used_resources"]["cpus"])


def test_unacknowledged_updates_queue_in_order(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.accept([offer], [task_info("quick", offer, "true")])
    starting = scheduler.update("quick", "TASK_STARTING")
    # The task finishes, but RUNNING and FINISHED wait behind the unacknowledged STARTING.
    wait_until(lambda: master.tasks()[0]["state"] == "TASK_FINISHED")
    assert master.tasks()[0]["unacknowledged"] == 3
    scheduler.expect_none(lambda e: e["update"]["status"]["state"] != "TASK_STARTING", type="UPDATE", within=0.8)
    scheduler.ack(starting)
    running = scheduler.update("quick", "TASK_RUNNING")
    # An acknowledgement with a wrong uuid is ignored: RUNNING is sent again.
    scheduler.must(
        {
            "type": "ACKNOWLEDGE",
            "acknowledge": {
                "agent_id": running["agent_id"],
                "task_id": running["task_id"],
                "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
            },
        }
    )
    assert scheduler.update("quick", "TASK_RUNNING", timeout=2.0)["uuid"] == running["uuid"]
    scheduler.ack(running)
    finished = scheduler.update("quick", "TASK_FINISHED")
    scheduler.ack(finished)
    wait_until(lambda: master.tasks()[0]["active"] is False)


def test_failing_command_reports_exit_status(scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.accept([offer], [task_info("bad", offer, "echo about to fail; exit 3")])
    failed = scheduler.follow("bad", "TASK_FAILED")[-1]
    assert failed["message"] == "Command exited with status 3"
    assert failed["source"] == "SOURCE_EXECUTOR"
    assert "reason" not in failed  # the command executor gives no reason for an exit status


def test_shell_false_environment_and_uris(tmp_path: Path, scheduler: Scheduler) -> None:
    script = tmp_path / "tool.sh"
    script.write_text('#!/bin/sh\necho "args=$* env=$GREETING sandbox=$MESOS_SANDBOX"\ncat data/inside.txt\n')
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        payload = b"from the archive\n"
        member = tarfile.TarInfo("data/inside.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    offer = scheduler.offer()
    tool = {
        "shell": False,
        "value": "./tool",
        # As in mesos.proto: 'arguments' is the whole argv, argv[0] included.
        "arguments": ["tool", "--flag", "x y"],
        "environment": {"variables": [{"name": "GREETING", "value": "bonjour"}]},
        "uris": [
            {"value": str(script), "executable": True, "output_file": "tool"},
            {"value": f"file://{archive}"},
        ],
    }
    argv0 = {
        "shell": False,
        "value": sys.executable,
        "arguments": ["my-python", "-c", "import sys; print(sys.orig_argv[0], sys.argv[1:])", "a b"],
    }
    scheduler.accept([offer], [task_info("tool", offer, tool), task_info("argv0", offer, argv0)])
    assert scheduler.follow("tool", "TASK_FINISHED")[-1]["message"] == "Command exited with status 0"
    sandbox = Path(scheduler_task_sandbox(scheduler, "tool"))
    lines = (sandbox / "stdout").read_text().splitlines()
    assert lines == [f"args=--flag x y env=bonjour sandbox={sandbox}", "from the archive"]
    assert (sandbox / "bundle.tar.gz").exists()  # the fetcher keeps the archive
    assert os.access(sandbox / "tool", os.X_OK)
    assert scheduler.follow("argv0", "TASK_FINISHED")[-1]["message"] == "Command exited with status 0"
    output = (Path(scheduler_task_sandbox(scheduler, "argv0")) / "stdout").read_text()
    assert output == "my-python ['a b']\n"


def scheduler_task_sandbox(scheduler: Scheduler, task_id: str) -> str:
    tasks = requests.get(scheduler.url + "/__local__/tasks", timeout=5).json()
    return str(next(t["directory"] for t in tasks if t["task_id"] == task_id))


def test_launch_failures_are_task_failed_with_reasons(scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    docker = task_info(
        "docker",
        offer,
        "echo hi",
        container={"type": "DOCKER", "docker": {"image": "busybox:1.36"}},
    )
    image = task_info(
        "image",
        offer,
        "echo hi",
        container={"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "alpine"}}}},
    )
    plain_mesos = task_info("plain", offer, "echo hi", container={"type": "MESOS"})
    nouser = task_info("nouser", offer, {"value": "true", "user": "no-such-user-xyz"})
    fetch = task_info("fetch", offer, {"value": "true", "uris": [{"value": "http://example.com/x.tgz"}]})
    noexec = task_info("noexec", offer, {"value": "/no/such/binary", "shell": False})
    scheduler.accept([offer], [docker, image, plain_mesos, nouser, fetch, noexec])

    # Images the master was not given cannot be pulled: the containerizer fails the launch.
    failed = scheduler.follow("docker", "TASK_FAILED")[-1]
    assert failed["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert failed["source"] == "SOURCE_AGENT"
    assert "Failed to pull image 'busybox:1.36'" in failed["message"]
    assert "uuid" in failed
    failed = scheduler.follow("image", "TASK_FAILED")[-1]
    assert failed["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert "Failed to pull image 'alpine'" in failed["message"]
    assert scheduler.follow("plain", "TASK_FINISHED")[-1]["message"] == "Command exited with status 0"
    failed = scheduler.follow("nouser", "TASK_FAILED")[-1]
    assert "user 'no-such-user-xyz' does not exist" in failed["message"]
    failed = scheduler.follow("fetch", "TASK_FAILED")[-1]
    assert "Failed to fetch all URIs" in failed["message"] and "loopback" in failed["message"]
    failed = scheduler.follow("noexec", "TASK_FAILED")[-1]
    assert failed["state"] == "TASK_FAILED" and "/no/such/binary" in failed["message"]


def test_invalid_tasks_get_task_error_and_keep_resources(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    too_big = task_info("big", offer, "true", cpus=3.0)
    fits = task_info("fits", offer, "sleep 30", cpus=1.5)
    second = task_info("second", offer, "true", cpus=1.0)  # only 0.5 cpus left after 'fits'
    duplicate = task_info("fits", offer, "true", cpus=0.1)
    no_command = {k: v for k, v in task_info("nocmd", offer, "true").items() if k != "command"}
    wrong_agent = {**task_info("elsewhere", offer, "true"), "agent_id": {"value": "agent-9"}}
    scheduler.accept([offer], [too_big, fits, second, duplicate, no_command, wrong_agent], refuse_seconds=0)
    for task_id, text in [
        ("big", "is more than available"),
        ("second", "is more than available"),
        ("fits", "duplicate ID"),
        ("nocmd", "CommandInfo"),
        ("elsewhere", "agent-9"),
    ]:
        status = scheduler.update(task_id, "TASK_ERROR")
        assert status["reason"] == "REASON_TASK_INVALID"
        assert status["source"] == "SOURCE_MASTER"
        assert "uuid" not in status  # master-generated updates are not acknowledged
        assert text in status["message"]
    scheduler.follow("fits", "TASK_RUNNING")
    # Only the valid task holds resources; the rest of the offer comes back.
    assert master.agents()[0]["used_resources"]["cpus"] == 1.5
    again = scheduler.offer()
    cpus = next(r for r in again["resources"] if r["name"] == "cpus")
    assert cpus["scalar"]["value"] == 0.5


def test_accept_with_invalid_offer_drops_tasks(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.accept([offer], [task_info("t", offer, "true")], refuse_seconds=0)
    scheduler.update("t", "TASK_STARTING")
    # The offer is used up: a second ACCEPT of it drops the task (partition-aware: DROPPED).
    scheduler.accept([offer], [task_info("late", offer, "true")])
    status = scheduler.update("late")
    assert status["state"] == "TASK_DROPPED"
    assert status["reason"] == "REASON_INVALID_OFFERS"
    assert "uuid" not in status
    unknown = {"id": {"value": "no-such-offer"}, "agent_id": offer["agent_id"]}
    scheduler.accept([unknown], [task_info("ghost", offer, "true")])
    assert scheduler.update("ghost")["state"] == "TASK_DROPPED"
    assert [c["task_ids"] for c in master.accepted_calls] == [["t"], ["late"], ["ghost"]]


def test_non_launch_operations_are_refused(scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    response = scheduler.call(
        {
            "type": "ACCEPT",
            "accept": {"offer_ids": [offer["id"]], "operations": [{"type": "RESERVE", "reserve": {"resources": []}}]},
        }
    )
    assert response.status_code == 400
    assert "operation RESERVE is not supported by the local master" in response.text


def test_max_completion_time_fails_the_task(scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    task = task_info("slow", offer, "sleep 30", max_completion_time={"nanoseconds": 300_000_000})
    scheduler.accept([offer], [task])
    failed = scheduler.follow("slow", "TASK_FAILED")[-1]
    assert failed["reason"] == "REASON_MAX_COMPLETION_TIME_REACHED"
    assert "signal Terminated" in failed["message"]


# ---------------------------------------------------------------------------------------
# Killing
# ---------------------------------------------------------------------------------------


def test_kill_sends_task_killing_then_task_killed(master: LocalMaster, schedulers: Schedulers) -> None:
    sched = schedulers(master, capabilities=[{"type": "PARTITION_AWARE"}, {"type": "TASK_KILLING_STATE"}])
    sched.subscribe()
    offer = sched.offer()
    sched.accept([offer], [task_info("sleepy", offer, "sleep 60")])
    running = sched.follow("sleepy", "TASK_RUNNING")[-1]
    pid = running["container_status"]["executor_pid"]
    assert process_alive(pid)
    sched.kill("sleepy")
    killing = sched.update("sleepy")
    assert killing["state"] == "TASK_KILLING"
    sched.ack(killing)
    killed = sched.follow("sleepy", "TASK_KILLED")[-1]
    assert killed["message"] == "Command terminated with signal Terminated"
    assert not process_alive(pid)


def test_kill_escalates_to_sigkill_after_grace_period(scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    # The shell ignores SIGTERM and so does its child: only SIGKILL ends them.
    command = "trap '' TERM; echo ready; sleep 60"
    task = task_info("stubborn", offer, command, kill_policy={"grace_period": {"nanoseconds": 200_000_000}})
    scheduler.accept([offer], [task])
    scheduler.follow("stubborn", "TASK_RUNNING")
    # RUNNING is sent once the process is forked; wait until the trap is really set.
    stdout = Path(scheduler_task_sandbox(scheduler, "stubborn")) / "stdout"
    wait_until(lambda: stdout.read_text() == "ready\n")
    started = time.monotonic()
    scheduler.kill("stubborn")
    killed = scheduler.follow("stubborn", "TASK_KILLED")[-1]
    assert killed["message"] == "Command terminated with signal Killed"
    assert 0.15 <= time.monotonic() - started < 5.0


def test_kill_of_unknown_task_reconciles_it(scheduler: Scheduler) -> None:
    scheduler.kill("never-launched")
    status = scheduler.update("never-launched")
    assert status["state"] == "TASK_UNKNOWN"
    assert status["reason"] == "REASON_RECONCILIATION"
    assert "uuid" not in status


def test_teardown_kills_tasks_and_closes_stream(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.accept([offer], [task_info("doomed", offer, "sleep 60")])
    pid = scheduler.follow("doomed", "TASK_RUNNING")[-1]["container_status"]["executor_pid"]
    scheduler.must({"type": "TEARDOWN"})
    scheduler.wait_closed()
    wait_until(lambda: not process_alive(pid))
    assert master.frameworks() == []
    # A removed framework cannot come back.
    again = Scheduler(master.url, scheduler.framework_info)
    response = requests.post(
        master.url + API,
        json={
            "type": "SUBSCRIBE",
            "framework_id": {"value": scheduler.framework_id},
            "subscribe": {"framework_info": {**again.framework_info, "id": {"value": scheduler.framework_id}}},
        },
        timeout=5,
    )
    records = recordio.Decoder().feed(response.content)
    assert [json.loads(r) for r in records] == [{"type": "ERROR", "error": {"message": "Framework has been removed"}}]


# ---------------------------------------------------------------------------------------
# Offers: filters, suppression, timeouts
# ---------------------------------------------------------------------------------------


def test_decline_filter_holds_the_agent_back_for_refuse_seconds(scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    declined_at = time.monotonic()
    scheduler.decline(offer, refuse_seconds=1.0)
    scheduler.expect_none(lambda e: True, type="OFFERS", within=0.7)
    again = scheduler.offer(timeout=3.0)
    assert time.monotonic() - declined_at >= 0.95
    assert again["id"] != offer["id"]
    # refuse_seconds 0: re-offered at once.
    scheduler.decline(again, refuse_seconds=0)
    scheduler.offer(timeout=1.0)


def test_suppress_and_revive(scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.must({"type": "SUPPRESS", "suppress": {}})
    scheduler.decline(offer, refuse_seconds=0)
    scheduler.expect_none(lambda e: True, type="OFFERS", within=0.6)
    scheduler.must({"type": "DECLINE", "decline": {"offer_ids": [offer["id"]]}})  # stale: ignored
    scheduler.must({"type": "REVIVE"})
    scheduler.offer(timeout=2.0)


def test_revive_clears_decline_filters(scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.decline(offer, refuse_seconds=3600)
    scheduler.expect_none(lambda e: True, type="OFFERS", within=0.4)
    scheduler.must({"type": "REVIVE", "revive": {"roles": ["*"]}})
    scheduler.offer(timeout=2.0)


def test_accept_filter_applies_to_unused_resources_only(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.accept([offer], [task_info("short", offer, "sleep 0.3", cpus=1.0)], refuse_seconds=60)
    # The unused half stays filtered, but when the task ends the agent has more free than
    # was refused, so it is offered again well before the filter expires.
    scheduler.follow("short", "TASK_FINISHED")
    again = scheduler.offer(timeout=3.0)
    assert next(r for r in again["resources"] if r["name"] == "cpus")["scalar"]["value"] == 2.0


def test_offer_timeout_rescinds(make_master: MasterFactory, schedulers: Schedulers) -> None:
    master = make_master(offer_timeout=0.3)
    sched = schedulers(master)
    sched.subscribe()
    offer = sched.offer()
    rescind = sched.wait(type="RESCIND", timeout=3.0)
    assert rescind["rescind"]["offer_id"] == offer["id"]
    assert sched.offer(timeout=3.0)["id"] != offer["id"]


# ---------------------------------------------------------------------------------------
# Reconciliation
# ---------------------------------------------------------------------------------------


def test_explicit_reconcile_of_unknown_task(scheduler: Scheduler) -> None:
    # On a registered agent the master knows the task is not there: TASK_GONE.
    scheduler.reconcile([{"task_id": {"value": "ghost"}, "agent_id": {"value": "agent-1"}}])
    status = scheduler.update("ghost")
    assert status["state"] == "TASK_GONE"
    assert status["message"] == "Reconciliation: Task is unknown to the agent"
    assert status["reason"] == "REASON_RECONCILIATION"
    assert status["source"] == "SOURCE_MASTER"
    assert "uuid" not in status
    # Without an agent, or on an agent it never heard of: TASK_UNKNOWN.
    scheduler.reconcile(
        [{"task_id": {"value": "ghost"}}, {"task_id": {"value": "spook"}, "agent_id": {"value": "agent-404"}}]
    )
    assert scheduler.update("ghost")["state"] == "TASK_UNKNOWN"
    assert scheduler.update("spook")["state"] == "TASK_UNKNOWN"


def test_explicit_reconcile_without_partition_awareness_is_task_lost(
    master: LocalMaster, schedulers: Schedulers
) -> None:
    sched = schedulers(master, capabilities=[])
    sched.subscribe()
    sched.reconcile([{"task_id": {"value": "ghost"}}])
    status = sched.update("ghost")
    assert status["state"] == "TASK_LOST"
    assert status["reason"] == "REASON_RECONCILIATION"


def test_implicit_reconcile_lists_live_tasks(scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.accept([offer], [task_info("a", offer, "sleep 60"), task_info("b", offer, "sleep 60")])
    scheduler.follow("a", "TASK_RUNNING")
    scheduler.follow("b", "TASK_RUNNING")
    scheduler.reconcile([])
    statuses = {s["task_id"]["value"]: s for s in (scheduler.update("a"), scheduler.update("b"))}
    assert set(statuses) == {"a", "b"}
    for status in statuses.values():
        assert status["state"] == "TASK_RUNNING"
        assert status["reason"] == "REASON_RECONCILIATION"
        assert status["agent_id"] == {"value": "agent-1"}
        assert "uuid" not in status
    scheduler.reconcile([{"task_id": {"value": "a"}}])
    assert scheduler.update("a")["state"] == "TASK_RUNNING"


# ---------------------------------------------------------------------------------------
# Failover
# ---------------------------------------------------------------------------------------


def test_resubscribe_with_framework_id_keeps_tasks(master: LocalMaster, schedulers: Schedulers) -> None:
    first = schedulers(master, failover_timeout=60.0)
    first.subscribe()
    offer = first.offer()
    first.accept([offer], [task_info("keeper", offer, "sleep 60")])
    first.follow("keeper", "TASK_RUNNING")
    pid = master.tasks()[0]["pid"]
    old_stream = first.stream_id
    first.disconnect()
    wait_until(lambda: master.frameworks()[0]["connected"] is False)

    second = schedulers(master, failover_timeout=60.0)
    subscribed = second.subscribe(framework_id=first.framework_id)
    assert subscribed["subscribed"]["framework_id"]["value"] == first.framework_id
    assert second.stream_id != old_stream
    assert process_alive(pid)
    second.reconcile([])
    assert second.update("keeper")["state"] == "TASK_RUNNING"
    # The old stream id is no longer accepted.
    stale = second.call({"type": "REVIVE"}, stream_id=old_stream)
    assert stale.status_code == 400
    second.kill("keeper")
    second.follow("keeper", "TASK_KILLED")


def test_resubscribe_replaces_a_live_stream(master: LocalMaster, schedulers: Schedulers) -> None:
    first = schedulers(master, failover_timeout=60.0)
    first.subscribe()
    second = schedulers(master, failover_timeout=60.0)
    second.subscribe(framework_id=first.framework_id)
    error = first.wait(type="ERROR")
    assert error["error"]["message"] == "Framework failed over"
    first.wait_closed()
    assert master.frameworks()[0]["stream_id"] == second.stream_id
    second.must({"type": "REVIVE"})


def test_unacknowledged_updates_are_resent_after_resubscribe(master: LocalMaster, schedulers: Schedulers) -> None:
    first = schedulers(master, failover_timeout=60.0)
    first.subscribe()
    offer = first.offer()
    first.accept([offer], [task_info("pending", offer, "true")])
    starting = first.update("pending", "TASK_STARTING")
    first.disconnect()
    second = schedulers(master, failover_timeout=60.0)
    second.subscribe(framework_id=first.framework_id)
    assert second.update("pending")["uuid"] == starting["uuid"]  # resent at once
    statuses = second.follow("pending", "TASK_FINISHED")
    assert [s["state"] for s in statuses][-2:] == ["TASK_RUNNING", "TASK_FINISHED"]


def test_unknown_framework_id_is_accepted_on_subscribe(master: LocalMaster, schedulers: Schedulers) -> None:
    sched = schedulers(master)
    subscribed = sched.subscribe(framework_id="from-a-previous-master-0001")
    assert subscribed["subscribed"]["framework_id"]["value"] == "from-a-previous-master-0001"
    mismatch = requests.post(
        master.url + API,
        json={
            "type": "SUBSCRIBE",
            "framework_id": {"value": "one"},
            "subscribe": {"framework_info": {"user": "u", "name": "n", "id": {"value": "other"}}},
        },
        timeout=5,
    )
    assert mismatch.status_code == 400
    assert "framework_id" in mismatch.text


def test_failover_timeout_expiry_kills_tasks(master: LocalMaster, schedulers: Schedulers) -> None:
    sched = schedulers(master, failover_timeout=0.5)
    sched.subscribe()
    offer = sched.offer()
    sched.accept([offer], [task_info("orphan", offer, "sleep 60")])
    sched.follow("orphan", "TASK_RUNNING")
    pid = master.tasks()[0]["pid"]
    sched.disconnect()
    time.sleep(0.2)
    assert process_alive(pid), "killed before the failover timeout"
    wait_until(lambda: master.frameworks() == [], timeout=5)
    wait_until(lambda: not process_alive(pid), timeout=5)
    assert master.agents()[0]["used_resources"]["cpus"] == 0.0


def test_drop_streams_and_restart_master(master: LocalMaster, schedulers: Schedulers) -> None:
    sched = schedulers(master, failover_timeout=60.0)
    sched.subscribe()
    offer = sched.offer()
    sched.accept([offer], [task_info("survivor", offer, "sleep 60")])
    sched.follow("survivor", "TASK_RUNNING")
    fid = sched.framework_id

    response = requests.post(master.url + "/__local__/drop-streams", timeout=5)
    assert response.status_code == 200
    sched.wait_closed()
    sched.subscribe(framework_id=fid)

    old_master_id = master.master_id
    response = requests.post(master.url + "/__local__/restart", timeout=5)
    assert response.json()["master_id"] == master.master_id != old_master_id
    sched.wait_closed()
    assert sched.call({"type": "REVIVE"}).status_code == 403  # must re-subscribe first
    subscribed = sched.subscribe(framework_id=fid)
    assert subscribed["subscribed"]["master_info"]["id"] == master.master_id
    sched.reconcile([{"task_id": {"value": "survivor"}}])
    assert sched.update("survivor")["state"] == "TASK_RUNNING"
    offer = sched.offer()  # offers are made afresh by the new master
    assert offer["id"]["value"].startswith(master.master_id)


def test_pause_heartbeats(master: LocalMaster, scheduler: Scheduler) -> None:
    scheduler.wait(type="HEARTBEAT")
    response = requests.post(master.url + "/__local__/pause-heartbeats", json={"seconds": 0.8}, timeout=5)
    assert response.status_code == 200

    def heartbeats() -> int:
        return sum(1 for e in list(scheduler.events) if e["type"] == "HEARTBEAT")

    time.sleep(0.1)  # one may have been on its way
    before = heartbeats()
    time.sleep(0.5)  # 2.5 heartbeat intervals
    assert heartbeats() == before
    wait_until(lambda: heartbeats() > before, timeout=2.0)


# ---------------------------------------------------------------------------------------
# Agents
# ---------------------------------------------------------------------------------------


def test_kill_agent_sends_failure_and_task_gone_by_operator(master: LocalMaster, scheduler: Scheduler) -> None:
    master.add_agent(AgentSpec(id="agent-2", hostname="host-2", cpus=1, mem=512))
    # One OFFERS event may carry both agents' offers, or each may come in its own event.
    offers: dict[str, Any] = {}
    while len(offers) < 2:
        for o in scheduler.wait(type="OFFERS")["offers"]["offers"]:
            offers[o["agent_id"]["value"]] = o
    assert set(offers) == {"agent-1", "agent-2"}
    offer = offers["agent-1"]
    scheduler.accept([offer], [task_info("victim", offer, "sleep 60")])
    scheduler.follow("victim", "TASK_RUNNING")
    pid = master.tasks()[0]["pid"]

    response = requests.post(master.url + "/__local__/agents/agent-1/kill", timeout=5)
    assert response.status_code == 200
    gone = scheduler.update("victim")
    assert gone["state"] == "TASK_GONE_BY_OPERATOR"
    assert gone["reason"] == "REASON_AGENT_REMOVED_BY_OPERATOR"
    assert gone["source"] == "SOURCE_MASTER"
    assert "uuid" not in gone
    failure = scheduler.wait(type="FAILURE")
    assert failure["failure"] == {"agent_id": {"value": "agent-1"}}
    wait_until(lambda: not process_alive(pid))
    assert [a["id"] for a in master.agents()] == ["agent-2"]
    # The master forgot the task: only its agent id tells it the task went with the agent.
    scheduler.reconcile([{"task_id": {"value": "victim"}, "agent_id": {"value": "agent-1"}}])
    assert scheduler.update("victim")["state"] == "TASK_GONE_BY_OPERATOR"
    scheduler.reconcile([{"task_id": {"value": "victim"}}])
    assert scheduler.update("victim")["state"] == "TASK_UNKNOWN"
    assert requests.post(master.url + "/__local__/agents/agent-1/kill", timeout=5).status_code == 404
    # Its outstanding offer, if any, was rescinded; the other agent is unaffected.
    assert all(o["agent_id"] == "agent-2" for o in master.offers())


def test_kill_agent_rescinds_its_offers(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    master.kill_agent("agent-1")
    assert scheduler.wait(type="RESCIND")["rescind"]["offer_id"] == offer["id"]
    assert scheduler.wait(type="FAILURE")["failure"]["agent_id"] == {"value": "agent-1"}


def test_add_agent_over_http(master: LocalMaster, scheduler: Scheduler) -> None:
    scheduler.offer()
    spec: dict[str, Any] = {"id": "agent-3", "hostname": "host-3", "cpus": 1, "mem": 128, "attributes": {"zone": "b"}}
    response = requests.post(master.url + "/__local__/agents", json=spec, timeout=5)
    assert response.status_code == 200
    offer = scheduler.offer(agent_id="agent-3")
    assert offer["attributes"] == [{"name": "zone", "type": "TEXT", "text": {"value": "b"}}]
    assert requests.post(master.url + "/__local__/agents", json=spec, timeout=5).status_code == 400
    assert requests.post(master.url + "/__local__/agents", json={"cpus": 1}, timeout=5).status_code == 400


def test_control_endpoints_and_non_partition_aware_states(master: LocalMaster, schedulers: Schedulers) -> None:
    """Without PARTITION_AWARE, Mesos reports LOST where it would report GONE or DROPPED."""
    sched = schedulers(master, capabilities=[], name="legacy")
    sched.subscribe()
    offer = sched.offer()
    sched.accept([offer], [task_info("old", offer, "sleep 60")], refuse_seconds=0)
    sched.follow("old", "TASK_RUNNING")
    sched.accept([offer], [task_info("stale", offer, "true")])
    dropped = sched.update("stale")
    assert (dropped["state"], dropped["reason"]) == ("TASK_LOST", "REASON_INVALID_OFFERS")

    def get(endpoint: str) -> Any:
        response = requests.get(master.url + "/__local__/" + endpoint, timeout=5)
        assert response.status_code == 200
        return response.json()

    assert [(f["name"], f["connected"], f["tasks"]) for f in get("frameworks")] == [("legacy", True, ["old"])]
    assert [(t["task_id"], t["state"], t["active"]) for t in get("tasks")] == [("old", "TASK_RUNNING", True)]
    assert [a["id"] for a in get("agents")] == ["agent-1"]
    assert [c["task_ids"] for c in get("accepted-calls")] == [["old"], ["stale"]]
    assert all(o["agent_id"] == "agent-1" for o in get("offers"))
    state = requests.get(master.url + "/master/state", timeout=5).json()
    assert [t["id"] for t in state["frameworks"][0]["tasks"]] == ["old"]
    assert state["frameworks"][0]["used_resources"]["cpus"] == 0.1

    response = requests.post(master.url + "/__local__/agents/agent-1/kill", json={}, timeout=5)
    assert response.status_code == 200
    lost = sched.update("old")
    assert (lost["state"], lost["reason"], lost["source"]) == ("TASK_LOST", "REASON_AGENT_REMOVED", "SOURCE_MASTER")
    sched.reconcile([{"task_id": {"value": "old"}, "agent_id": {"value": "agent-1"}}])
    assert sched.update("old")["state"] == "TASK_LOST"
    bad = requests.post(master.url + "/__local__/pause-heartbeats", json={"secs": 1}, timeout=5)
    assert bad.status_code == 400


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_command_user_is_switched_when_root(scheduler: Scheduler) -> None:
    import pwd

    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user on this host")
    offer = scheduler.offer()
    scheduler.accept([offer], [task_info("as-nobody", offer, {"value": "id -un; echo $USER", "user": "nobody"})])
    assert scheduler.follow("as-nobody", "TASK_FINISHED")[-1]["message"] == "Command exited with status 0"
    stdout = Path(scheduler_task_sandbox(scheduler, "as-nobody")) / "stdout"
    assert stdout.read_text() == "nobody\nnobody\n"


# ---------------------------------------------------------------------------------------
# Protocol errors
# ---------------------------------------------------------------------------------------


def test_malformed_calls_are_rejected_with_400(scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    good = task_info("x", offer, "true")
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {
                "type": "ACCEPT",
                "accept": {
                    "offer_ids": [offer["id"]],
                    "operations": [{"type": "LAUNCH", "launch": {"task_infos": [good, {**good, "bogus": 1}]}}],
                },
            },
            "call.accept.operations[0].launch.task_infos[1].bogus: unknown field",
        ),
        (
            {
                "type": "ACCEPT",
                "accept": {
                    "offer_ids": [offer["id"]],
                    "operations": [
                        {
                            "type": "LAUNCH",
                            "launch": {"task_infos": [{k: v for k, v in good.items() if k != "task_id"}]},
                        }
                    ],
                },
            },
            "call.accept.operations[0].launch.task_infos[0].task_id: missing required field",
        ),
        ({"type": "ACCEPT"}, "call.accept: missing"),
        ({"type": "SUPPRESS_ALL"}, "call.type: unknown enum value 'SUPPRESS_ALL'"),
        (
            {"type": "KILL", "kill": {"task_id": {"value": "x"}, "agent_id": "agent-1"}},
            "call.kill.agent_id: expected a JSON object",
        ),
    ]
    for body, message in cases:
        response = scheduler.call(body)
        assert response.status_code == 400, body
        assert response.headers["Content-Type"].startswith("text/plain")
        assert message in response.text
    # Nothing was launched by the rejected calls: the offer is still outstanding.
    scheduler.accept([offer], [good])
    scheduler.follow("x", "TASK_FINISHED")


def test_unparseable_and_non_json_bodies(master: LocalMaster, scheduler: Scheduler) -> None:
    headers = {"Content-Type": "application/json", "Mesos-Stream-Id": scheduler.stream_id or ""}
    bad_json = requests.post(master.url + API, data=b"{not json", headers=headers, timeout=5)
    assert bad_json.status_code == 400
    assert "Failed to parse body into JSON" in bad_json.text
    protobuf = scheduler.call({"type": "REVIVE"}, content_type="application/x-protobuf")
    assert protobuf.status_code == 415
    # Content-Type is compared exactly, as the master does: no parameters.
    assert scheduler.call({"type": "REVIVE"}, content_type="application/json; charset=utf-8").status_code == 415
    missing = requests.post(master.url + API, data=b"{}", headers={"Mesos-Stream-Id": "x"}, timeout=5)
    assert missing.status_code == 400 and "Content-Type" in missing.text
    # Only calls answered with a body (SUBSCRIBE) must accept JSON.
    subscribe = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "n"}}}
    not_acceptable = requests.post(
        master.url + API, json=subscribe, headers={"Accept": "application/x-protobuf"}, timeout=5
    )
    assert not_acceptable.status_code == 406
    revive = requests.post(
        master.url + API,
        json={"type": "REVIVE", "framework_id": {"value": scheduler.framework_id}},
        headers={"Accept": "application/x-protobuf", "Mesos-Stream-Id": scheduler.stream_id or ""},
        timeout=5,
    )
    assert revive.status_code == 202
    # A SUBSCRIBE must not carry a stream id.
    with_stream = requests.post(master.url + API, json=subscribe, headers={"Mesos-Stream-Id": "x"}, timeout=5)
    assert with_stream.status_code == 400 and "should not include" in with_stream.text


def test_stream_id_is_required_and_checked(master: LocalMaster, scheduler: Scheduler) -> None:
    missing = scheduler.call({"type": "REVIVE"}, stream_id=None)
    assert missing.status_code == 400
    assert "Mesos-Stream-Id" in missing.text
    wrong = scheduler.call({"type": "REVIVE"}, stream_id=str(uuid.uuid4()))
    assert wrong.status_code == 400
    assert "didn't match" in wrong.text
    unknown = scheduler.call({"type": "REVIVE", "framework_id": {"value": "nobody"}})
    assert unknown.status_code == 400
    assert "Framework cannot be found" in unknown.text
    assert scheduler.call({"type": "REVIVE"}).status_code == 202


# ---------------------------------------------------------------------------------------
# Files API
# ---------------------------------------------------------------------------------------


def test_files_api_is_confined_to_the_work_dir(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.accept([offer], [task_info("files", offer, "printf 'caf\\303\\251\\n'; mkdir sub")])
    scheduler.follow("files", "TASK_FINISHED")
    sandbox = scheduler_task_sandbox(scheduler, "files")

    def get(endpoint: str, **params: Any) -> requests.Response:
        return requests.get(master.url + endpoint, params=params, timeout=5)

    assert get("/files/read", path=sandbox + "/stdout", offset=0).json() == {"data": "caf\u00e9\n", "offset": 0}
    # A read that would cut the two-byte "é" stops before it.
    assert get("/files/read", path=sandbox + "/stdout", offset=0, length=4).json() == {"data": "caf", "offset": 0}
    assert get("/files/read", path=sandbox + "/stdout", offset=100).json() == {"data": "", "offset": 100}
    listing = get("/files/browse", path=sandbox).json()
    assert {Path(e["path"]).name for e in listing} >= {"stdout", "stderr", "sub"}
    assert next(e for e in listing if e["path"].endswith("/sub"))["mode"].startswith("d")
    download = get("/files/download", path=sandbox + "/stdout")
    assert download.content == "caf\u00e9\n".encode()
    assert get("/files/read", path="/etc/passwd", offset=0).status_code == 400
    assert get("/files/read", path=sandbox + "/.." * 30 + "/etc/passwd", offset=0).status_code == 400
    assert get("/files/read", path=sandbox + "/missing", offset=0).status_code == 404
    assert get("/files/read", path=sandbox, offset=0).status_code == 400
    assert get("/files/read", offset=0).status_code == 400
    assert get("/files/read", path=sandbox + "/stdout", offset=-5).status_code == 400


# ---------------------------------------------------------------------------------------
# High availability
# ---------------------------------------------------------------------------------------


def test_standby_master_redirects_to_the_leader(master: LocalMaster, make_master: MasterFactory) -> None:
    standby = make_master(leader=master.address)
    body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "r"}}}
    response = requests.post(standby.url + API, json=body, allow_redirects=False, timeout=5)
    assert response.status_code == 307
    assert response.headers["Location"] == f"//{master.address}/api/v1/scheduler"
    redirect = requests.get(standby.url + "/master/redirect", allow_redirects=False, timeout=5)
    assert redirect.headers["Location"] == f"//{master.address}/master"
    # Following the redirect reaches the leader, which opens the stream.
    followed = requests.post(f"http:{response.headers['Location']}", json=body, stream=True, timeout=5)
    assert followed.status_code == 200
    assert "Mesos-Stream-Id" in followed.headers
    followed.close()


@pytest.mark.zookeeper
def test_zookeeper_registration_and_leadership(make_master: MasterFactory, zk_address: str) -> None:
    from kazoo.client import KazooClient

    path = f"/moroccron-test-{uuid.uuid4().hex}"
    first = make_master(zk=f"zk://{zk_address}{path}")
    second = make_master(zk=f"zk://{zk_address}{path}")
    client = KazooClient(hosts=zk_address)
    client.start(timeout=10)
    try:
        children = sorted(client.get_children(path))
        assert len(children) == 2 and all(c.startswith("json.info_") for c in children)
        info = json.loads(client.get(f"{path}/{children[0]}")[0])
        assert info["address"] == {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": first.port}
        assert info["id"] == first.master_id
        wait_until(lambda: second.leader == first.address and first.leader is None)
        body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "r"}}}
        response = requests.post(second.url + API, json=body, allow_redirects=False, timeout=5)
        assert response.status_code == 307
        assert response.headers["Location"] == f"//{first.address}/api/v1/scheduler"
        first.stop()  # its ephemeral node goes: the second master leads
        wait_until(lambda: second.leader is None)
        assert len(client.get_children(path)) == 1
    finally:
        client.delete(path, recursive=True)
        client.stop()
        client.close()


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def test_main_runs_until_signalled(tmp_path: Path) -> None:
    import threading

    seen: dict[str, Any] = {}
    original_start = LocalMaster.start

    def start_and_signal(self: LocalMaster) -> LocalMaster:
        result = original_start(self)
        state = requests.get(self.url + "/master/state", timeout=5).json()
        seen["slaves"] = [(s["id"], s["resources"]["cpus"], s["attributes"]) for s in state["slaves"]]
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalMaster, "start", start_and_signal)
        code = main(
            [
                "--bind",
                "127.0.0.1:0",
                "--agents",
                "2",
                "--agent-cpus",
                "1",
                "--attributes",
                "rack:r9",
                "--work-dir",
                str(tmp_path / "wd"),
                "--log-level",
                "WARNING",
            ]
        )
    assert code == 0
    assert seen["slaves"] == [("local-S0", 1.0, {"rack": "r9"}), ("local-S1", 1.0, {"rack": "r9"})]
    assert main(["--attributes", "broken", "--work-dir", str(tmp_path)]) == 2


def test_main_takes_reservations_gpus_images_and_acls(tmp_path: Path) -> None:
    import threading

    seen: dict[str, Any] = {}
    original_start = LocalMaster.start

    def start_and_signal(self: LocalMaster) -> LocalMaster:
        result = original_start(self)
        seen["agents"] = self.agents()
        seen["images"] = sorted(self.images)
        seen["acls"] = self.acls
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return result

    images = tmp_path / "images.json"
    images.write_text(json.dumps({"busybox": {"cmd": ["sh"]}}))
    acls = tmp_path / "acls.json"
    acls.write_text(json.dumps({"permissive": False, "run_tasks": []}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalMaster, "start", start_and_signal)
        code = main(
            [
                "--bind",
                "127.0.0.1:0",
                "--agent-cpus",
                "4",
                "--agent-gpus",
                "1",
                "--reserve",
                "prod:cpus=1,mem=64",
                "--images",
                str(images),
                "--acls",
                str(acls),
                "--work-dir",
                str(tmp_path / "wd"),
                "--log-level",
                "WARNING",
            ]
        )
    assert code == 0
    (agent,) = seen["agents"]
    assert agent["reserved_resources"] == {"prod": {"cpus": 1.0, "mem": 64.0, "disk": 0.0, "gpus": 0.0}}
    assert agent["resources"]["gpus"] == 1.0
    assert (seen["images"], seen["acls"]) == (["busybox"], {"permissive": False, "run_tasks": []})
    assert main(["--reserve", "prod", "--work-dir", str(tmp_path)]) == 2
    assert main(["--reserve", "prod:cpus=99", "--agent-cpus", "1", "--work-dir", str(tmp_path)]) == 2


def test_default_agent_fixture_is_used(master: LocalMaster) -> None:
    assert master.agents()[0]["id"] == DEFAULT_AGENT.id
    assert master.agents()[0]["attributes"] == {"rack": "r1", "weight": 3}
