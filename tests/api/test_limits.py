"""The input limits middleware (moroccron/api/limits.py) on its own, and against a real
uvicorn server, where a chunked body arrives in pieces and must be cut off early."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import uvicorn

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.api.limits import MAX_JSON_DEPTH, json_too_deep
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.store import Store
from tests.e2e.harness import wait_for
from tests.servers import free_port


@pytest.mark.parametrize(
    ("body", "deep"),
    [
        (b"{}", False),
        (b"[" * 64 + b"]" * 64, False),
        (b"[" * 65 + b"]" * 65, True),
        (b'{"a": "' + b"[" * 1000 + b'"}', False),
        (b'{"a": "\\"' + b"[" * 1000 + b'"}', False),
        (b'{"a": [' + b"{}," * 1000 + b"{}]}", False),
        (b'{"a": ' + b'{"b": ' * 70 + b"1" + b"}" * 71, True),
        (b"[" * 50_000, True),
    ],
)
def test_json_depth(body: bytes, deep: bool) -> None:
    assert json_too_deep(body, MAX_JSON_DEPTH) is deep


@pytest.fixture
def server(tmp_path: Path, _sqlite_template: Path) -> Iterator[str]:
    import shutil

    path = tmp_path / "m.db"
    shutil.copy(_sqlite_template, path)
    store = Store(f"sqlite:///{path}")
    app = create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False)))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, 30, what="uvicorn")
    yield url
    srv.should_exit = True
    thread.join(timeout=20)
    store.close()


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(server: str) -> None:
    """Only the headers go out; the 413 comes back without the 2 MiB ever being read."""
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2097152\r\n\r\n"
        )
        reply = b""
        while chunk := conn.recv(4096):  # the server closes after answering
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413") and b"max_request_bytes" in reply


def test_a_chunked_body_is_cut_off_once_past_the_limit(server: str) -> None:
    """No Content-Length: the body is counted as it arrives, and the server answers 413
    (and stops reading) once past 1 MiB, not after the 64 MiB the client would send."""
    host, port = server.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=30)
    reply = bytearray()

    def read() -> None:
        try:
            while chunk := conn.recv(4096):
                reply.extend(chunk)
        except OSError:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    try:
        conn.sendall(
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        piece = b"x" * 65536
        for _ in range(1024):
            if reply:
                break
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
    except OSError:
        pass  # the server answered and closed while we were still sending
    reader.join(timeout=20)
    conn.close()
    assert sent < 16 << 20, f"the server kept reading: {sent} bytes sent"
    assert not reply or reply.startswith(b"HTTP/1.1 413"), bytes(reply[:200])
    assert requests.get(f"{server}/api/v1/jobs", timeout=5).json()["total"] == 0


def test_bodies_under_the_limit_go_through(server: str) -> None:
    r = requests.post(
        f"{server}/api/v1/jobs", json={"name": "a", "command": "true", "description": "x" * 10_000}, timeout=10
    )
    assert r.status_code == 201, r.text
    assert requests.get(f"{server}/api/v1/jobs/a", timeout=5).json()["description"] == "x" * 10_000
