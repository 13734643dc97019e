"""A real moroccron cluster on loopback, and the faults to inject into it.

Started by the HA tests and by the failover benchmark (bench/failover.py):

- ZooKeeper and PostgreSQL servers of their own, which can be restarted in place;
- the local Mesos master as a separate process, with two agents;
- N ``moroccron serve`` processes electing a leader. Each reaches ZooKeeper through its
  own TCP proxy, so that a test can cut one instance off ZooKeeper (a network
  partition, and the session expiry that follows) without touching the others.
  Without ZooKeeper (``elect=False``) they share the database's leadership lease, on
  PostgreSQL or (``db="sqlite"``) a SQLite file;
- a supervisor thread that restarts an instance when it exits, as systemd's
  ``Restart=always`` or Marathon would: a deposed leader exits by design.

Each process incarnation logs to its own file (``<name>-<n>.log``), so a test can read
exactly what one incarnation did.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.e2e.harness import wait_for
from tests.servers import (
    PostgresServer,
    ServerUnavailable,
    ZooKeeperServer,
    create_database,
    free_port,
    unavailable,
)

SESSION_TIMEOUT = 4.0
"""ZooKeeper session timeout of every instance: the bulk of a failover after SIGKILL."""

LEASE_SECONDS = 4.0
"""Without ZooKeeper, the database lease of every instance (renewed every LEASE_RENEW_SECONDS):
the bulk of a failover after SIGKILL, as the session timeout is with ZooKeeper."""
LEASE_RENEW_SECONDS = 1.0


def before_the_next_second(lead: float = 0.2) -> None:
    """Sleep until ``lead`` seconds before the next whole second.

    With a job due every second, a leader stopped then has its next run fall due as its
    successor takes over, so the time to the successor's first launch is the hand-over
    itself, not the hand-over plus up to a second of waiting for the next fire time.
    """
    time.sleep((1.0 - lead - time.time() % 1.0) % 1.0)


class TcpProxy:
    """Forward a loopback port to ``target``; ``cut()`` silently stops all traffic.

    While cut, bytes are neither read nor written and new connections wait unanswered,
    as when a switch drops the packets: the client sees a silent peer, not a reset.
    """

    def __init__(self, target: Callable[[], tuple[str, int]]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._open = threading.Event()
        self._open.set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name=f"proxy-{self.port}").start()

    def cut(self) -> None:
        self._open.clear()

    def heal(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._closed = True
        self._open.set()
        with contextlib.suppress(OSError):
            self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        self._open.wait()
        try:
            upstream = socket.create_connection(self.target(), timeout=2)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        ends = {client: upstream, upstream: client}
        try:
            while not self._closed:
                if not self._open.is_set():
                    time.sleep(0.05)
                    continue
                readable, _, _ = select.select(list(ends), [], [], 0.1)
                for sock in readable:
                    if not self._open.is_set():
                        break
                    data = sock.recv(65536)
                    if not data:
                        return
                    ends[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()


@dataclass
class Instance:
    """One ``moroccron serve`` process (restarted by the supervisor when it exits)."""

    name: str
    root: Path
    port: int
    proxy: TcpProxy
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    incarnation: int = 0
    exits: list[tuple[float, int]] = field(default_factory=list)  # (time, return code)
    hold: bool = False  # the supervisor leaves it down while set
    headers: dict[str, str] = field(default_factory=dict)  # credentials for status(), when auth is on

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / f"{self.name}-{self.incarnation}.log"

    def status(self) -> dict[str, Any] | None:
        try:
            return requests.get(f"{self.url}/api/v1/status", headers=self.headers, timeout=1).json()
        except (requests.RequestException, ValueError):
            return None


class Cluster:
    """ZooKeeper, PostgreSQL, the local Mesos master and ``size`` moroccron instances.

    :param jobs: the job-definition module's source, put in ``<root>/jobs/jobs.py``.
    :param zk_auth: ``USER:PASSWORD`` (percent-encoded) put in every instance's ``--zk`` URL.
    :param env: more environment for every instance (e.g. ``MOROCCRON_AUTH_TOKENS``).
    :param headers: what ``Instance.status()`` sends (a token, when ``env`` turns auth on).
    :param db: ``postgres`` (a server of its own) or ``sqlite`` (a file under ``root``).
    """

    def __init__(
        self,
        root: Path,
        jobs: str,
        *,
        size: int = 3,
        agents: int = 2,
        elect: bool = True,
        zk_auth: str | None = None,
        env: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        db: str = "postgres",
    ) -> None:
        self.root = root
        self.jobs_dir = root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        (self.jobs_dir / "jobs.py").write_text(jobs)
        self.size = size
        self.agents = agents
        self.elect = elect  # False: no ZooKeeper, the instances share the database's lease
        self.backend = db
        self.zk_auth = zk_auth
        self.env = env or {}
        self.headers = headers or {}
        self.zk = ZooKeeperServer(root / "zookeeper")
        self.pg = PostgresServer(keep_log_in=root)
        self.mesos: subprocess.Popen[bytes] | None = None
        self.mesos_port = free_port()
        self.instances: list[Instance] = []
        self.db = ""
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._agent_numbers = iter(range(agents, 1000))

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Cluster:
        if self.elect:
            self.zk.start()
        if self.backend == "sqlite":
            self.db = f"sqlite:///{self.root / 'moroccron.db'}"
        else:
            self.pg.create()
            self.db = create_database(self.pg.url, "moroccron")
        log = open(self.root / "mesos.log", "ab")  # noqa: SIM115 - closed with the process
        self.mesos = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "moroccron.cli",
                "local-mesos",
                "--bind",
                f"127.0.0.1:{self.mesos_port}",
                "--work-dir",
                str(self.root / "mesos"),
                "--heartbeat-interval",
                "1",
                "--agents",
                str(self.agents),
                "--agent-cpus",
                "8",
                "--agent-mem",
                "8192",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,
        )
        self.zk_path = zk_path = f"/moroccron-{uuid.uuid4().hex[:8]}"
        for i in range(self.size):
            name = "abcdefgh"[i]
            proxy = TcpProxy(lambda: ("127.0.0.1", int(self.zk.port or 0)))
            port = free_port()
            args = [
                "serve",
                "--master",
                f"127.0.0.1:{self.mesos_port}",
                "--db",
                self.db,
                "--bind",
                f"127.0.0.1:{port}",
                "--jobs",
                str(self.jobs_dir),
            ]
            if self.elect:
                auth = f"{self.zk_auth}@" if self.zk_auth else ""
                args += ["--zk", f"zk://{auth}127.0.0.1:{proxy.port}{zk_path}"]
            instance = Instance(name, self.root, port, proxy, args, headers=self.headers)
            self.instances.append(instance)
            self._spawn(instance)
            if i == 0:  # the first one leads: the others find it there
                wait_for(
                    lambda inst=instance: (s := inst.status()) and s.get("connected"),
                    60,
                    what="the first instance to lead",
                )
        self._supervisor = threading.Thread(target=self._supervise, daemon=True, name="supervisor")
        self._supervisor.start()
        for instance in self.instances:
            wait_for(instance.status, 60, what=f"instance {instance.name} to serve")
        return self

    @contextlib.contextmanager
    def running(self) -> Iterator[Cluster]:
        """Started for the ``with`` block, stopped after it; a server that cannot start
        skips the tests (fails them under ``CI=true``)."""
        try:
            self.start()
        except ServerUnavailable as exc:
            self.stop()
            unavailable(str(exc))
        try:
            yield self
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        procs = [i.proc for i in self.instances if i.proc is not None] + [self.mesos]
        for proc in procs:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            if proc is None:
                continue
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for instance in self.instances:
            instance.proxy.close()
        self.zk.stop()
        self.pg.destroy()

    def _spawn(self, instance: Instance) -> None:
        instance.incarnation += 1
        log = open(instance.log, "wb")  # noqa: SIM115 - closed with the process
        env = dict(
            os.environ,
            MOROCCRON_LOCAL_WORK_DIR=str(self.root / "mesos"),
            MOROCCRON_ZK_SESSION_TIMEOUT=str(SESSION_TIMEOUT),
            MOROCCRON_LEASE_SECONDS=str(LEASE_SECONDS),
            MOROCCRON_LEASE_RENEW_SECONDS=str(LEASE_RENEW_SECONDS),
            **self.env,
        )
        instance.proc = subprocess.Popen(
            [sys.executable, "-m", "moroccron.cli", *instance.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            env=env,
            start_new_session=True,
        )

    def _supervise(self) -> None:
        while not self._stop.is_set():
            for instance in self.instances:
                proc = instance.proc
                if proc is not None and proc.poll() is not None and not instance.hold:
                    instance.exits.append((time.time(), proc.returncode))
                    time.sleep(0.5)  # systemd's RestartSec
                    if not self._stop.is_set():
                        self._spawn(instance)
            time.sleep(0.1)

    # ------------------------------------------------------------------ observation

    def leader(self, timeout: float = 60.0) -> Instance:
        """The instance that leads and is subscribed to Mesos (waits for one)."""

        def find() -> Instance | None:
            for instance in self.instances:
                s = instance.status()
                if s and s.get("leader") and s.get("connected"):
                    return instance
            return None

        return wait_for(find, timeout, 0.1, what="a subscribed leader")

    def master(self, path: str) -> Any:
        return requests.get(f"http://127.0.0.1:{self.mesos_port}{path}", timeout=5).json()

    def master_post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        r = requests.post(f"http://127.0.0.1:{self.mesos_port}{path}", json=body or {}, timeout=5)
        r.raise_for_status()
        return r.json()

    def stream_id(self) -> str | None:
        """The event stream the master associates with our framework now."""
        frameworks = self.master("/__local__/frameworks")
        return frameworks[0]["stream_id"] if frameworks else None

    def accepted(self) -> list[dict[str, Any]]:
        """Every ACCEPT the master took, in order: time, stream_id and task_ids."""
        return list(self.master("/__local__/accepted-calls"))

    def launched_since(self, t: float) -> list[dict[str, Any]]:
        return [call for call in self.accepted() if call["time"] >= t and call["task_ids"]]

    def replace_agent(self, agent_id: str) -> str:
        """Kill an agent as if its host died, and bring up a fresh one in its place."""
        self.master_post(f"/__local__/agents/{agent_id}/kill")
        new_id = f"agent-{next(self._agent_numbers)}"
        self.master_post("/__local__/agents", {"id": new_id, "hostname": f"{new_id}.local", "cpus": 8, "mem": 8192})
        return new_id

    def fail_over_master(
        self, *, agent_reregister_delay: float | None = 0.0, agent_reregister_timeout: float = 600.0
    ) -> None:
        """A Mesos master failover after which agents re-register late (None: never);
        until they do, reconciliation of their tasks is not answered."""
        self.master_post(
            "/__local__/restart",
            {"agent_reregister_delay": agent_reregister_delay, "agent_reregister_timeout": agent_reregister_timeout},
        )

    def partition_agent(self, agent_id: str) -> None:
        """The master marks the agent unreachable; its tasks keep running."""
        self.master_post(f"/__local__/agents/{agent_id}/partition")

    def reconnect_agent(self, agent_id: str) -> None:
        """A partitioned agent comes back, with the tasks it still runs."""
        self.master_post(f"/__local__/agents/{agent_id}/reconnect")

    def remove_framework(self) -> str:
        """What an operator's /master/teardown does to our framework; returns its id."""
        framework_id = str(self.master("/__local__/frameworks")[0]["id"])
        r = requests.post(
            f"http://127.0.0.1:{self.mesos_port}/master/teardown", data={"frameworkId": framework_id}, timeout=5
        )
        r.raise_for_status()
        return framework_id

    def conflicts(self) -> list[dict[str, Any]]:
        """Task ids the agents ran twice (a task back with its agent after its id was reused)."""
        return list(self.master("/__local__/conflicts"))

    def signal(self, instance: Instance, sig: signal.Signals) -> None:
        assert instance.proc is not None
        instance.proc.send_signal(sig)
