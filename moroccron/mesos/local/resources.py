"""Resource arithmetic of the local master: scalars, ranges and sets, split by reservation.

:class:`ResourceSet` is one pool of resources (named scalars, ranges and sets) with the
addition, subtraction and containment the allocator and the launch checks need.
:class:`RoleResources` keeps pools apart by reservation, as Mesos does: unreserved
resources (role ``*``) and resources reserved for a role are different resources, and a
task that asks for unreserved cpus cannot be given cpus reserved for ``prod``. Scalars
are fixed point with three decimals, as in Mesos.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["UNRESERVED", "ResourceSet", "RoleResources"]

UNRESERVED = "*"
_SCALAR_EPSILON = 0.0005  # Mesos keeps scalars in fixed point with three decimals.


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


def _subtract_ranges(have: Sequence[tuple[int, int]], take: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
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
class ResourceSet:
    """One pool of agent resources: named scalars, ranges and sets.

    Just enough of Mesos's resource arithmetic to allocate, offer and check launches:
    addition, subtraction, containment. A pool is either unreserved or reserved for one
    role; which one is kept by :class:`RoleResources`.
    """

    scalars: Mapping[str, float] = field(default_factory=dict)
    ranges: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    sets: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, items: Iterable[Mapping[str, Any]]) -> ResourceSet:
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
                raise ValueError(f"resource '{name}': reserved resources belong in RoleResources")
            role = item.get("role")
            if role not in (None, UNRESERVED):
                raise ValueError(f"resource '{name}' is reserved for role '{role}', not unreserved")
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

    def items(self) -> list[dict[str, Any]]:
        """The bare protobuf ``Resource`` objects: name, type and value, nothing else."""
        out: list[dict[str, Any]] = []
        for name, value in self.scalars.items():
            out.append({"name": name, "type": "SCALAR", "scalar": {"value": value}})
        for name, spans in self.ranges.items():
            ranges = {"range": [{"begin": b, "end": e} for b, e in spans]}
            out.append({"name": name, "type": "RANGES", "ranges": ranges})
        for name, items in self.sets.items():
            out.append({"name": name, "type": "SET", "set": {"item": sorted(items)}})
        return out

    def to_json(self, role: str = UNRESERVED) -> list[dict[str, Any]]:
        """Unreserved resources as a master puts them in an offer allocated to ``role``."""
        return RoleResources({UNRESERVED: self}).to_json(allocation_role=role)

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

    def contains(self, other: ResourceSet) -> bool:
        """True when ``other`` fits inside ``self``."""
        for name, value in other.scalars.items():
            if value > self.scalars.get(name, 0.0) + _SCALAR_EPSILON:
                return False
        for name, spans in other.ranges.items():
            if not _ranges_contain(self.ranges.get(name, ()), spans):
                return False
        return all(items <= self.sets.get(name, frozenset()) for name, items in other.sets.items())

    def __add__(self, other: ResourceSet) -> ResourceSet:
        scalars = dict(self.scalars)
        for name, value in other.scalars.items():
            scalars[name] = _round(scalars.get(name, 0.0) + value)
        ranges = dict(self.ranges)
        for name, spans in other.ranges.items():
            ranges[name] = _merge_ranges([*ranges.get(name, ()), *spans])
        sets = dict(self.sets)
        for name, items in other.sets.items():
            sets[name] = sets.get(name, frozenset()) | items
        return ResourceSet(scalars, ranges, sets)

    def __sub__(self, other: ResourceSet) -> ResourceSet:
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
        return ResourceSet(scalars, ranges, sets)

    def __str__(self) -> str:
        parts = [f"{k}:{v:g}" for k, v in self.scalars.items()]
        parts += [f"{k}:{_format_ranges(v)}" for k, v in self.ranges.items()]
        parts += [f"{k}:{{{','.join(sorted(v))}}}" for k, v in self.sets.items()]
        return ";".join(parts) or "{}"


def _reservation_role(item: Mapping[str, Any]) -> str:
    """The role a ``Resource`` is reserved for, ``*`` when unreserved.

    Both JSON formats are read, as a master does: the one of frameworks with the
    RESERVATION_REFINEMENT capability (a ``reservations`` stack, the last entry wins) and
    the older one (``role``, plus ``reservation`` for a dynamic reservation). When both
    are present, ``reservations`` wins, as the master's conversion does.
    """
    name = item.get("name")
    stack = item.get("reservations") or []
    if stack:
        role = stack[-1].get("role")
        if not role:
            raise ValueError(f"resource '{name}': a reservation without a role")
        return str(role)
    role = item.get("role") or UNRESERVED
    if item.get("reservation") is not None and role == UNRESERVED:
        raise ValueError(f"resource '{name}': a dynamic reservation for role '*'")
    return str(role)


_NOT_OFFERED = ("revocable", "shared", "disk", "provider_id")


@dataclass(frozen=True)
class RoleResources:
    """Resources split by reservation: ``*`` for unreserved, else the role reserved for.

    Static and dynamic reservations for the same role share a pool here (the local
    master offers only static ones). Revocable, shared, disk-typed and provider
    resources are never offered by the local master, so a task asking for them is
    refused when it is parsed.
    """

    pools: Mapping[str, ResourceSet] = field(default_factory=dict)

    @classmethod
    def unreserved(cls, resources: ResourceSet) -> RoleResources:
        return cls({UNRESERVED: resources} if not resources.empty else {})

    @classmethod
    def from_json(cls, items: Iterable[Mapping[str, Any]]) -> RoleResources:
        """Parse ``Resource`` objects (already shape-validated); ``ValueError`` if invalid."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            for key in _NOT_OFFERED:
                if item.get(key) is not None:
                    raise ValueError(f"resource '{item.get('name')}' has '{key}', which the local master never offers")
            role = _reservation_role(item)
            bare = {
                k: v for k, v in item.items() if k not in ("role", "reservation", "reservations", "allocation_info")
            }
            groups.setdefault(role, []).append(bare)
        names: dict[str, str] = {}
        for group in groups.values():
            for item in group:
                if names.setdefault(item["name"], item["type"]) != item["type"]:
                    raise ValueError(
                        f"resource '{item['name']}' is given as both {names[item['name']]} and {item['type']}"
                    )
        return cls({role: ResourceSet.from_json(group) for role, group in groups.items()})

    def to_json(
        self,
        *,
        allocation_role: str | None = UNRESERVED,
        refinement: bool = False,
    ) -> list[dict[str, Any]]:
        """The protobuf JSON form, as a master puts it in an offer.

        ``allocation_role`` None leaves ``allocation_info`` out (what a master sends to a
        framework without MULTI_ROLE). Without ``refinement`` (RESERVATION_REFINEMENT) the
        reservation is the old ``role`` field, ``*`` for unreserved; with it, a
        ``reservations`` stack and no ``role``.
        """
        out: list[dict[str, Any]] = []
        for role, pool in self.pools.items():
            for item in pool.items():
                if refinement:
                    if role != UNRESERVED:
                        item["reservations"] = [{"type": "STATIC", "role": role}]
                else:
                    item["role"] = role
                if allocation_role is not None:
                    item["allocation_info"] = {"role": allocation_role}
                out.append(item)
        return out

    def pool(self, role: str) -> ResourceSet:
        return self.pools.get(role, ResourceSet())

    def reserved_roles(self) -> list[str]:
        return [role for role in self.pools if role != UNRESERVED]

    def allocatable_to(self, role: str) -> RoleResources:
        """What an allocation to ``role`` may hold: unreserved, and reserved for ``role``."""
        return RoleResources({r: p for r, p in self.pools.items() if r in (UNRESERVED, role) and not p.empty})

    def total(self) -> ResourceSet:
        return sum(self.pools.values(), ResourceSet())

    def scalar(self, name: str) -> float:
        return _round(sum(pool.scalar(name) for pool in self.pools.values()))

    @property
    def empty(self) -> bool:
        return all(pool.empty for pool in self.pools.values())

    def contains(self, other: RoleResources) -> bool:
        return all(self.pool(role).contains(pool) for role, pool in other.pools.items())

    def __add__(self, other: RoleResources) -> RoleResources:
        pools = dict(self.pools)
        for role, pool in other.pools.items():
            pools[role] = pools.get(role, ResourceSet()) + pool
        return RoleResources(pools)

    def __sub__(self, other: RoleResources) -> RoleResources:
        pools = dict(self.pools)
        for role, pool in other.pools.items():
            left = pools.get(role, ResourceSet()) - pool
            if left.empty:
                pools.pop(role, None)
            else:
                pools[role] = left
        return RoleResources(pools)

    def summary(self) -> dict[str, Any]:
        """The flat form of ``/master/state``, reservations added together."""
        return self.total().summary()

    def reserved_summary(self) -> dict[str, dict[str, Any]]:
        """``/master/state``'s ``reserved_resources``: role -> flat resources."""
        return {role: self.pools[role].summary() for role in self.reserved_roles()}

    def __str__(self) -> str:
        parts = []
        for role, pool in self.pools.items():
            text = str(pool)
            if role != UNRESERVED:  # Mesos writes a reservation as cpus(prod):2
                pieces = [piece.partition(":") for piece in text.split(";")]
                text = ";".join(f"{name}({role}):{value}" for name, _, value in pieces)
            parts.append(text)
        return ";".join(parts) or "{}"
