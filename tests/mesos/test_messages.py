"""moroccron.mesos.messages: every Call the client builds is one a master accepts (checked
against the protobuf tables of moroccron.mesos.proto), and events are read back as built."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from moroccron.mesos import messages as m
from moroccron.mesos.proto import ProtoError, validate_call

FW = "fw-1"
TASK = {
    "name": "t",
    "task_id": {"value": "t1"},
    "agent_id": {"value": "a1"},
    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
    "command": {"value": "true", "shell": True},
}


@pytest.mark.parametrize(
    ("call_type", "body"),
    [
        ("ACCEPT", m.accept_body(["o1", "o2"], [m.launch_operation([TASK])], {"refuse_seconds": 5.0})),
        ("ACCEPT", m.accept_body("o1", [], None)),
        ("DECLINE", m.decline_body(["o1"], 2)),
        ("DECLINE", m.decline_body("o1", None)),
        ("KILL", m.kill_body("t1", "a1", {"grace_period": {"nanoseconds": 1000}})),
        ("KILL", m.kill_body("t1", None, None)),
        ("ACKNOWLEDGE", m.acknowledge_body("a1", "t1", base64.b64encode(uuid.uuid4().bytes).decode())),
        ("RECONCILE", m.reconcile_body([("t1", "a1"), ("t2", None)])),
        ("RECONCILE", m.reconcile_body([])),
        ("REVIVE", m.roles_body(["etl"])),
        ("REVIVE", m.roles_body(None)),
        ("SUPPRESS", m.roles_body(())),
        ("MESSAGE", m.message_body("a1", "e1", b"\x00hi")),
        ("SHUTDOWN", m.shutdown_body("e1", "a1")),
        ("TEARDOWN", None),
    ],
)
def test_every_call_built_is_well_formed(call_type: str, body: dict | None) -> None:
    validate_call(json.loads(m.encode_call(call_type, FW, body)), strict=True)


def test_an_accept_encoded_ahead_is_the_same_call() -> None:
    encoded = m.encode_accept(["o1"], [TASK], {"refuse_seconds": 1.0})
    whole = json.loads(m.encode_call("ACCEPT", FW, encoded=encoded))
    assert whole == m.call("ACCEPT", FW, m.accept_body(["o1"], [m.launch_operation([TASK])], {"refuse_seconds": 1.0}))
    validate_call(whole, strict=True)


def test_ids_and_bad_ids() -> None:
    assert m.mesos_ids("a") == [{"value": "a"}]
    assert m.mesos_ids(["a", {"value": "b"}]) == [{"value": "a"}, {"value": "b"}]
    assert m.value_of({"value": "x"}) == "x" and m.value_of("x") is None
    with pytest.raises(ValueError, match="non-empty string"):
        m.mesos_id("")
    # a shape a master refuses is caught by the tables, with the path named
    with pytest.raises(ProtoError, match=r"call\.kill\.bogus: unknown field"):
        validate_call(m.call("KILL", FW, {**m.kill_body("t1", None, None), "bogus": 1}))


def test_events_are_read_back_as_built() -> None:
    status = {"task_id": {"value": "t1"}, "state": "TASK_RUNNING", "uuid": "AAAA"}
    update = m.event("UPDATE", {"status": status})
    assert update == {"type": "UPDATE", "update": {"status": status}}
    assert m.event_body(update) == {"status": status}
    assert m.status_uuid(status) == "AAAA" and m.status_uuid({"uuid": ""}) is None
    assert m.event("HEARTBEAT") == {"type": "HEARTBEAT"} and m.event_body(m.event("HEARTBEAT")) == {}
    assert m.event_body({"type": "OFFERS", "offers": ["not", "a", "map"]}) == {}
    sub = m.subscribed_event("fw-1", 15.0, {"id": "m"})
    assert m.event_body(sub) == {
        "framework_id": {"value": "fw-1"},
        "heartbeat_interval_seconds": 15.0,
        "master_info": {"id": "m"},
    }
