"""A framework the master removed: the client tells it apart from other errors and registers anew.

A real master closes the stream of a framework it removes (operator teardown, failover
timeout) and answers the next SUBSCRIBE with that FrameworkID with ERROR "Framework has
been removed" (apache/mesos src/master/master.cpp, ``validateFramework``). The local
master does the same (``LocalMaster.remove_framework``). Every wait polls a condition.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from moroccron.mesos import recordio
from moroccron.mesos.client import MesosSchedulerClient, framework_removed
from moroccron.mesos.local import LocalMaster
from tests.mesos.test_client import WAIT, Recorder, framework_info, new_master

pytestmark = pytest.mark.timeout(60)


class RemovalRecorder(Recorder):
    def frameworkRemoved(self, client: Any, framework_id: str, message: str) -> None:  # noqa: N802
        self._add("removed", framework_id, message)


@pytest.fixture
def master(tmp_path: Path) -> Iterator[LocalMaster]:
    m = new_master(tmp_path / "mesos")
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture
def make_client() -> Iterator[Callable[..., tuple[MesosSchedulerClient, RemovalRecorder]]]:
    clients: list[MesosSchedulerClient] = []

    def make(
        spec: str, info: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[MesosSchedulerClient, RemovalRecorder]:
        rec = RemovalRecorder()
        params: dict[str, Any] = {"backoff_initial": 0.05, "backoff_max": 0.5, "timeout": 5.0}
        params.update(kwargs)
        client = MesosSchedulerClient(spec, info or framework_info(), rec, **params)
        clients.append(client)
        return client, rec

    yield make
    for client in clients:
        client.stop(timeout=5)


def test_the_masters_texts_are_told_apart() -> None:
    # master.cpp validateFramework (0.28 and later), and what older masters said
    assert framework_removed("Framework has been removed")
    assert framework_removed("Completed framework attempted to re-register")
    # refusals that a new framework would not cure: the same FrameworkID may come back, or the cause is config
    for text in (
        "Framework failed over",
        "Framework disconnected",
        "Not authorized to register as role 'ops'",
        "Roles { ops } are not present in the master's --roles",
        "User 'root' is not allowed to run frameworks without --root_submissions set",
        "",
    ):
        assert not framework_removed(text), text


@pytest.mark.parametrize("error_on_stream", [False, True], ids=["stream-closed", "error-event"])
def test_removed_framework_is_replaced_by_a_new_one(
    master: LocalMaster,
    make_client: Callable[..., tuple[MesosSchedulerClient, RemovalRecorder]],
    error_on_stream: bool,
) -> None:
    client, rec = make_client(master.address, register_when_removed=True)
    client.start()
    (old_id, _info) = rec.next_event("registered", 0)
    mark = rec.mark()

    # A real master only closes the stream; the ERROR comes on the next SUBSCRIBE. Some
    # masters (and the local one, when asked) send it on the open stream first.
    master.remove_framework(old_id, "Framework has been removed" if error_on_stream else None)

    removed_id, message = rec.next_event("removed", mark)
    assert removed_id == old_id and "Framework has been removed" in message
    (new_id, _info) = rec.next_event("registered", mark)
    assert new_id != old_id and client.framework_id == new_id and client.connected
    names = [n for n, _ in rec.events[mark:] if n in ("removed", "registered", "error")]
    assert names == ["removed", "registered"], "told once, then a first registration; no error, no abort"
    assert [fw["id"] for fw in master.frameworks()] == [new_id]
    assert old_id in {fw["id"] for fw in master.state()["completed_frameworks"]}


def test_restart_with_a_removed_framework_id_registers_anew_once(
    master: LocalMaster,
    make_client: Callable[..., tuple[MesosSchedulerClient, RemovalRecorder]],
) -> None:
    first, first_rec = make_client(master.address)
    first.start()
    (old_id, _info) = first_rec.next_event("registered", 0)
    first.stop(timeout=5)
    master.remove_framework(old_id)

    # What a restarted scheduler does: subscribe with the FrameworkID it stored.
    client, rec = make_client(master.address, framework_info(id={"value": old_id}), register_when_removed=True)
    client.start()
    (removed_id, _message) = rec.next_event("removed", 0)
    (new_id, _info) = rec.next_event("registered", 0)
    assert removed_id == old_id and new_id != old_id
    mark = rec.mark()
    master.drop_streams()  # a later re-subscription uses the new id, and keeps it
    rec.next_event("reregistered", mark)
    assert client.framework_id == new_id and rec.count("removed") == 1 and rec.count("registered") == 1


def test_other_errors_still_stop_the_client(
    master: LocalMaster,
    make_client: Callable[..., tuple[MesosSchedulerClient, RemovalRecorder]],
) -> None:
    old, old_rec = make_client(master.address, register_when_removed=True)
    old.start()
    (framework_id, _info) = old_rec.next_event("registered", 0)
    new, new_rec = make_client(master.address, framework_info(id={"value": framework_id}))
    new.start()
    new_rec.next_event("registered", 0)
    (message,) = old_rec.next_event("error", 0)
    assert "failed over" in message
    assert old.join(timeout=5) and old.aborted
    assert old_rec.count("removed") == 0 and old_rec.count("registered") == 1


def test_without_the_option_a_removal_still_aborts(
    master: LocalMaster,
    make_client: Callable[..., tuple[MesosSchedulerClient, RemovalRecorder]],
) -> None:
    client, rec = make_client(master.address)
    client.start()
    (framework_id, _info) = rec.next_event("registered", 0)
    master.remove_framework(framework_id)
    (message,) = rec.next_event("error", 0)
    assert "Framework has been removed" in message
    assert client.join(timeout=5) and rec.count("removed") == 0


class _RefusingMaster(BaseHTTPRequestHandler):
    """A master that refuses a SUBSCRIBE naming a FrameworkID with 403 and this text, and
    registers one without: some proxies and older masters answer removals so."""

    subscribes: list[dict[str, Any]] = []
    release = threading.Event()  # the stream stays open until the test ends

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        call = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        type(self).subscribes.append(call)
        if call.get("framework_id"):
            body = b"Framework has been removed"
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        event = json.dumps(
            {
                "type": "SUBSCRIBED",
                "subscribed": {"framework_id": {"value": "fresh-0001"}, "heartbeat_interval_seconds": 15},
            }
        )
        record = recordio.encode(event.encode())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Mesos-Stream-Id", "stream-1")
        self.end_headers()  # HTTP/1.0 without a length: the body lasts as long as the connection
        self.wfile.write(record)
        self.wfile.flush()
        type(self).release.wait(WAIT)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def test_subscribe_refused_as_removed_with_http_4xx_registers_anew(
    make_client: Callable[..., tuple[MesosSchedulerClient, RemovalRecorder]],
) -> None:
    handler = type("Refusing", (_RefusingMaster,), {"subscribes": [], "release": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client, rec = make_client(
            f"127.0.0.1:{server.server_address[1]}",
            framework_info(id={"value": "dead-0000"}),
            register_when_removed=True,
        )
        client.start()
        assert rec.next_event("removed", 0) == ("dead-0000", "Framework has been removed")
        assert rec.next_event("registered", 0)[0] == "fresh-0001"
        first, second = handler.subscribes
        assert first["framework_id"] == {"value": "dead-0000"}
        assert "framework_id" not in second and "id" not in second["subscribe"]["framework_info"]
        assert client.framework_id == "fresh-0001" and client.connected
    finally:
        handler.release.set()
        server.shutdown()
        server.server_close()


def test_the_remove_control_over_http(
    master: LocalMaster, make_client: Callable[..., tuple[MesosSchedulerClient, RemovalRecorder]]
) -> None:
    import requests

    client, rec = make_client(master.address)
    client.start()
    (framework_id, _info) = rec.next_event("registered", 0)
    missing = requests.post(f"{master.url}/__local__/frameworks/nope/remove", json={}, timeout=5)
    assert missing.status_code == 404 and "nope" in missing.text
    done = requests.post(
        f"{master.url}/__local__/frameworks/{framework_id}/remove",
        json={"message": "Framework has been removed"},
        timeout=5,
    )
    assert done.status_code == 200 and done.json() == {"framework_id": framework_id}
    (message,) = rec.next_event("error", 0)  # this client was not asked to register anew: it stops
    assert "Framework has been removed" in message and master.frameworks() == []
