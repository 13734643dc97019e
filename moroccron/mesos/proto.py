"""Shape validation of Mesos v1 scheduler ``Call`` messages in their JSON form.

A real master parses every call into the protobuf messages of
``mesos/v1/scheduler/scheduler.proto`` and ``mesos/v1/mesos.proto`` and answers
``400 Bad Request`` when that fails. The local master must be at least as strict, or
a framework that only ever talked to it would break on its first real cluster: so
every call is checked here against declarative tables of the protobuf messages,
written from the public ``.proto`` documentation.

The tables use the snake_case field names Mesos itself emits in JSON. Fields are
checked for type (``string``, ``bool``, ``double``, integer widths, base64 ``bytes``,
enums by name, nested messages, repeated fields), required fields must be present, and
unknown fields are rejected (stricter than protobuf, on purpose: a misspelt field name
is a bug the framework author wants to hear about). A JSON ``null`` counts as absent,
as in the protobuf JSON mapping.

Messages the local master does not interpret (health checks, operation feedback, secrets,
...) are declared ``OPAQUE``: the field name is known and its value must be a JSON object,
but its content is not inspected. ``strict=True`` refuses them too, for a conformance
check that wants every byte a framework sends described by a table.

Beyond shapes, :func:`validate_call` applies the rules of the master's call validation
(``validation::scheduler::call::validate``: ids that must agree, a 16-byte UUID in an
ACKNOWLEDGE) and the header functions give the HTTP rules of the scheduler API
(``Content-Type``, ``Accept``, ``Mesos-Stream-Id``), with the status a master answers.

The error names the exact path, e.g.
``call.accept.operations[0].launch.task_infos[1].bogus: unknown field``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

__all__ = [
    "CALL_SUBMESSAGE",
    "ENUMS",
    "MESSAGES",
    "Field",
    "HeaderError",
    "ProtoError",
    "accept_error",
    "content_type_error",
    "decode_bytes",
    "stream_id_error",
    "validate_call",
    "validate_message",
]


class ProtoError(ValueError):
    """A JSON document that does not parse as the expected protobuf message."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a message table.

    ``kind`` is a scalar type name (see ``_SCALARS``), ``"enum"`` (``ref`` names the
    enum), ``"message"`` (``ref`` names the message) or ``"object"`` (any JSON object,
    content not checked).
    """

    kind: str
    ref: str | None = None
    repeated: bool = False
    required: bool = False


# --- small constructors that keep the tables readable -------------------------------------


def _opt(kind: str) -> Field:
    return Field(kind)


def _req(kind: str) -> Field:
    return Field(kind, required=True)


def _rep(kind: str) -> Field:
    return Field(kind, repeated=True)


def _msg(name: str, *, required: bool = False, repeated: bool = False) -> Field:
    return Field("message", name, repeated=repeated, required=required)


def _enum(name: str, *, required: bool = False, repeated: bool = False) -> Field:
    return Field("enum", name, repeated=repeated, required=required)


OPAQUE: Final = Field("object")
OPAQUE_REPEATED: Final = Field("object", repeated=True)

STRING, BOOL, DOUBLE, BYTES = "string", "bool", "double", "bytes"
INT32, INT64, UINT32, UINT64 = "int32", "int64", "uint32", "uint64"

# --- enums -------------------------------------------------------------------------------


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


ENUMS: Final[dict[str, frozenset[str]]] = {
    "Call.Type": _names(
        """UNKNOWN SUBSCRIBE TEARDOWN ACCEPT DECLINE ACCEPT_INVERSE_OFFERS
        DECLINE_INVERSE_OFFERS REVIVE KILL SHUTDOWN ACKNOWLEDGE ACKNOWLEDGE_OPERATION_STATUS
        RECONCILE RECONCILE_OPERATIONS MESSAGE REQUEST SUPPRESS UPDATE_FRAMEWORK"""
    ),
    "FrameworkInfo.Capability.Type": _names(
        """UNKNOWN REVOCABLE_RESOURCES TASK_KILLING_STATE GPU_RESOURCES SHARED_RESOURCES
        PARTITION_AWARE MULTI_ROLE RESERVATION_REFINEMENT REGION_AWARE"""
    ),
    "Offer.Operation.Type": _names(
        """UNKNOWN LAUNCH LAUNCH_GROUP RESERVE UNRESERVE CREATE DESTROY GROW_VOLUME
        SHRINK_VOLUME CREATE_DISK DESTROY_DISK"""
    ),
    "Value.Type": _names("SCALAR RANGES SET TEXT"),
    "Environment.Variable.Type": _names("UNKNOWN VALUE SECRET"),
    "ContainerInfo.Type": _names("MESOS DOCKER"),
    "Volume.Mode": _names("RW RO"),
    "Volume.Source.Type": _names("UNKNOWN DOCKER_VOLUME HOST_PATH SANDBOX_PATH SECRET CSI_VOLUME"),
    "Volume.Source.SandboxPath.Type": _names("UNKNOWN SELF PARENT"),
    "MountPropagation.Mode": _names("UNKNOWN HOST_TO_CONTAINER BIDIRECTIONAL"),
    "Resource.ReservationInfo.Type": _names("UNKNOWN STATIC DYNAMIC"),
    "NetworkInfo.Protocol": _names("IPv4 IPv6"),
    "ContainerInfo.DockerInfo.Network": _names("HOST BRIDGE NONE USER"),
    "Image.Type": _names("APPC DOCKER"),
}

# --- messages ----------------------------------------------------------------------------
# Keyed by the protobuf message name (nested messages use dotted names). Only fields
# listed here are accepted.

MESSAGES: Final[dict[str, dict[str, Field]]] = {
    # scheduler.proto
    "Call": {
        "framework_id": _msg("FrameworkID"),
        "type": _enum("Call.Type"),
        "subscribe": _msg("Call.Subscribe"),
        "accept": _msg("Call.Accept"),
        "decline": _msg("Call.Decline"),
        "accept_inverse_offers": _msg("Call.AcceptInverseOffers"),
        "decline_inverse_offers": _msg("Call.DeclineInverseOffers"),
        "revive": _msg("Call.Revive"),
        "suppress": _msg("Call.Suppress"),
        "kill": _msg("Call.Kill"),
        "shutdown": _msg("Call.Shutdown"),
        "acknowledge": _msg("Call.Acknowledge"),
        "acknowledge_operation_status": OPAQUE,
        "reconcile": _msg("Call.Reconcile"),
        "reconcile_operations": OPAQUE,
        "message": _msg("Call.Message"),
        "request": _msg("Call.Request"),
        "update_framework": _msg("Call.UpdateFramework"),
    },
    "Call.Subscribe": {
        "framework_info": _msg("FrameworkInfo", required=True),
        "suppressed_roles": _rep(STRING),
        "offer_constraints": OPAQUE,
    },
    "Call.Accept": {
        "offer_ids": _msg("OfferID", repeated=True),
        "operations": _msg("Offer.Operation", repeated=True),
        "filters": _msg("Filters"),
    },
    "Call.Decline": {
        "offer_ids": _msg("OfferID", repeated=True),
        "filters": _msg("Filters"),
    },
    "Call.AcceptInverseOffers": {
        "inverse_offer_ids": _msg("OfferID", repeated=True),
        "filters": _msg("Filters"),
    },
    "Call.DeclineInverseOffers": {
        "inverse_offer_ids": _msg("OfferID", repeated=True),
        "filters": _msg("Filters"),
    },
    "Call.Request": {"requests": OPAQUE_REPEATED},
    "Call.UpdateFramework": {
        "framework_info": _msg("FrameworkInfo", required=True),
        "suppressed_roles": _rep(STRING),
        "offer_constraints": OPAQUE,
    },
    "Call.Revive": {"roles": _rep(STRING)},
    "Call.Suppress": {"roles": _rep(STRING)},
    "Call.Kill": {
        "task_id": _msg("TaskID", required=True),
        "agent_id": _msg("AgentID"),
        "kill_policy": _msg("KillPolicy"),
    },
    "Call.Shutdown": {
        "executor_id": _msg("ExecutorID", required=True),
        "agent_id": _msg("AgentID", required=True),
    },
    "Call.Acknowledge": {
        "agent_id": _msg("AgentID", required=True),
        "task_id": _msg("TaskID", required=True),
        "uuid": _req(BYTES),
    },
    "Call.Reconcile": {"tasks": _msg("Call.Reconcile.Task", repeated=True)},
    "Call.Reconcile.Task": {
        "task_id": _msg("TaskID", required=True),
        "agent_id": _msg("AgentID"),
    },
    "Call.Message": {
        "agent_id": _msg("AgentID", required=True),
        "executor_id": _msg("ExecutorID", required=True),
        "data": _req(BYTES),
    },
    # mesos.proto: identifiers
    "FrameworkID": {"value": _req(STRING)},
    "OfferID": {"value": _req(STRING)},
    "AgentID": {"value": _req(STRING)},
    "TaskID": {"value": _req(STRING)},
    "ExecutorID": {"value": _req(STRING)},
    "OperationID": {"value": _req(STRING)},
    # mesos.proto: framework
    "FrameworkInfo": {
        "user": _req(STRING),
        "name": _req(STRING),
        "id": _msg("FrameworkID"),
        "failover_timeout": _opt(DOUBLE),
        "checkpoint": _opt(BOOL),
        "role": _opt(STRING),
        "roles": _rep(STRING),
        "hostname": _opt(STRING),
        "principal": _opt(STRING),
        "webui_url": _opt(STRING),
        "capabilities": _msg("FrameworkInfo.Capability", repeated=True),
        "labels": _msg("Labels"),
        "offer_filters": OPAQUE,
    },
    "FrameworkInfo.Capability": {"type": _enum("FrameworkInfo.Capability.Type")},
    "Filters": {"refuse_seconds": _opt(DOUBLE)},
    "Labels": {"labels": _msg("Label", repeated=True)},
    "Label": {"key": _req(STRING), "value": _opt(STRING)},
    "DurationInfo": {"nanoseconds": _req(INT64)},
    "KillPolicy": {"grace_period": _msg("DurationInfo")},
    # mesos.proto: operations and tasks
    "Offer.Operation": {
        "type": _enum("Offer.Operation.Type"),
        "id": _msg("OperationID"),
        "launch": _msg("Offer.Operation.Launch"),
        "launch_group": OPAQUE,
        "reserve": OPAQUE,
        "unreserve": OPAQUE,
        "create": OPAQUE,
        "destroy": OPAQUE,
        "grow_volume": OPAQUE,
        "shrink_volume": OPAQUE,
        "create_disk": OPAQUE,
        "destroy_disk": OPAQUE,
    },
    "Offer.Operation.Launch": {"task_infos": _msg("TaskInfo", repeated=True)},
    "TaskInfo": {
        "name": _req(STRING),
        "task_id": _msg("TaskID", required=True),
        "agent_id": _msg("AgentID", required=True),
        "resources": _msg("Resource", repeated=True),
        "executor": OPAQUE,
        "command": _msg("CommandInfo"),
        "container": _msg("ContainerInfo"),
        "health_check": OPAQUE,
        "check": OPAQUE,
        "kill_policy": _msg("KillPolicy"),
        "data": _opt(BYTES),
        "labels": _msg("Labels"),
        "discovery": OPAQUE,
        "max_completion_time": _msg("DurationInfo"),
        "limits": OPAQUE,
    },
    "CommandInfo": {
        "uris": _msg("CommandInfo.URI", repeated=True),
        "environment": _msg("Environment"),
        "shell": _opt(BOOL),
        "value": _opt(STRING),
        "arguments": _rep(STRING),
        "user": _opt(STRING),
    },
    "CommandInfo.URI": {
        "value": _req(STRING),
        "executable": _opt(BOOL),
        "extract": _opt(BOOL),
        "cache": _opt(BOOL),
        "output_file": _opt(STRING),
    },
    "Environment": {"variables": _msg("Environment.Variable", repeated=True)},
    "Environment.Variable": {
        "name": _req(STRING),
        "type": _enum("Environment.Variable.Type"),
        "value": _opt(STRING),
        "secret": OPAQUE,
    },
    "ContainerInfo": {
        "type": _enum("ContainerInfo.Type", required=True),
        "volumes": _msg("Volume", repeated=True),
        "hostname": _opt(STRING),
        "docker": _msg("ContainerInfo.DockerInfo"),
        "mesos": _msg("ContainerInfo.MesosInfo"),
        "network_infos": _msg("NetworkInfo", repeated=True),
        "linux_info": OPAQUE,
        "rlimit_info": OPAQUE,
        "tty_info": OPAQUE,
    },
    "Volume": {
        "mode": _enum("Volume.Mode", required=True),
        "container_path": _req(STRING),
        "host_path": _opt(STRING),
        "image": _msg("Image"),
        "source": _msg("Volume.Source"),
    },
    "Volume.Source": {
        "type": _enum("Volume.Source.Type"),
        "docker_volume": _msg("Volume.Source.DockerVolume"),
        "host_path": _msg("Volume.Source.HostPath"),
        "sandbox_path": _msg("Volume.Source.SandboxPath"),
        "secret": OPAQUE,
        "csi_volume": OPAQUE,
    },
    "Volume.Source.DockerVolume": {
        "driver": _opt(STRING),
        "name": _req(STRING),
        "driver_options": _msg("Parameters"),
    },
    "Volume.Source.HostPath": {"path": _req(STRING), "mount_propagation": _msg("MountPropagation")},
    "Volume.Source.SandboxPath": {"type": _enum("Volume.Source.SandboxPath.Type"), "path": _req(STRING)},
    "MountPropagation": {"mode": _enum("MountPropagation.Mode")},
    "Parameters": {"parameter": _msg("Parameter", repeated=True)},
    "ContainerInfo.DockerInfo": {
        "image": _req(STRING),
        "network": _enum("ContainerInfo.DockerInfo.Network"),
        "port_mappings": _msg("ContainerInfo.DockerInfo.PortMapping", repeated=True),
        "privileged": _opt(BOOL),
        "parameters": _msg("Parameter", repeated=True),
        "force_pull_image": _opt(BOOL),
        "volume_driver": _opt(STRING),
    },
    "ContainerInfo.DockerInfo.PortMapping": {
        "host_port": _req(UINT32),
        "container_port": _req(UINT32),
        "protocol": _opt(STRING),
    },
    "Parameter": {"key": _req(STRING), "value": _req(STRING)},
    "NetworkInfo": {
        "ip_addresses": _msg("NetworkInfo.IPAddress", repeated=True),
        "name": _opt(STRING),
        "groups": _rep(STRING),
        "labels": _msg("Labels"),
        "port_mappings": _msg("NetworkInfo.PortMapping", repeated=True),
    },
    "NetworkInfo.IPAddress": {"protocol": _enum("NetworkInfo.Protocol"), "ip_address": _opt(STRING)},
    "NetworkInfo.PortMapping": {
        "host_port": _req(UINT32),
        "container_port": _req(UINT32),
        "protocol": _opt(STRING),
    },
    "ContainerInfo.MesosInfo": {"image": _msg("Image")},
    "Image": {
        "type": _enum("Image.Type", required=True),
        "appc": OPAQUE,
        "docker": _msg("Image.Docker"),
        "cached": _opt(BOOL),
    },
    "Image.Docker": {"name": _req(STRING), "credential": OPAQUE, "config": OPAQUE},
    # mesos.proto: resources
    "Resource": {
        "provider_id": OPAQUE,
        "name": _req(STRING),
        "type": _enum("Value.Type", required=True),
        "scalar": _msg("Value.Scalar"),
        "ranges": _msg("Value.Ranges"),
        "set": _msg("Value.Set"),
        "role": _opt(STRING),
        "allocation_info": _msg("Resource.AllocationInfo"),
        "reservation": _msg("Resource.ReservationInfo"),
        "reservations": _msg("Resource.ReservationInfo", repeated=True),
        "disk": OPAQUE,
        "revocable": _msg("Resource.RevocableInfo"),
        "shared": _msg("Resource.SharedInfo"),
    },
    "Resource.AllocationInfo": {"role": _opt(STRING)},
    "Resource.ReservationInfo": {
        "type": _enum("Resource.ReservationInfo.Type"),
        "role": _opt(STRING),
        "principal": _opt(STRING),
        "labels": _msg("Labels"),
    },
    "Resource.RevocableInfo": {},
    "Resource.SharedInfo": {},
    "Value.Scalar": {"value": _req(DOUBLE)},
    "Value.Ranges": {"range": _msg("Value.Range", repeated=True)},
    "Value.Range": {"begin": _req(UINT64), "end": _req(UINT64)},
    "Value.Set": {"item": _rep(STRING)},
}

#: Which sub-message each call type carries. Types mapped to a name *must* carry that
#: field; REVIVE and SUPPRESS may (their ``roles`` are optional); the rest carry none.
CALL_SUBMESSAGE: Final[dict[str, str | None]] = {
    "SUBSCRIBE": "subscribe",
    "TEARDOWN": None,
    "ACCEPT": "accept",
    "DECLINE": "decline",
    "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
    "DECLINE_INVERSE_OFFERS": "decline_inverse_offers",
    "REVIVE": None,
    "KILL": "kill",
    "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge",
    "ACKNOWLEDGE_OPERATION_STATUS": "acknowledge_operation_status",
    "RECONCILE": "reconcile",
    "RECONCILE_OPERATIONS": "reconcile_operations",
    "MESSAGE": "message",
    "REQUEST": "request",
    "SUPPRESS": None,
    "UPDATE_FRAMEWORK": "update_framework",
}

_INT_RANGES: Final[dict[str, tuple[int, int]]] = {
    INT32: (-(2**31), 2**31 - 1),
    UINT32: (0, 2**32 - 1),
    INT64: (-(2**63), 2**63 - 1),
    UINT64: (0, 2**64 - 1),
}
_INT_STRING = re.compile(r"-?[0-9]+")
_URLSAFE_B64 = re.compile(r"[A-Za-z0-9_-]*=*")


def validate_call(obj: Any, *, strict: bool = False) -> None:
    """Check that ``obj`` (parsed JSON) is a well-formed v1 scheduler ``Call``.

    Beyond the field tables this enforces the "union" convention of the Call message:
    ``type`` must be present and known, the sub-message matching the type must be
    present, and every call but SUBSCRIBE must name its ``framework_id`` (a master
    rejects those calls otherwise, because it could not tell which framework sent them).
    Then the master's own call checks: a SUBSCRIBE's ``framework_id`` and its
    ``framework_info.id`` must be the same (both absent is the same), and so for
    UPDATE_FRAMEWORK; an ACKNOWLEDGE's ``uuid`` must be a UUID (16 bytes).
    ``strict`` refuses OPAQUE fields (content the tables do not describe).
    """
    validate_message(obj, "Call", "call", strict=strict)
    call_type = obj.get("type")
    if call_type is None:
        raise ProtoError("call.type", "missing required field (every call must say its type)")
    if call_type == "UNKNOWN":
        raise ProtoError("call.type", "call type UNKNOWN is not a call")
    needed = CALL_SUBMESSAGE[call_type]
    if needed is not None and obj.get(needed) is None:
        raise ProtoError(f"call.{needed}", f"missing: a {call_type} call must carry '{needed}'")
    if call_type != "SUBSCRIBE" and obj.get("framework_id") is None:
        raise ProtoError("call.framework_id", f"missing: a {call_type} call must carry 'framework_id'")
    if call_type == "ACCEPT":
        for index, operation in enumerate(obj["accept"].get("operations") or []):
            _check_operation_union(operation, f"call.accept.operations[{index}]")
    if call_type in ("SUBSCRIBE", "UPDATE_FRAMEWORK"):
        body = needed
        assert body is not None
        info_id = (obj[body]["framework_info"].get("id") or {}).get("value", "")
        call_id = (obj.get("framework_id") or {}).get("value", "")
        if info_id != call_id:
            raise ProtoError("call.framework_id", f"'framework_id' differs from '{body}.framework_info.id'")
    if call_type == "ACKNOWLEDGE":
        uuid_bytes = decode_bytes(obj["acknowledge"]["uuid"])
        if uuid_bytes is None or len(uuid_bytes) != 16:
            raise ProtoError("call.acknowledge.uuid", "not a UUID: expected 16 bytes, base64-encoded")


def _check_operation_union(operation: Mapping[str, Any], path: str) -> None:
    op_type = operation.get("type")
    if op_type is None:
        raise ProtoError(f"{path}.type", "missing required field (every operation must say its type)")
    if op_type == "UNKNOWN":
        raise ProtoError(f"{path}.type", "operation type UNKNOWN is not an operation")
    field = op_type.lower()
    if operation.get(field) is None:
        raise ProtoError(f"{path}.{field}", f"missing: a {op_type} operation must carry '{field}'")


def validate_message(obj: Any, message: str, path: str, *, strict: bool = False) -> None:
    """Check ``obj`` against the table of ``message``; ``path`` prefixes error paths."""
    table = MESSAGES[message]
    if not isinstance(obj, dict):
        raise ProtoError(path, f"expected a JSON object ({message}), got {_json_type(obj)}")
    for name, value in obj.items():
        field = table.get(name)
        if field is None:
            raise ProtoError(f"{path}.{name}", "unknown field")
        if value is None:
            continue
        if strict and field.kind == "object":
            raise ProtoError(f"{path}.{name}", "content not described by the schema (an OPAQUE field)")
        if field.repeated:
            if not isinstance(value, list):
                raise ProtoError(f"{path}.{name}", f"expected a JSON array, got {_json_type(value)}")
            for index, item in enumerate(value):
                _check_value(item, field, f"{path}.{name}[{index}]", strict)
        else:
            _check_value(value, field, f"{path}.{name}", strict)
    for name, field in table.items():
        if field.required and obj.get(name) is None:
            raise ProtoError(f"{path}.{name}", "missing required field")


def _check_value(value: Any, field: Field, path: str, strict: bool = False) -> None:
    kind = field.kind
    if kind == "message":
        assert field.ref is not None
        validate_message(value, field.ref, path, strict=strict)
    elif kind == "object":
        if not isinstance(value, dict):
            raise ProtoError(path, f"expected a JSON object, got {_json_type(value)}")
    elif kind == "enum":
        assert field.ref is not None
        if not isinstance(value, str):
            raise ProtoError(path, f"expected an enum name ({field.ref}) as a string, got {_json_type(value)}")
        if value not in ENUMS[field.ref]:
            allowed = ", ".join(sorted(ENUMS[field.ref]))
            raise ProtoError(path, f"unknown enum value {value!r} for {field.ref} (allowed: {allowed})")
    elif kind == STRING:
        if not isinstance(value, str):
            raise ProtoError(path, f"expected a string, got {_json_type(value)}")
    elif kind == BOOL:
        if not isinstance(value, bool):
            raise ProtoError(path, f"expected true or false, got {_json_type(value)}")
    elif kind == DOUBLE:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProtoError(path, f"expected a number, got {_json_type(value)}")
    elif kind in _INT_RANGES:
        _check_integer(value, kind, path)
    elif kind == BYTES:
        _check_bytes(value, path)
    else:  # pragma: no cover - a bug in the tables, not in the input
        raise AssertionError(f"unknown field kind {kind!r} at {path}")


def _check_integer(value: Any, kind: str, path: str) -> None:
    # The protobuf JSON mapping writes 64-bit integers as strings (JavaScript numbers
    # lose precision past 2**53) and parsers accept both forms; integral floats such as
    # 5.0 are accepted too, as protobuf parsers do.
    if isinstance(value, bool):
        raise ProtoError(path, f"expected an integer ({kind}), got a boolean")
    integral_float = isinstance(value, float) and value.is_integer()
    int_string = isinstance(value, str) and kind in (INT64, UINT64) and _INT_STRING.fullmatch(value)
    if isinstance(value, int) or integral_float or int_string:
        number = int(value)
    else:
        raise ProtoError(path, f"expected an integer ({kind}), got {_json_type(value)}")
    low, high = _INT_RANGES[kind]
    if not low <= number <= high:
        raise ProtoError(path, f"integer {number} out of range for {kind}")


def _check_bytes(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise ProtoError(path, f"expected base64 bytes as a string, got {_json_type(value)}")
    if decode_bytes(value) is None:
        raise ProtoError(path, "expected base64-encoded bytes")


def decode_bytes(value: str) -> bytes | None:
    """Decode a protobuf JSON ``bytes`` value (standard or URL-safe base64, padding optional).

    Returns ``None`` when the text is not base64.
    """
    text = value.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except binascii.Error:
        pass
    if _URLSAFE_B64.fullmatch(padded):
        try:
            return base64.urlsafe_b64decode(padded)
        except binascii.Error:
            return None
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- HTTP rules of the scheduler API ---------------------------------------------------------
# scheduler-http-api.md and the master's scheduler endpoint: a call is a POST of
# Content-Type application/json (or application/x-protobuf); SUBSCRIBE (and
# RECONCILE_OPERATIONS, which answers with a body) must accept what it is answered in;
# SUBSCRIBE must not carry Mesos-Stream-Id, every other call must carry the one its
# framework's SUBSCRIBE was answered with.

JSON: Final = "application/json"
PROTOBUF: Final = "application/x-protobuf"
STREAM_ID: Final = "Mesos-Stream-Id"


@dataclass(frozen=True, slots=True)
class HeaderError:
    """A header rule a call breaks, and the HTTP status a master answers it with."""

    status: int
    message: str


class HeaderItems(Protocol):
    """Request headers: a Mapping, or http.server's message (anything with ``items()``)."""

    def items(self) -> Iterable[tuple[str, str]]: ...


