"""A local Mesos master and agents in one Python process, speaking the v1 scheduler API.

``moroccron serve`` runs it in development when no master is given, and the test-suite
runs moroccron against it. It is meant to be a faithful stand-in for a real cluster,
not a shortcut: the framework talks to it over real HTTP with the same calls, events,
headers, status codes and JSON shapes as a Mesos 1.x master, so the code paths that
work here are the ones that run in production. Where Mesos makes a choice (which
state an unknown task reconciles to, which updates need an acknowledgement, when
resources are re-offered) this module makes the same one, and says so.

One HTTP server plays every role:

* the master: ``/api/v1/scheduler`` (SUBSCRIBE opens a chunked RecordIO event stream),
  ``/version``, ``/master/state`` (alias ``/state``), ``/health``, ``/master/redirect``;
* every agent: ``/files/read``, ``/files/browse``, ``/files/download`` over the sandboxes
  under ``work_dir``, and ``/agents/<agent-id>/state`` (the agent ``/state`` shape, with
  the executors' sandbox ``directory``). Offers carry ``url`` pointing there;
* test controls under ``/__local__/...`` so that a test in another process can kill an
  agent, restart the master, drop the event streams or remove a framework.

Agents run command tasks as real subprocesses (one process group each) in a sandbox
``work_dir/agents/<agent>/frameworks/<fw>/executors/<task>/runs/<container>`` with a
``runs/latest`` symlink, writing ``stdout`` and ``stderr`` files there, like the Mesos
command executor. There is no container engine: DOCKER containers and container images
fail with ``REASON_CONTAINER_LAUNCH_FAILED`` and a message that says why.

Documented simplifications (what a real cluster does differently):

* one role: resources are offered with role ``*``; roles in REVIVE/SUPPRESS apply to the
  whole framework; reservations and the non-LAUNCH offer operations are refused (400);
* the master state is in memory: :meth:`LocalMaster.restart_master` simulates a failover
  that recovered frameworks and tasks from the registry and the re-registering agents;
* tasks on a killed agent become TASK_GONE for PARTITION_AWARE frameworks and TASK_LOST
  for the others (the agent is marked gone, never unreachable);
* IPv4 only.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import ipaddress
import json
import logging
import math
import os
import pwd
import queue
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from moroccron.mesos import proto, recordio

log = logging.getLogger("moroccron.mesos.local")

__all__ = [
    "MESOS_VERSION",
    "TERMINAL_STATES",
    "AgentSpec",
    "LocalMaster",
    "Resources",
    "build_parser",
    "main",
    "parse_attributes",
]

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

# Smallest offer worth making, as the Mesos allocator's default min_allocatable_resources:
# an agent with less free than this is not offered at all.
_MIN_OFFER_CPUS = 0.01
_MIN_OFFER_MEM = 32.0
_SCALAR_EPSILON = 0.0005  # Mesos keeps scalars in fixed point with three decimals.
_MAX_BODY = 64 * 1024 * 1024
_MAX_FILE_READ = 16 * 1024 * 1024
_COMPLETED_TASKS_KEPT = 1000


# ---------------------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------------------


def _round(value: float) -> float:
    return round(value, 3)


def _merge_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for begin, end in sorted(ranges):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([begin, end])
    return tuple((b, e) for b, e in merged)


def _subtract_ranges(
    have: Sequence[tuple[int, int]], take: Sequence[tuple[int, int]]
) -> tuple[tuple[int, int], ...]:
    result: list[tuple[int, int]] = []
    for begin, end in have:
        pieces = [(begin, end)]
        for t_begin, t_end in take:
            next_pieces: list[tuple[int, int]] = []
            for p_begin, p_end in pieces:
                if t_end < p_begin or t_begin > p_end:
                    next_pieces.append((p_begin, p_end))
                    continue
                if p_begin < t_begin:
                    next_pieces.append((p_begin, t_begin - 1))
                if t_end < p_end:
                    next_pieces.append((t_end + 1, p_end))
            pieces = next_pieces
        result.extend(pieces)
    return _merge_ranges(result)


def _ranges_contain(have: Sequence[tuple[int, int]], want: Sequence[tuple[int, int]]) -> bool:
    return all(any(h_b <= w_b and w_e <= h_e for h_b, h_e in have) for w_b, w_e in want)


def _format_ranges(ranges: Sequence[tuple[int, int]]) -> str:
    return "[" + ", ".join(f"{b}-{e}" for b, e in ranges) + "]"


@dataclass(frozen=True)
class Resources:
    """An amount of agent resources: named scalars, ranges and sets.

    Just enough of Mesos's resource arithmetic to allocate, offer and check launches:
    addition, subtraction, containment. Roles and reservations are not modelled (every
    resource here is unreserved, role ``*``).
    """

    scalars: Mapping[str, float] = field(default_factory=dict)
    ranges: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    sets: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, items: Iterable[Mapping[str, Any]]) -> Resources:
        """Parse a list of protobuf ``Resource`` objects (already shape-validated).

        Raises ``ValueError`` for what a master rejects as an invalid resource: a value
        that does not match its type, a negative or non-finite scalar, an inverted range,
        TEXT resources, reservations, or one name used with two types.
        """
        scalars: dict[str, float] = {}
        ranges: dict[str, list[tuple[int, int]]] = {}
        sets: dict[str, set[str]] = {}
        kinds: dict[str, str] = {}
        for item in items:
            name = item["name"]
            kind = item["type"]
            if kinds.setdefault(name, kind) != kind:
                raise ValueError(f"resource '{name}' is given as both {kinds[name]} and {kind}")
            if item.get("reservations") or item.get("reservation"):
                raise ValueError(f"resource '{name}': reservations are not supported")
            role = item.get("role")
            if role not in (None, "*"):
                raise ValueError(f"resource '{name}': role '{role}' is not offered (only '*')")
            if kind == "SCALAR":
                if item.get("scalar") is None:
                    raise ValueError(f"resource '{name}' is SCALAR but has no 'scalar'")
                value = float(item["scalar"]["value"])
                if not math.isfinite(value) or value < 0:
                    raise ValueError(f"resource '{name}' has invalid scalar value {value}")
                scalars[name] = _round(scalars.get(name, 0.0) + value)
            elif kind == "RANGES":
                if item.get("ranges") is None:
                    raise ValueError(f"resource '{name}' is RANGES but has no 'ranges'")
                for entry in item["ranges"].get("range") or []:
                    begin, end = int(entry["begin"]), int(entry["end"])
                    if begin > end:
                        raise ValueError(f"resource '{name}' has inverted range {begin}-{end}")
                    ranges.setdefault(name, []).append((begin, end))
            elif kind == "SET":
                if item.get("set") is None:
                    raise ValueError(f"resource '{name}' is SET but has no 'set'")
                sets.setdefault(name, set()).update(item["set"].get("item") or [])
            else:
                raise ValueError(f"resource '{name}' of type {kind} cannot be allocated")
        return cls(
            dict(scalars),
            {k: _merge_ranges(v) for k, v in ranges.items()},
            {k: frozenset(v) for k, v in sets.items()},
        )

    def to_json(self, role: str = "*") -> list[dict[str, Any]]:
        """The protobuf JSON form, as a master puts it in an offer."""
        out: list[dict[str, Any]] = []
        allocation = {"role": role}
        for name, value in self.scalars.items():
            out.append(
                {
                    "name": name,
                    "type": "SCALAR",
                    "scalar": {"value": value},
                    "role": "*",
                    "allocation_info": allocation,
                }
            )
        for name, spans in self.ranges.items():
            out.append(
                {
                    "name": name,
                    "type": "RANGES",
                    "ranges": {"range": [{"begin": b, "end": e} for b, e in spans]},
                    "role": "*",
                    "allocation_info": allocation,
                }
            )
        for name, items in self.sets.items():
            out.append(
                {
                    "name": name,
                    "type": "SET",
                    "set": {"item": sorted(items)},
                    "role": "*",
                    "allocation_info": allocation,
                }
            )
        return out

    def summary(self) -> dict[str, Any]:
        """The flat form of ``/master/state``: ``{"cpus": 1.0, "ports": "[31000-32000]"}``."""
        out: dict[str, Any] = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
        out.update(self.scalars)
        for name, spans in self.ranges.items():
            out[name] = _format_ranges(spans)
        for name, items in self.sets.items():
            out[name] = "{" + ",".join(sorted(items)) + "}"
        return out

    @property
    def empty(self) -> bool:
        return (
            all(v <= _SCALAR_EPSILON for v in self.scalars.values())
            and not any(self.ranges.values())
            and not any(self.sets.values())
        )

    def scalar(self, name: str) -> float:
        return self.scalars.get(name, 0.0)

    def contains(self, other: Resources) -> bool:
        """True when ``other`` fits inside ``self``."""
        for name, value in other.scalars.items():
            if value > self.scalars.get(name, 0.0) + _SCALAR_EPSILON:
                return False
        for name, spans in other.ranges.items():
            if not _ranges_contain(self.ranges.get(name, ()), spans):
                return False
        return all(items <= self.sets.get(name, frozenset()) for name, items in other.sets.items())

    def __add__(self, other: Resources) -> Resources:
        scalars = dict(self.scalars)
        for name, value in other.scalars.items():
            scalars[name] = _round(scalars.get(name, 0.0) + value)
        ranges = dict(self.ranges)
        for name, spans in other.ranges.items():
            ranges[name] = _merge_ranges([*ranges.get(name, ()), *spans])
        sets = dict(self.sets)
        for name, items in other.sets.items():
            sets[name] = sets.get(name, frozenset()) | items
        return Resources(scalars, ranges, sets)

    def __sub__(self, other: Resources) -> Resources:
        scalars = dict(self.scalars)
        for name, value in other.scalars.items():
            left = _round(scalars.get(name, 0.0) - value)
            if left <= _SCALAR_EPSILON:
                scalars.pop(name, None)
            else:
                scalars[name] = left
        ranges = dict(self.ranges)
        for name, spans in other.ranges.items():
            left_spans = _subtract_ranges(ranges.get(name, ()), spans)
            if left_spans:
                ranges[name] = left_spans
            else:
                ranges.pop(name, None)
        sets = dict(self.sets)
        for name, items in other.sets.items():
            left_items = sets.get(name, frozenset()) - items
            if left_items:
                sets[name] = left_items
            else:
                sets.pop(name, None)
        return Resources(scalars, ranges, sets)

    def __str__(self) -> str:
        parts = [f"{k}:{v:g}" for k, v in self.scalars.items()]
        parts += [f"{k}:{_format_ranges(v)}" for k, v in self.ranges.items()]
        parts += [f"{k}:{{{','.join(sorted(v))}}}" for k, v in self.sets.items()]
        return ";".join(parts) or "{}"


# ---------------------------------------------------------------------------------------
# Agents
# ---------------------------------------------------------------------------------------


@dataclass
class AgentSpec:
    """One simulated agent: its identity, total resources and attributes.

    ``attributes`` values that are numbers become SCALAR attributes, strings TEXT ones,
    as the agent ``--attributes`` flag does.
    """

    id: str
    hostname: str = "localhost"
    cpus: float = 4.0
    mem: float = 4096.0
    disk: float = 10240.0
    gpus: float = 0.0
    ports: list[tuple[int, int]] = field(default_factory=lambda: [(31000, 32000)])
    attributes: dict[str, str | float] = field(default_factory=dict)

    def resources(self) -> Resources:
        scalars = {"cpus": float(self.cpus), "mem": float(self.mem), "disk": float(self.disk)}
        if self.gpus:
            scalars["gpus"] = float(self.gpus)
        ranges = {"ports": _merge_ranges(self.ports)} if self.ports else {}
        return Resources(scalars, ranges, {})

    def attributes_json(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, value in self.attributes.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}})
            else:
                out.append({"name": name, "type": "TEXT", "text": {"value": str(value)}})
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hostname": self.hostname,
            "cpus": self.cpus,
            "mem": self.mem,
            "disk": self.disk,
            "gpus": self.gpus,
            "ports": [list(r) for r in self.ports],
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentSpec:
        """Build a spec from the JSON body of ``POST /__local__/agents``."""
        known = {"id", "hostname", "cpus", "mem", "disk", "gpus", "ports", "attributes"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown agent fields: {', '.join(sorted(unknown))}")
        if not isinstance(data.get("id"), str) or not data["id"]:
            raise ValueError("agent 'id' (a non-empty string) is required")
        spec = cls(id=data["id"])
        if "hostname" in data:
            spec.hostname = str(data["hostname"])
        for name in ("cpus", "mem", "disk", "gpus"):
            if name in data:
                setattr(spec, name, float(data[name]))
        if "ports" in data:
            spec.ports = [(int(b), int(e)) for b, e in data["ports"]]
        if "attributes" in data:
            spec.attributes = dict(data["attributes"])
        return spec

    @classmethod
    def from_machine(
        cls,
        count: int = 1,
        *,
        work_dir: Path | None = None,
        attributes: Mapping[str, str | float] | None = None,
        prefix: str = "local",
    ) -> list[AgentSpec]:
        """Split this machine into ``count`` agents of equal size.

        Sizes come from ``os.cpu_count()``, ``/proc/meminfo`` and the free disk space of
        ``work_dir`` (or the current directory). Agents share one host, so the port range
        31000-32000 is split between them rather than repeated, which keeps two tasks on
        "different" agents from being handed the same port.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        cpus = float(os.cpu_count() or 1)
        mem = _machine_memory_mb()
        disk_path = work_dir if work_dir is not None and work_dir.exists() else Path.cwd()
        disk = shutil.disk_usage(disk_path).free / (1024 * 1024)
        hostname = socket.gethostname() or "localhost"
        span = 1001 // count
        specs = []
        for index in range(count):
            begin = 31000 + index * span
            end = 32000 if index == count - 1 else begin + span - 1
            specs.append(
                cls(
                    id=f"{prefix}-S{index}",
                    hostname=hostname if count == 1 else f"{hostname}-{index}",
                    cpus=_round(cpus / count),
                    mem=float(int(mem / count)),
                    disk=float(int(disk / count)),
                    ports=[(begin, end)],
                    attributes=dict(attributes or {}),
                )
            )
        return specs


