"""TLS to the Mesos masters: a CA made here, a master on loopback that speaks only HTTPS
(and, when asked, only to clients with a certificate of that CA), found directly or
through a real ZooKeeper. No network beyond loopback.

The master is a few lines of the v1 scheduler API over ``http.server``: SUBSCRIBE gets a
RecordIO stream (SUBSCRIBED, then heartbeats), every other call a 202; what matters
here is the connection, not the scheduling.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from moroccron.mesos.client import MesosSchedulerClient, SchedulerCallbacks
from moroccron.mesos.detect import MasterDetectionError, MasterDetector
from tests.mesos.certs import make_pki

pytestmark = pytest.mark.timeout(60)
WAIT = 15.0


# ----------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_bundle: Path  # certificate and key in one file


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca, server, client = make_pki(d)
    bundle = d / "client-bundle.pem"
    bundle.write_bytes(client.cert.read_bytes() + client.key.read_bytes())
    return Pki(
        ca=ca.cert,
        server_cert=server.cert,
        server_key=server.key,
        client_cert=client.cert,
        client_key=client.key,
        client_bundle=bundle,
    )


# ----------------------------------------------------------------------------- a master that speaks only TLS


class TlsMaster:
    """HTTPS on 127.0.0.1: SUBSCRIBE streams SUBSCRIBED and heartbeats; calls answer 202."""

    def __init__(self, pki: Pki, *, require_client_cert: bool) -> None:
        self.calls: list[dict[str, Any]] = []
        self.peers: list[str | None] = []  # the common name of each client certificate seen
        self.stopping = threading.Event()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(pki.ca)
        master = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                call = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                master.calls.append(call)
                cert = self.connection.getpeercert()  # type: ignore[attr-defined]
                master.peers.append(dict(x[0] for x in cert["subject"]).get("commonName") if cert else None)
                if call.get("type") != "SUBSCRIBE":
                    self.send_response(202)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Mesos-Stream-Id", str(uuid.uuid4()))
                self.end_headers()
                self._event(
                    {
                        "type": "SUBSCRIBED",
                        "subscribed": {
                            "framework_id": {"value": "tls-framework"},
                            "heartbeat_interval_seconds": 1.0,
                            "master_info": {"id": "tls-master", "address": {"ip": "127.0.0.1", "port": master.port}},
                        },
                    }
                )
                while not master.stopping.wait(0.2):
                    try:
                        self._event({"type": "HEARTBEAT"})
                    except OSError:
                        return
                self.wfile.write(b"0\r\n\r\n")

            def _event(self, event: dict[str, Any]) -> None:
                data = json.dumps(event).encode()
                record = str(len(data)).encode() + b"\n" + data
                self.wfile.write(f"{len(record):x}\r\n".encode() + record + b"\r\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.server.handle_error = lambda *args: None  # type: ignore[method-assign]  # refused handshakes
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls_master(pki: Pki) -> Iterator[TlsMaster]:
    master = TlsMaster(pki, require_client_cert=False)
    yield master
    master.stop()


@pytest.fixture
def mtls_master(pki: Pki) -> Iterator[TlsMaster]:
    master = TlsMaster(pki, require_client_cert=True)
    yield master
    master.stop()


class Registered(SchedulerCallbacks):
    def __init__(self) -> None:
        self.subscribed = threading.Event()

    def registered(self, client: Any, framework_id: str, master_info: dict[str, Any]) -> None:
        self.subscribed.set()


@pytest.fixture
def connect() -> Iterator[Callable[..., tuple[MesosSchedulerClient, Registered]]]:
    clients: list[MesosSchedulerClient] = []

    def make(spec: str, **kwargs: Any) -> tuple[MesosSchedulerClient, Registered]:
        callbacks = Registered()
        client = MesosSchedulerClient(
            spec,
            {"user": "root", "name": "tls-test"},
            callbacks,
            backoff_initial=0.05,
            backoff_max=0.5,
            timeout=5.0,
            **kwargs,
        )
        clients.append(client)
        client.start()
        return client, callbacks

    yield make
    for client in clients:
        client.stop(timeout=5)


def wait_for_log(caplog: pytest.LogCaptureFixture, text: str) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for record in list(caplog.records):
            if text in record.getMessage():
                return record.getMessage()
        time.sleep(0.05)
    raise AssertionError(f"no log record with {text!r}: {[r.getMessage() for r in caplog.records][-10:]}")


# ----------------------------------------------------------------------------- tests


def test_https_with_the_clusters_ca_subscribes_and_calls(
    tls_master: TlsMaster, pki: Pki, connect: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Often set system-wide; requests would let it replace the cluster's CA on a session.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ssl.get_default_verify_paths().openssl_cafile)
    client, callbacks = connect(tls_master.address, tls=True, ca_file=str(pki.ca))
    assert callbacks.subscribed.wait(WAIT)
    assert client.scheme == "https" and client.master == tls_master.address
    client.kill("t1", "a1", kill_policy={"grace_period": {"nanoseconds": 1_000_000_000}})
    assert tls_master.calls[-1] == {
        "type": "KILL",
        "framework_id": {"value": "tls-framework"},
        "kill": {
            "task_id": {"value": "t1"},
            "agent_id": {"value": "a1"},
            "kill_policy": {"grace_period": {"nanoseconds": 1_000_000_000}},
        },
    }


def test_a_master_whose_certificate_the_ca_did_not_sign_is_refused(
    tls_master: TlsMaster, connect: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "moroccron.mesos.client")
    _client, callbacks = connect(tls_master.address, tls=True)  # the system's CAs: not ours
    message = wait_for_log(caplog, "CERTIFICATE_VERIFY_FAILED")
    assert tls_master.address in message
    assert not callbacks.subscribed.is_set() and tls_master.calls == []


def test_plain_http_to_a_tls_master_does_not_subscribe(
    tls_master: TlsMaster, connect: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "moroccron.mesos.client")
    _client, callbacks = connect(tls_master.address)  # no TLS settings: http
    wait_for_log(caplog, "subscribing with Mesos master")
    assert not callbacks.subscribed.is_set() and tls_master.calls == []


def test_a_master_that_wants_a_client_certificate_gets_ours(
    mtls_master: TlsMaster, pki: Pki, connect: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "moroccron.mesos.client")
    _client, without = connect(mtls_master.address, tls=True, ca_file=str(pki.ca))
    wait_for_log(caplog, "subscribing with Mesos master")  # the handshake fails: no certificate
    assert not without.subscribed.is_set() and mtls_master.calls == []
    client, with_cert = connect(
        mtls_master.address, ca_file=str(pki.ca), client_cert=str(pki.client_cert), client_key=str(pki.client_key)
    )
    assert with_cert.subscribed.wait(WAIT)
    client.revive()  # calls go on their own connections, with the same certificate
    assert mtls_master.peers[-2:] == ["client", "client"]
    assert [c["type"] for c in mtls_master.calls[-2:]] == ["SUBSCRIBE", "REVIVE"]
    _client, bundled = connect(mtls_master.address, ca_file=str(pki.ca), client_cert=str(pki.client_bundle))
    assert bundled.subscribed.wait(WAIT)  # certificate and key in one file


@pytest.mark.zookeeper
def test_masters_found_in_zookeeper_are_reached_with_https(
    tls_master: TlsMaster, pki: Pki, zk_address: str, connect: Callable[..., Any]
) -> None:
    from kazoo.client import KazooClient

    root = f"/moroccron-tls-{uuid.uuid4().hex[:8]}"
    zk = KazooClient(hosts=zk_address)
    zk.start(timeout=10)
    try:
        info = {"id": "tls-master", "address": {"ip": "127.0.0.1", "hostname": "localhost", "port": tls_master.port}}
        zk.create(f"{root}/json.info_", json.dumps(info).encode(), makepath=True, sequence=True, ephemeral=True)
        client, callbacks = connect(f"zk://{zk_address}{root}", tls=True, ca_file=str(pki.ca))
        assert callbacks.subscribed.wait(WAIT)
        assert client.scheme == "https" and client.master == tls_master.address
    finally:
        zk.delete(root, recursive=True)
        zk.stop()
        zk.close()


def test_detection_says_https_when_tls_is_set() -> None:
    assert MasterDetector("zk://zk1:2181/mesos").scheme == "http"
    assert MasterDetector("zk://zk1:2181/mesos", tls=True).scheme == "https"
    assert MasterDetector("m1:5050", tls=True).scheme == "https"
    assert MasterDetector("https://m1:5050").scheme == "https"
    with pytest.raises(MasterDetectionError, match="says http, but TLS is configured"):
        MasterDetector("http://m1:5050", tls=True)


def test_a_client_key_needs_its_certificate() -> None:
    with pytest.raises(ValueError, match="client_key needs client_cert"):
        MesosSchedulerClient("m1:5050", {"user": "root", "name": "x"}, SchedulerCallbacks(), client_key="/k.pem")
