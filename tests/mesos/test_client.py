"""The scheduler client against the local Mesos master, over real HTTP.

Every test waits on conditions (events recorded by the callbacks, the master's own
state) with a timeout; none sleeps and then asserts. The master runs with short
heartbeat, offer and retry intervals so the whole file stays fast.
"""

from __future__ import annotations

import base64
import getpass
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from moroccron.mesos.client import (
    MesosCallError,
    MesosNotConnected,
    MesosSchedulerClient,
    SchedulerCallbacks,
    _redirect_target,
    decode_uuid,
    parse_exit_status,
    status_uuid,
)
from moroccron.mesos.local import AgentSpec, LocalMaster

pytestmark = pytest.mark.timeout(60)

WAIT = 15.0  # generous upper bound for any single condition; typical waits are < 1 s


# --------------------------------------------------------------------------- helpers


class Recorder(SchedulerCallbacks):
    """Records every callback as (name, args) and lets tests wait for conditions."""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.cond = threading.Condition()
        self.raise_in: set[str] = set()
        self.used: set[str] = set()  # offer ids a test has consumed

    def _add(self, name: str, *args: Any) -> None:
        with self.cond:
            self.events.append((name, args))
            self.cond.notify_all()
        if name in self.raise_in:
            raise RuntimeError(f"callback {name} fails on purpose")

    def registered(self, client: Any, framework_id: str, master_info: dict[str, Any]) -> None:
        self._add("registered", framework_id, master_info)

    def reregistered(self, client: Any, master_info: dict[str, Any]) -> None:
        self._add("reregistered", master_info)

    def disconnected(self, client: Any) -> None:
        self._add("disconnected")

    def resourceOffers(self, client: Any, offers: list[dict[str, Any]]) -> None:
        for offer in offers:
            self._add("offer", offer)

    def offerRescinded(self, client: Any, offer_id: str) -> None:
        self._add("rescinded", offer_id)

    def statusUpdate(self, client: Any, status: dict[str, Any]) -> None:
        self._add("status", status)

    def agentLost(self, client: Any, agent_id: str) -> None:
        self._add("agent_lost", agent_id)

    def executorLost(self, client: Any, executor_id: str, agent_id: str | None, status: int | None) -> None:
        self._add("executor_lost", executor_id, agent_id, status)

    def error(self, client: Any, message: str) -> None:
        self._add("error", message)

    def heartbeat(self, client: Any) -> None:
        self._add("heartbeat")

    # -- waiting

    def wait_for(self, predicate: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
        """Wait until predicate() is truthy (evaluated under the lock); return its value."""
        with self.cond:
            result = self.cond.wait_for(predicate, timeout)
            assert result, f"timed out waiting for {what or predicate}; events: {self.summary()}"
            return result

    def summary(self) -> list[str]:
        out = []
        for name, args in self.events:
            if name == "status":
                out.append(f"status {args[0]['task_id']['value']} {args[0]['state']}")
            elif name != "heartbeat":
                out.append(name)
        return out[-40:]

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.events if n == name)

    def next_event(self, name: str, start: int, match: Callable[[tuple[Any, ...]], bool] = lambda a: True) -> Any:
        """Wait for the first ``name`` event at index >= start that matches; return its args."""

        def find() -> list[tuple[Any, ...]] | None:
            for n, args in self.events[start:]:
                if n == name and match(args):
                    return [args]  # wrapped: a callback without arguments records ()
            return None

        return self.wait_for(find, what=f"{name} after #{start}")[0]

    def mark(self) -> int:
        with self.cond:
            return len(self.events)

    def statuses(self, task_id: str) -> list[dict[str, Any]]:
        return [a[0] for n, a in self.events if n == "status" and a[0]["task_id"]["value"] == task_id]

    def wait_status(self, task_id: str, state: str, start: int = 0) -> dict[str, Any]:
        args = self.next_event(
            "status",
            start,
            lambda a: a[0]["task_id"]["value"] == task_id and a[0]["state"] == state,
        )
        return args[0]

    def wait_offer(self, start: int = 0) -> dict[str, Any]:
        return self.next_event("offer", start)[0]


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
    """Poll a condition that no callback signals (the master's own state)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        time.sleep(0.02)


def framework_info(**extra: Any) -> dict[str, Any]:
    info = {
        "user": getpass.getuser(),
        "name": "moroccron-test",
        "failover_timeout": 300.0,
        "checkpoint": True,
    }
    info.update(extra)
    return info


def task_info(task_id: str, agent_id: str, command: str, cpus: float = 0.1, mem: float = 16) -> dict[str, Any]:
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": command, "shell": True},
    }


def new_master(work_dir: Path, **kwargs: Any) -> LocalMaster:
    params: dict[str, Any] = {
        "agents": [AgentSpec(id="S0", cpus=2.0, mem=1024.0)],
        "work_dir": work_dir,
        "heartbeat_interval": 0.5,
        "offer_interval": 0.05,
        "offer_refuse_default": 0.2,
        "status_update_retry": 0.2,
        "kill_grace_default": 0.5,
    }
    params.update(kwargs)
    return LocalMaster(**params).start()


@pytest.fixture
def master(tmp_path: Path) -> Iterator[LocalMaster]:
    m = new_master(tmp_path / "mesos")
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture
def make_client() -> Iterator[Callable[..., tuple[MesosSchedulerClient, Recorder]]]:
    clients: list[MesosSchedulerClient] = []

    def make(
        master_spec: str, info: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[MesosSchedulerClient, Recorder]:
        recorder = kwargs.pop("recorder", None) or Recorder()
        params: dict[str, Any] = {"backoff_initial": 0.05, "backoff_max": 0.5, "timeout": 5.0}
        params.update(kwargs)
        client = MesosSchedulerClient(master_spec, info or framework_info(), recorder, **params)
        clients.append(client)
        return client, recorder

    yield make
    for client in clients:
        client.stop(timeout=5)


@pytest.fixture
def subscribed(
    master: LocalMaster, make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]]
) -> tuple[MesosSchedulerClient, Recorder]:
    client, rec = make_client(master.address)
    client.start()
    rec.wait_for(lambda: rec.count("registered"), what="registered")
    return client, rec


def fresh_offer(rec: Recorder) -> dict[str, Any]:
    """The newest offer not used yet by this test nor rescinded; marks it used."""

    def find() -> dict[str, Any] | None:
        gone = rec.used | {a[0] for n, a in rec.events if n == "rescinded"}
        for name, args in reversed(rec.events):
            if name == "offer" and args[0]["id"]["value"] not in gone:
                return args[0]
        return None

    offer: dict[str, Any] = rec.wait_for(find, what="an unused offer")
    rec.used.add(offer["id"]["value"])
    return offer


def launch_one(client: MesosSchedulerClient, rec: Recorder, task_id: str, command: str) -> dict[str, Any]:
    offer = fresh_offer(rec)
    client.launch([offer["id"]["value"]], [task_info(task_id, offer["agent_id"]["value"], command)])
    return offer


def ack_all(client: MesosSchedulerClient, rec: Recorder, task_id: str, until: str) -> dict[str, Any]:
    """Acknowledge each update of task_id as it comes, until state ``until``; return it."""
    acked: set[str] = set()
    start = 0
    while True:
        status = rec.next_event(
            "status",
            start,
            lambda a: a[0]["task_id"]["value"] == task_id and status_uuid(a[0]) not in acked,
        )[0]
        start = rec.events.index(("status", (status,))) + 1
        if client.acknowledge_status(status):
            acked.add(status_uuid(status) or "")
        if status["state"] == until:
            return status


# --------------------------------------------------------------------------- subscription


def test_subscribe_registers_with_framework_id(
    subscribed: tuple[MesosSchedulerClient, Recorder], master: LocalMaster
) -> None:
    client, rec = subscribed
    (_, (framework_id, master_info)) = next(e for e in rec.events if e[0] == "registered")
    assert framework_id == client.framework_id
    assert client.connected
    assert client.master == master.address
    assert client.stream_id
    assert client.heartbeat_interval == 0.5
    assert master_info["id"] == master.master_id
    fw = master.frameworks()[0]
    assert fw["id"] == framework_id and fw["connected"] and fw["stream_id"] == client.stream_id
    rec.wait_for(lambda: rec.count("heartbeat") >= 2, what="heartbeats")


def test_subscribe_with_a_known_framework_id_is_registered_not_reregistered(
    master: LocalMaster, make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]]
) -> None:
    """A scheduler that fails over (new process, stored FrameworkID) gets ``registered``."""
    fid = f"fixed-{uuid.uuid4().hex[:8]}"
    client, rec = make_client(master.address, framework_info(id={"value": fid}))
    assert client.framework_id == fid
    client.start()
    args = rec.next_event("registered", 0)
    assert args[0] == fid
    assert rec.count("reregistered") == 0


def test_calls_before_subscription_raise_not_connected(
    master: LocalMaster, make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]]
) -> None:
    client, _ = make_client(master.address)
    with pytest.raises(MesosNotConnected, match="not subscribed"):
        client.revive()


def test_stop_closes_the_stream_quickly(subscribed: tuple[MesosSchedulerClient, Recorder], master: LocalMaster) -> None:
    client, rec = subscribed
    started = time.monotonic()
    client.stop(timeout=5)
    assert time.monotonic() - started < 2.0
    assert not client.running and not client.connected
    assert rec.count("disconnected") == 0  # an intended stop is not a disconnection
    wait_until(lambda: not master.frameworks()[0]["connected"], what="master sees the stream closed")


# --------------------------------------------------------------------------- offers and tasks


def test_launch_two_tasks_in_one_offer(subscribed: tuple[MesosSchedulerClient, Recorder]) -> None:
    client, rec = subscribed
    offer = fresh_offer(rec)
    agent_id = offer["agent_id"]["value"]
    client.launch(
        [offer["id"]["value"]],
        [task_info("ok", agent_id, "echo hello"), task_info("bad", agent_id, "exit 3")],
    )
    finished = ack_all(client, rec, "ok", "TASK_FINISHED")
    failed = ack_all(client, rec, "bad", "TASK_FAILED")
    assert [s["state"] for s in rec.statuses("ok")][:3] == [
        "TASK_STARTING",
        "TASK_RUNNING",
        "TASK_FINISHED",
    ]
    assert [s["state"] for s in rec.statuses("bad")][:2] == ["TASK_STARTING", "TASK_RUNNING"]
    assert parse_exit_status(finished) == 0
    assert parse_exit_status(failed) == 3
    assert decode_uuid(status_uuid(finished) or "")  # a real 16-byte uuid


def test_acknowledge_stops_retransmission(
    subscribed: tuple[MesosSchedulerClient, Recorder], master: LocalMaster
) -> None:
    client, rec = subscribed
    launch_one(client, rec, "t-ack", "true")
    first = rec.wait_status("t-ack", "TASK_STARTING")
    # Not acknowledged: the same update (same uuid) comes again, and nothing newer.
    rec.wait_for(
        lambda: sum(1 for s in rec.statuses("t-ack") if s["uuid"] == first["uuid"]) >= 2,
        what="a resend of the unacknowledged update",
    )
    assert all(s["state"] == "TASK_STARTING" for s in rec.statuses("t-ack"))
    # Acknowledging releases the next update, and so on to the end.
    ack_all(client, rec, "t-ack", "TASK_FINISHED")
    task = wait_until(
        lambda: next((t for t in master.tasks() if t["task_id"] == "t-ack" and not t["active"]), None),
        what="the master to retire the fully acknowledged task",
    )
    assert task["unacknowledged"] == 0 and task["state"] == "TASK_FINISHED"


def test_decline_with_refuse_seconds_then_revive(
    subscribed: tuple[MesosSchedulerClient, Recorder], master: LocalMaster
) -> None:
    client, rec = subscribed
    offer = rec.wait_offer()
    mark = rec.mark()
    declined_at = time.monotonic()
    client.decline([offer["id"]["value"]], refuse_seconds=0.6)
    again = rec.wait_offer(mark)
    assert time.monotonic() - declined_at >= 0.55, "re-offered before the refuse filter expired"
    assert again["agent_id"] == offer["agent_id"]

    mark = rec.mark()
    client.decline([again["id"]["value"]], refuse_seconds=3600)
    wait_until(lambda: not master.offers(), what="the declined offer to be gone")
    revived_at = time.monotonic()
    client.revive()
    rec.wait_offer(mark)
    assert time.monotonic() - revived_at < 5  # revive cleared the one-hour filter


def test_suppress_and_revive(subscribed: tuple[MesosSchedulerClient, Recorder], master: LocalMaster) -> None:
    client, rec = subscribed
    rec.wait_offer()
    client.suppress()
    wait_until(lambda: master.frameworks()[0]["suppressed"], what="suppressed")
    client.revive(roles=["*"])
    wait_until(lambda: not master.frameworks()[0]["suppressed"], what="revived")


def test_kill_a_running_task(subscribed: tuple[MesosSchedulerClient, Recorder]) -> None:
    client, rec = subscribed
    offer = launch_one(client, rec, "sleeper", "exec sleep 30")
    ack_all(client, rec, "sleeper", "TASK_RUNNING")
    client.kill("sleeper", offer["agent_id"]["value"])
    killed = ack_all(client, rec, "sleeper", "TASK_KILLED")
    assert parse_exit_status(killed) == 128 + 15  # SIGTERM


def test_reconcile_implicit_and_explicit(subscribed: tuple[MesosSchedulerClient, Recorder]) -> None:
    client, rec = subscribed
    offer = launch_one(client, rec, "long", "exec sleep 30")
    ack_all(client, rec, "long", "TASK_RUNNING")

    mark = rec.mark()
    client.reconcile([])
    status = rec.wait_status("long", "TASK_RUNNING", mark)
    assert status["reason"] == "REASON_RECONCILIATION"
    assert status_uuid(status) is None
    assert client.acknowledge_status(status) is False  # nothing to acknowledge

    mark = rec.mark()
    client.reconcile([("long", offer["agent_id"]["value"]), ("never-launched", None)])
    assert rec.wait_status("long", "TASK_RUNNING", mark)["reason"] == "REASON_RECONCILIATION"
    assert rec.wait_status("never-launched", "TASK_LOST", mark)["reason"] == "REASON_RECONCILIATION"
    client.kill("long")


def test_malformed_call_raises_with_the_masters_text(
    subscribed: tuple[MesosSchedulerClient, Recorder],
) -> None:
    client, rec = subscribed
    offer = rec.wait_offer()
    with pytest.raises(MesosCallError) as info:
        client.launch([offer["id"]["value"]], [{"name": "x", "bogus_field": 1}])
    assert info.value.status == 400
    assert info.value.call_type == "ACCEPT"
    assert "Failed to validate scheduler::Call" in info.value.body
    assert "bogus_field" in info.value.body
    assert "HTTP 400" in str(info.value)


def test_agent_lost(subscribed: tuple[MesosSchedulerClient, Recorder], master: LocalMaster) -> None:
    client, rec = subscribed
    offer = launch_one(client, rec, "on-doomed-agent", "exec sleep 30")
    ack_all(client, rec, "on-doomed-agent", "TASK_RUNNING")
    master.kill_agent(offer["agent_id"]["value"])
    assert rec.next_event("agent_lost", 0)[0] == "S0"
    assert rec.wait_status("on-doomed-agent", "TASK_LOST")["reason"] == "REASON_AGENT_REMOVED"


def test_a_failing_callback_does_not_break_the_stream(
    master: LocalMaster, make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]]
) -> None:
    rec = Recorder()
    rec.raise_in = {"offer", "heartbeat"}
    client, _ = make_client(master.address, recorder=rec)
    client.start()
    rec.wait_for(
        lambda: rec.count("heartbeat") >= 3 and rec.count("offer") >= 1,
        what="events despite errors",
    )
    assert client.connected and rec.count("disconnected") == 0


# --------------------------------------------------------------------------- failures


def test_dropped_stream_resubscribes_with_the_same_framework_id(
    subscribed: tuple[MesosSchedulerClient, Recorder], master: LocalMaster
) -> None:
    client, rec = subscribed
    framework_id = client.framework_id
    launch_one(client, rec, "survivor", "exec sleep 30")
    ack_all(client, rec, "survivor", "TASK_RUNNING")
    old_stream = client.stream_id

    mark = rec.mark()
    master.drop_streams()
    rec.next_event("disconnected", mark)
    rec.next_event("reregistered", mark)
    assert client.framework_id == framework_id
    assert client.connected and client.stream_id != old_stream
    assert rec.count("registered") == 1

    mark = rec.mark()
    client.reconcile([])
    rec.wait_status("survivor", "TASK_RUNNING", mark)  # the task outlived the disconnection
    client.kill("survivor")


def test_master_restart_reconnects(subscribed: tuple[MesosSchedulerClient, Recorder], master: LocalMaster) -> None:
    client, rec = subscribed
    framework_id = client.framework_id
    old_master_id = master.master_id
    mark = rec.mark()
    master.restart_master()
    rec.next_event("disconnected", mark)
    (master_info,) = rec.next_event("reregistered", mark)
    assert master_info["id"] == master.master_id != old_master_id
    assert client.framework_id == framework_id
    rec.wait_offer(mark)  # the new master offers again


def test_heartbeat_loss_resubscribes(
    master: LocalMaster, make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]]
) -> None:
    client, rec = make_client(master.address, heartbeat_grace=1.5)
    client.start()
    rec.wait_for(lambda: rec.count("heartbeat") >= 1, what="first heartbeat")
    mark = rec.mark()
    paused_at = time.monotonic()
    master.pause_heartbeats(1.5)
    rec.next_event("disconnected", mark)
    # The watchdog fired: the master did not close anything, the client gave up waiting
    # after heartbeat_grace x interval (0.75 s) without any event.
    assert time.monotonic() - paused_at >= 0.7
    rec.next_event("reregistered", mark)
    rec.wait_for(lambda: client.connected and rec.count("heartbeat") > 0, what="connected again")
    # Heartbeats flow again once the pause is over, and the subscription then holds.
    rec.next_event("heartbeat", rec.mark())


def test_redirect_from_a_standby_master(
    master: LocalMaster,
    tmp_path: Path,
    make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]],
) -> None:
    standby = new_master(tmp_path / "standby", leader=master.address)
    try:
        client, rec = make_client(standby.address)
        client.start()
        rec.next_event("registered", 0)
        assert client.master == master.address  # followed the 307 and remembered the leader
        assert master.frameworks() and not standby.frameworks()

        # A call that reaches the standby is redirected too, and the leader remembered.
        client._master = standby.address  # as if the client had been pointed there
        client.suppress()
        assert client.master == master.address
        wait_until(lambda: master.frameworks()[0]["suppressed"], what="suppress reached the leader")
    finally:
        standby.stop()


class _Front(BaseHTTPRequestHandler):
    """Test-only front door: answers 503 a few times, then 307 to the real master."""

    target = ""
    unavailable = 0
    hits = 0
    authorization: list[str | None] = []

    def do_POST(self) -> None:
        cls = type(self)
        cls.hits += 1
        cls.authorization.append(self.headers.get("Authorization"))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if cls.hits <= cls.unavailable:
            body = b"Master is not the leader yet\n"
            self.send_response(503)
        else:
            body = b""
            self.send_response(307)
            self.send_header("Location", f"//{cls.target}/api/v1/scheduler")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_unavailable_then_redirected(
    master: LocalMaster,
    make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="moroccron.mesos")
    handler = type(
        "Front",
        (_Front,),
        {"target": master.address, "unavailable": 2, "hits": 0, "authorization": []},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client, rec = make_client(
            f"http://127.0.0.1:{server.server_address[1]}", principal="moroccron", secret="s3cret"
        )
        client.start()
        rec.next_event("registered", 0)
        assert handler.hits == 3  # two 503s retried with backoff, then the redirect
        assert client.master == master.address
        expected = "Basic " + base64.b64encode(b"moroccron:s3cret").decode()
        assert handler.authorization == [expected] * 3
        assert "s3cret" not in caplog.text and "503" in caplog.text
    finally:
        server.shutdown()
        server.server_close()


def test_subscribe_refused_with_4xx_is_an_error_not_a_retry(
    tmp_path: Path, make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]]
) -> None:
    # A master that authenticates frameworks answers a SUBSCRIBE without credentials 401.
    master = new_master(tmp_path / "auth", credentials={"moroccron": "s3cret"})
    try:
        client, rec = make_client(master.address, framework_info())
        client.start()
        (message,) = rec.next_event("error", 0)
        assert "refused SUBSCRIBE with HTTP 401" in message and "Unauthorized" in message
        assert client.join(timeout=5)
        assert client.aborted == message
    finally:
        master.stop()


def test_failover_to_another_instance_aborts_the_old_one(
    subscribed: tuple[MesosSchedulerClient, Recorder],
    master: LocalMaster,
    make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]],
) -> None:
    old, old_rec = subscribed
    new, new_rec = make_client(master.address, framework_info(id={"value": old.framework_id}))
    new.start()
    new_rec.next_event("registered", 0)
    (message,) = old_rec.next_event("error", 0)
    assert "failed over" in message
    assert old.join(timeout=5)
    assert old.aborted and "failed over" in old.aborted
    assert new.connected


def test_teardown_then_resubscribe_is_refused(
    subscribed: tuple[MesosSchedulerClient, Recorder],
    master: LocalMaster,
    make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]],
) -> None:
    client, rec = subscribed
    framework_id = client.framework_id
    client.teardown()
    assert client.join(timeout=5)
    assert rec.count("error") == 0 and rec.count("disconnected") == 0
    wait_until(lambda: not master.frameworks(), what="the framework to be removed")

    again, again_rec = make_client(master.address, framework_info(id={"value": framework_id}))
    again.start()
    (message,) = again_rec.next_event("error", 0)
    assert "Framework has been removed" in message
    assert again.join(timeout=5)
    assert again_rec.count("registered") == 0


@pytest.mark.zookeeper
def test_zk_detection(
    tmp_path: Path, make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]], zk_address: str
) -> None:
    zk_url = f"zk://{zk_address}/moroccron-test-{uuid.uuid4().hex[:8]}"
    first = new_master(tmp_path / "m1", zk=zk_url)
    second = new_master(tmp_path / "m2", zk=zk_url)
    try:
        client, rec = make_client(zk_url)
        client.start()
        rec.next_event("registered", 0)
        assert client.master == first.address
        mark = rec.mark()
        first.stop()  # its ZooKeeper node goes; the second master leads
        rec.next_event("reregistered", mark)
        assert client.master == second.address
    finally:
        second.stop()
        first.stop()


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"state": "TASK_FAILED", "message": "Command exited with status 3"}, 3),
        ({"state": "TASK_FINISHED", "message": "Command exited with status 0"}, 0),
        ({"state": "TASK_FINISHED"}, 0),
        ({"state": "TASK_KILLED", "message": "Command terminated with signal Killed"}, 137),
        ({"state": "TASK_KILLED", "message": "Command terminated with signal Terminated"}, 143),
        (
            {
                "state": "TASK_FAILED",
                "message": "Command terminated with signal Segmentation fault",
            },
            139,
        ),
        (
            {
                "state": "TASK_FAILED",
                "message": "Command terminated with signal SIGABRT (core dumped)",
            },
            134,
        ),
        ({"state": "TASK_FAILED", "message": "Command terminated with signal 9"}, 137),
        (
            {
                "state": "TASK_FAILED",
                "message": "Task exceeded its max completion time; Command terminated with signal Killed",
            },
            137,
        ),
        ({"state": "TASK_LOST", "message": "Agent S0 removed: its host is gone"}, None),
        ({"state": "TASK_FAILED", "message": "Command terminated with signal Bogus"}, None),
        ({"state": "TASK_RUNNING"}, None),
    ],
)
def test_parse_exit_status(status: dict[str, Any], expected: int | None) -> None:
    assert parse_exit_status(status) == expected


def test_decode_uuid() -> None:
    value = uuid.uuid4()
    assert decode_uuid(base64.b64encode(value.bytes).decode()) == str(value)
    assert decode_uuid(base64.b64encode(b"\x01\x02").decode()) == "0102"
    with pytest.raises(ValueError):
        decode_uuid("not base64!")
    assert status_uuid({"uuid": "abc="}) == "abc="
    assert status_uuid({"uuid": ""}) is None and status_uuid({}) is None


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("//m2:5050/api/v1/scheduler", ("http", "m2:5050")),
        ("m2:5050", ("http", "m2:5050")),
        ("https://m2:5443/api/v1/scheduler", ("https", "m2:5443")),
    ],
)
def test_redirect_target(location: str, expected: tuple[str, str]) -> None:
    assert _redirect_target(location, "http") == expected


@pytest.mark.parametrize("location", ["", "/api/v1/scheduler", "ftp://m2:21/x"])
def test_redirect_target_rejects(location: str) -> None:
    with pytest.raises(ValueError):
        _redirect_target(location, "http")
