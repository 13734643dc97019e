"""What the local master keeps in memory: streams, offers, agents, tasks, frameworks.

Plain records behind the master's one lock; the behaviour lives in the modules that
use them (calls, allocator, executor, controls).
"""

from __future__ import annotations

import base64
import contextlib
import json
import queue
import socket
import struct
import subprocess
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moroccron.mesos import recordio
from moroccron.mesos.local.agents import AgentSpec
from moroccron.mesos.local.resources import UNRESERVED, RoleResources

if TYPE_CHECKING:
    from moroccron.mesos.local.containers import LaunchPlan

#: What ``/version`` and MasterInfo report: the Mesos release whose API we speak.
MESOS_VERSION = "1.11.0-moroccron-local"

TERMINAL_STATES = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)

# Agent states, as the master sees them (master.cpp keeps one collection for each).
REGISTERED = "registered"  # connected: its tasks are known, its resources offered
RECOVERED = "recovered"  # known from the registry after a failover, not re-registered yet
UNREACHABLE = "unreachable"  # failed health checks (or never re-registered): partitioned


class _Close:
    """Sentinel queued on a stream to end it (gracefully or abruptly)."""

    def __init__(self, abrupt: bool) -> None:
        self.abrupt = abrupt


class _Stream:
    """One SUBSCRIBE connection's outgoing events.

    The master enqueues encoded records while holding its lock (never blocking on the
    network); the HTTP handler thread that owns the connection writes them out.
    """

    def __init__(self, framework_id: str) -> None:
        self.id = str(uuid.uuid4())
        self.framework_id = framework_id
        self.queue: queue.SimpleQueue[bytes | _Close] = queue.SimpleQueue()
        self.closed = False
        self.sock: socket.socket | None = None
        self.refusal: str | None = None  # a refused SUBSCRIBE: its one ERROR event says why

    def send(self, event: Mapping[str, Any]) -> None:
        if not self.closed:
            data = json.dumps(event, separators=(",", ":")).encode("utf-8")
            self.queue.put(recordio.encode(data))

    def close(self, *, abrupt: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.queue.put(_Close(abrupt))
        if abrupt and self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


@dataclass(eq=False)
class _Filter:
    """A decline filter: ``resources`` of ``agent_id`` held back from ``role`` until ``expires``."""

    agent_id: str
    role: str
    resources: RoleResources
    expires: float


@dataclass(eq=False)
class _Offer:
    id: str
    framework_id: str
    agent_id: str
    role: str  # the allocation role (Offer.allocation_info.role)
    resources: RoleResources
    created: float


@dataclass(eq=False)
class _InverseOffer:
    """A request to give an agent back before its maintenance window."""

    id: str
    framework_id: str
    agent_id: str
    unavailability: dict[str, Any]
    answer: str | None = None  # ACCEPTED or DECLINED, once the framework says


@dataclass(eq=False)
class _Agent:
    spec: AgentSpec
    total: RoleResources
    registered_time: float
    used: RoleResources = field(default_factory=RoleResources)
    status: str = REGISTERED
    # While RECOVERED: when it re-registers (None: never) and when it is given up on.
    reregister_at: float | None = None
    recovery_deadline: float | None = None
    unreachable_time: float | None = None  # wall clock, while UNREACHABLE
    # Every task this agent runs, known to the master or not: (framework id, task id).
    tasks: dict[tuple[str, str], _Task] = field(default_factory=dict)
    # Maintenance window: start (unix seconds) and duration in seconds (None: open-ended).
    maintenance: tuple[float, float | None] | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def registered(self) -> bool:
        return self.status == REGISTERED

    def unavailability(self) -> dict[str, Any] | None:
        """The protobuf Unavailability of the maintenance window, if there is one."""
        if self.maintenance is None:
            return None
        start, duration = self.maintenance
        out: dict[str, Any] = {"start": {"nanoseconds": int(start * 1e9)}}
        if duration is not None:
            out["duration"] = {"nanoseconds": int(duration * 1e9)}
        return out


@dataclass(eq=False)
class _Task:
    id: str
    framework_id: str
    agent_id: str
    info: dict[str, Any]
    resources: RoleResources
    sandbox: Path
    container_id: str
    launched: float
    allocation_role: str = UNRESERVED
    state: str = "TASK_STAGING"
    statuses: list[dict[str, Any]] = field(default_factory=list)
    # Reliable updates not yet acknowledged; the head is the one in flight.
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    backoff: float = 0.0
    next_retry: float = 0.0
    plan: LaunchPlan | None = None  # what the agent runs for it, once decided
    process: subprocess.Popen[bytes] | None = None
    thread: threading.Thread | None = None
    exit_code: int | None = None
    kill_requested: bool = False
    kill_grace: float | None = None
    killing_sent: bool = False
    kill_deadline: float | None = None
    completion_deadline: float | None = None
    completion_timed_out: bool = False
    holds_resources: bool = True
    removed: bool = False  # framework or agent gone: the runner must not report

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def name(self) -> str:
        return str(self.info.get("name", ""))

    @property
    def key(self) -> tuple[str, str]:
        return (self.framework_id, self.id)


@dataclass(eq=False)
class _Framework:
    id: str
    info: dict[str, Any]
    registered_time: float
    stream: _Stream | None = None
    failover_deadline: float | None = None
    unregistered_time: float | None = None
    suppressed_roles: set[str] = field(default_factory=set)
    filters: list[_Filter] = field(default_factory=list)
    # The tasks the master knows: those on registered agents.
    tasks: dict[str, _Task] = field(default_factory=dict)
    # Task id -> agent id of tasks on agents marked unreachable. Like master.cpp's
    # bounded cache, it does not survive a master failover.
    unreachable_tasks: dict[str, str] = field(default_factory=dict)
    next_heartbeat: float = 0.0

    @property
    def connected(self) -> bool:
        return self.stream is not None and not self.stream.closed

    @property
    def capabilities(self) -> set[str]:
        return {c.get("type", "UNKNOWN") for c in self.info.get("capabilities") or []}

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    @property
    def multi_role(self) -> bool:
        return "MULTI_ROLE" in self.capabilities

    @property
    def refinement(self) -> bool:
        return "RESERVATION_REFINEMENT" in self.capabilities

    @property
    def roles(self) -> list[str]:
        """The roles it subscribed with: ``roles`` when MULTI_ROLE, else ``[role]``."""
        if self.multi_role:
            return [str(r) for r in self.info.get("roles") or []]
        return [str(self.info.get("role") or UNRESERVED)]

    @property
    def role(self) -> str:
        roles = self.roles
        return roles[0] if roles else UNRESERVED

    @property
    def suppressed(self) -> bool:
        """Every role suppressed: no offers at all."""
        return set(self.roles) <= self.suppressed_roles

    @property
    def failover_timeout(self) -> float:
        return float(self.info.get("failover_timeout") or 0.0)


class _CallError(Exception):
    """A scheduler call the master refuses with an HTTP error status."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _LaunchFailure(Exception):
    """The agent or the executor could not start a task: TASK_FAILED.

    ``source`` and ``reason`` are what the real component that fails puts in the update:
    the agent's containerizer (SOURCE_AGENT, REASON_CONTAINER_LAUNCH_FAILED, before any
    TASK_STARTING) or an executor (SOURCE_EXECUTOR after its TASK_STARTING; the docker
    executor gives no reason).
    """

    def __init__(
        self,
        message: str,
        reason: str | None = "REASON_CONTAINER_LAUNCH_FAILED",
        *,
        source: str = "SOURCE_AGENT",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.source = source

    @property
    def after_starting(self) -> bool:
        """An executor failure: its TASK_STARTING went out first."""
        return self.source == "SOURCE_EXECUTOR" or self.reason == "REASON_EXECUTOR_TERMINATED"


def _id(value: str) -> dict[str, str]:
    return {"value": value}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _ip_to_uint32(ip: str) -> int:
    """MasterInfo.ip: the IPv4 address's network-order bytes read as a host-order uint32.

    That is how Mesos fills the deprecated field (127.0.0.1 -> 16777343 on x86), and
    what MasterInfo readers, ours included, decode.
    """
    try:
        packed = socket.inet_aton(ip)
    except OSError:
        return 0
    return int(struct.unpack("=I", packed)[0])
