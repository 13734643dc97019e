"""The ZooKeeper trust boundary, against a real ZooKeeper, in this process.

- With ``zk://USER:PASSWORD@...`` every node moroccron creates carries the ACL "all for
  these credentials, read for anyone": a client without them cannot create, change or
  delete anything under the path. Nodes left world-writable from before are tightened
  at start, and a planted persistent contender is removed.
- Whatever the election says, a standby sends writes (and the credentials they carry)
  only to the leader the database recorded: a contender planted ahead of the real
  leader, naming a receiver's address, gets nothing, the client gets a clear 503, and
  ``/leader`` and ``/api/v1/status`` do not name it. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.api.leader import MISMATCH
from moroccron.auth import Authenticator
from moroccron.config import Settings
from moroccron.errors import ValidationError
from moroccron.ha import Leadership
from moroccron.hooks.manager import PluginManager
from moroccron.zk import acl
from tests.e2e.harness import wait_for
from tests.receivers import Receiver
from tests.servers import free_port

pytestmark = pytest.mark.zookeeper

USER, PASSWORD = "moroccron", "p@ss:w/rd%"
"""Credentials with characters that must be percent-encoded in a URL."""
ENCODED = "moroccron:p%40ss%3Aw%2Frd%25"
EXPECTED_ACL = acl(USER, PASSWORD)
ADMIN = {"Authorization": "Bearer tok-admin"}
JOB = {"name": "a", "command": "true"}
PLANTED = "planted__lock__-0000000001"
"""A contender name kazoo's election sorts before every real one ("-0..." < "0...")."""


@pytest.fixture
def root(zk_address: str) -> Iterator[str]:
    """A fresh path two levels deep (the level above it is created too); removed afterwards."""
    top = f"/mcr-trust-{uuid.uuid4().hex[:8]}"
    yield f"{top}/cluster"
    cleaner = connect(zk_address, auth=True)
    try:
        with contextlib.suppress(Exception):
            cleaner.delete(top, recursive=True)
    finally:
        close(cleaner)


def connect(address: str, *, auth: bool | str = False) -> KazooClient:
    """A client: anonymous, with moroccron's credentials (True) or with ``"user:password"``."""
    creds = f"{USER}:{PASSWORD}" if auth is True else auth
    client = KazooClient(hosts=address, auth_data=[("digest", creds)] if creds else None)
    client.start(timeout=15)
    return client


def close(client: KazooClient) -> None:
    client.stop()
    client.close()


def acl_of(client: KazooClient, path: str) -> set[Any]:
    return set(client.get_acls(path)[0])


@dataclass
class Contender:
    leadership: Leadership
    elected: threading.Event


def contend(url: str, address: str, instance: str, on_elected: Any = None) -> Contender:
    elected = threading.Event()

    def won() -> None:
        if on_elected is not None:
            on_elected()
        elected.set()

    leadership = Leadership(url, address, instance, on_elected=won, on_lost=lambda _reason: None, session_timeout=4.0)
    leadership.start()
    return Contender(leadership, elected)


# ---------------------------------------------------------------------------- ACLs


