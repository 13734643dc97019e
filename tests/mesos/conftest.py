"""Fixtures for the local Mesos master tests: a running master, and test schedulers.

:class:`Scheduler` is a deliberately tiny v1 scheduler written with ``requests`` and
:class:`~moroccron.mesos.recordio.Decoder` only, independent of ``moroccron.mesos.client``,
so the local master is checked against the wire protocol itself rather than against the
client it is meant to test.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from moroccron.mesos import recordio
from moroccron.mesos.local import AgentSpec, LocalMaster

API = "/api/v1/scheduler"
WAIT = 10.0  # generous upper bound for one event; tests normally see it in milliseconds

Event = dict[str, Any]
Predicate = Callable[[Event], bool]


class StreamClosed(AssertionError):
    """The event stream ended while a test was waiting for an event."""


class Scheduler:
    """A minimal scheduler: one SUBSCRIBE stream read on a thread, calls over a session.

    Events are kept in arrival order. :meth:`wait` returns the first event not yet
    returned that matches, so a test can wait for an UPDATE while OFFERS and HEARTBEATs
    keep arriving, and later still find the OFFERS it skipped.
    """

    def __init__(self, url: str, framework_info: dict[str, Any] | None = None) -> None:
        self.url = url
        self.framework_info: dict[str, Any] = {
            "user": "root",
            "name": "test-scheduler",
            "capabilities": [{"type": "PARTITION_AWARE"}],
            **(framework_info or {}),
        }
        self.session = requests.Session()
        self.events: list[Event] = []
        self._taken: set[int] = set()
        self._cond = threading.Condition()
        self._closed = False
        self._error: BaseException | None = None
        self._response: requests.Response | None = None
        self._thread: threading.Thread | None = None
        self.stream_id: str | None = None
        self.framework_id: str | None = None
        self.subscribe_response: requests.Response | None = None

    # -- the stream ------------------------------------------------------------------

    def subscribe(self, framework_id: str | None = None) -> Event:
        """SUBSCRIBE (with ``framework_id`` to fail over) and return the SUBSCRIBED event."""
        info = dict(self.framework_info)
        body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if framework_id is not None:
            info["id"] = {"value": framework_id}
            body["framework_id"] = {"value": framework_id}
        response = requests.post(
            self.url + API,
            json=body,
            headers={"Accept": "application/json"},
            stream=True,
            timeout=WAIT,
        )
        assert response.status_code == 200, response.text
        self.subscribe_response = response
        self._response = response
        self.stream_id = response.headers["Mesos-Stream-Id"]
        with self._cond:
            self.events = []
            self._taken = set()
            self._closed = False
            self._error = None
        self._thread = threading.Thread(target=self._read, args=(response,), daemon=True)
        self._thread.start()
        subscribed = self.wait(type="SUBSCRIBED")
        self.framework_id = subscribed["subscribed"]["framework_id"]["value"]
        return subscribed

    def _read(self, response: requests.Response) -> None:
        decoder = recordio.Decoder()
        try:
            for chunk in response.iter_content(chunk_size=None):
                for record in decoder.feed(chunk):
                    event = json.loads(record)
                    with self._cond:
                        self.events.append(event)
                        self._cond.notify_all()
        except Exception as exc:  # the connection was cut: that ends the stream too
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def wait_closed(self, timeout: float = WAIT) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self._closed, timeout), "event stream still open"

    def disconnect(self) -> None:
        """Hang up the event stream from the client side."""
        response = self._response
        if response is None:
            return
        with contextlib.suppress(Exception):
            sock = response.raw.connection.sock
            sock.shutdown(socket.SHUT_RDWR)
        response.close()
        if self._thread is not None:
            self._thread.join(timeout=WAIT)

    def close(self) -> None:
        self.disconnect()
        self.session.close()

    # -- waiting for events ---------------------------------------------------------

    def wait(
        self,
        predicate: Predicate | None = None,
        *,
        type: str | None = None,  # noqa: A002 - mirrors the event field
        timeout: float = WAIT,
    ) -> Event:
        """The next unreturned event of ``type`` matching ``predicate``; fails on timeout."""

        def match(event: Event) -> bool:
            return (type is None or event.get("type") == type) and (predicate is None or predicate(event))

        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index, event in enumerate(self.events):
                    if index not in self._taken and match(event):
                        self._taken.add(index)
                        return event
                left = deadline - time.monotonic()
                if self._closed:
                    raise StreamClosed(f"stream closed ({self._error!r}) while waiting for {type or 'an event'}")
                if left <= 0:
                    seen = [e.get("type") for e in self.events]
                    raise AssertionError(f"no {type or 'matching'} event within {timeout}s; got {seen}")
                self._cond.wait(left)

    def expect_none(self, predicate: Predicate, *, type: str | None = None, within: float) -> None:
        """Assert that no unreturned event of ``type`` matching ``predicate`` arrives in ``within`` s."""
        try:
            event = self.wait(predicate, type=type, timeout=within)
        except AssertionError:
            return
        pytest.fail(f"unexpected event within {within}s: {event}")

    def update(self, task_id: str, state: str | None = None, *, timeout: float = WAIT) -> dict[str, Any]:
        """The next TaskStatus for ``task_id`` (of ``state`` if given)."""
        event = self.wait(
            lambda e: (
                e["update"]["status"]["task_id"]["value"] == task_id
                and (state is None or e["update"]["status"]["state"] == state)
            ),
            type="UPDATE",
            timeout=timeout,
        )
        status: dict[str, Any] = event["update"]["status"]
        return status

    def offer(self, *, timeout: float = WAIT, agent_id: str | None = None) -> dict[str, Any]:
        """The next offer (of ``agent_id`` if given), unpacked from its OFFERS event."""
        while True:
            event = self.wait(type="OFFERS", timeout=timeout)
            offers = event["offers"]["offers"]
            for offer in offers:
                if agent_id is None or offer["agent_id"]["value"] == agent_id:
                    return offer  # type: ignore[no-any-return]

    # -- calls ------------------------------------------------------------------------

    def call(
        self,
        body: dict[str, Any],
        *,
        stream_id: str | None | bool = True,
        content_type: str = "application/json",
    ) -> requests.Response:
        """POST a call; ``framework_id`` is filled in and the stream id header is sent."""
        body = dict(body)
        if self.framework_id is not None:
            body.setdefault("framework_id", {"value": self.framework_id})
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if stream_id is True:
            assert self.stream_id is not None
            headers["Mesos-Stream-Id"] = self.stream_id
        elif isinstance(stream_id, str):
            headers["Mesos-Stream-Id"] = stream_id
        return self.session.post(self.url + API, data=json.dumps(body), headers=headers, timeout=WAIT)

    def must(self, body: dict[str, Any]) -> None:
        response = self.call(body)
        assert response.status_code == 202, f"{response.status_code}: {response.text}"
        assert response.content == b""

    def accept(
        self,
        offers: list[dict[str, Any]],
        tasks: list[dict[str, Any]],
        refuse_seconds: float | None = None,
    ) -> None:
        accept: dict[str, Any] = {
            "offer_ids": [o["id"] for o in offers],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
        }
        if refuse_seconds is not None:
            accept["filters"] = {"refuse_seconds": refuse_seconds}
        self.must({"type": "ACCEPT", "accept": accept})

    def decline(self, offer: dict[str, Any], refuse_seconds: float | None = None) -> None:
        decline: dict[str, Any] = {"offer_ids": [offer["id"]]}
        if refuse_seconds is not None:
            decline["filters"] = {"refuse_seconds": refuse_seconds}
        self.must({"type": "DECLINE", "decline": decline})

    def ack(self, status: dict[str, Any]) -> None:
        assert "uuid" in status, f"update without uuid needs no acknowledgement: {status}"
        self.must(
            {
                "type": "ACKNOWLEDGE",
                "acknowledge": {"agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]},
            }
        )

    def kill(self, task_id: str, **extra: Any) -> None:
        self.must({"type": "KILL", "kill": {"task_id": {"value": task_id}, **extra}})

    def reconcile(self, tasks: list[dict[str, Any]]) -> None:
        self.must({"type": "RECONCILE", "reconcile": {"tasks": tasks}})

    def follow(self, task_id: str, until: str, *, timeout: float = WAIT) -> list[dict[str, Any]]:
        """Acknowledge every update of ``task_id`` until state ``until``; return them."""
        seen = []
        while True:
            status = self.update(task_id, timeout=timeout)
            seen.append(status)
            if "uuid" in status:
                self.ack(status)
            if status["state"] == until:
                return seen


def task_info(
    task_id: str,
    offer: dict[str, Any],
    command: str | dict[str, Any],
    *,
    cpus: float = 0.1,
    mem: float = 32.0,
    **extra: Any,
) -> dict[str, Any]:
    """A TaskInfo for ``offer``'s agent running ``command`` (a shell string or CommandInfo)."""
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": command} if isinstance(command, str) else command,
        **extra,
    }


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float = WAIT, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


