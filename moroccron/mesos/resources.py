"""Offered resources by reservation, and the exact resources a task asks for.

A Mesos offer lists each resource with the reservation it carries: unreserved (role
``*``), statically reserved (``role`` set), dynamically reserved (``role`` and a
``reservation``, or, for frameworks that can read refinements, a ``reservations``
stack) and, for MULTI_ROLE frameworks, the role it is allocated to
(``allocation_info``). The master keeps each kind apart: a task must name, for every
part of what it uses, the reservation that part was offered under, or the launch fails
with "Total resources ... required by task ... is more than available".

So an offer is read into pools (:class:`~moroccron.hooks.types.ResourcePool`), one per
distinct reservation, and the tasks placed on one offer draw on those pools in turn
(:class:`PoolLedger`), reserved ones first: they were set aside for this framework's
roles and are used by nobody else, while unreserved resources are shared.

Only plain scalars are used: revocable resources, persistent volumes, mount and path
disks, shared resources and those of resource providers are left alone (their use needs
operations moroccron does not perform).

Amounts are counted in thousandths: Mesos keeps scalar resources to three decimal
places, and a sum of floats that comes out at 0.30000000000000004 cpus is more than
0.3 offered.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from moroccron.hooks.types import Offer, ResourcePool
from moroccron.model import Resources

__all__ = ["SCALARS", "PoolLedger", "offer_pools", "unreserved_resources"]

SCALARS = ("cpus", "mem", "disk", "gpus")
IDENTITY_FIELDS = ("role", "reservation", "reservations", "allocation_info")
"""The fields of a Resource that tell the master which resources a task means."""


def _milli(value: float) -> int:
    """Thousandths, rounded half up as Mesos rounds scalars (Python's round() goes to even)."""
    return math.floor(float(value) * 1000 + 0.5)


def _plain(res: Mapping[str, Any]) -> bool:
    """A scalar any task can simply use (no operation needed first)."""
    if res.get("type", "SCALAR") != "SCALAR" or res.get("name") not in SCALARS:
        return False
    if res.get("revocable") is not None or res.get("shared") is not None or res.get("provider_id") is not None:
        return False
    disk = res.get("disk") or {}
    return not (disk.get("persistence") or disk.get("source") or disk.get("volume"))


def _reserved_for(res: Mapping[str, Any]) -> str:
    """The role of a resource's reservation; ``*`` when it has none."""
    stack = res.get("reservations")
    if isinstance(stack, list) and stack:
        return str((stack[-1] or {}).get("role") or "*")  # the last refinement is the reservation in force
    role = res.get("role")
    return str(role) if isinstance(role, str) and role else "*"


def offer_pools(resources: Iterable[Mapping[str, Any]]) -> tuple[ResourcePool, ...]:
    """The plain scalar resources of an offer, one pool per distinct reservation, in offer order."""
    pools: dict[str, tuple[str, dict[str, Any], dict[str, int]]] = {}
    for res in resources:
        if not _plain(res):
            continue
        identity = {k: res[k] for k in IDENTITY_FIELDS if res.get(k) is not None}
        key = json.dumps(identity, sort_keys=True)
        entry = pools.setdefault(key, (_reserved_for(res), identity, dict.fromkeys(SCALARS, 0)))
        entry[2][res["name"]] += _milli((res.get("scalar") or {}).get("value", 0.0))
    return tuple(
        ResourcePool(reserved_for, Resources.unchecked(**{k: v / 1000 for k, v in amounts.items()}), identity)
        for reserved_for, identity, amounts in pools.values()
    )


def _scalar(name: str, milli: int, identity: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": milli / 1000}, **_plain_json(identity)}


def _plain_json(value: Any) -> Any:
    """Read-only mappings (a pool's identity) back to plain JSON."""
    if isinstance(value, Mapping):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_json(v) for v in value]
    return value


def unreserved_resources(r: Resources) -> list[dict[str, Any]]:
    """``r`` as unreserved resources: for a task whose offer is not known any more."""
    return [
        _scalar(name, _milli(getattr(r, name)), {}) for name in SCALARS if name in ("cpus", "mem") or getattr(r, name)
    ]


class PoolLedger:
    """What is left in each pool of one offer, as the tasks placed on it take their share.

    Build one per ACCEPT, and call :meth:`take` for each of its tasks in launch order.
    """

    def __init__(self, offer: Offer) -> None:
        self.offer_id = offer.id
        pools = offer.resource_pools()
        # Reserved first (kept for us), then unreserved (shared with every framework).
        ordered = [p for p in pools if p.reserved] + [p for p in pools if not p.reserved]
        self._pools = [(p.identity, {n: _milli(getattr(p.resources, n)) for n in SCALARS}) for p in ordered]

    def take(self, need: Resources) -> list[dict[str, Any]]:
        """The Resource JSON of a task needing ``need``, drawn from the pools in order.

        :raises ValueError: when the offer does not hold ``need`` (it was overfilled).
        """
        out: list[dict[str, Any]] = []
        for name in SCALARS:
            want = _milli(getattr(need, name))
            if name == "gpus" and want % 1000:
                raise ValueError(f"asks for {want / 1000:g} GPUs: the master only gives whole GPUs")
            for identity, free in self._pools:
                if want <= 0:
                    break
                part = min(want, free[name])
                if part > 0:
                    out.append(_scalar(name, part, identity))
                    free[name] -= part
                    want -= part
            if want > 0:
                raise ValueError(f"offer {self.offer_id} has {want / 1000:g} {name} too few for this task")
        return out