def _machine_memory_mb() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 4096.0


def parse_attributes(text: str) -> dict[str, str | float]:
    """Parse the agent ``--attributes`` syntax ``rack:r1;zone:z2;weight:3``."""
    out: dict[str, str | float] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, value = part.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"invalid attribute {part!r}: expected NAME:VALUE")
        value = value.strip()
        try:
            out[name.strip()] = float(value)
        except ValueError:
            out[name.strip()] = value
    return out


# ---------------------------------------------------------------------------------------
# Internal state
# ---------------------------------------------------------------------------------------


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
    agent_id: str
    resources: Resources
    expires: float


@dataclass(eq=False)
class _Offer:
    id: str
    framework_id: str
    agent_id: str
    resources: Resources
    created: float


@dataclass(eq=False)
class _Agent:
    spec: AgentSpec
    total: Resources
    registered_time: float
    used: Resources = field(default_factory=Resources)

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(eq=False)
class _Task:
    id: str
    framework_id: str
    agent_id: str
    info: dict[str, Any]
    resources: Resources
    sandbox: Path
    container_id: str
    launched: float
    state: str = "TASK_STAGING"
    statuses: list[dict[str, Any]] = field(default_factory=list)
    # Reliable updates not yet acknowledged; the head is the one in flight.
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    backoff: float = 0.0
    next_retry: float = 0.0
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


@dataclass(eq=False)
class _Framework:
    id: str
    info: dict[str, Any]
    registered_time: float
    stream: _Stream | None = None
    failover_deadline: float | None = None
    unregistered_time: float | None = None
    suppressed: bool = False
    filters: list[_Filter] = field(default_factory=list)
    tasks: dict[str, _Task] = field(default_factory=dict)
    # Task id -> agent id for tasks lost with their agent, for explicit reconciliation.
    gone_tasks: dict[str, str] = field(default_factory=dict)
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
    def role(self) -> str:
        roles = self.info.get("roles") or []
        if roles:
            return str(roles[0])
        return str(self.info.get("role") or "*")

    @property
    def failover_timeout(self) -> float:
        return float(self.info.get("failover_timeout") or 0.0)


@dataclass
class _Command:
    """What the command executor will exec, once the sandbox is ready."""

    argv: list[str]
    executable: str
    env: dict[str, str]
    user: pwd.struct_passwd | None
    cwd: Path