def test_with_credentials_only_they_can_write(zk_address, root, caplog):
    caplog.set_level(logging.DEBUG)
    a = contend(f"zk://{ENCODED}@{zk_address}{root}", "127.0.0.1:4401", "inst-a")
    b = contend(f"zk://{ENCODED}@{zk_address}{root}", "127.0.0.1:4402", "inst-b")
    anonymous = connect(zk_address)
    stranger = connect(zk_address, auth=f"{USER}:wrong")
    reader = connect(zk_address, auth=True)
    try:
        assert a.elected.wait(30)
        wait_for(lambda: len(reader.get_children(f"{root}/election")) == 2, 30, what="both contenders")
        a.leadership.set_framework_id("fw-1")
        top = root.rsplit("/", 1)[0]
        children = [f"{root}/election/{c}" for c in reader.get_children(f"{root}/election")]
        nodes = [top, root, f"{root}/election", f"{root}/framework_id", *children]
        # every node moroccron created: all for its credentials, read for anyone
        for node in nodes:
            assert acl_of(reader, node) == set(EXPECTED_ACL), node
        # without the credentials (or with a wrong password) nothing can be planted, changed or removed
        for client in (anonymous, stranger):
            planted = json.dumps({"address": "127.0.0.1:4599", "instance": "evil"}).encode()
            with pytest.raises(NoAuthError):
                client.create(f"{root}/election/{PLANTED}", planted)
            with pytest.raises(NoAuthError):
                client.create(f"{root}/election/x__lock__", planted, ephemeral=True, sequence=True)
            with pytest.raises(NoAuthError):
                client.create(f"{root}/other", b"")
            with pytest.raises(NoAuthError):
                client.set(f"{root}/framework_id", b"fw-evil")
            with pytest.raises(NoAuthError):
                client.delete(children[0])
            for node in nodes:
                with pytest.raises(NoAuthError):
                    client.set_acls(node, OPEN_ACL_UNSAFE)
        # reading stays open: who leads, for monitoring and operators; ZooKeeper (3.6 and later)
        # does not show a mere reader the password's digest in the ACL
        assert {a.id.id for a in anonymous.get_acls(root)[0]} == {f"{USER}:x", "anyone"}
        assert json.loads(anonymous.get(children[0])[0])["instance"] in ("inst-a", "inst-b")
        assert reader.get(f"{root}/framework_id")[0] == b"fw-1"
        assert b.leadership.leader() == {"address": "127.0.0.1:4401", "instance": "inst-a"}
    finally:
        for client in (anonymous, stranger, reader):
            close(client)
        a.leadership.stop()
        b.leadership.stop()
    # kazoo logs every request at DEBUG: the digest Auth, the session's Connect and the
    # ACLs of creates are masked (password, session password, password hash)
    text = caplog.text
    assert "elected leader at 127.0.0.1:4401" in text and "scheme='digest', auth='***'" in text
    assert "passwd=b'***'" in text and "id='moroccron:***'" in text
    assert PASSWORD not in text and "p%40ss" not in text and "w/rd" not in text
    assert EXPECTED_ACL[0].id.id not in text


def test_nodes_left_world_writable_are_tightened_and_planted_contenders_removed(zk_address, root, caplog):
    """The state an installation without credentials leaves behind, plus an attacker's nodes."""
    old = connect(zk_address)
    try:
        old.create(f"{root}/election", b"", makepath=True)  # world-writable, as before credentials
        old.create(f"{root}/framework_id", b"fw-1")
        old.create(f"{root}/election/{PLANTED}", b'{"address": "127.0.0.1:4599", "instance": "evil"}')
        # an ephemeral one that sorts last: cannot be told from an instance without credentials, so it stays
        old.create(f"{root}/election/other__lock__9999999999", b"{}", ephemeral=True)
        assert acl_of(old, f"{root}/election") == set(OPEN_ACL_UNSAFE)
        with caplog.at_level(logging.WARNING, logger="moroccron.ha"):
            a = contend(f"zk://{ENCODED}@{zk_address}{root}", "127.0.0.1:4401", "inst-a")
        try:
            # elected: the planted node, which sorted first, no longer holds the election
            assert a.elected.wait(30)
            reader = connect(zk_address, auth=True)
            try:
                for node in (root, f"{root}/election", f"{root}/framework_id"):
                    assert acl_of(reader, node) == set(EXPECTED_ACL), node
                names = reader.get_children(f"{root}/election")
                assert PLANTED not in names and "other__lock__9999999999" in names
            finally:
                close(reader)
            with pytest.raises(NoAuthError):
                old.create(f"{root}/election/{PLANTED}", b"{}")
        finally:
            a.leadership.stop()
    finally:
        close(old)
    warnings = [r.getMessage() for r in caplog.records]
    assert any(f"{root}/election had the ACL world:anyone=ALL" in w for w in warnings), warnings
    assert any(f"removed {root}/election/{PLANTED}" in w for w in warnings), warnings
    assert any(
        "other__lock__9999999999 in the election was not created with these credentials" in w for w in warnings
    ), warnings
    assert not any(PASSWORD in w for w in warnings)


