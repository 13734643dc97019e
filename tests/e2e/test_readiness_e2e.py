"""``/healthz`` is liveness, ``/readyz`` readiness: a state each, with real servers.

The leader's states come from a scheduler subscribed to the local master over HTTP; the
standby's from a real ZooKeeper election and real databases (SQLite and PostgreSQL), or
database URLs nothing answers at. Every wait polls a condition.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from moroccron import Job
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.config import Settings
from moroccron.errors import StaleEpoch
from moroccron.events import RunRequested
from moroccron.ha import Leadership
from moroccron.hooks.manager import PluginManager
from moroccron.mesos.local import AgentSpec, LocalMaster
from moroccron.store import Store
from tests.e2e.harness import Cluster, wait_for
from tests.mesos.conftest import Scheduler as RawScheduler
from tests.receivers import Receiver
from tests.servers import ZooKeeperServer, free_port, serve_process

pytestmark = pytest.mark.slow


def api(ctx: AppContext) -> TestClient:
    return TestClient(create_app(ctx))


def leader_api(cluster: Cluster) -> TestClient:
    sched = cluster.scheduler
    assert sched is not None
    return api(AppContext(sched.settings, cluster.store, sched.plugins, sched))


def readyz(client: TestClient) -> tuple[int, dict[str, Any]]:
    r = client.get("/readyz")
    return r.status_code, r.json()


def not_ready_because(client: TestClient, words: str) -> dict[str, Any] | None:
    """The readiness (``ready``, ``role``, ``reasons``) when /readyz answers 503 for ``words``."""
    code, body = readyz(client)
    if code == 503 and any(words in reason for reason in body["reasons"]):
        assert body["error"] == "not ready: " + "; ".join(body["reasons"]), "the error every 503 carries"
        return {key: body[key] for key in ("ready", "role", "reasons")}
    return None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def cluster(tmp_path: Path, receiver: Receiver) -> Iterator[Cluster]:
    c = Cluster(tmp_path, agents=1, settings={"webhooks": {"ops": receiver.url}, "admin_contacts": ("webhook:ops",)})
    yield c
    c.close()


def test_leader_subscribed_is_ready_and_not_while_the_master_is_gone(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_scheduler()
    client = leader_api(cluster)
    assert readyz(client) == (200, {"ready": True, "role": "leader", "reasons": []})
    assert client.get("/healthz").json() == {"ok": True}
    assert client.get("/api/v1/status").json()["ready"] == {"ready": True, "role": "leader", "reasons": []}

    port = cluster.master.port
    cluster.master.stop()  # the master's host goes away: the subscription is lost
    body = wait_for(
        lambda: not_ready_because(client, "not subscribed to a Mesos master"), 20, what="not ready while disconnected"
    )
    assert body["role"] == "leader"
    assert client.get("/healthz").status_code == 200, "liveness does not depend on Mesos"
    assert client.get("/api/v1/status").json()["ready"] == body
    page = client.get("/status")
    assert page.status_code == 200 and "not ready" in page.text and "not subscribed to a Mesos master" in page.text

    # a master comes back at the same address (failed over): ready again
    cluster.master = LocalMaster(
        port=port,
        agents=[AgentSpec(id="agent-0", cpus=4.0, mem=4096.0)],
        work_dir=tmp_path / "mesos2",
        heartbeat_interval=1.0,
        offer_interval=0.2,
    ).start()
    wait_for(lambda: readyz(client)[0] == 200, 30, what="ready again")
    assert "not ready" not in client.get("/status").text


def test_framework_error_makes_the_leader_not_ready_and_tells_the_admins(cluster: Cluster, receiver: Receiver) -> None:
    sched = cluster.start_scheduler()
    client = leader_api(cluster)
    framework_id = sched.client.framework_id
    # Another scheduler subscribes with our FrameworkID: the master moves the framework to
    # it and tells us "Framework failed over". Registering anew would orphan its tasks.
    # The same FrameworkInfo (a master refuses a failover that changes what cannot change).
    info = {k: v for k, v in sched.client.framework_info.items() if k != "id"}
    other = RawScheduler(cluster.master.url, info)
    try:
        other.subscribe(framework_id)
        body = wait_for(lambda: not_ready_because(client, "failed over"), 20, what="not ready after the error")
        assert body["role"] == "leader"
        status = client.get("/api/v1/status").json()
        assert "failed over" in status["framework_error"] and status["ready"] == body
        assert sched.client.framework_id == framework_id, "no new framework for an error that is not a removal"
        notice = wait_for(
            lambda: [b for b in receiver.bodies if b["event"] == "framework"], 20, what="the admin notice"
        )[0]
        assert notice["details"]["framework"]["kind"] == "error"
        assert "failed over" in notice["text"] and "REFUSED" in notice["subject"]
        assert "failed over" in client.get("/status").text
    finally:
        other.close()


def test_a_stuck_step_makes_the_leader_not_ready(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, agents=1, settings={"ready_step_seconds": 2.0})
    try:
        cluster.add_job(Job(name="tick", command="true", schedule="* * * * * *", catchup="none"))
        cluster.start_scheduler()
        client = leader_api(cluster)
        wait_for(lambda: readyz(client)[0] == 200, 20, what="ready")
        # Another program holds SQLite's write lock: every commit of the scheduler waits, so
        # its steps stop succeeding, while reads (and this probe) still work.
        holder = sqlite3.connect(tmp_path / "moroccron.db", isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        try:
            body = wait_for(
                lambda: not_ready_because(client, "last successful scheduler step"),
                30,
                what="not ready while steps hang",
            )
            assert body["reasons"] == [r for r in body["reasons"] if "database" not in r], body
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        wait_for(lambda: readyz(client)[0] == 200, 60, what="ready once steps succeed again")
    finally:
        cluster.close()


def test_a_deposed_leader_is_not_ready(cluster: Cluster) -> None:
    sched = cluster.start_scheduler()
    client = leader_api(cluster)
    assert readyz(client)[0] == 200
    epoch = cluster.store.take_leadership("another-instance", "127.0.0.1:1")  # a new leader elsewhere
    body = not_ready_because(client, "another instance has taken the leadership")
    assert body is not None and body["role"] == "leader" and str(epoch) in " ".join(body["reasons"])
    cluster.add_job(Job(name="once", command="true"))
    with pytest.raises(StaleEpoch):
        sched.submit(RunRequested("once"))  # its first write finds out, and it stops scheduling
    body = wait_for(lambda: not_ready_because(client, "lost its leadership"), 20, what="fenced")
    assert body["role"] == "standby"


@pytest.fixture
def zookeeper(tmp_path: Path) -> Iterator[ZooKeeperServer]:
    server = ZooKeeperServer(tmp_path / "zookeeper").start()
    yield server
    server.stop()


@pytest.mark.zookeeper
def test_standby_ready_with_database_and_zookeeper_not_without(zookeeper: ZooKeeperServer, db_url: str) -> None:
    zk = f"zk://{zookeeper.address}/moroccron-readiness"
    elected = threading.Event()
    leader = Leadership(
        zk, "127.0.0.1:4401", "leader", on_elected=elected.set, on_lost=lambda reason: None, session_timeout=4.0
    )
    standby = Leadership(
        zk, "127.0.0.1:4402", "standby", on_elected=lambda: None, on_lost=lambda reason: None, session_timeout=4.0
    )
    store = Store(db_url)
    store.ensure_schema()
    try:
        leader.start()
        assert elected.wait(20)
        standby.start()
        client = api(AppContext(Settings(db=db_url), store, PluginManager(load_entrypoints=False), leadership=standby))
        assert readyz(client) == (200, {"ready": True, "role": "standby", "reasons": []})
        assert client.get("/api/v1/status").json()["ready"]["ready"] is True

        zookeeper.stop()
        body = wait_for(
            lambda: not_ready_because(client, "ZooKeeper session is not connected"),
            30,
            what="not ready without ZooKeeper",
        )
        assert body["role"] == "standby" and client.get("/healthz").status_code == 200
        zookeeper.start()
        wait_for(lambda: readyz(client)[0] == 200, 30, what="ready once ZooKeeper is back")
    finally:
        standby.stop()
        leader.stop()
        store.close()


def test_lease_standby_ready_while_it_can_read_the_lease_not_when_it_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moroccron.lease as lease_module
    from moroccron.lease import DatabaseLease

    url = f"sqlite:///{tmp_path / 'm.db'}"
    store = Store(url)
    store.ensure_schema()
    elected = threading.Event()
    leader = DatabaseLease(
        store,
        "127.0.0.1:4401",
        "leader",
        on_elected=elected.set,
        on_lost=lambda reason: None,
        lease_seconds=30,
        renew_seconds=1,
        poll_seconds=0.05,
    )
    standby = DatabaseLease(
        store,
        "127.0.0.1:4402",
        "standby",
        on_elected=lambda: None,
        on_lost=lambda reason: None,
        lease_seconds=30,
        renew_seconds=1,
        poll_seconds=0.05,
    )
    try:
        leader.start()
        assert elected.wait(20)
        standby.start()
        client = api(AppContext(Settings(db=url), store, PluginManager(load_entrypoints=False), leadership=standby))
        wait_for(
            lambda: readyz(client) == (200, {"ready": True, "role": "standby", "reasons": []}),
            20,
            what="the standby ready",
        )
        assert client.get("/api/v1/status").json()["ready"]["ready"] is True

        real_read = lease_module.read_lease

        def unreadable(store_: Any) -> Any:
            raise sqlite3.OperationalError("database is locked")

        monkeypatch.setattr(lease_module, "read_lease", unreadable)
        body = wait_for(
            lambda: not_ready_because(client, "the leadership lease cannot be read"),
            30,
            what="not ready while the lease cannot be read",
        )
        assert body["role"] == "standby" and client.get("/healthz").status_code == 200
        monkeypatch.setattr(lease_module, "read_lease", real_read)
        wait_for(lambda: readyz(client)[0] == 200, 30, what="ready once the lease can be read again")
    finally:
        standby.stop()
        leader.stop()
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_instance_whose_database_does_not_answer_is_not_ready(tmp_path: Path, backend: str) -> None:
    # Addresses where no database answers: a file that cannot be created, a port nobody listens on.
    url = (
        f"sqlite:///{tmp_path / 'no-such-dir' / 'm.db'}"
        if backend == "sqlite"
        else f"postgresql://moroccron@127.0.0.1:{free_port()}/moroccron?connect_timeout=2"
    )
    store = Store(url)
    try:
        client = api(AppContext(Settings(db=url), store, PluginManager(load_entrypoints=False)))
        code, body = readyz(client)
        assert code == 503 and body["role"] == "standby"
        [reason] = body["reasons"]
        assert reason.startswith("the database does not answer (") and "127.0.0.1" not in reason
        assert client.get("/healthz").json() == {"ok": True}, "liveness does not ask the database"
    finally:
        store.close()


def test_probes_need_no_credentials_where_everything_else_does(sqlite_store: Store) -> None:
    from moroccron.auth import Authenticator

    auth = Authenticator.from_sources(None, environ={"MOROCCRON_AUTH_TOKENS": "tok-read:read"})
    client = api(AppContext(Settings(), sqlite_store, PluginManager(load_entrypoints=False), auth=auth))
    assert client.get("/api/v1/status").status_code == 401
    assert readyz(client) == (200, {"ready": True, "role": "standby", "reasons": []})
    assert client.get("/healthz").status_code == 200
    status = client.get("/api/v1/status", headers={"Authorization": "Bearer tok-read"}).json()
    assert status["ready"] == {"ready": True, "role": "standby", "reasons": []}


def test_a_serve_process_answers_both_probes(tmp_path: Path) -> None:
    with serve_process(tmp_path) as serving:
        # The API answers (as a ready standby) a moment before this instance takes the lease.
        ready = wait_for(
            lambda: (
                (r := serving.get("/readyz")) is not None
                and r.status_code == 200
                and r.json()["role"] == "leader"
                and r
            ),
            60,
            what="ready as the leader",
        )
        assert ready.json() == {"ready": True, "role": "leader", "reasons": []}
        assert ready.headers["cache-control"] == "no-store"
