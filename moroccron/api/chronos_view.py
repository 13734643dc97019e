"""A job as Chronos would return it: what keeps sync tools settled.

Chronos stored every field of a job hash and sent each back as it read it (its
deserializer's defaults and types applied). Sync tools (``chronos-sync.rb``) compare
that to the job files they keep and POST again every job that differs, so a field
moroccron changed in form (``PST`` read as ``America/Los_Angeles``, ``PT60S`` printed
``PT1M``) or has no use for (``executor``, ``taskInfoData``) would make them post every
job on every run.

So on each write through the Chronos API, :func:`chronos_view` computes the hash
Chronos would return, and :func:`overlay` keeps, in the job's ``chronos_extra``, each
field where that differs from what moroccron generates from the native job, with the
generated value beside it. :func:`apply_overlay` then returns the Chronos value for as
long as the generated one is unchanged: if the job is changed by other means (the
native API, a PATCH, a disable), the field shows the native truth again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "CHRONOS_DEFAULTS",
    "VIEW_FIELDS",
    "apply_overlay",
    "chronos_view",
    "overlay",
]

CHRONOS_DEFAULTS: dict[str, Any] = {
    "command": "",
    "shell": True,
    "executor": "",
    "executorFlags": "",
    "taskInfoData": "",
    "retries": 2,
    "owner": "",
    "ownerName": "",
    "description": "",
    "disabled": False,
    "softError": False,
    "dataProcessingJobType": False,
    "highPriority": False,
    "concurrent": False,
    "maxCompletionTime": 0,
    "async": False,
    "arguments": [],
    "environmentVariables": [],
    "constraints": [],
}
"""What Chronos' deserializer filled in for a field not sent (``cpus``, ``mem``,
``disk`` and ``runAsUser`` come from settings; ``async`` is Chronos 2's, as is ``epsilon``,
shown when sent)."""

VIEW_FIELDS: tuple[str, ...] = (
    *CHRONOS_DEFAULTS,
    "cpus",
    "mem",
    "disk",
    "runAsUser",
    "uris",
    "fetch",
    "container",
    "schedule",
    "scheduleTimeZone",
    "parents",
)
"""The fields :func:`chronos_view` returns (those it finds apply)."""

_BOOLEAN = ("shell", "disabled", "softError", "dataProcessingJobType", "highPriority", "concurrent", "async")
_TEXT = (
    "command",
    "executor",
    "executorFlags",
    "taskInfoData",
    "owner",
    "ownerName",
    "description",
    "epsilon",
    "runAsUser",
    "scheduleTimeZone",
    "schedule",
)
_SENT_ONLY = ("epsilon",)  # Chronos 2 fields, shown when sent
_NETWORK_MODES = ("host", "bridge", "none", "user")
_MISSING = {"missing": True}  # "shown" of a field the generated hash lacks


def _bool(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _number(value: Any, integer: bool = False) -> Any:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return int(value) if integer else float(value)


def _fetch(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    out = {
        "uri": item.get("uri") or "",
        "executable": _bool(item.get("executable", False)) is True,
        "cache": _bool(item.get("cache", False)) is True,
        "extract": _bool(item.get("extract", True)) is not False,
    }
    if item.get("output_file"):
        out["output_file"] = item["output_file"]
    return out


def _container(c: Any) -> Any:
    if not isinstance(c, Mapping):
        return c
    # No mode: HOST, Chronos' default; but a networkName without a mode is the network the
    # task joins (moroccron reads it as USER, so the job reads back as what it does).
    network = str(c.get("network") or ("USER" if c.get("networkName") else "HOST"))
    out: dict[str, Any] = {
        "type": str(c.get("type") or "DOCKER").upper(),
        "image": c.get("image"),
        "network": network.upper() if network.lower() in _NETWORK_MODES else network,
    }
    if c.get("networkName") is not None:
        out["networkName"] = c["networkName"]
    out["networkInfos"] = list(c.get("networkInfos") or [])
    volumes = []
    for v in c.get("volumes") or []:
        if isinstance(v, Mapping):
            vol = {k: v[k] for k in ("hostPath", "containerPath") if v.get(k) is not None}
            if isinstance(v.get("mode"), str):
                vol["mode"] = v["mode"].upper()
            if v.get("external") is not None:
                vol["external"] = v["external"]
            volumes.append(vol)
        else:
            volumes.append(v)
    out["volumes"] = volumes
    out["forcePullImage"] = _bool(c.get("forcePullImage", False)) is True
    out["parameters"] = list(c.get("parameters") or [])
    return out


def chronos_view(
    data: Mapping[str, Any], *, resources: Mapping[str, float], default_user: str, schedule: str | None
) -> dict[str, Any]:
    """The job hash Chronos would return for ``data`` (statistics and ``name`` aside).

    :param resources: ``cpus``, ``mem`` and ``disk`` as applied (sent, or the default).
    :param default_user: ``runAsUser`` when not sent.
    :param schedule: the schedule to show (None for a dependent job): the one sent, or
        the start Chronos would have advanced it to.
    """
    view: dict[str, Any] = {}
    for key, default in CHRONOS_DEFAULTS.items():
        value = data.get(key)
        view[key] = default if value is None else value
    for key in _BOOLEAN:
        view[key] = _bool(view[key])
    view["retries"] = _number(view["retries"], integer=True)
    view["maxCompletionTime"] = _number(view["maxCompletionTime"], integer=True)
    for key in ("cpus", "mem", "disk"):
        view[key] = resources[key]
    for key in _SENT_ONLY:
        if data.get(key) is not None:
            view[key] = data[key]
    view["runAsUser"] = data.get("runAsUser") if data.get("runAsUser") is not None else default_user
    view["environmentVariables"] = [
        {
            "name": e.get("name"),
            "value": e["value"]
            if isinstance(e.get("value"), str)
            else (
                "true"
                if e.get("value") is True
                else "false"
                if e.get("value") is False
                else ""
                if e.get("value") is None
                else str(_number(e.get("value"))).removesuffix(".0")
            ),
        }
        if isinstance(e, Mapping)
        else e
        for e in view["environmentVariables"] or []
    ]
    # Each as sent (the fetch flags with Chronos' defaults): both are native fields now, and
    # what the task fetches is decided from the two together (fetch first, then the uris
    # no fetch entry names), so neither is filled from the other here.
    view["fetch"] = [_fetch(f) for f in data.get("fetch") or []]
    view["uris"] = list(data.get("uris") or [])
    container = data.get("container")
    if isinstance(container, Mapping) and container.get("image"):
        view["container"] = _container(container)
    if schedule is not None:
        view["schedule"] = schedule
        view["scheduleTimeZone"] = data.get("scheduleTimeZone") or ""
    if data.get("parents") is not None:
        view["parents"] = data["parents"]
    for key in _TEXT:
        if key in view and not isinstance(view[key], str) and view[key] is not None:
            view[key] = str(view[key])
    return view


def overlay(view: Mapping[str, Any], generated: Mapping[str, Any]) -> dict[str, Any]:
    """What ``chronos_extra`` keeps: each field of ``view`` that ``generated`` differs on,
    as sent, and as generated then (``{}`` when they agree on every field)."""
    as_sent = {k: v for k, v in view.items() if generated.get(k, _MISSING) != v}
    if not as_sent:
        return {}
    return {"as_sent": as_sent, "shown": {k: generated.get(k, _MISSING) for k in as_sent}}


def apply_overlay(generated: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``generated`` with each kept Chronos value put back while the native one is unchanged."""
    as_sent, shown = extra.get("as_sent") or {}, extra.get("shown") or {}
    for key, value in as_sent.items():
        if generated.get(key, _MISSING) == shown.get(key, _MISSING):
            generated[key] = value
    return generated