DEFAULT_AGENT = AgentSpec(
    id="agent-1",
    hostname="host-1",
    cpus=2.0,
    mem=1024.0,
    disk=2048.0,
    ports=[(31000, 31009)],
    attributes={"rack": "r1", "weight": 3},
)

MasterFactory = Callable[..., LocalMaster]


@pytest.fixture
def make_master(tmp_path: Path) -> Iterator[MasterFactory]:
    """Start LocalMasters with fast test timings; stops them and checks nothing leaked."""
    started: list[LocalMaster] = []
    threads_before = set(threading.enumerate())

    def make(**kwargs: Any) -> LocalMaster:
        options: dict[str, Any] = {
            "agents": [DEFAULT_AGENT],
            "work_dir": tmp_path / f"mesos-{len(started)}",
            "heartbeat_interval": 0.2,
            "offer_refuse_default": 5.0,
            "status_update_retry": 0.3,
            "offer_interval": 0.1,
            "kill_grace_default": 1.0,
        }
        options.update(kwargs)
        master = LocalMaster(**options)
        started.append(master)
        return master.start()

    yield make
    pids = []
    for master in started:
        pids += [t["pid"] for t in master.tasks() if t["pid"] is not None]
        master.stop()

    def leaked() -> list[str]:
        return [t.name for t in set(threading.enumerate()) - threads_before if t.name.startswith("moroccron-local")]

    # A stream thread ends once its connection is closed, a moment after stop() returns: every
    # thread must be gone within a bound (on a loaded machine one outlived stop() briefly).
    deadline = time.monotonic() + 10
    while leaked() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not leaked(), f"threads left running: {leaked()}"
    alive = [pid for pid in pids if process_alive(pid)]
    assert not alive, f"task processes left running: {alive}"


@pytest.fixture
def master(make_master: MasterFactory) -> LocalMaster:
    return make_master()


@pytest.fixture
def schedulers() -> Iterator[Callable[..., Scheduler]]:
    """Make test schedulers against a master; each is disconnected at the end."""
    made: list[Scheduler] = []

    def make(master: LocalMaster, **framework_info: Any) -> Scheduler:
        scheduler = Scheduler(master.url, framework_info)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.close()


@pytest.fixture
def scheduler(master: LocalMaster, schedulers: Callable[..., Scheduler]) -> Scheduler:
    """A scheduler subscribed to ``master`` (partition-aware, one week failover)."""
    sched = schedulers(master, failover_timeout=604800.0)
    sched.subscribe()
    return sched
