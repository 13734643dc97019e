"""Every call moroccron sends conforms to the v1 scheduler API.

The end-to-end scenario runs the real scheduler against the local master with every
call recorded (headers, body, answer): launches, a kill on timeout, declines, REVIVE
and SUPPRESS, acknowledgements, a master failover (re-subscription and reconciliation)
and a teardown. Each call is then checked against the schema the project keeps in
``moroccron.mesos.proto`` (see ``tests/mesos/conformance.py``), strictly, and the test
asserts 0 violations. The checker itself is shown to catch each kind of violation.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest

from moroccron import Job
from moroccron.model import Container, RunState
from tests.e2e.harness import Cluster, wait_for
from tests.mesos.conformance import check_calls

# ---------------------------------------------------------------------------------------
# The checker catches what it must
# ---------------------------------------------------------------------------------------

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
FW = {"value": "fw-1"}


def _subscribe(stream: str = "s1") -> dict[str, Any]:
    return {
        "headers": dict(JSON),
        "status": 200,
        "stream_id": stream,
        "framework_id": "fw-1",
        "body": {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}},
    }


def _call(
    body: dict[str, Any],
    *,
    stream: str | None = "s1",
    status: Any = 202,
    error: str = "",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    sent = dict(JSON if headers is None else headers)
    if stream is not None:
        sent["Mesos-Stream-Id"] = stream
    return {"headers": sent, "status": status, "error": error, "body": {"framework_id": FW, **body}}


REVIVE = {"type": "REVIVE"}
ACK = {
    "type": "ACKNOWLEDGE",
    "acknowledge": {
        "agent_id": {"value": "a"},
        "task_id": {"value": "t"},
        "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
    },
}


def test_a_well_behaved_exchange_has_no_violations() -> None:
    report = check_calls(
        [
            _subscribe(),
            _call(REVIVE),
            _call(ACK),
            # a failover ends s1: a call still on its way is refused, and that is fine
            _call(REVIVE, status=403, error="Framework is not subscribed"),
            _subscribe("s2"),
            _call(REVIVE, stream="s2"),
        ]
    )
    assert report.violations == []
    assert report.counts == {"SUBSCRIBE": 2, "REVIVE": 3, "ACKNOWLEDGE": 1}
    assert report.stale == 1


@pytest.mark.parametrize(
    ("record", "rule", "detail"),
    [
        (_call({"type": "REVIVE", "bogus": 1}), "schema", "call.bogus: unknown field"),
        (
            _call({"type": "KILL", "kill": {"task_id": {"value": "t"}, "kill_policy": {"grace_period": {}}}}),
            "schema",
            "call.kill.kill_policy.grace_period.nanoseconds: missing required field",
        ),
        (
            _call({"type": "ACKNOWLEDGE", "acknowledge": {**ACK["acknowledge"], "uuid": "c2hvcnQ="}}),
            "schema",
            "not a UUID",
        ),
        (_call({"type": "REQUEST", "request": {"requests": [{}]}}), "schema", "not described by the schema"),
        (
            _call(REVIVE, headers={"Content-Type": "application/json; charset=utf-8"}),
            "headers",
            "Expecting 'Content-Type' of application/json",
        ),
        (_call(REVIVE, headers={}), "headers", "Expecting 'Content-Type' to be present"),
        (_call(REVIVE, stream=None), "headers", "should include the 'Mesos-Stream-Id' header"),
        (_call(REVIVE, stream="forged"), "stream", "was never given"),
        (_call(REVIVE, status=400, error="Failed to validate scheduler::Call: x"), "answer", "HTTP 400"),
        (
            {"headers": dict(JSON), "status": 400, "body": None, "error": "Failed to parse body into JSON"},
            "body",
            "not a JSON object",
        ),
    ],
)
def test_each_kind_of_violation_is_caught(record: dict[str, Any], rule: str, detail: str) -> None:
    (violation,) = check_calls([_subscribe(), record]).violations
    assert violation.index == 1
    assert violation.rule == rule
    assert detail in violation.detail


def test_subscribe_rules() -> None:
    with_stream = _subscribe()
    with_stream["headers"]["Mesos-Stream-Id"] = "s0"
    refused = {**_subscribe(), "error": "Framework has been removed"}
    protobuf_only = _subscribe()
    protobuf_only["headers"]["Accept"] = "application/x-protobuf"
    rules = [(v.rule, v.detail) for v in check_calls([with_stream, refused, protobuf_only]).violations]
    assert rules == [
        ("headers", "Subscribe calls should not include the 'Mesos-Stream-Id' header"),
        ("subscription refused", "Framework has been removed"),
        ("headers", "Expecting 'Accept' to allow 'application/json' (HTTP 406)"),
    ]


# ---------------------------------------------------------------------------------------
# moroccron end to end
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_call_moroccron_sends_conforms(tmp_path: Path) -> None:
    data = tmp_path / "shared"
    data.mkdir()
    cluster = Cluster(tmp_path, agents=2, record_calls=True, images={"busybox": {"cmd": ["sh"]}})
    try:
        # Everything fires every 6 s: the idle seconds between make the scheduler decline
        # and suppress, the fire times make it revive and launch.
        cluster.add_job(Job(name="tick", command="echo tick", schedule="*/6 * * * * *", catchup="none"))
        cluster.add_job(
            Job(
                name="argv",
                command="/bin/echo",
                shell=False,
                arguments=["a", "b c"],
                env={"X": "1"},
                schedule="*/6 * * * * *",
                catchup="none",
            )
        )
        cluster.add_job(
            Job(
                name="boxed",
                command="echo boxed",
                schedule="*/6 * * * * *",
                catchup="none",
                container=Container(
                    type="docker",
                    image="busybox",
                    network="BRIDGE",
                    parameters={"label": "x=y"},
                    volumes=[{"container_path": "shared", "host_path": str(data), "mode": "RO"}],
                ),
            )
        )
        cluster.add_job(
            Job(name="sleepy", command="sleep 30", schedule="*/6 * * * * *", catchup="none", timeout_seconds=1)
        )
        cluster.start_scheduler()
        cluster.finished("tick", 2, timeout=30)
        cluster.finished("argv", 1, timeout=30)
        cluster.finished("boxed", 1, timeout=30)
        wait_for(
            lambda: any(r.state == RunState.KILLED or r.reason for r in cluster.runs("sleepy") if r.state.final),
            40,
            what="a sleepy run ended by its timeout",
        )

        # A master failover: the scheduler subscribes again and reconciles.
        master = cluster.master
        before = len(master.received_calls)
        master.restart_master()
        wait_for(
            lambda: any(
                c.get("body", {}) and c["body"].get("type") == "RECONCILE" for c in list(master.received_calls)[before:]
            ),
            30,
            what="reconciliation",
        )
        ticks = len(cluster.runs("tick"))
        cluster.finished("tick", ticks + 1, timeout=30)

        scheduler = cluster.scheduler
        assert scheduler is not None
        scheduler.stop(teardown=True)
        scheduler.plugins.shutdown(config=scheduler.settings)
        cluster.scheduler = None
        master.settle()
        records = list(master.received_calls)
    finally:
        cluster.close()

    report = check_calls(records)
    print("\nscheduler calls moroccron sent, by type:\n" + report.summary())
    expected = {"SUBSCRIBE", "ACCEPT", "DECLINE", "KILL", "RECONCILE", "ACKNOWLEDGE", "TEARDOWN"}
    assert expected <= set(report.counts), f"the scenario did not make every call: {dict(report.counts)}"
    assert report.counts["REVIVE"] + report.counts["SUPPRESS"] > 0
    assert report.counts["SUBSCRIBE"] >= 2
    assert [str(v) for v in report.violations] == []