def header(headers: HeaderItems | Iterable[tuple[str, str]], name: str) -> str | None:
    """A header's value, whatever the case of its name (None when absent)."""
    items = headers.items() if hasattr(headers, "items") else headers  # a Mapping, or http.server's headers
    wanted = name.lower()
    for key, value in items:
        if key.lower() == wanted:
            return str(value)
    return None


def content_type_error(headers: HeaderItems) -> HeaderError | None:
    """The master compares Content-Type exactly (no parameters) and speaks JSON here."""
    value = header(headers, "Content-Type")
    if value is None:
        return HeaderError(400, "Expecting 'Content-Type' to be present")
    if value != JSON:
        return HeaderError(
            415, f"Expecting 'Content-Type' of {JSON} (the local master speaks only JSON), not '{value}'"
        )
    return None


def accept_error(call_type: str, headers: HeaderItems) -> HeaderError | None:
    """SUBSCRIBE and RECONCILE_OPERATIONS are answered with a body: Accept must allow JSON."""
    if call_type not in ("SUBSCRIBE", "RECONCILE_OPERATIONS"):
        return None
    value = header(headers, "Accept")
    if value is None:
        return None  # no Accept header: anything is acceptable
    for part in value.split(","):
        media, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, number = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        if quality > 0 and media.strip().lower() in (JSON, "application/*", "*/*"):
            return None
    return HeaderError(406, f"Expecting 'Accept' to allow '{JSON}'")


def stream_id_error(call_type: str, headers: HeaderItems, expected: str | None) -> HeaderError | None:
    """``expected``: the stream id the framework's subscription was answered with."""
    value = header(headers, STREAM_ID)
    if call_type == "SUBSCRIBE":
        if value is not None:
            return HeaderError(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
        return None
    if value is None:
        return HeaderError(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
    if expected is not None and value != expected:
        return HeaderError(
            400,
            f"The stream ID '{value}' included in this request didn't match the stream ID "
            "currently associated with the framework",
        )
    return None