class _CallError(Exception):
    """A scheduler call the master refuses with an HTTP error status."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _LaunchFailure(Exception):
    """The agent could not start a task (fetch, user, container): TASK_FAILED."""

    def __init__(self, message: str, reason: str = "REASON_CONTAINER_LAUNCH_FAILED") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


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


# ---------------------------------------------------------------------------------------
# The master
# ---------------------------------------------------------------------------------------


class LocalMaster:
    """A Mesos master plus agents, in process, over real HTTP.

    All master state lives behind one lock. Three kinds of threads touch it: HTTP handler
    threads (one per connection; SUBSCRIBE handlers stay to write their stream), one
    scheduler thread (heartbeats, offers, update retries, kill and failover deadlines) and
    one runner thread per task (fetch, start, wait for the process to exit).

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
    ) -> None:
        self.host = host
        # False: tasks are accepted and placed but never started (they stay TASK_STAGING),
        # for benchmarks that measure the framework up to the ACCEPT, not the machine.
        self.run_tasks = run_tasks
        self._arrival = threading.local()  # when the HTTP request being handled arrived
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
        self._offer_seq = 0
        self._unacked: set[_Task] = set()
        self._completed: deque[_Task] = deque(maxlen=_COMPLETED_TASKS_KEPT)
        self._all_tasks: list[_Task] = []  # every runner, for stop()
        self._allocate_now = True
        self._next_allocation = 0.0
        self._rr = 0
        self._heartbeats_paused_until = 0.0
        self.accepted_calls: deque[dict[str, Any]] = deque(maxlen=100_000)

        self._server: ThreadingHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self._loop_thread: threading.Thread | None = None
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
        """Bind the HTTP server, start the scheduler thread, register in ZooKeeper."""
        if self._started:
            raise RuntimeError("LocalMaster already started")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        handler = type("_BoundHandler", (_Handler,), {"master": self})
        server = _Server((self.host, self._requested_port), handler)
        self._server = server
        self._started = True
        self._server_thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="moroccron-local-http",
            daemon=True,
        )
        self._server_thread.start()
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
        if self._loop_thread is not None:
            self._loop_thread.join(timeout=10)
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
    def url(self) -> str:
        return f"http://{self.address}"

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

    # -- test controls ------------------------------------------------------------------

    def add_agent(self, spec: AgentSpec) -> None:
        """Register a new agent; its resources are offered at once."""
        with self._lock:
            if spec.id in self._agents or spec.id in self._gone_agents:
                raise ValueError(f"agent '{spec.id}' is already registered or was removed")
            self._register_agent(spec)
            self._wake_allocation()

    def kill_agent(self, agent_id: str, *, task_state: str | None = None) -> None:
        """Remove an agent as if its host died.

        Its processes are killed; frameworks get RESCIND for its offers, an UPDATE per
        non-terminal task (TASK_GONE for PARTITION_AWARE frameworks, TASK_LOST for the
        others, or ``task_state`` when given; reason REASON_AGENT_REMOVED, source master,
        no uuid: master-generated updates are not acknowledged) and FAILURE{agent_id}.
        """
        with self._lock:
            agent = self._agents.pop(agent_id, None)
            if agent is None:
                raise KeyError(f"no agent '{agent_id}'")
            now = time.time()
            self._gone_agents[agent_id] = now
            log.warning("agent %s removed (killed by test control)", agent_id)
            for offer in [o for o in self._offers.values() if o.agent_id == agent_id]:
                self._rescind(offer)
            for fw in list(self._frameworks.values()):
                fw.filters = [f for f in fw.filters if f.agent_id != agent_id]
                for task in [t for t in fw.tasks.values() if t.agent_id == agent_id]:
                    self._forget_task(task, kill=True)
                    fw.gone_tasks[task.id] = agent_id
                    if task.terminal:
                        continue
                    state = task_state or ("TASK_GONE" if fw.partition_aware else "TASK_LOST")
                    task.state = state
                    status = self._status(
                        task.id,
                        state,
                        source="SOURCE_MASTER",
                        reason="REASON_AGENT_REMOVED",
                        message=f"Agent {agent_id} removed: its host is gone",
                        agent_id=agent_id,
                    )
                    task.statuses.append(status)
                    self._send(fw, {"type": "UPDATE", "update": {"status": status}})
            for fw in self._frameworks.values():
                self._send(fw, {"type": "FAILURE", "failure": {"agent_id": _id(agent_id)}})

    def restart_master(self) -> None:
        """Simulate a master failover that recovered its registry.

        Every event stream is dropped and every outstanding offer forgotten (offers do not
        survive a master); allocator state (filters, suppression) is lost; the master gets
        a new id. Frameworks and tasks are kept, tasks keep running, and each framework's
        failover timeout starts now: it has to re-subscribe with its FrameworkID.
        """
        with self._lock:
            self._master_id = str(uuid.uuid4())
            self._elected_time = time.time()
            self._offers.clear()
            self._heartbeats_paused_until = 0.0
            for fw in self._frameworks.values():
                fw.filters.clear()
                fw.suppressed = False
                if fw.stream is not None:
                    stream, fw.stream = fw.stream, None
                    stream.close(abrupt=True)
                self._start_failover(fw)
            self._wake_allocation()
        log.warning("local master restarted as %s", self._master_id)

    def remove_framework(self, framework_id: str, message: str | None = None) -> None:
        """Remove a framework as a real master does on an operator's ``/teardown`` or when
        its failover timeout runs out: its tasks are killed without status updates, its
        stream is closed, and a later SUBSCRIBE with its id gets ERROR "Framework has been
        removed". With ``message``, an ERROR event carrying it is sent on the open stream
        first (a real master sends none here; schedulers must cope with both)."""
        with self._lock:
            fw = self._frameworks.get(framework_id)
            if fw is None:
                raise KeyError(f"no framework '{framework_id}'")
            if message is not None:
                self._send(fw, {"type": "ERROR", "error": {"message": message}})
            self._remove_framework(fw, message or "removed by test control")

    def drop_streams(self) -> None:
        """Abruptly close every event stream; frameworks stay known (failover starts)."""
        with self._lock:
            streams = [fw.stream for fw in self._frameworks.values() if fw.stream is not None]
        for stream in streams:
            stream.close(abrupt=True)
            self._on_stream_end(stream)

    def pause_heartbeats(self, seconds: float) -> None:
        """Send no HEARTBEAT events for ``seconds`` (to trigger the client's watchdog)."""
        with self._lock:
            self._heartbeats_paused_until = time.monotonic() + seconds

    # -- introspection ------------------------------------------------------------------

    def tasks(self) -> list[dict[str, Any]]:
        """Every task the master knows, active and recently completed, newest last."""
        with self._lock:
            active = [t for fw in self._frameworks.values() for t in fw.tasks.values()]
            return [self._task_summary(t, active=True) for t in active] + [
                self._task_summary(t, active=False) for t in self._completed
            ]

    def frameworks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "id": fw.id,
                    "name": fw.info.get("name"),
                    "connected": fw.connected,
                    "stream_id": fw.stream.id if fw.stream is not None else None,
                    "suppressed": fw.suppressed,
                    "failover_timeout": fw.failover_timeout,
                    "capabilities": sorted(fw.capabilities),
                    "tasks": sorted(fw.tasks),
                    "offers": [o.id for o in self._offers.values() if o.framework_id == fw.id],
                }
                for fw in self._frameworks.values()
            ]

    def agents(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "id": agent.id,
                    "hostname": agent.spec.hostname,
                    "resources": agent.total.summary(),
                    "used_resources": agent.used.summary(),
                    "attributes": dict(agent.spec.attributes),
                }
                for agent in self._agents.values()
            ]

    def offers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"id": o.id, "framework_id": o.framework_id, "agent_id": o.agent_id, "resources": o.resources.summary()}
                for o in self._offers.values()
            ]

    def _task_summary(self, task: _Task, *, active: bool) -> dict[str, Any]:
        return {
            "task_id": task.id,
            "name": task.name,
            "framework_id": task.framework_id,
            "agent_id": task.agent_id,
            "state": task.state,
            "active": active,
            "sandbox": str(task.sandbox.parent / "latest"),
            "directory": str(task.sandbox),
            "pid": task.process.pid if task.process is not None else None,
            "exit_code": task.exit_code,
            "unacknowledged": len(task.pending),
            "resources": task.resources.summary(),
        }

    # -- state endpoints ----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """``/master/state``: a subset of the real master's state JSON, enough for a UI."""
        with self._lock:
            offered: dict[str, Resources] = {}
            for offer in self._offers.values():
                offered[offer.agent_id] = offered.get(offer.agent_id, Resources()) + offer.resources
            slaves = [
                {
                    "id": agent.id,
                    "pid": f"slave({agent.id})@{self.advertised_ip}:{self.port}",
                    "hostname": agent.spec.hostname,
                    "port": self.port,
                    "registered_time": agent.registered_time,
                    "active": True,
                    "version": MESOS_VERSION,
                    "resources": agent.total.summary(),
                    "used_resources": agent.used.summary(),
                    "offered_resources": offered.get(agent.id, Resources()).summary(),
                    "unreserved_resources": agent.total.summary(),
                    "attributes": dict(agent.spec.attributes),
                }
                for agent in self._agents.values()
            ]
            frameworks = []
            for fw in self._frameworks.values():
                used = Resources()
                for task in fw.tasks.values():
                    if task.holds_resources:
                        used = used + task.resources
                fw_offers = [o for o in self._offers.values() if o.framework_id == fw.id]
                frameworks.append(
                    {
                        "id": fw.id,
                        "name": fw.info.get("name"),
                        "user": fw.info.get("user"),
                        "hostname": fw.info.get("hostname", ""),
                        "webui_url": fw.info.get("webui_url", ""),
                        "principal": fw.info.get("principal"),
                        "role": fw.role,
                        "roles": list(fw.info.get("roles") or [fw.role]),
                        "failover_timeout": fw.failover_timeout,
                        "checkpoint": bool(fw.info.get("checkpoint", False)),
                        "capabilities": sorted(fw.capabilities),
                        "registered_time": fw.registered_time,
                        "unregistered_time": fw.unregistered_time or 0,
                        "active": fw.connected and not fw.suppressed,
                        "connected": fw.connected,
                        "recovered": False,
                        "used_resources": used.summary(),
                        "offered_resources": sum((o.resources for o in fw_offers), Resources()).summary(),
                        "tasks": [self._state_task(t) for t in fw.tasks.values()],
                        "completed_tasks": [
                            self._state_task(t) for t in self._completed if t.framework_id == fw.id
                        ],
                        "offers": [
                            {
                                "id": o.id,
                                "framework_id": fw.id,
                                "slave_id": o.agent_id,
                                "resources": o.resources.summary(),
                            }
                            for o in fw_offers
                        ],
                    }
                )
            return {
                "version": MESOS_VERSION,
                "id": self._master_id,
                "pid": f"master@{self.advertised_ip}:{self.port}",
                "hostname": self.advertised_host,
                "start_time": self._start_time,
                "elected_time": self._elected_time,
                "leader": f"master@{self.leader}" if self.leader else f"master@{self.advertised_ip}:{self.port}",
                "leader_info": self.master_info(),
                "activated_slaves": len(self._agents),
                "deactivated_slaves": 0,
                "slaves": slaves,
                "frameworks": frameworks,
                "completed_frameworks": [{"id": fid, "removed_time": t} for fid, t in self._removed_frameworks.items()],
                "orphan_tasks": [],
                "unregistered_frameworks": [],
            }

    def _state_task(self, task: _Task) -> dict[str, Any]:
        return {
            "id": task.id,
            "name": task.name,
            "framework_id": task.framework_id,
            "executor_id": "",
            "slave_id": task.agent_id,
            "state": task.state,
            "resources": task.resources.summary(),
            "statuses": [
                {"state": s["state"], "timestamp": s["timestamp"], **({"message": s["message"]} if "message" in s else {})}
                for s in task.statuses
            ],
            "sandbox": str(task.sandbox.parent / "latest"),
        }

    def agent_state(self, agent_id: str) -> dict[str, Any] | None:
        """The agent ``/state`` shape for one agent, with each executor's sandbox directory."""
        with self._lock:
            agent = self._agents.get(agent_id)
            if agent is None:
                return None
            by_fw: dict[str, dict[str, Any]] = {}

            def entry(task: _Task) -> dict[str, Any]:
                fw_entry = by_fw.setdefault(
                    task.framework_id,
                    {"id": task.framework_id, "executors": [], "completed_executors": []},
                )
                fw = self._frameworks.get(task.framework_id)
                fw_entry["name"] = fw.info.get("name") if fw is not None else ""
                return fw_entry

            def executor(task: _Task) -> dict[str, Any]:
                return {
                    "id": task.id,
                    "name": f"Command Executor (Task: {task.id})",
                    "source": task.id,
                    "container": task.container_id,
                    "directory": str(task.sandbox),
                    "resources": task.resources.summary(),
                    "tasks": [] if task.terminal else [self._state_task(task)],
                    "completed_tasks": [self._state_task(task)] if task.terminal else [],
                }

            for fw in self._frameworks.values():
                for task in fw.tasks.values():
                    if task.agent_id == agent_id:
                        key = "completed_executors" if task.terminal else "executors"
                        entry(task)[key].append(executor(task))
            for task in self._completed:
                if task.agent_id == agent_id:
                    entry(task)["completed_executors"].append(executor(task))
            return {
                "id": agent.id,
                "pid": f"slave({agent.id})@{self.advertised_ip}:{self.port}",
                "hostname": agent.spec.hostname,
                "version": MESOS_VERSION,
                "resources": agent.total.summary(),
                "attributes": dict(agent.spec.attributes),
                "master_hostname": self.advertised_host,
                "frameworks": list(by_fw.values()),
                "completed_frameworks": [],
            }

    # -- scheduler call handling ------------------------------------------------------

    def _subscribe(self, call: dict[str, Any]) -> _Stream:
        """Handle SUBSCRIBE; returns the new stream with its first events queued."""
        info = dict(call["subscribe"]["framework_info"])
        fid = (info.get("id") or {}).get("value")
        call_fid = (call.get("framework_id") or {}).get("value")
        if call_fid is not None and call_fid != fid:
            raise _CallError(
                HTTPStatus.BAD_REQUEST,
                "Failed to validate scheduler::Call: 'framework_id' differs from "
                "'subscribe.framework_info.id'",
            )
        failover = info.get("failover_timeout")
        if failover is not None and (not math.isfinite(float(failover)) or float(failover) < 0):
            raise _CallError(HTTPStatus.BAD_REQUEST, "framework_info.failover_timeout must be a non-negative number")
        with self._lock:
            now = time.monotonic()
            if fid is not None and fid in self._removed_frameworks:
                # Mesos answers with an ERROR event on the new stream and closes it.
                stream = _Stream(str(fid))
                stream.send({"type": "ERROR", "error": {"message": "Framework has been removed"}})
                stream.close()
                return stream
            fw = self._frameworks.get(fid) if fid is not None else None
            rescinded: list[_Offer] = []
            if fw is None:
                if fid is None:
                    new_id = f"{self._master_id}-{self._framework_seq:04d}"
                    self._framework_seq += 1
                    log.info("framework %s (%s) registered", new_id, info.get("name"))
                else:
                    # A FrameworkID we never assigned: after a master failover frameworks
                    # re-register with their old id, so Mesos accepts it.
                    new_id = str(fid)
                    log.info("framework %s (%s) re-registered with an unknown id", new_id, info.get("name"))
                info["id"] = _id(new_id)
                fw = _Framework(id=new_id, info=info, registered_time=time.time())
                self._frameworks[new_id] = fw
            else:
                info["id"] = _id(fw.id)
                fw.info = info
                fw.failover_deadline = None
                fw.unregistered_time = None
                if fw.stream is not None:
                    old, fw.stream = fw.stream, None
                    old.send({"type": "ERROR", "error": {"message": "Framework failed over"}})
                    old.close()
                rescinded = [o for o in self._offers.values() if o.framework_id == fid]
                log.info("framework %s (%s) re-subscribed (failover)", fid, info.get("name"))
            stream = _Stream(fw.id)
            fw.stream = stream
            fw.suppressed = bool(call["subscribe"].get("suppressed_roles"))
            stream.send(
                {
                    "type": "SUBSCRIBED",
                    "subscribed": {
                        "framework_id": _id(fw.id),
                        "heartbeat_interval_seconds": self.heartbeat_interval,
                        "master_info": self.master_info(),
                    },
                }
            )
            fw.next_heartbeat = now
            self._heartbeat(fw, now)
            for offer in rescinded:
                self._rescind(offer)
            for task in fw.tasks.values():
                if task.pending:
                    task.backoff = self.status_update_retry
                    self._send_pending_head(fw, task, now)
            self._wake_allocation()
            return stream

    def _handle_call(self, call: dict[str, Any], stream_id: str | None) -> None:
        """Every call but SUBSCRIBE: check the sender, then dispatch (202 on return)."""
        call_type = call["type"]
        fid = call["framework_id"]["value"]
        with self._lock:
            if stream_id is None:
                raise _CallError(
                    HTTPStatus.BAD_REQUEST, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
                )
            fw = self._frameworks.get(fid)
            if fw is None or not fw.connected:
                raise _CallError(HTTPStatus.FORBIDDEN, f"Framework '{fid}' is not subscribed")
            assert fw.stream is not None
            if stream_id != fw.stream.id:
                raise _CallError(
                    HTTPStatus.BAD_REQUEST,
                    f"The stream ID '{stream_id}' included in this request didn't match the stream ID "
                    f"currently associated with framework ID {fid}",
                )
            handler = {
                "TEARDOWN": self._teardown,
                "ACCEPT": self._accept,
                "DECLINE": self._decline,
                "REVIVE": self._revive,
                "SUPPRESS": self._suppress,
                "KILL": self._kill,
                "SHUTDOWN": self._shutdown_executor,
                "ACKNOWLEDGE": self._acknowledge,
                "RECONCILE": self._reconcile,
                "UPDATE_FRAMEWORK": self._update_framework,
            }.get(call_type)
            if handler is None:
                # MESSAGE, REQUEST, inverse offers, operation feedback: accepted and ignored
                # (no custom executors, no inverse offers, no operations but LAUNCH here).
                log.debug("framework %s: %s call accepted and ignored", fid, call_type)
                return
            handler(fw, call)

    def _teardown(self, fw: _Framework, call: dict[str, Any]) -> None:
        log.info("framework %s torn down", fw.id)
        self._remove_framework(fw, "Framework torn down")

    def _update_framework(self, fw: _Framework, call: dict[str, Any]) -> None:
        info = call["update_framework"].get("framework_info")
        if isinstance(info, dict):
            try:
                proto.validate_message(info, "FrameworkInfo", "call.update_framework.framework_info")
            except proto.ProtoError as exc:
                raise _CallError(HTTPStatus.BAD_REQUEST, f"Failed to validate scheduler::Call: {exc}") from exc
            fw.info = {**info, "id": _id(fw.id)}

    def _accept(self, fw: _Framework, call: dict[str, Any]) -> None:
        accept = call["accept"]
        offer_ids = [o["value"] for o in accept.get("offer_ids") or []]
        operations = accept.get("operations") or []
        for index, operation in enumerate(operations):
            if operation["type"] != "LAUNCH":
                raise _CallError(
                    HTTPStatus.BAD_REQUEST,
                    f"call.accept.operations[{index}].type: operation {operation['type']} is not "
                    "supported by the local master (only LAUNCH)",
                )
        task_infos = [ti for op in operations for ti in op["launch"].get("task_infos") or []]
        # What arrived (task_ids) and what it started (launched: not on invalid offers).
        record: dict[str, Any] = {
            "time": time.time(),
            "received": getattr(self._arrival, "at", None),  # before waiting for the master's lock
            "framework_id": fw.id,
            "stream_id": fw.stream.id if fw.stream is not None else None,
            "offer_ids": offer_ids,
            "task_ids": [ti["task_id"]["value"] for ti in task_infos],
            "launched": [],
        }
        self.accepted_calls.append(record)
        refuse = self._refuse_seconds(accept.get("filters"))

        # Offer validation: all offers outstanding, ours, distinct and on one agent.
        error = None
        offers: list[_Offer] = []
        if not offer_ids:
            error = "No offers specified"
        elif len(set(offer_ids)) != len(offer_ids):
            error = "Duplicate offers specified"
        for offer_id in offer_ids:
            offer = self._offers.get(offer_id)
            if offer is None or offer.framework_id != fw.id:
                error = error or f"Offer {offer_id} is no longer valid"
            else:
                offers.append(offer)
        if offers and len({o.agent_id for o in offers}) > 1:
            error = error or "Aggregated offers must belong to one single agent"
        if error is not None:
            for offer in offers:
                self._offers.pop(offer.id, None)
            self._wake_allocation()
            state = "TASK_DROPPED" if fw.partition_aware else "TASK_LOST"
            for ti in task_infos:
                self._master_update(
                    fw,
                    ti["task_id"]["value"],
                    state,
                    "REASON_INVALID_OFFERS",
                    f"Task launched with invalid offers: {error}",
                    agent_id=(ti.get("agent_id") or {}).get("value"),
                )
            log.info("framework %s: ACCEPT with invalid offers: %s", fw.id, error)
            return

        agent_id = offers[0].agent_id
        agent = self._agents[agent_id]
        available = sum((o.resources for o in offers), Resources())
        for offer in offers:
            del self._offers[offer.id]
        launching: set[str] = set()
        for ti in task_infos:
            task_id = ti["task_id"]["value"]
            try:
                resources = self._validate_task(fw, ti, agent_id, available, launching)
            except ValueError as exc:
                self._master_update(
                    fw, task_id, "TASK_ERROR", "REASON_TASK_INVALID", str(exc), agent_id=agent_id
                )
                continue
            available = available - resources
            launching.add(task_id)
            self._launch(fw, agent, ti, resources)
            record["launched"].append(task_id)
        if not available.empty and refuse > 0:
            fw.filters.append(_Filter(agent_id, available, time.monotonic() + refuse))
        self._wake_allocation()

    def _validate_task(
        self,
        fw: _Framework,
        ti: Mapping[str, Any],
        agent_id: str,
        available: Resources,
        launching: set[str],
    ) -> Resources:
        """The checks a master makes before sending a task to its agent (TASK_ERROR)."""
        task_id = ti["task_id"]["value"]
        if not task_id or not re.fullmatch(r"[^/\x00]+", task_id) or task_id in (".", ".."):
            raise ValueError(f"Task ID '{task_id}' is invalid: it must be non-empty, without '/' or NUL")
        if task_id in launching or task_id in fw.tasks:
            raise ValueError(f"Task has duplicate ID: {task_id}")
        if ti["agent_id"]["value"] != agent_id:
            raise ValueError(
                f"Task uses agent ID {ti['agent_id']['value']} which does not match offered agent {agent_id}"
            )
        if ti.get("executor") is not None:
            raise ValueError("Custom executors are not supported by the local master; use 'command'")
        command = ti.get("command")
        if command is None:
            raise ValueError("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
        if not command.get("value"):
            raise ValueError("'command.value' is required (the shell command, or the executable if 'shell' is false)")
        try:
            resources = Resources.from_json(ti.get("resources") or [])
        except ValueError as exc:
            raise ValueError(f"Task uses invalid resources: {exc}") from exc
        if not available.contains(resources):
            raise ValueError(f"Task uses more resources {resources} than available {available}")
        return resources

    def _decline(self, fw: _Framework, call: dict[str, Any]) -> None:
        decline = call["decline"]
        refuse = self._refuse_seconds(decline.get("filters"))
        for offer_id in (o["value"] for o in decline.get("offer_ids") or []):
            offer = self._offers.get(offer_id)
            if offer is None or offer.framework_id != fw.id:
                continue
            del self._offers[offer_id]
            if refuse > 0:
                fw.filters.append(_Filter(offer.agent_id, offer.resources, time.monotonic() + refuse))
        self._wake_allocation()

    def _refuse_seconds(self, filters: Mapping[str, Any] | None) -> float:
        value = (filters or {}).get("refuse_seconds")
        if value is None:
            return self.offer_refuse_default
        value = float(value)
        # Mesos caps absurd values at 365 days and treats negatives as the default.
        if not math.isfinite(value) or value < 0:
            return self.offer_refuse_default
        return min(value, 365 * 24 * 3600.0)

    def _revive(self, fw: _Framework, call: dict[str, Any]) -> None:
        fw.filters.clear()
        fw.suppressed = False
        self._wake_allocation()

    def _suppress(self, fw: _Framework, call: dict[str, Any]) -> None:
        # Outstanding offers stay valid (Mesos does not rescind them on SUPPRESS).
        fw.suppressed = True

    def _kill(self, fw: _Framework, call: dict[str, Any]) -> None:
        kill = call["kill"]
        task_id = kill["task_id"]["value"]
        task = fw.tasks.get(task_id)
        if task is None:
            # Mesos: an unknown task is reconciled, so the scheduler learns its fate.
            agent_id = (kill.get("agent_id") or {}).get("value")
            self._reconcile_one(fw, task_id, agent_id)
            return
        override = kill.get("kill_policy")
        self._kill_task(task, self._grace_period(override) if override is not None else None)

    def _shutdown_executor(self, fw: _Framework, call: dict[str, Any]) -> None:
        # A command task's executor id is its task id: shutting it down kills the task.
        task = fw.tasks.get(call["shutdown"]["executor_id"]["value"])
        if task is not None:
            self._kill_task(task, None)

    def _grace_period(self, kill_policy: Mapping[str, Any] | None) -> float:
        grace = ((kill_policy or {}).get("grace_period") or {}).get("nanoseconds")
        if grace is None:
            return self.kill_grace_default
        return max(0.0, int(grace) / 1e9)

    def _acknowledge(self, fw: _Framework, call: dict[str, Any]) -> None:
        ack = call["acknowledge"]
        task = fw.tasks.get(ack["task_id"]["value"])
        uuid_bytes = proto.decode_bytes(ack["uuid"])
        if task is None or not task.pending:
            return
        head = task.pending[0]
        if proto.decode_bytes(head["uuid"]) != uuid_bytes:
            log.debug("framework %s: ignoring acknowledgement of unknown update for %s", fw.id, task.id)
            return
        task.pending.popleft()
        if task.pending:
            task.backoff = self.status_update_retry
            self._send_pending_head(fw, task, time.monotonic())
        else:
            self._unacked.discard(task)
            if task.terminal:
                self._complete(fw, task)

    def _reconcile(self, fw: _Framework, call: dict[str, Any]) -> None:
        tasks = call["reconcile"].get("tasks") or []
        if not tasks:
            for task in fw.tasks.values():
                self._send_reconciliation(fw, task.id, task.state, task.agent_id, "Reconciliation: Latest task state")
            return
        for entry in tasks:
            self._reconcile_one(fw, entry["task_id"]["value"], (entry.get("agent_id") or {}).get("value"))

    def _reconcile_one(self, fw: _Framework, task_id: str, agent_id: str | None) -> None:
        task = fw.tasks.get(task_id)
        if task is not None:
            self._send_reconciliation(fw, task_id, task.state, task.agent_id, "Reconciliation: Latest task state")
            return
        gone_agent = fw.gone_tasks.get(task_id)
        if gone_agent is None and agent_id is not None and agent_id in self._gone_agents:
            gone_agent = agent_id
        if gone_agent is not None:
            state = "TASK_GONE" if fw.partition_aware else "TASK_LOST"
            self._send_reconciliation(fw, task_id, state, gone_agent, "Reconciliation: Task is gone with its agent")
            return
        state = "TASK_UNKNOWN" if fw.partition_aware else "TASK_LOST"
        self._send_reconciliation(fw, task_id, state, agent_id, "Reconciliation: Task is unknown")

    def _send_reconciliation(
        self, fw: _Framework, task_id: str, state: str, agent_id: str | None, message: str
    ) -> None:
        status = self._status(
            task_id, state, source="SOURCE_MASTER", reason="REASON_RECONCILIATION", message=message, agent_id=agent_id
        )
        self._send(fw, {"type": "UPDATE", "update": {"status": status}})

    # -- status updates -----------------------------------------------------------------

    @staticmethod
    def _status(
        task_id: str,
        state: str,
        *,
        source: str,
        reason: str | None = None,
        message: str | None = None,
        agent_id: str | None = None,
        executor_id: str | None = None,
        uuid_bytes: bytes | None = None,
        container_id: str | None = None,
        executor_pid: int | None = None,
    ) -> dict[str, Any]:
        status: dict[str, Any] = {"task_id": _id(task_id), "state": state, "source": source}
        if reason is not None:
            status["reason"] = reason
        if message is not None:
            status["message"] = message
        if agent_id is not None:
            status["agent_id"] = _id(agent_id)
        if executor_id is not None:
            status["executor_id"] = _id(executor_id)
        status["timestamp"] = time.time()
        if uuid_bytes is not None:
            status["uuid"] = _b64(uuid_bytes)
        if container_id is not None:
            container: dict[str, Any] = {"container_id": _id(container_id)}
            if executor_pid is not None:
                container["executor_pid"] = executor_pid
            status["container_status"] = container
        return status

    def _master_update(
        self,
        fw: _Framework,
        task_id: str,
        state: str,
        reason: str,
        message: str,
        *,
        agent_id: str | None,
    ) -> None:
        """An update the master makes up itself: no uuid, no acknowledgement, no retry."""
        status = self._status(task_id, state, source="SOURCE_MASTER", reason=reason, message=message, agent_id=agent_id)
        log.info("task %s of framework %s: %s (%s)", task_id, fw.id, state, message)
        self._send(fw, {"type": "UPDATE", "update": {"status": status}})

    def _agent_update(
        self,
        task: _Task,
        state: str,
        *,
        source: str = "SOURCE_EXECUTOR",
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        """A reliable update from the agent: carries a uuid, retried until acknowledged.

        Updates of one task are delivered in order: a new one waits in ``task.pending``
        until every earlier one is acknowledged, as the agent's status update manager does.
        """
        with self._lock:
            fw = self._frameworks.get(task.framework_id)
            if task.removed or fw is None or task.terminal:
                return
            task.state = state
            pid = task.process.pid if task.process is not None else None
            status = self._status(
                task.id,
                state,
                source=source,
                reason=reason,
                message=message,
                agent_id=task.agent_id,
                executor_id=task.id,
                uuid_bytes=uuid.uuid4().bytes,
                container_id=task.container_id,
                executor_pid=pid,
            )
            task.statuses.append(status)
            task.pending.append(status)
            log.log(
                logging.INFO if state in TERMINAL_STATES else logging.DEBUG,
                "task %s of framework %s: %s%s",
                task.id,
                fw.id,
                state,
                f" ({message})" if message else "",
            )
            if len(task.pending) == 1:
                task.backoff = self.status_update_retry
                self._send_pending_head(fw, task, time.monotonic())
            self._unacked.add(task)
            if task.terminal:
                self._release(task)
                self._wake_allocation()

    def _send_pending_head(self, fw: _Framework, task: _Task, now: float) -> None:
        task.next_retry = now + task.backoff
        if fw.connected and task.pending:
            self._send(fw, {"type": "UPDATE", "update": {"status": task.pending[0]}})

    def _complete(self, fw: _Framework, task: _Task) -> None:
        """A terminal task whose updates were all acknowledged leaves the active set."""
        fw.tasks.pop(task.id, None)
        self._completed.append(task)

    # -- launching and running tasks ----------------------------------------------------

    def _launch(self, fw: _Framework, agent: _Agent, ti: dict[str, Any], resources: Resources) -> None:
        task_id = ti["task_id"]["value"]
        container_id = str(uuid.uuid4())
        sandbox = (
            self.work_dir / "agents" / agent.id / "frameworks" / fw.id / "executors" / task_id / "runs" / container_id
        )
        task = _Task(
            id=task_id,
            framework_id=fw.id,
            agent_id=agent.id,
            info=ti,
            resources=resources,
            sandbox=sandbox,
            container_id=container_id,
            launched=time.monotonic(),
        )
        agent.used = agent.used + resources
        fw.tasks[task_id] = task
        self._all_tasks.append(task)
        if not self.run_tasks:
            return
        task.thread = threading.Thread(
            target=self._run_task, args=(task,), name=f"moroccron-local-task-{task_id}", daemon=True
        )
        log.info("launching task %s of framework %s on agent %s (%s)", task_id, fw.id, agent.id, resources)
        task.thread.start()

    def _run_task(self, task: _Task) -> None:
        """Runner thread: what the agent and the command executor do for one task."""
        try:
            command = self._prepare(task)
        except _LaunchFailure as exc:
            self._agent_update(task, "TASK_FAILED", source="SOURCE_AGENT", reason=exc.reason, message=exc.message)
            return
        except Exception as exc:  # a bug or an OS error: still tell the framework
            log.exception("preparing task %s failed", task.id)
            self._agent_update(
                task,
                "TASK_FAILED",
                source="SOURCE_AGENT",
                reason="REASON_CONTAINER_LAUNCH_FAILED",
                message=f"Failed to launch container: {exc}",
            )
            return
        # The command executor reports TASK_STARTING before it forks the command.
        self._agent_update(task, "TASK_STARTING")
        with self._lock:
            if task.removed:
                return
            if task.kill_requested:
                self._agent_update(
                    task,
                    "TASK_KILLED",
                    source="SOURCE_AGENT",
                    reason="REASON_TASK_KILLED_DURING_LAUNCH",
                    message="Task killed before it was launched",
                )
                return
        try:
            with open(command.cwd / "stdout", "ab") as out, open(command.cwd / "stderr", "ab") as err:
                kwargs: dict[str, Any] = {}
                if command.user is not None:
                    user = command.user
                    kwargs.update(
                        user=user.pw_uid,
                        group=user.pw_gid,
                        extra_groups=os.getgrouplist(user.pw_name, user.pw_gid),
                    )
                process = subprocess.Popen(
                    command.argv,
                    executable=command.executable,
                    cwd=command.cwd,
                    env=command.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    close_fds=True,
                    **kwargs,
                )
        except OSError as exc:
            self._agent_update(
                task,
                "TASK_FAILED",
                reason="REASON_COMMAND_EXECUTOR_FAILED",
                message=f"Failed to launch command {command.executable!r}: {exc.strerror or exc}",
            )
            return
        with self._lock:
            task.process = process
            if task.removed or self._stopping:
                self._signal(task, signal.SIGKILL)
            else:
                self._agent_update(task, "TASK_RUNNING")
                if task.kill_requested:  # the KILL arrived while the process was starting
                    self._begin_kill(task)
                max_time = (task.info.get("max_completion_time") or {}).get("nanoseconds")
                if max_time is not None:
                    task.completion_deadline = time.monotonic() + int(max_time) / 1e9
        returncode = process.wait()
        with self._lock:
            task.exit_code = returncode
            task.kill_deadline = None
            task.completion_deadline = None
            if task.removed:
                self._release(task)
                return
            if returncode >= 0:
                message = f"Command exited with status {returncode}"
            else:
                message = f"Command terminated with signal {_signal_name(-returncode)}"
            if task.completion_timed_out:
                self._agent_update(
                    task,
                    "TASK_FAILED",
                    reason="REASON_MAX_COMPLETION_TIME_REACHED",
                    message=f"Task exceeded its max completion time; {message}",
                )
            elif task.kill_requested:
                self._agent_update(task, "TASK_KILLED", message=message)
            elif returncode == 0:
                self._agent_update(task, "TASK_FINISHED", message=message)
            else:
                self._agent_update(task, "TASK_FAILED", message=message)

    def _prepare(self, task: _Task) -> _Command:
        """Make the sandbox, check the container, user and environment, fetch the URIs."""
        ti = task.info
        command: dict[str, Any] = ti["command"]
        sandbox = task.sandbox
        sandbox.mkdir(parents=True, exist_ok=True)
        latest = sandbox.parent / "latest"
        with contextlib.suppress(FileNotFoundError):
            latest.unlink()
        latest.symlink_to(sandbox.name)
        (sandbox / "stdout").touch()
        (sandbox / "stderr").touch()

        container = ti.get("container")
        if container is not None:
            self._check_container(container, sandbox)

        user = None
        wanted = command.get("user")
        current = pwd.getpwuid(os.geteuid()).pw_name
        if wanted and wanted != current:
            if os.geteuid() != 0:
                raise _LaunchFailure(
                    f"Failed to launch container: cannot run as user '{wanted}': the local "
                    f"master runs as '{current}' and can only switch users as root"
                )
            try:
                user = pwd.getpwnam(wanted)
            except KeyError:
                raise _LaunchFailure(
                    f"Failed to launch container: user '{wanted}' does not exist on this host"
                ) from None

        env = dict(os.environ)
        for variable in (command.get("environment") or {}).get("variables") or []:
            if variable.get("type") == "SECRET":
                raise _LaunchFailure(
                    f"Failed to launch container: secret environment variable '{variable['name']}' "
                    "is not supported by the local master"
                )
            env[variable["name"]] = variable.get("value", "")
        env.update(
            {
                "MESOS_TASK_ID": task.id,
                "MESOS_FRAMEWORK_ID": task.framework_id,
                "MESOS_EXECUTOR_ID": task.id,
                "MESOS_AGENT_ID": task.agent_id,
                "MESOS_SANDBOX": str(sandbox),
                "MESOS_DIRECTORY": str(sandbox),
                "MESOS_AGENT_ENDPOINT": f"{self.advertised_ip}:{self.port}",
                "MESOS_CONTAINER_ID": task.container_id,
            }
        )
        if user is not None:
            env.update({"USER": user.pw_name, "LOGNAME": user.pw_name, "HOME": user.pw_dir})

        try:
            for uri in command.get("uris") or []:
                _fetch_uri(uri, sandbox)
        except _LaunchFailure as exc:
            raise _LaunchFailure(f"Failed to launch container: Failed to fetch all URIs for container: {exc.message}") from None
        if user is not None:
            for path in [sandbox, *sandbox.rglob("*")]:
                with contextlib.suppress(OSError):
                    os.lchown(path, user.pw_uid, user.pw_gid)

        if command.get("shell", True):
            return _Command(["/bin/sh", "-c", command["value"]], "/bin/sh", env, user, sandbox)
        # As execvp(value, arguments): 'arguments' is the whole argv, argv[0] included
        # (mesos.proto CommandInfo); with no arguments the executable is its own argv[0].
        executable = command["value"]
        resolved = executable if "/" in executable else shutil.which(executable, path=env.get("PATH"))
        if resolved is None:
            raise _LaunchFailure(
                f"Failed to launch command: executable '{executable}' not found on PATH",
                "REASON_COMMAND_EXECUTOR_FAILED",
            )
        argv = list(command.get("arguments") or [executable])
        return _Command(argv, resolved, env, user, sandbox)

    def _check_container(self, container: Mapping[str, Any], sandbox: Path) -> None:
        kind = container["type"]
        if kind == "DOCKER":
            image = (container.get("docker") or {}).get("image", "")
            raise _LaunchFailure(
                "Failed to launch container: docker containerizer not available on the local master"
                + (f" (image '{image}')" if image else "")
            )
        image = (container.get("mesos") or {}).get("image")
        if image is not None:
            name = (image.get("docker") or {}).get("name") or image.get("type")
            raise _LaunchFailure(
                f"Failed to launch container: container images ('{name}') are not supported on the "
                "local master, which runs commands directly on the host"
            )
        for volume in container.get("volumes") or []:
            target = volume["container_path"]
            host_path = volume.get("host_path")
            if volume.get("image") is not None or volume.get("source") is not None or not host_path:
                raise _LaunchFailure(
                    f"Failed to launch container: volume '{target}': only host_path volumes are "
                    "supported by the local master"
                )
            if os.path.isabs(target):
                if os.path.realpath(target) == os.path.realpath(host_path):
                    continue
                raise _LaunchFailure(
                    f"Failed to launch container: volume '{target}': an absolute container_path "
                    "needs a mount namespace, which the local master does not create; use a path "
                    "relative to the sandbox"
                )
            if not os.path.exists(host_path):
                raise _LaunchFailure(f"Failed to launch container: volume host_path '{host_path}' does not exist")
            link = (sandbox / target).resolve()
            if not link.is_relative_to(sandbox.resolve()):
                raise _LaunchFailure(f"Failed to launch container: volume '{target}' escapes the sandbox")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(host_path)

    def _kill_task(self, task: _Task, grace: float | None) -> None:
        """KILL: SIGTERM the process group now, SIGKILL it when the grace period ends."""
        if task.terminal:
            return
        task.kill_requested = True
        if grace is not None:
            task.kill_grace = grace
        if task.process is not None:
            self._begin_kill(task)
        # else: the runner sees the flag before (or right after) starting the process.

    def _begin_kill(self, task: _Task) -> None:
        fw = self._frameworks.get(task.framework_id)
        if not task.killing_sent and fw is not None and "TASK_KILLING_STATE" in fw.capabilities:
            task.killing_sent = True
            self._agent_update(task, "TASK_KILLING")
        self._signal(task, signal.SIGTERM)
        grace = task.kill_grace if task.kill_grace is not None else self._grace_period(task.info.get("kill_policy"))
        deadline = time.monotonic() + grace
        task.kill_deadline = deadline if task.kill_deadline is None else min(task.kill_deadline, deadline)

    @staticmethod
    def _signal(task: _Task, sig: signal.Signals) -> None:
        process = task.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    def _release(self, task: _Task) -> None:
        if not task.holds_resources:
            return
        task.holds_resources = False
        agent = self._agents.get(task.agent_id)
        if agent is not None:
            agent.used = agent.used - task.resources

    def _forget_task(self, task: _Task, *, kill: bool) -> None:
        """Drop a task from the master (framework or agent gone); its process is killed."""
        fw = self._frameworks.get(task.framework_id)
        if fw is not None:
            fw.tasks.pop(task.id, None)
        task.removed = True
        task.pending.clear()
        self._unacked.discard(task)
        self._release(task)
        self._completed.append(task)
        if kill and task.process is not None and task.process.poll() is None:
            # Nobody is told about it any more; the scheduler thread SIGKILLs it after the grace.
            self._signal(task, signal.SIGTERM)
            task.kill_deadline = time.monotonic() + self._grace_period(task.info.get("kill_policy"))

    # -- frameworks and offers ----------------------------------------------------------

    def _remove_framework(self, fw: _Framework, message: str) -> None:
        for task in list(fw.tasks.values()):
            self._forget_task(task, kill=True)
        for offer in [o for o in self._offers.values() if o.framework_id == fw.id]:
            del self._offers[offer.id]
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

    def _rescind(self, offer: _Offer) -> None:
        self._offers.pop(offer.id, None)
        fw = self._frameworks.get(offer.framework_id)
        if fw is not None:
            self._send(fw, {"type": "RESCIND", "rescind": {"offer_id": _id(offer.id)}})

    def _register_agent(self, spec: AgentSpec) -> None:
        self._agents[spec.id] = _Agent(spec=spec, total=spec.resources(), registered_time=time.time())

    def _wake_allocation(self) -> None:
        self._allocate_now = True
        self._cond.notify_all()

    def _send(self, fw: _Framework, event: Mapping[str, Any]) -> None:
        if fw.stream is not None:
            fw.stream.send(event)

    def _heartbeat(self, fw: _Framework, now: float) -> None:
        if now < self._heartbeats_paused_until:
            fw.next_heartbeat = self._heartbeats_paused_until
            return
        self._send(fw, {"type": "HEARTBEAT"})
        fw.next_heartbeat = now + self.heartbeat_interval

    def _allocate(self, now: float) -> None:
        """Offer each agent's free resources to one eligible framework, round robin."""
        frameworks = [fw for fw in self._frameworks.values() if fw.connected and not fw.suppressed]
        if not frameworks:
            return
        outstanding: dict[str, Resources] = {}
        for offer in self._offers.values():
            outstanding[offer.agent_id] = outstanding.get(offer.agent_id, Resources()) + offer.resources
        batches: dict[str, list[dict[str, Any]]] = {}
        for agent in self._agents.values():
            free = agent.total - agent.used - outstanding.get(agent.id, Resources())
            if free.scalar("cpus") < _MIN_OFFER_CPUS and free.scalar("mem") < _MIN_OFFER_MEM:
                continue
            for step in range(len(frameworks)):
                fw = frameworks[(self._rr + step) % len(frameworks)]
                fw.filters = [f for f in fw.filters if f.expires > now]
                if any(f.agent_id == agent.id and f.resources.contains(free) for f in fw.filters):
                    continue
                if agent.total.scalar("gpus") > 0 and "GPU_RESOURCES" not in fw.capabilities:
                    continue  # Mesos keeps GPU agents for GPU-aware frameworks
                self._offer_seq += 1
                offer = _Offer(
                    id=f"{self._master_id}-O{self._offer_seq}",
                    framework_id=fw.id,
                    agent_id=agent.id,
                    resources=free,
                    created=now,
                )
                self._offers[offer.id] = offer
                batches.setdefault(fw.id, []).append(self._offer_json(offer, agent, fw))
                break
            self._rr += 1
        for fid, offers in batches.items():
            self._send(self._frameworks[fid], {"type": "OFFERS", "offers": {"offers": offers}})

    def _offer_json(self, offer: _Offer, agent: _Agent, fw: _Framework) -> dict[str, Any]:
        return {
            "id": _id(offer.id),
            "framework_id": _id(fw.id),
            "agent_id": _id(agent.id),
            "hostname": agent.spec.hostname,
            "url": {
                "scheme": "http",
                "address": {"hostname": self.advertised_host, "ip": self.advertised_ip, "port": self.port},
                "path": f"/agents/{agent.id}",
            },
            "resources": offer.resources.to_json(fw.role),
            "attributes": agent.spec.attributes_json(),
            "executor_ids": [],
            "allocation_info": {"role": fw.role},
        }

    # -- the scheduler thread -----------------------------------------------------------

    def _loop(self) -> None:
        """Heartbeats, failover and kill deadlines, update retries, allocation."""
        while True:
            with self._lock:
                if self._stopping:
                    return
                try:
                    self._tick(time.monotonic())
                except Exception:  # never let the master die silently
                    log.exception("local master scheduler loop failed")
                self._cond.wait(timeout=0.05)

    def _tick(self, now: float) -> None:
        for fw in list(self._frameworks.values()):
            if fw.connected and now >= fw.next_heartbeat:
                self._heartbeat(fw, now)
            if not fw.connected and fw.failover_deadline is not None and now >= fw.failover_deadline:
                log.info("framework %s did not re-subscribe within its failover timeout", fw.id)
                self._remove_framework(fw, "failover timeout expired")
        for task in list(self._unacked):
            owner = self._frameworks.get(task.framework_id)
            if owner is None or not task.pending:
                self._unacked.discard(task)
                continue
            if owner.connected and now >= task.next_retry:
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
            hosts, path = _parse_zk_url(self._zk_arg)
            client = KazooClient(hosts=hosts)
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
        contenders = sorted((c for c in children if c.startswith("json.info_")), key=lambda c: c.rsplit("_", 1)[1])
        leader: str | None = None
        if contenders:
            try:
                data, _ = self._zk_client.get(f"{self._zk_path}/{contenders[0]}")
                info = json.loads(data)
                address = info.get("address") or {}
                host = address.get("ip") or address.get("hostname") or info.get("hostname")
                leader = f"{host}:{address.get('port') or info.get('port')}"
            except Exception:  # the node vanished between the listing and the read
                log.debug("cannot read leading master node %s", contenders[0], exc_info=True)
        own = self._zk_node.rsplit("/", 1)[1] if self._zk_node else None
        with self._lock:
            self._zk_leader = None if (contenders and contenders[0] == own) else leader
        log.info("leading master: %s", "this one" if self._zk_leader is None else self._zk_leader)
        return True

    def _zk_unregister(self) -> None:
        client = self._zk_client
        if client is None:
            return
        self._zk_client = None
        if self._zk_node is not None:
            with contextlib.suppress(Exception):
                client.delete(self._zk_node)
        if self._zk_owned:
            with contextlib.suppress(Exception):
                client.stop()
                client.close()


def _signal_name(number: int) -> str:
    try:
        return signal.strsignal(number) or f"signal {number}"
    except ValueError:
        return f"signal {number}"


def _parse_zk_url(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "zk" or not parts.netloc or not parts.path.strip("/"):
        raise ValueError(f"invalid ZooKeeper URL {url!r}: expected zk://host:port[,host:port]/path")
    return parts.netloc.rsplit("@", 1)[-1], "/" + parts.path.strip("/")


# ---------------------------------------------------------------------------------------
# Fetcher
# ---------------------------------------------------------------------------------------

_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")


def _fetch_uri(uri: Mapping[str, Any], sandbox: Path) -> None:
    """Fetch one CommandInfo.URI into the sandbox, like the Mesos fetcher (no cache).

    ``file://`` URLs and plain paths are copied; ``http(s)://`` is downloaded only from
    loopback addresses (the local master must not reach out to the network on a job's
    behalf). ``executable`` makes the file executable; otherwise archives are extracted
    into the sandbox when ``extract`` is true (the default), keeping the archive.
    """
    value = uri["value"]
    parts = urllib.parse.urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        source = Path(urllib.parse.unquote(parts.path) if scheme == "file" else value)
        name = uri.get("output_file") or source.name
    elif scheme in ("http", "https"):
        host = parts.hostname or ""
        if not _is_loopback(host):
            raise _LaunchFailure(f"'{value}': the local master only fetches http(s) URIs from loopback hosts")
        source = None
        name = uri.get("output_file") or Path(urllib.parse.unquote(parts.path)).name or "index.html"
    else:
        raise _LaunchFailure(f"'{value}': unsupported URI scheme '{scheme}' (use file://, a path, or http(s)://)")
    destination = (sandbox / name).resolve()
    if not destination.is_relative_to(sandbox.resolve()) or destination == sandbox.resolve():
        raise _LaunchFailure(f"'{value}': output_file '{name}' is outside the sandbox")
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        if source is None:
            with urllib.request.urlopen(value, timeout=30) as response, open(destination, "wb") as out:
                shutil.copyfileobj(response, out)
        elif source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            shutil.copy2(source, destination)
    except (OSError, ValueError) as exc:
        raise _LaunchFailure(f"'{value}': {exc}") from None
    if uri.get("executable"):
        mode = destination.stat().st_mode
        destination.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    elif uri.get("extract", True) and destination.is_file() and destination.name.endswith(_ARCHIVE_SUFFIXES):
        _extract(destination, sandbox)


def _extract(archive: Path, into: Path) -> None:
    root = into.resolve()
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:
                for member in zipped.namelist():
                    if not (root / member).resolve().is_relative_to(root):
                        raise _LaunchFailure(f"'{archive.name}': member '{member}' escapes the sandbox")
                zipped.extractall(root)
        else:
            with tarfile.open(archive) as tarred:
                if hasattr(tarfile, "data_filter"):
                    tarred.extractall(root, filter="data")
                else:  # pragma: no cover - Python < 3.11.4
                    for info in tarred.getmembers():
                        if not (root / info.name).resolve().is_relative_to(root):
                            raise _LaunchFailure(f"'{archive.name}': member '{info.name}' escapes the sandbox")
                    tarred.extractall(root)
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise _LaunchFailure(f"'{archive.name}': cannot extract: {exc}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    """Routes every endpoint of the master, the agents and the test controls."""

    master: ClassVar[LocalMaster]
    protocol_version = "HTTP/1.1"
    server_version = "moroccron-local-mesos"

    def setup(self) -> None:
        super().setup()
        thread = threading.current_thread()
        thread.name = "moroccron-local-conn"
        with self.master._connections_lock:
            self.master._connections[self.connection] = thread

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.master._connections_lock:
            self.master._connections.pop(self.connection, None)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        log.debug("%s %s", self.address_string(), format % args)

    # -- plumbing -----------------------------------------------------------------------

    def _reply(
        self,
        status: int,
        body: bytes | str | Mapping[str, Any] | list[Any] = b"",
        *,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode("utf-8")
            content_type = content_type or "application/json"
        elif isinstance(body, str):
            data = body.encode("utf-8")
            content_type = content_type or "text/plain; charset=utf-8"
        else:
            data = bytes(body)  # type: ignore[arg-type]
        self.send_response(status)
        if content_type and data:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > _MAX_BODY:
                    raise _CallError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise _CallError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> Any:
        body = self._read_body()
        if not body.strip():
            return {}
        try:
            return json.loads(body)
        except ValueError as exc:
            raise _CallError(HTTPStatus.BAD_REQUEST, f"Failed to parse body into JSON: {exc}") from None

    def _query(self) -> dict[str, str]:
        query = urllib.parse.urlsplit(self.path).query
        return {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}

    def _route(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).rstrip("/") or "/"

    # -- methods -------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        try:
            self._get()
        except _CallError as exc:
            self._reply(exc.status, exc.message + "\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            log.exception("GET %s failed", self.path)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {exc}\n")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802
        try:
            self._post()
        except _CallError as exc:
            if exc.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
                self.close_connection = True  # the unread body would be taken for a request
            self._reply(exc.status, exc.message + "\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            log.exception("POST %s failed", self.path)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {exc}\n")

    def _not_allowed(self) -> None:
        self._read_body()
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed\n", headers={"Allow": "GET, POST"})

    do_PUT = do_DELETE = do_PATCH = _not_allowed

    def _get(self) -> None:
        master = self.master
        route = self._route()
        if route == "/version":
            self._reply(
                200,
                {
                    "version": MESOS_VERSION,
                    "build_date": "",
                    "build_time": 0,
                    "build_user": "moroccron",
                    "git_sha": "",
                },
            )
        elif route in ("/health", "/master/health"):
            self._reply(200)
        elif route in ("/master/state", "/state", "/master/state.json", "/state.json"):
            self._reply(200, master.state())
        elif route == "/master/redirect":
            leader = master.leader or master.address
            self._reply(HTTPStatus.TEMPORARY_REDIRECT, headers={"Location": f"//{leader}/master"})
        elif route.startswith(("/agents/", "/slave(")) and route.endswith("/state"):
            # /slave(<id>)/state is how a real agent's libprocess id addresses it (its pid)
            agent_id = (route[len("/agents/") : -len("/state")] if route.startswith("/agents/")
                        else route[len("/slave(") : -len(")/state")])
            state = master.agent_state(agent_id)
            if state is None:
                self._reply(404, f"No agent '{agent_id}'\n")
            else:
                self._reply(200, state)
        elif route in ("/files/read", "/files/read.json"):
            self._files_read()
        elif route in ("/files/browse", "/files/browse.json"):
            self._files_browse()
        elif route == "/files/download":
            self._files_download()
        elif route == "/__local__/tasks":
            self._reply(200, master.tasks())
        elif route == "/__local__/frameworks":
            self._reply(200, master.frameworks())
        elif route == "/__local__/agents":
            self._reply(200, master.agents())
        elif route == "/__local__/offers":
            self._reply(200, master.offers())
        elif route == "/__local__/accepted-calls":
            self._reply(200, list(master.accepted_calls))
        elif route == "/api/v1/scheduler":
            self._reply(HTTPStatus.METHOD_NOT_ALLOWED, "Expecting a 'POST' request\n", headers={"Allow": "POST"})
        else:
            self._reply(404, f"No endpoint {route}\n")

    def _post(self) -> None:
        route = self._route()
        if route == "/api/v1/scheduler":
            self._scheduler()
            return
        master = self.master
        if route == "/__local__/agents":
            data = self._json_body()
            try:
                spec = AgentSpec.from_json(data)
                master.add_agent(spec)
            except (ValueError, TypeError) as exc:
                raise _CallError(HTTPStatus.BAD_REQUEST, str(exc)) from None
            self._reply(200, {"agent_id": spec.id})
        elif route.startswith("/__local__/agents/") and route.endswith("/kill"):
            data = self._json_body()
            agent_id = route[len("/__local__/agents/") : -len("/kill")]
            try:
                master.kill_agent(agent_id, task_state=data.get("task_state"))
            except KeyError:
                raise _CallError(HTTPStatus.NOT_FOUND, f"No agent '{agent_id}'") from None
            self._reply(200, {"agent_id": agent_id})
        elif route == "/__local__/restart":
            self._read_body()
            master.restart_master()
            self._reply(200, {"master_id": master.master_id})
        elif route.startswith("/__local__/frameworks/") and route.endswith("/remove"):
            data = self._json_body()
            framework_id = route[len("/__local__/frameworks/") : -len("/remove")]
            try:
                master.remove_framework(framework_id, data.get("message"))
            except KeyError:
                raise _CallError(HTTPStatus.NOT_FOUND, f"No framework '{framework_id}'") from None
            self._reply(200, {"framework_id": framework_id})
        elif route == "/__local__/drop-streams":
            self._read_body()
            master.drop_streams()
            self._reply(200, {})
        elif route == "/__local__/pause-heartbeats":
            data = self._json_body()
            try:
                seconds = float(data["seconds"])
            except (KeyError, TypeError, ValueError):
                raise _CallError(HTTPStatus.BAD_REQUEST, "expected {\"seconds\": N}") from None
            master.pause_heartbeats(seconds)
            self._reply(200, {})
        else:
            self._read_body()
            self._reply(404, f"No endpoint {route}\n")

    # -- the scheduler API --------------------------------------------------------------

    def handle_one_request(self) -> None:
        # The request line is the first thing read once a request's bytes are here: its
        # time is the request's arrival (before the headers, the body and the lock).
        self.arrived = None
        super().handle_one_request()

    def parse_request(self) -> bool:
        self.arrived = time.time()
        return super().parse_request()

    def _scheduler(self) -> None:
        arrived = getattr(self, "arrived", None) or time.time()
        master = self.master
        leader = master.leader
        if leader is not None:
            self._read_body()
            self._reply(
                HTTPStatus.TEMPORARY_REDIRECT,
                f"This master is not the leader; the leader is {leader}\n",
                headers={"Location": f"//{leader}/api/v1/scheduler"},
            )
            return
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            self._read_body()
            raise _CallError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Unsupported Content-Type '{content_type}'; the local master speaks only 'application/json'",
            )
        accept = self.headers.get("Accept", "").lower()
        if accept and not any(
            a.split(";", 1)[0].strip() in ("application/json", "*/*", "application/*") for a in accept.split(",")
        ):
            self._read_body()
            raise _CallError(HTTPStatus.NOT_ACCEPTABLE, "The local master only answers 'application/json'")
        call = self._json_body()
        try:
            proto.validate_call(call)
        except proto.ProtoError as exc:
            raise _CallError(HTTPStatus.BAD_REQUEST, f"Failed to validate scheduler::Call: {exc}") from None
        if call["type"] == "SUBSCRIBE":
            self._serve_stream(master._subscribe(call))
            return
        master._arrival.at = arrived
        master._handle_call(call, self.headers.get("Mesos-Stream-Id"))
        self._reply(HTTPStatus.ACCEPTED)

    def _serve_stream(self, stream: _Stream) -> None:
        master = self.master
        threading.current_thread().name = "moroccron-local-stream"
        stream.sock = self.connection
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Mesos-Stream-Id", stream.id)
            self.end_headers()
            self.wfile.flush()
            graceful = self._pump(stream)
            if graceful:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except OSError:
            pass
        finally:
            master._on_stream_end(stream)

    def _pump(self, stream: _Stream) -> bool:
        """Write queued records as chunks until the stream ends; True if it ended cleanly."""
        while True:
            try:
                item = stream.queue.get(timeout=0.2)
            except queue.Empty:
                if self._peer_closed():
                    return False
                continue
            if isinstance(item, _Close):
                return not item.abrupt
            self.wfile.write(b"%x\r\n%s\r\n" % (len(item), item))

    def _peer_closed(self) -> bool:
        """The client hung up (readable socket with nothing to read means EOF)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except OSError:
            return True

    # -- the agents' files API ----------------------------------------------------------

    def _file_path(self, must_exist: bool = True) -> Path:
        raw = self._query().get("path")
        if not raw:
            raise _CallError(HTTPStatus.BAD_REQUEST, "Expecting 'path' query parameter")
        root = self.master.work_dir.resolve()
        path = Path(raw)
        resolved = (path if path.is_absolute() else root / path).resolve()
        if not resolved.is_relative_to(root):
            raise _CallError(HTTPStatus.BAD_REQUEST, f"Path '{raw}' is outside the agents' work directory")
        if must_exist and not resolved.exists():
            raise _CallError(HTTPStatus.NOT_FOUND, f"File '{raw}' not found")
        return resolved

    def _files_read(self) -> None:
        path = self._file_path()
        if path.is_dir():
            raise _CallError(HTTPStatus.BAD_REQUEST, "Cannot read a directory")
        query = self._query()
        try:
            offset = int(query.get("offset", "0") or 0)
            length = int(query["length"]) if query.get("length") not in (None, "") else None
        except ValueError:
            raise _CallError(HTTPStatus.BAD_REQUEST, "'offset' and 'length' must be integers") from None
        if length is not None and length < 0:
            raise _CallError(HTTPStatus.BAD_REQUEST, "Negative length provided")
        size = path.stat().st_size
        if offset == -1:
            self._reply(200, {"data": "", "offset": size})
            return
        if offset < 0:
            raise _CallError(HTTPStatus.BAD_REQUEST, "Negative offset provided")
        if offset >= size:
            self._reply(200, {"data": "", "offset": offset})
            return
        count = min(size - offset, _MAX_FILE_READ if length is None else min(length, _MAX_FILE_READ))
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(count)
        self._reply(200, {"data": _utf8_prefix(data).decode("utf-8", "replace"), "offset": offset})

    def _files_browse(self) -> None:
        path = self._file_path()
        if not path.is_dir():
            raise _CallError(HTTPStatus.BAD_REQUEST, f"'{path}' is not a directory")
        entries = []
        for child in sorted(path.iterdir()):
            try:
                info = child.stat()
            except OSError:
                continue
            entries.append(
                {
                    "path": str(child),
                    "size": info.st_size,
                    "mode": stat.filemode(info.st_mode),
                    "mtime": info.st_mtime,
                    "nlink": info.st_nlink,
                    "uid": _user_name(info.st_uid),
                    "gid": str(info.st_gid),
                }
            )
        self._reply(200, entries)

    def _files_download(self) -> None:
        path = self._file_path()
        if path.is_dir():
            raise _CallError(HTTPStatus.BAD_REQUEST, "Cannot download a directory")
        data = path.read_bytes()[:_MAX_BODY]
        self._reply(
            200,
            data,
            content_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
        )


def _utf8_prefix(data: bytes) -> bytes:
    """Drop a multi-byte UTF-8 character cut by the end of a read.

    ``/files/read`` returns text, and offsets count bytes: a client reads the next chunk
    at ``offset + len(data.encode())``, which only works if no character was cut in half.
    """
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0b1100_0000 == 0b1000_0000:
            continue  # continuation byte: keep looking for the lead byte
        if byte & 0b1000_0000 == 0:
            return data  # ASCII: nothing cut
        needed = 2 if byte >= 0b1100_0000 else 1
        needed = 3 if byte >= 0b1110_0000 else needed
        needed = 4 if byte >= 0b1111_0000 else needed
        return data if back >= needed else data[:-back]
    return data


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    try:
        return host, int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port in {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moroccron local-mesos",
        description="Run a local Mesos master with agents that run tasks as local processes.",
    )
    parser.add_argument("--bind", type=_host_port, default=("127.0.0.1", 5050), metavar="HOST:PORT")
    parser.add_argument("--agents", type=int, default=1, metavar="N", help="number of agents (default 1)")
    parser.add_argument("--agent-cpus", type=float, help="cpus per agent (default: this machine / N)")
    parser.add_argument("--agent-mem", type=float, help="memory MB per agent (default: this machine / N)")
    parser.add_argument("--agent-disk", type=float, help="disk MB per agent (default: free disk / N)")
    parser.add_argument("--attributes", default="", metavar="K:V;K2:V2", help="attributes of every agent")
    parser.add_argument("--work-dir", type=Path, default=Path("mesos-local"), help="sandboxes go here")
    parser.add_argument("--zk", metavar="zk://HOST:PORT/PATH", help="register in ZooKeeper like a real master")
    parser.add_argument("--leader", metavar="HOST:PORT", help="run as a standby that redirects to this leader")
    parser.add_argument("--heartbeat-interval", type=float, default=15.0, metavar="SECONDS")
    parser.add_argument("--offer-refuse-seconds", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument("--offer-interval", type=float, default=1.0, metavar="SECONDS",
                        help="how often free resources are offered (default 1)")
    parser.add_argument("--no-run-tasks", dest="run_tasks", action="store_false",
                        help="place tasks but start no processes (for benchmarks of the framework)")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``moroccron local-mesos``: run the local master until SIGINT or SIGTERM."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A master holding ten thousand tasks is a million small objects: full passes of the
    # cyclic collector stop every thread for 0.1 s and more, in the middle of a burst of
    # ACCEPTs. Collect the young generation 100 times less often (it holds no cycles worth
    # the pause), and let threads take turns every 0.5 ms instead of 5, so a request is read
    # (and its arrival stamped) while an ACCEPT of thousands of tasks is being processed,
    # as a real master's HTTP intake would.
    gc.set_threshold(70_000, 10, 10)
    sys.setswitchinterval(0.0005)
    try:
        attributes = parse_attributes(args.attributes)
    except ValueError as exc:
        print(f"moroccron local-mesos: {exc}")
        return 2
    if args.agents < 1:
        print("moroccron local-mesos: --agents must be at least 1")
        return 2
    args.work_dir.mkdir(parents=True, exist_ok=True)
    specs = AgentSpec.from_machine(args.agents, work_dir=args.work_dir, attributes=attributes)
    for spec in specs:
        if args.agent_cpus is not None:
            spec.cpus = args.agent_cpus
        if args.agent_mem is not None:
            spec.mem = args.agent_mem
        if args.agent_disk is not None:
            spec.disk = args.agent_disk
    host, port = args.bind
    master = LocalMaster(
        host=host,
        port=port,
        agents=specs,
        work_dir=args.work_dir,
        heartbeat_interval=args.heartbeat_interval,
        offer_refuse_default=args.offer_refuse_seconds,
        offer_interval=args.offer_interval,
        run_tasks=args.run_tasks,
        zk=args.zk,
        leader=args.leader,
    )
    done = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        master.start()
        print(f"local Mesos master at {master.url} (agents: {', '.join(s.id for s in specs)})", flush=True)
        done.wait()
    finally:
        master.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
