"""The JSON shapes of the Mesos v1 scheduler API that moroccron builds and reads.

One place for what a ``Call`` (framework to master) and an ``Event`` (master to
framework) look like in JSON, with the snake_case field names Mesos emits: the client
(:mod:`moroccron.mesos.client`) builds its calls and reads its events here, and the
local master (:mod:`moroccron.mesos.local`) builds its events here. What each message
may hold, field by field, is checked by :mod:`moroccron.mesos.proto`.

Every function is pure: plain dicts in, plain dicts (or bytes) out.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "accept_body",
    "acknowledge_body",
    "call",
    "decline_body",
    "encode_accept",
    "encode_call",
    "event",
    "event_body",
    "kill_body",
    "launch_operation",
    "mesos_id",
    "mesos_ids",
    "message_body",
    "reconcile_body",
    "roles_body",
    "shutdown_body",
    "status_uuid",
    "subscribed_event",
    "value_of",
]


# --------------------------------------------------------------------------- ids


def mesos_id(value: str | Mapping[str, Any]) -> dict[str, Any]:
    """``{"value": ...}`` from a plain id string (dicts pass through)."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"a Mesos id must be a non-empty string, got {value!r}")
    return {"value": value}


def mesos_ids(values: str | Mapping[str, Any] | Iterable[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A list of ``{"value": ...}`` from one id or several."""
    if isinstance(values, (str, Mapping)):
        return [mesos_id(values)]
    return [mesos_id(v) for v in values]


def value_of(obj: Any) -> str | None:
    """The ``value`` of an id object, or None when ``obj`` is not one."""
    return obj.get("value") if isinstance(obj, Mapping) else None


# --------------------------------------------------------------------------- calls


def call(call_type: str, framework_id: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A ``Call``: its type, the FrameworkID, and the body under the type's lower-case name."""
    out: dict[str, Any] = {"type": call_type, "framework_id": {"value": framework_id}}
    if body is not None:
        out[call_type.lower()] = body
    return out


def encode_call(
    call_type: str, framework_id: str, body: Mapping[str, Any] | None = None, *, encoded: bytes | None = None
) -> bytes:
    """:func:`call` as JSON bytes; ``encoded`` is a body already encoded (see :func:`encode_accept`)."""
    if encoded is None:
        return json.dumps(call(call_type, framework_id, body)).encode("utf-8")
    head = json.dumps(call(call_type, framework_id)).encode("utf-8")[:-1]
    return head + b', "' + call_type.lower().encode() + b'": ' + encoded + b"}"


def launch_operation(task_infos: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """An ``Offer.Operation`` of type LAUNCH with these TaskInfos."""
    return {"type": "LAUNCH", "launch": {"task_infos": [dict(t) for t in task_infos]}}


def accept_body(
    offer_ids: str | Sequence[str], operations: Sequence[Mapping[str, Any]], filters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``Call.Accept``: the offers, the operations in order, and filters for what is left."""
    body: dict[str, Any] = {"offer_ids": mesos_ids(offer_ids), "operations": [dict(op) for op in operations]}
    if filters:
        body["filters"] = dict(filters)
    return body


def encode_accept(
    offer_ids: str | Sequence[str], task_infos: Sequence[Mapping[str, Any]], filters: Mapping[str, Any] | None = None
) -> bytes:
    """The body of an ACCEPT with one LAUNCH, as JSON, for :meth:`MesosSchedulerClient.accept_encoded`:
    what takes time for thousands of tasks can then be done before the call is due."""
    launch = {"type": "LAUNCH", "launch": {"task_infos": list(task_infos)}}
    return json.dumps(accept_body(offer_ids, [launch], filters)).encode("utf-8")


def decline_body(offer_ids: str | Sequence[str], refuse_seconds: float | None) -> dict[str, Any]:
    """``Call.Decline``; ``refuse_seconds`` as its filter when given."""
    body: dict[str, Any] = {"offer_ids": mesos_ids(offer_ids)}
    if refuse_seconds is not None:
        body["filters"] = {"refuse_seconds": float(refuse_seconds)}
    return body


def kill_body(task_id: str, agent_id: str | None, kill_policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """``Call.Kill``."""
    body: dict[str, Any] = {"task_id": mesos_id(task_id)}
    if agent_id:
        body["agent_id"] = mesos_id(agent_id)
    if kill_policy:
        body["kill_policy"] = dict(kill_policy)
    return body


def acknowledge_body(agent_id: str, task_id: str, uuid: str) -> dict[str, Any]:
    """``Call.Acknowledge``; ``uuid`` is the status's base64 uuid, unchanged."""
    return {"agent_id": mesos_id(agent_id), "task_id": mesos_id(task_id), "uuid": uuid}


def reconcile_body(tasks: Iterable[tuple[str, str | None]]) -> dict[str, Any]:
    """``Call.Reconcile``: ``(task_id, agent_id)`` pairs; none asks about every task."""
    items = []
    for task_id, agent_id in tasks:
        item: dict[str, Any] = {"task_id": mesos_id(task_id)}
        if agent_id:
            item["agent_id"] = mesos_id(agent_id)
        items.append(item)
    return {"tasks": items}


def roles_body(roles: Sequence[str] | None) -> dict[str, Any] | None:
    """``Call.Revive`` or ``Call.Suppress``: for ``roles``, or no body for every role."""
    return {"roles": list(roles)} if roles else None


def message_body(agent_id: str, executor_id: str, data: bytes) -> dict[str, Any]:
    """``Call.Message``: bytes to an executor, base64 as JSON carries bytes."""
    return {
        "agent_id": mesos_id(agent_id),
        "executor_id": mesos_id(executor_id),
        "data": base64.b64encode(data).decode(),
    }


def shutdown_body(executor_id: str, agent_id: str) -> dict[str, Any]:
    """``Call.Shutdown`` of a custom executor."""
    return {"executor_id": mesos_id(executor_id), "agent_id": mesos_id(agent_id)}


# --------------------------------------------------------------------------- events


def event(event_type: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An ``Event``: its type, and the body under the type's lower-case name
    (``{"type": "UPDATE", "update": {"status": ...}}``); HEARTBEAT has none."""
    out: dict[str, Any] = {"type": event_type}
    if body is not None:
        out[event_type.lower()] = dict(body)
    return out


def event_body(received: Mapping[str, Any]) -> dict[str, Any]:
    """The body of an event read from the stream, ``{}`` when it has none."""
    kind = received.get("type")
    body = received.get(kind.lower()) if isinstance(kind, str) else None
    return dict(body) if isinstance(body, Mapping) else {}


def subscribed_event(
    framework_id: str, heartbeat_interval_seconds: float, master_info: Mapping[str, Any]
) -> dict[str, Any]:
    """``Event.Subscribed``."""
    return event(
        "SUBSCRIBED",
        {
            "framework_id": mesos_id(framework_id),
            "heartbeat_interval_seconds": heartbeat_interval_seconds,
            "master_info": master_info,
        },
    )


def status_uuid(status: Mapping[str, Any]) -> str | None:
    """The update's ``uuid`` exactly as the master sent it (base64), or None.

    Pass it unchanged to :meth:`MesosSchedulerClient.acknowledge`; updates without one
    are not retried by Mesos and must not be acknowledged.
    """
    uuid = status.get("uuid")
    return uuid if isinstance(uuid, str) and uuid else None