def test_a_path_held_by_other_credentials_stops_the_start_with_a_clear_error(zk_address, root):
    other = connect(zk_address, auth="someone:else")
    try:
        other.create(root, b"", makepath=True, acl=[make_digest_acl("someone", "else", all=True)])
        with pytest.raises(ValidationError) as info:
            contend(f"zk://{ENCODED}@{zk_address}{root}", "127.0.0.1:4401", "inst-a")
        error = info.value.errors[0]
        assert error.field == "zk" and "refuses these credentials" in error.message and root in error.message
        assert error.value == f"zk://***@{zk_address}{root}" and PASSWORD not in str(info.value)
        other.delete(root.rsplit("/", 1)[0], recursive=True)
    finally:
        close(other)


def test_without_credentials_a_warning_says_the_nodes_are_open(zk_address, root, caplog):
    with caplog.at_level(logging.WARNING, logger="moroccron.ha"):
        a = contend(f"zk://{zk_address}{root}", "127.0.0.1:4401", "inst-a")
    try:
        assert a.elected.wait(30)
    finally:
        a.leadership.stop()
    assert any("writable by anyone who can reach ZooKeeper" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------- the planted contender


@dataclass
class Pair:
    """A genuine leader (a receiver standing in for its API) and a standby's API."""

    genuine: Receiver
    genuine_address: str
    leader: Contender
    standby: Contender
    client: TestClient  # the standby's API, with authentication
    anonymous: TestClient  # the same standby's API without authentication


@contextlib.contextmanager
def pair(store: Any, url: str) -> Iterator[Pair]:
    genuine = Receiver(status=201, path="/api/v1/jobs", body=b'{"by": "the genuine leader"}')
    address = genuine.url.split("/")[2]
    # as Scheduler.start does on election: record this instance as the leader in the database
    leader = contend(url, address, "genuine", on_elected=lambda: store.take_leadership("genuine", address))
    standby = None
    try:
        assert leader.elected.wait(30)
        standby_address = f"127.0.0.1:{free_port()}"
        standby = contend(url, standby_address, "standby")
        wait_for(
            lambda: standby.leadership.leader() == {"address": address, "instance": "genuine"},
            30,
            what="the standby to see the leader",
        )
        settings = Settings(bind=standby_address)
        plugins = PluginManager(load_entrypoints=False)
        auth = Authenticator.from_sources(
            None, environ={"MOROCCRON_AUTH_TOKENS": "tok-admin:admin", "MOROCCRON_AUTH_USERS": "boss:s3cret:admin"}
        )
        context = AppContext(settings, store, plugins, auth=auth, leadership=standby.leadership)
        without_auth = AppContext(settings, store, plugins, leadership=standby.leadership)
        without_auth.leader_verifier = context.leader_verifier  # one instance, seen with and without auth
        client, anonymous = TestClient(create_app(context)), TestClient(create_app(without_auth))
        yield Pair(genuine, address, leader, standby, client, anonymous)
    finally:
        if standby is not None:
            standby.leadership.stop()
        leader.leadership.stop()
        genuine.close()


def test_the_standby_forwards_to_the_genuine_leader(store, zk_address, root):
    with pair(store, f"zk://{ENCODED}@{zk_address}{root}") as p:
        r = p.client.post("/api/v1/jobs", json=JOB, headers=ADMIN)
        assert r.status_code == 201 and r.json() == {"by": "the genuine leader"}
        sent = {k.lower(): v for k, v in p.genuine.headers[0].items()}
        assert p.genuine.bodies == [JOB] and sent["authorization"] == "Bearer tok-admin"
        r = p.anonymous.post("/api/v1/jobs", json=JOB, follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == f"http://{p.genuine_address}/api/v1/jobs"
        assert p.client.get("/leader", headers=ADMIN).json() == {"leader": p.genuine_address}
        status = p.client.get("/api/v1/status", headers=ADMIN).json()
        assert status["leader_address"] == p.genuine_address and status["leader_problem"] is None


def test_a_planted_contender_gets_no_credentials(store, zk_address, root, caplog):
    """Without ZooKeeper credentials anyone can plant a contender; it must get nothing."""
    evil = Receiver(status=200, path="/api/v1/jobs", body=b'{"stolen": true}')
    evil_address = evil.url.split("/")[2]
    attacker = connect(zk_address)
    try:
        with pair(store, f"zk://{zk_address}{root}") as p:
            attacker.create(
                f"{root}/election/{PLANTED}", json.dumps({"address": evil_address, "instance": "evil"}).encode()
            )
            # the attack is in place: the election now names the receiver first
            assert p.standby.leadership.leader() == {"address": evil_address, "instance": "evil"}
            with caplog.at_level(logging.WARNING, logger="moroccron.api.leader"):
                for _ in range(3):
                    r = p.client.post("/api/v1/jobs", json=JOB, headers=ADMIN)
                    assert r.status_code == 503 and r.headers["retry-after"] == "2"
                    assert r.json()["error"] == MISMATCH
                r = p.client.put("/api/v1/jobs/a", json=JOB, auth=("boss", "s3cret"))  # a Basic password
                assert r.status_code == 503 and r.json()["error"] == MISMATCH
                r = p.anonymous.post("/api/v1/jobs", json=JOB, follow_redirects=False)
                assert r.status_code == 503 and "location" not in r.headers
                leader = p.client.get("/leader", headers=ADMIN).json()["leader"]
                status = p.client.get("/api/v1/status", headers=ADMIN).json()
            assert evil.bodies == [] and evil.headers == [], "the planted address got nothing"
            assert p.genuine.bodies == []
            assert leader == "" and status["leader_address"] is None and status["leader_problem"] == MISMATCH
            assert evil_address not in json.dumps(status).replace(json.dumps(MISMATCH), "")
            warnings = [r.getMessage() for r in caplog.records if r.name == "moroccron.api.leader"]
            assert len(warnings) == 1, "one warning per distinct mismatch, not one per request"
            assert evil_address in warnings[0] and p.genuine_address in warnings[0]

            # the planted node copies the genuine leader's instance id: still not trusted
            attacker.set(
                f"{root}/election/{PLANTED}", json.dumps({"address": evil_address, "instance": "genuine"}).encode()
            )
            assert p.client.post("/api/v1/jobs", json=JOB, headers=ADMIN).status_code == 503
            assert evil.bodies == []

            # removed: writes flow to the genuine leader again
            attacker.delete(f"{root}/election/{PLANTED}")
            r = p.client.post("/api/v1/jobs", json=JOB, headers=ADMIN)
            assert r.status_code == 201 and p.genuine.bodies == [JOB] and evil.bodies == []
    finally:
        close(attacker)
        evil.close()


def test_with_credentials_the_contender_cannot_even_be_planted(store, zk_address, root):
    attacker = connect(zk_address)
    try:
        with pair(store, f"zk://{ENCODED}@{zk_address}{root}") as p:
            with pytest.raises(NoAuthError):
                attacker.create(f"{root}/election/{PLANTED}", b'{"address": "127.0.0.1:4599", "instance": "e"}')
            with pytest.raises(NoAuthError):
                attacker.set(f"{root}/election", b"")
            r = p.client.post("/api/v1/jobs", json=JOB, headers=ADMIN)
            assert r.status_code == 201 and p.genuine.bodies == [JOB]
    finally:
        close(attacker)
