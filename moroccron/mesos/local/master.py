"""LocalMaster: the master's state, its threads, its life cycle and ZooKeeper presence.

The behaviour is in the mixins: scheduler calls (:mod:`calls`), the allocator
(:mod:`allocator`), the agents running tasks (:mod:`executor`), test controls
(:mod:`controls`) and the state endpoints (:mod:`endpoints`). The HTTP server is in
:mod:`http`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import queue
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moroccron.mesos.detect import leader_from_children, master_address
from moroccron.mesos.local.agents import AgentSpec
from moroccron.mesos.local.allocator import _Allocator
from moroccron.mesos.local.calls import _Calls
from moroccron.mesos.local.containers import ImageConfig
from moroccron.mesos.local.controls import _Controls
from moroccron.mesos.local.endpoints import _Endpoints
from moroccron.mesos.local.executor import _Executor
from moroccron.mesos.local.state import (
    MESOS_VERSION,
    RECOVERED,
    _Agent,
    _Framework,
    _InverseOffer,
    _ip_to_uint32,
    _Offer,
    _Stream,
    _Task,
)
from moroccron.mesos.messages import event
from moroccron.zk import ALLOWED as ZK_ALLOWED
from moroccron.zk import ZkUrl, read_zk_url, redact

log = logging.getLogger("moroccron.mesos.local")

_COMPLETED_TASKS_KEPT = 1000


@dataclass(eq=False)
class _Work:
    """A call for the actor thread; ``done`` is set once it ran, when someone waits."""

    run: Callable[[], Any]
    done: threading.Event | None = None
    result: Any = None
    error: BaseException | None = None


class LocalMaster(_Calls, _Allocator, _Executor, _Controls, _Endpoints):
    """A Mesos master plus agents, in process, over real HTTP.

    All master state lives behind one lock. Four kinds of threads touch it: HTTP handler
    threads (one per connection; SUBSCRIBE handlers stay to write their stream), the
    actor thread that handles admitted scheduler calls in arrival order, one scheduler
    thread (heartbeats, offers, update retries, kill, failover and re-registration
    deadlines) and one runner thread per task (fetch, start, wait for the process).

    Parameters beyond the obvious:

    ``offer_refuse_default``
        ``Filters.refuse_seconds`` used when an ACCEPT or DECLINE sets none (Mesos: 5 s).
    ``zk`` / ``zk_path``
        register in ZooKeeper like a real master: a ``zk://host:port/path`` URL, or a
        started kazoo client plus ``zk_path``. The lowest ``json.info_`` node leads.
    ``leader``
        make this master a standby of the master at ``host:port``: scheduler calls are
        answered with 307 redirects there.
    ``status_update_retry`` / ``status_update_retry_max``
        first and largest interval between resends of an unacknowledged status update
        (Mesos agent: 10 s doubling to 10 min).
    ``offer_interval``
        how often free, unfiltered resources are re-offered (the allocation interval).
    ``offer_timeout``
        rescind offers outstanding longer than this (None: never, the Mesos default).
    ``kill_grace_default``
        SIGTERM-to-SIGKILL grace period when the task has no kill policy.
    ``images``
        images the agents can "run" (on the host): name -> entrypoint, cmd, env.
    ``acls``
        the master's ``--acls`` JSON; its ``run_tasks`` rules are enforced.
    ``credentials``
        principal -> secret: scheduler calls then need HTTP basic authentication
        (``--authenticate_http_frameworks``).
    ``root_submissions``
        False refuses frameworks whose user is ``root`` (``--root_submissions``).
    ``tls_cert`` / ``tls_key`` / ``tls_client_ca``
        serve HTTPS with this certificate; with a client CA, clients must present a
        certificate it signed.
    ``record_calls``
        keep every scheduler call received (headers, body, answer) in ``received_calls``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        agents: Sequence[AgentSpec] | None = None,
        work_dir: Path | str | None = None,
        heartbeat_interval: float = 15.0,
        offer_refuse_default: float = 5.0,
        zk: Any = None,
        *,
        zk_path: str = "/mesos",
        leader: str | None = None,
        offer_interval: float = 1.0,
        offer_timeout: float | None = None,
        status_update_retry: float = 10.0,
        status_update_retry_max: float = 600.0,
        kill_grace_default: float = 3.0,
        advertise_host: str | None = None,
        run_tasks: bool = True,
        images: Mapping[str, ImageConfig | Mapping[str, Any]] | None = None,
        acls: Mapping[str, Any] | None = None,
        credentials: Mapping[str, str] | None = None,
        root_submissions: bool = True,
        tls_cert: Path | str | None = None,
        tls_key: Path | str | None = None,
        tls_client_ca: Path | str | None = None,
        record_calls: bool = False,
    ) -> None:
        self.host = host
        # False: tasks are accepted and placed but never started (they stay TASK_STAGING),
        # for benchmarks that measure the framework up to the ACCEPT, not the machine.
        self.run_tasks = run_tasks
        self._requested_port = port
        self.work_dir = Path(work_dir) if work_dir is not None else Path.cwd() / "mesos-local"
        self.heartbeat_interval = heartbeat_interval
        self.offer_refuse_default = offer_refuse_default
        self.offer_interval = offer_interval
        self.offer_timeout = offer_timeout
        self.status_update_retry = status_update_retry
        self.status_update_retry_max = status_update_retry_max
        self.kill_grace_default = kill_grace_default
        self.static_leader = leader
        self.images: dict[str, ImageConfig] = {
            name: c if isinstance(c, ImageConfig) else ImageConfig.from_json(c) for name, c in (images or {}).items()
        }
        self.acls = dict(acls) if acls else None
        self.credentials = dict(credentials) if credentials else None
        self.root_submissions = root_submissions
        self._tls = (tls_cert, tls_key, tls_client_ca) if tls_cert is not None else None
        self.record_calls = record_calls
        self._zk_arg = zk
        self._zk_path = zk_path
        self._advertise_host = advertise_host

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._master_id = str(uuid.uuid4())
        self._start_time = time.time()
        self._elected_time = self._start_time
        self._frameworks: dict[str, _Framework] = {}
        self._removed_frameworks: dict[str, float] = {}
        self._framework_seq = 0
        self._agents: dict[str, _Agent] = {}
        self._gone_agents: dict[str, float] = {}
        self._offers: dict[str, _Offer] = {}
        self._inverse_offers: dict[str, _InverseOffer] = {}
        self._offer_seq = 0
        self._unacked: set[_Task] = set()
        self._completed: deque[_Task] = deque(maxlen=_COMPLETED_TASKS_KEPT)
        self._all_tasks: list[_Task] = []  # every runner, for stop()
        self._conflicts: list[dict[str, Any]] = []
        self._failing_calls: dict[str, tuple[int, str]] = {}
        self._allocate_now = True
        self._next_allocation = 0.0
        self._rr = 0
        self._heartbeats_paused_until = 0.0
        self._inbox: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        #: One record per ACCEPT taken (time, received, framework_id, stream_id, offer_ids,
        #: task_ids, and the task ids it launched, filled in once it is handled).
        self.accepted_calls: deque[dict[str, Any]] = deque(maxlen=100_000)
        #: With ``record_calls``: every scheduler call (time, headers, body, status).
        self.received_calls: deque[dict[str, Any]] = deque(maxlen=100_000)
        self.revive_count = 0
        self.suppress_count = 0
        self.dropped_reconciliations = 0

        self._server: Any = None
        self._server_thread: threading.Thread | None = None
        self._loop_thread: threading.Thread | None = None
        self._actor_thread: threading.Thread | None = None
        # Open connections and the handler thread serving each, to close and join on stop().
        self._connections: dict[socket.socket, threading.Thread] = {}
        # its own lock: a connection opened while an ACCEPT of thousands of tasks holds the
        # master's lock is read at once, not after that ACCEPT
        self._connections_lock = threading.Lock()
        self._stopping = False
        self._started = False

        self._zk_client: Any = None
        self._zk_owned = False
        self._zk_node: str | None = None
        self._zk_leader: str | None = None

        for spec in agents if agents is not None else [AgentSpec(id="local-S0")]:
            self._register_agent(spec)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> LocalMaster:
        """Bind the HTTP server, start the master's threads, register in ZooKeeper."""
        from moroccron.mesos.local.http import make_server

        if self._started:
            raise RuntimeError("LocalMaster already started")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        server = make_server(self, (self.host, self._requested_port), self._ssl_context())
        self._server = server
        self._started = True
        self._server_thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="moroccron-local-http",
            daemon=True,
        )
        self._server_thread.start()
        self._actor_thread = threading.Thread(target=self._actor, name="moroccron-local-actor", daemon=True)
        self._actor_thread.start()
        self._loop_thread = threading.Thread(target=self._loop, name="moroccron-local-master", daemon=True)
        self._loop_thread.start()
        if self._zk_arg is not None:
            self._zk_register()
        log.info(
            "local Mesos master %s listening on %s with %d agent(s), work dir %s",
            self._master_id,
            self.url,
            len(self._agents),
            self.work_dir,
        )
        return self

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self._tls is None:
            return None
        cert, key, client_ca = self._tls
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
        if client_ca is not None:
            context.load_verify_locations(str(client_ca))
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def stop(self) -> None:
        """Kill every task process, close every connection and join every thread."""
        if not self._started or self._stopping:
            return
        self._stopping = True
        self._zk_unregister()
        with self._lock:
            for fw in self._frameworks.values():
                if fw.stream is not None:
                    fw.stream.close()
            for task in self._all_tasks:
                task.removed = True
                self._signal(task, signal.SIGKILL)
            self._cond.notify_all()
        self._inbox.put(None)
        for thread in (self._actor_thread, self._loop_thread):
            if thread is not None:
                thread.join(timeout=10)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._server_thread is not None:
            self._server_thread.join(timeout=10)
        with self._connections_lock:
            connections = list(self._connections.items())
        for conn, _ in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for task in list(self._all_tasks):
            if task.thread is not None:
                task.thread.join(timeout=10)
            if task.process is not None and task.process.poll() is None:
                self._signal(task, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    task.process.wait(timeout=5)
        for _, thread in connections:
            if thread is not threading.current_thread():
                thread.join(timeout=10)
        log.info("local Mesos master %s stopped", self._master_id)

    def __enter__(self) -> LocalMaster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def advertised_host(self) -> str:
        if self._advertise_host:
            return self._advertise_host
        if self.host in ("", "0.0.0.0"):
            return socket.gethostname()
        return self.host

    @property
    def advertised_ip(self) -> str:
        host = self.advertised_host
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            try:
                return socket.gethostbyname(host)
            except OSError:
                return "127.0.0.1"

    @property
    def address(self) -> str:
        """``host:port`` of this master (what ``--master`` takes)."""
        return f"{self.advertised_host}:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self._tls is not None else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    @property
    def master_id(self) -> str:
        return self._master_id

    @property
    def leader(self) -> str | None:
        """``host:port`` of the leading master when that is not us, else None."""
        with self._lock:
            leader = self.static_leader or self._zk_leader
        if leader is None or leader == self.address:
            return None
        return leader

    def master_info(self) -> dict[str, Any]:
        """MasterInfo, as in SUBSCRIBED events and the ZooKeeper ``json.info_`` node."""
        ip = self.advertised_ip
        return {
            "id": self._master_id,
            "ip": _ip_to_uint32(ip),
            "port": self.port,
            "pid": f"master@{ip}:{self.port}",
            "hostname": self.advertised_host,
            "version": MESOS_VERSION,
            "address": {"hostname": self.advertised_host, "ip": ip, "port": self.port},
        }

    # -- the actor: admitted calls, one at a time, in order -------------------------------

    def _submit(self, run: Callable[[], Any], *, wait: bool) -> _Work:
        """Queue work for the actor (call it holding the lock: the queue keeps its order)."""
        work = _Work(run, threading.Event() if wait else None)
        self._inbox.put(work)
        return work

    def _actor(self) -> None:
        while True:
            work = self._inbox.get()
            if work is None:
                return
            with self._lock:
                try:
                    work.result = work.run()
                except Exception as exc:  # a _CallError for the waiter, or a bug: never die
                    if not hasattr(exc, "status"):
                        log.exception("local master failed to handle a call")
                    work.error = exc
            if work.done is not None:
                work.done.set()

    def _wait(self, work: _Work, timeout: float = 60.0) -> Any:
        assert work.done is not None
        if not work.done.wait(timeout):
            raise TimeoutError("the local master did not handle the call in time")
        if work.error is not None:
            raise work.error
        return work.result

    def subscribe_call(self, call: dict[str, Any], principal: str | None) -> _Stream:
        """SUBSCRIBE, handled in turn with the other calls; returns its stream."""
        with self._lock:
            work = self._submit(lambda: self._subscribe(call, principal), wait=True)
        stream: _Stream = self._wait(work)
        return stream

    def scheduler_call(
        self, call: dict[str, Any], stream_id: str | None, principal: str | None, arrived: float
    ) -> None:
        """Any other call: admitted now (or _CallError), handled by the actor after the 202.

        UPDATE_FRAMEWORK is the exception: its answer says whether it was valid, so it is
        waited for.
        """
        with self._lock:
            self._admit(call, stream_id, principal)
            record = None
            if call["type"] == "ACCEPT":
                accept = call["accept"]
                record = {
                    "time": time.time(),
                    "received": arrived,  # before waiting for the master's lock
                    "framework_id": call["framework_id"]["value"],
                    "stream_id": stream_id,
                    "offer_ids": [o["value"] for o in accept.get("offer_ids") or []],
                    "task_ids": [
                        ti["task_id"]["value"]
                        for op in accept.get("operations") or []
                        for ti in (op.get("launch") or {}).get("task_infos") or []
                    ],
                    "launched": [],
                }
                self.accepted_calls.append(record)
            assert stream_id is not None
            wait = call["type"] == "UPDATE_FRAMEWORK"
            work = self._submit(lambda: self._process(call, stream_id, record), wait=wait)
        if wait:
            self._wait(work)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every call admitted so far has been handled (for tests)."""
        with self._lock:
            work = self._submit(lambda: None, wait=True)
        self._wait(work, timeout)

    def record_call(self, entry: dict[str, Any]) -> None:
        if self.record_calls:
            self.received_calls.append(entry)

    # -- plumbing shared by the mixins ----------------------------------------------------

    def _send(self, fw: _Framework, event: Mapping[str, Any]) -> None:
        if fw.stream is not None:
            fw.stream.send(event)

    def _heartbeat(self, fw: _Framework, now: float) -> None:
        if now < self._heartbeats_paused_until:
            fw.next_heartbeat = self._heartbeats_paused_until
            return
        self._send(fw, event("HEARTBEAT"))
        fw.next_heartbeat = now + self.heartbeat_interval

    def _remove_framework(self, fw: _Framework, message: str) -> None:
        for task in list(fw.tasks.values()):
            self._forget_task(task, kill=True)
            if not task.terminal:
                # What the master records (and tells nobody): master.cpp removeFramework.
                task.state = "TASK_KILLED"
                task.statuses.append(
                    self._status(
                        task.id,
                        "TASK_KILLED",
                        source="SOURCE_MASTER",
                        reason="REASON_FRAMEWORK_REMOVED",
                        message=f"Framework {fw.id} removed",
                        agent_id=task.agent_id,
                    )
                )
        for offer in [o for o in self._offers.values() if o.framework_id == fw.id]:
            del self._offers[offer.id]
        for inverse in [i for i in self._inverse_offers.values() if i.framework_id == fw.id]:
            del self._inverse_offers[inverse.id]
        if fw.stream is not None:
            fw.stream.close()
            fw.stream = None
        self._frameworks.pop(fw.id, None)
        self._removed_frameworks[fw.id] = time.time()
        log.info("framework %s removed: %s", fw.id, message)
        self._wake_allocation()

    def _on_stream_end(self, stream: _Stream) -> None:
        """The connection of ``stream`` is gone: the framework is disconnected."""
        with self._lock:
            stream.closed = True
            fw = self._frameworks.get(stream.framework_id)
            if fw is None or fw.stream is not stream:
                return
            fw.stream = None
            log.info("framework %s disconnected; failover timeout %.3gs", fw.id, fw.failover_timeout)
            for offer in [o for o in self._offers.values() if o.framework_id == fw.id]:
                del self._offers[offer.id]
            self._start_failover(fw)
            self._wake_allocation()

    def _start_failover(self, fw: _Framework) -> None:
        fw.unregistered_time = time.time()
        fw.failover_deadline = time.monotonic() + fw.failover_timeout
        self._cond.notify_all()

    # -- the scheduler thread -----------------------------------------------------------

    def _loop(self) -> None:
        """Heartbeats, failover and kill deadlines, re-registrations, update retries, allocation."""
        while True:
            with self._lock:
                if self._stopping:
                    return
                now = time.monotonic()
                try:
                    self._tick(now)
                except Exception:  # never let the master die silently
                    log.exception("local master scheduler loop failed")
                self._cond.wait(timeout=self._pause(now))

    _BUSY_PAUSE = 0.05
    _IDLE_PAUSE = 0.25

    def _pause(self, now: float) -> float:
        """How long the loop sleeps before its next tick: 50 ms while a deadline may be near
        (unacknowledged updates, tasks being run or killed, agents re-registering, frameworks
        in failover), otherwise until the next heartbeat or allocation, at most 250 ms. An idle
        master with thousands of held offers then costs a fraction of the CPU; whatever needs
        attention sooner (a call, an agent, a new framework) notifies the condition."""
        busy = (
            self._unacked
            or self._allocate_now
            or any(t.thread is not None or t.kill_deadline is not None for t in self._all_tasks)
            or any(a.status == RECOVERED for a in self._agents.values())
            or any(not fw.connected and fw.failover_deadline is not None for fw in self._frameworks.values())
        )
        if busy:
            return self._BUSY_PAUSE
        due = [self._next_allocation] + [fw.next_heartbeat for fw in self._frameworks.values() if fw.connected]
        return max(0.0, min(self._IDLE_PAUSE, min(due) - now))

    def _tick(self, now: float) -> None:
        for fw in list(self._frameworks.values()):
            if fw.connected and now >= fw.next_heartbeat:
                self._heartbeat(fw, now)
            if not fw.connected and fw.failover_deadline is not None and now >= fw.failover_deadline:
                log.info("framework %s did not re-subscribe within its failover timeout", fw.id)
                self._remove_framework(fw, "failover timeout expired")
        self._recover_agents(now)
        for task in list(self._unacked):
            owner = self._frameworks.get(task.framework_id)
            if owner is None or not task.pending:
                self._unacked.discard(task)
                continue
            if owner.connected and now >= task.next_retry and self._deliverable(task):
                task.backoff = min(task.backoff * 2, self.status_update_retry_max)
                log.debug("resending unacknowledged %s of task %s", task.pending[0]["state"], task.id)
                self._send_pending_head(owner, task, now)
        for task in self._all_tasks:
            if task.completion_deadline is not None and now >= task.completion_deadline:
                task.completion_deadline = None
                task.completion_timed_out = True
                task.kill_requested = True
                self._signal(task, signal.SIGTERM)
                task.kill_deadline = now + self._grace_period(task.info.get("kill_policy"))
            if task.kill_deadline is not None and now >= task.kill_deadline:
                task.kill_deadline = None
                self._signal(task, signal.SIGKILL)
        self._all_tasks = [t for t in self._all_tasks if t.thread is None or t.thread.is_alive()]
        if self.offer_timeout is not None:
            for offer in [o for o in self._offers.values() if now - o.created >= self.offer_timeout]:
                self._rescind(offer)
                self._allocate_now = True
        if self._allocate_now or now >= self._next_allocation:
            self._allocate_now = False
            self._next_allocation = now + self.offer_interval
            self._allocate(now)

    # -- ZooKeeper ----------------------------------------------------------------------

    def _zk_register(self) -> None:
        try:
            from kazoo.client import KazooClient
        except ImportError as exc:  # pragma: no cover - kazoo is a dependency
            raise RuntimeError("ZooKeeper registration needs the 'kazoo' package") from exc
        if isinstance(self._zk_arg, str):
            url = _parse_zk_url(self._zk_arg)
            path = url.path
            client = KazooClient(hosts=url.hosts)
            client.start(timeout=10)
            self._zk_owned = True
        else:
            client, path = self._zk_arg, self._zk_path
        self._zk_client = client
        self._zk_path = path
        data = json.dumps(self.master_info()).encode("utf-8")
        self._zk_node = client.create(f"{path}/json.info_", data, ephemeral=True, sequence=True, makepath=True)
        log.info("registered in ZooKeeper as %s", self._zk_node)
        client.ChildrenWatch(path, self._zk_children)

    def _zk_children(self, children: list[str]) -> bool:
        if self._stopping:
            return False
        first = leader_from_children(children)
        leader: str | None = None
        if first is not None:
            try:
                data, _ = self._zk_client.get(f"{self._zk_path}/{first}")
                leader = master_address(json.loads(data))
            except Exception:  # the node vanished between the listing and the read
                log.debug("cannot read leading master node %s", first, exc_info=True)
        own = self._zk_node.rsplit("/", 1)[1] if self._zk_node else None
        with self._lock:
            self._zk_leader = None if (first is not None and first == own) else leader
        log.info("leading master: %s", "this one" if self._zk_leader is None else self._zk_leader)
        return True

    def _zk_unregister(self) -> None:
        client = self._zk_client
        if client is None:
            return
        self._zk_client = None
        if self._zk_node is not None:
            with contextlib.suppress(Exception):  # the session may be gone already
                client.delete(self._zk_node)
        if self._zk_owned:
            with contextlib.suppress(Exception):
                client.stop()
                client.close()


def _parse_zk_url(url: str) -> ZkUrl:
    try:
        return read_zk_url(url)
    except ValueError as exc:
        raise ValueError(f"invalid ZooKeeper URL {redact(url)!r}: {exc}; expected {ZK_ALLOWED}") from None
