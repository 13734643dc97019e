"""Master detection: spec parsing, MasterInfo decoding, leader choice in ZooKeeper.

ZooKeeper itself is replaced by a small in-memory fake exposing the few kazoo calls the
detector makes, and against the real ZooKeeper the test session starts.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kazoo.exceptions import NoNodeError

from moroccron.mesos.detect import (
    MasterDetectionError,
    MasterDetector,
    MasterSpec,
    detect_master,
    leader_from_children,
    master_address,
    parse_spec,
    redact,
)

# -------------------------------------------------------------------------- spec parsing


@pytest.mark.parametrize(
    ("spec", "address", "scheme"),
    [
        ("master1:5050", "master1:5050", "http"),
        ("master1", "master1:5050", "http"),
        ("10.0.0.1:5051", "10.0.0.1:5051", "http"),
        ("http://master1:5050", "master1:5050", "http"),
        ("http://master1:5050/", "master1:5050", "http"),
        ("http://master1:5050/api/v1/scheduler", "master1:5050", "http"),
        ("https://master1", "master1:443", "https"),
        ("[::1]:5050", "[::1]:5050", "http"),
        ("  master1:5050  ", "master1:5050", "http"),
    ],
)
def test_direct_specs(spec: str, address: str, scheme: str) -> None:
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.address, parsed.scheme) == ("direct", address, scheme)
    assert detect_master(spec) == address


def test_zk_spec() -> None:
    parsed = parse_spec("zk://zk1:2181,zk2,zk3:2182/mesos/")
    assert parsed == MasterSpec(kind="zk", zk_hosts="zk1:2181,zk2:2181,zk3:2182", zk_path="/mesos")


def test_zk_spec_with_credentials_is_redacted_when_shown() -> None:
    parsed = parse_spec("zk://alice:s3cret@zk1:2181/mesos")
    assert parsed.zk_auth == "alice:s3cret"
    assert "s3cret" not in str(parsed)
    assert str(parsed) == "zk://***@zk1:2181/mesos"
    assert redact("zk://alice:s3cret@zk1:2181/mesos") == "zk://***@zk1:2181/mesos"
    assert redact("master:5050") == "master:5050"


@pytest.mark.parametrize("spec", ["", "zk://zk1:2181", "zk:///mesos", "ftp://m:5050", "m:http", "http://m/x"])
def test_bad_specs_say_what_is_allowed(spec: str) -> None:
    with pytest.raises(MasterDetectionError) as info:
        parse_spec(spec)
    assert "allowed: HOST:PORT" in str(info.value)


def test_bad_spec_error_hides_credentials() -> None:
    with pytest.raises(MasterDetectionError) as info:
        parse_spec("zk://bob:hunter2@zk1:2181")
    assert "hunter2" not in str(info.value)


# -------------------------------------------------------------------------- MasterInfo


def test_address_prefers_the_advertised_ip() -> None:
    info = {
        "address": {"hostname": "m1.example", "ip": "10.1.2.3", "port": 5050},
        "hostname": "m1.example",
        "ip": 50462986,
        "port": 5050,
        "id": "x",
        "pid": "master@10.1.2.3:5050",
    }
    assert master_address(info) == "10.1.2.3:5050"


def test_address_hostname_when_no_ip() -> None:
    assert master_address({"address": {"hostname": "m1.example", "port": 5051}}) == "m1.example:5051"


def test_legacy_uint32_ip_is_network_order_bytes_read_little_endian() -> None:
    # 127.0.0.1 as Mesos writes it on x86: bytes 7f 00 00 01 read as a little-endian uint32.
    assert master_address({"ip": 16777343, "port": 5050}) == "127.0.0.1:5050"
    # 10.1.2.3 -> bytes 0a 01 02 03 -> 0x0302010a
    assert master_address({"ip": 0x0302010A, "port": 5050, "hostname": "ignored"}) == "10.1.2.3:5050"


def test_legacy_hostname_and_pid_fallbacks() -> None:
    assert master_address({"hostname": "m2", "port": 5050}) == "m2:5050"
    assert master_address({"pid": "master@10.0.0.9:5055"}) == "10.0.0.9:5055"


def test_ipv6_address_is_bracketed() -> None:
    assert master_address({"address": {"ip": "fd00::1", "port": 5050}}) == "[fd00::1]:5050"


def test_unusable_master_info() -> None:
    with pytest.raises(ValueError, match="no usable"):
        master_address({"id": "x"})


def test_leader_is_lowest_json_sequence() -> None:
    children = ["info_0000000001", "json.info_0000000012", "log_replicas", "json.info_0000000009"]
    assert leader_from_children(children) == "json.info_0000000009"
    assert leader_from_children(["json.info_10", "json.info_9"]) == "json.info_9"
    assert leader_from_children(["info_0000000001", "log_replicas"]) is None
    assert leader_from_children([]) is None


# -------------------------------------------------------------------------- fake ZooKeeper


class FakeZk:
    """Just enough of kazoo's KazooClient: a dict of node path -> data."""

    def __init__(self, nodes: dict[str, bytes] | None = None, *, fail_start: bool = False) -> None:
        self.nodes = dict(nodes or {})
        self.fail_start = fail_start
        self.started = False
        self.closed = False
        self.watches: list[tuple[str, Callable[[list[str]], Any]]] = []

    def start(self, timeout: float = 15) -> None:
        if self.fail_start:
            raise TimeoutError("Connection time-out")
        self.started = True

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True

    def _children(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        if path not in self.nodes and not any(p.startswith(prefix) for p in self.nodes):
            raise NoNodeError(path)
        return [p[len(prefix) :] for p in self.nodes if p.startswith(prefix) and "/" not in p[len(prefix) :]]

    def get_children(self, path: str) -> list[str]:
        return self._children(path)

    def get(self, path: str) -> tuple[bytes, Any]:
        if path not in self.nodes:
            raise NoNodeError(path)
        return self.nodes[path], None

    def ChildrenWatch(self, path: str, func: Callable[[list[str]], Any]) -> None:  # kazoo's name
        self.watches.append((path, func))
        func(self._children(path))

    def set(self, path: str, data: bytes | None) -> None:
        """Test control: create/replace (data) or delete (None) a node, firing watches."""
        if data is None:
            self.nodes.pop(path, None)
        else:
            self.nodes[path] = data
        for watched, func in self.watches:
            func(self._children(watched))


def info(host: str, port: int) -> bytes:
    return json.dumps({"address": {"hostname": host, "ip": host, "port": port}, "id": host}).encode()


def detector_with(fake: FakeZk, spec: str = "zk://zk1:2181/mesos") -> MasterDetector:
    return MasterDetector(spec, zk_client_factory=lambda _spec, _timeout: fake)


def test_detects_leader_from_fake_zk() -> None:
    fake = FakeZk(
        {
            "/mesos": b"",
            "/mesos/json.info_0000000003": info("10.0.0.3", 5050),
            "/mesos/json.info_0000000002": info("10.0.0.2", 5050),
            "/mesos/info_0000000001": b"\x08\x01protobuf",
            "/mesos/log_replicas": b"",
        }
    )
    detector = detector_with(fake)
    assert detector.detect() == "10.0.0.2:5050"
    assert fake.started
    detector.close()
    assert fake.closed


def test_no_leader_names_url_and_what_was_found() -> None:
    fake = FakeZk({"/mesos": b"", "/mesos/info_0000000001": b"proto", "/mesos/log_replicas": b""})
    detector = detector_with(fake, "zk://u:pw@zk1:2181/mesos")
    with pytest.raises(MasterDetectionError) as excinfo:
        detector.detect()
    message = str(excinfo.value)
    assert "zk://***@zk1:2181/mesos" in message
    assert "info_0000000001" in message and "legacy protobuf" in message
    assert "pw" not in message.replace("protobuf", "")


def test_missing_path() -> None:
    with pytest.raises(MasterDetectionError, match="/mesos does not exist"):
        detector_with(FakeZk({})).detect()


def test_zookeeper_unreachable() -> None:
    with pytest.raises(MasterDetectionError, match=r"cannot connect to ZooKeeper at zk://zk1:2181/mesos"):
        detector_with(FakeZk(fail_start=True)).detect()


def test_leader_node_not_json() -> None:
    fake = FakeZk({"/mesos": b"", "/mesos/json.info_0000000001": b"\x08\x01"})
    with pytest.raises(MasterDetectionError, match="json.info_0000000001 .* MasterInfo JSON"):
        detector_with(fake).detect()


def test_watch_reports_leader_changes() -> None:
    fake = FakeZk({"/mesos": b"", "/mesos/json.info_0000000001": info("10.0.0.1", 5050)})
    detector = detector_with(fake)
    seen: list[str | None] = []
    detector.watch(seen.append)
    assert seen == ["10.0.0.1:5050"]
    fake.set("/mesos/json.info_0000000002", info("10.0.0.2", 5050))  # a standby joins
    assert seen == ["10.0.0.1:5050"]
    fake.set("/mesos/json.info_0000000001", None)  # the leader goes away
    assert seen == ["10.0.0.1:5050", "10.0.0.2:5050"]
    fake.set("/mesos/json.info_0000000002", None)
    assert seen == ["10.0.0.1:5050", "10.0.0.2:5050", None]
    detector.close()


def test_watch_is_a_no_op_for_direct_specs() -> None:
    detector = MasterDetector("m:5050")
    detector.watch(lambda _leader: pytest.fail("no watch expected"))
    assert detector.detect() == "m:5050"


# -------------------------------------------------------------------------- real ZooKeeper


@pytest.mark.zookeeper
def test_real_zookeeper(zk_address: str) -> None:
    from kazoo.client import KazooClient

    hosts = zk_address
    root = f"/moroccron-test-{uuid.uuid4().hex}"
    zk = KazooClient(hosts=hosts)
    zk.start(timeout=10)
    try:
        zk.create(f"{root}/info_", b"proto", makepath=True, sequence=True, ephemeral=True)
        first = zk.create(f"{root}/json.info_", info("127.0.0.1", 5050), sequence=True, ephemeral=True)
        zk.create(f"{root}/json.info_", info("127.0.0.2", 5051), sequence=True, ephemeral=True)
        detector = MasterDetector(f"zk://{hosts}{root}")
        try:
            assert detector.detect() == "127.0.0.1:5050"
            changed = threading.Event()
            seen: list[str | None] = []

            def on_change(leader: str | None) -> None:
                seen.append(leader)
                if leader == "127.0.0.2:5051":
                    changed.set()

            detector.watch(on_change)
            zk.delete(first)
            assert changed.wait(10), seen
            assert detector.detect() == "127.0.0.2:5051"
        finally:
            detector.close()
    finally:
        zk.delete(root, recursive=True)
        zk.stop()
        zk.close()


@pytest.mark.zookeeper
def test_real_zookeeper_with_digest_credentials(zk_address: str) -> None:
    """Masters whose nodes only their credentials may read (what Mesos does with
    ``--zk=zk://USER:PASS@...`` and an ACL): found with the credentials, percent-encoded,
    and a clear error without them that never shows the password."""
    from kazoo.client import KazooClient
    from kazoo.security import make_digest_acl

    root = f"/moroccron-test-{uuid.uuid4().hex}"
    only_mesos = [make_digest_acl("mesos", "p@ss:w/rd", all=True)]
    zk = KazooClient(hosts=zk_address, auth_data=[("digest", "mesos:p@ss:w/rd")], default_acl=only_mesos)
    zk.start(timeout=10)
    try:
        zk.create(f"{root}/json.info_", info("127.0.0.3", 5050), makepath=True, sequence=True, ephemeral=True)
        detector = MasterDetector(f"zk://mesos:p%40ss%3Aw%2Frd@{zk_address}{root}")
        try:
            assert detector.detect() == "127.0.0.3:5050"
        finally:
            detector.close()
        for spec in (f"zk://{zk_address}{root}", f"zk://mesos:wrong@{zk_address}{root}"):
            detector = MasterDetector(spec)
            try:
                with pytest.raises(MasterDetectionError, match="refuses to let") as refused:
                    detector.detect()
            finally:
                detector.close()
            assert "zk://USER:PASSWORD@HOSTS/PATH" in str(refused.value) and "wrong" not in str(refused.value)
    finally:
        zk.delete(root, recursive=True)
        zk.stop()
        zk.close()
