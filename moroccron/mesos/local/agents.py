"""The local master's agents: what each one has and how it is described.

An :class:`AgentSpec` is what a real agent's flags say (``--resources``,
``--attributes``): its identity, its resources, the part of them statically reserved for
roles, and its attributes.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moroccron.mesos.local.resources import (
    UNRESERVED,
    ResourceSet,
    RoleResources,
    _merge_ranges,
    _round,
)

__all__ = ["AgentSpec", "parse_attributes"]

_RESERVABLE = ("cpus", "mem", "disk", "gpus")


@dataclass
class AgentSpec:
    """One simulated agent: its identity, total resources and attributes.

    ``attributes`` values that are numbers become SCALAR attributes, strings TEXT ones,
    as the agent ``--attributes`` flag does. ``reserved`` carves static reservations out
    of the totals, as ``--resources="cpus(prod):2"`` does on a real agent: role ->
    ``{"cpus": 2, "mem": 512}`` (cpus, mem, disk, gpus). A GPU agent (``gpus`` > 0) is
    offered only to frameworks with the GPU_RESOURCES capability.
    """

    id: str
    hostname: str = "localhost"
    cpus: float = 4.0
    mem: float = 4096.0
    disk: float = 10240.0
    gpus: float = 0.0
    ports: list[tuple[int, int]] = field(default_factory=lambda: [(31000, 32000)])
    attributes: dict[str, str | float] = field(default_factory=dict)
    reserved: dict[str, dict[str, float]] = field(default_factory=dict)

    def resources(self) -> ResourceSet:
        """Everything the agent has, reserved or not."""
        scalars = {"cpus": float(self.cpus), "mem": float(self.mem), "disk": float(self.disk)}
        if self.gpus:
            scalars["gpus"] = float(self.gpus)
        ranges = {"ports": _merge_ranges(self.ports)} if self.ports else {}
        return ResourceSet(scalars, ranges, {})

    def role_resources(self) -> RoleResources:
        """The totals split into the unreserved part and each role's reservation."""
        total = self.resources()
        pools: dict[str, ResourceSet] = {}
        for role, amounts in self.reserved.items():
            if not role or role == UNRESERVED:
                raise ValueError(f"agent '{self.id}': cannot reserve for role {role!r}")
            unknown = set(amounts) - set(_RESERVABLE)
            if unknown:
                raise ValueError(
                    f"agent '{self.id}': cannot reserve {', '.join(sorted(unknown))} (only {', '.join(_RESERVABLE)})"
                )
            pools[role] = ResourceSet({k: _round(float(v)) for k, v in amounts.items() if float(v) > 0})
        reserved = sum(pools.values(), ResourceSet())
        if not total.contains(reserved):
            raise ValueError(f"agent '{self.id}': reservations {reserved} exceed its resources {total}")
        unreserved = total - reserved
        return RoleResources({**({UNRESERVED: unreserved} if not unreserved.empty else {}), **pools})

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
            "reserved": {role: dict(amounts) for role, amounts in self.reserved.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentSpec:
        """Build a spec from the JSON body of ``POST /__local__/agents``."""
        known = {"id", "hostname", "cpus", "mem", "disk", "gpus", "ports", "attributes", "reserved"}
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
        if "reserved" in data:
            spec.reserved = {
                str(role): {str(k): float(v) for k, v in amounts.items()}
                for role, amounts in dict(data["reserved"]).items()
            }
        spec.role_resources()  # refuse impossible reservations now, not at the first offer
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
