"""The checks a Mesos master makes on each task of an ACCEPT before sending it to its agent.

Written from the rules of apache/mesos ``src/master/validation.cpp`` (``task::validate``)
and ``src/common/validation.cpp``, in the same order, with the same messages: a task
that fails one is answered TASK_ERROR with REASON_TASK_INVALID (never an HTTP error),
and the other tasks of the ACCEPT go on. The local master adds one refusal of its own:
custom executors, which it cannot run.

Also here: the framework checks of SUBSCRIBE (roles, ``root`` submissions) and the
``run_tasks`` ACL, which is checked before validation and answered with
REASON_TASK_UNAUTHORIZED.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from moroccron.mesos.local.resources import UNRESERVED, RoleResources

__all__ = ["TaskInvalid", "run_task_allowed", "validate_framework", "validate_id", "validate_task"]

NAME_MAX = 255  # IDs become directory names on the agent


class TaskInvalid(ValueError):
    """A task the master refuses: TASK_ERROR with ``reason``."""

    def __init__(self, message: str, reason: str = "REASON_TASK_INVALID") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def validate_id(value: str) -> str | None:
    """The error of an ID that cannot name a directory on an agent, else None."""
    if not value:
        return "ID must not be empty"
    if len(value) > NAME_MAX:
        return f"ID must not be greater than {NAME_MAX} characters"
    if value in (".", ".."):
        return f"'{value}' is disallowed"
    if any(ord(c) < 32 or ord(c) == 127 or c in "/\\" for c in value):
        return f"'{value}' contains invalid characters"
    return None


def _nanoseconds(duration: Mapping[str, Any] | None) -> int | None:
    if duration is None or duration.get("nanoseconds") is None:
        return None
    return int(duration["nanoseconds"])


def _environment_error(environment: Mapping[str, Any] | None) -> str | None:
    for variable in (environment or {}).get("variables") or []:
        name = variable.get("name")
        kind = variable.get("type") or "VALUE"
        if kind == "UNKNOWN":
            return "Environment variable of type 'UNKNOWN' is not allowed"
        if kind == "SECRET":
            if variable.get("secret") is None:
                return f"Environment variable '{name}' of type 'SECRET' must have a secret set"
            if variable.get("value") is not None:
                return f"Environment variable '{name}' of type 'SECRET' must not have a value set"
        else:
            if variable.get("value") is None:
                return f"Environment variable '{name}' of type 'VALUE' must have a value set"
            if variable.get("secret") is not None:
                return f"Environment variable '{name}' of type 'VALUE' must not have a secret set"
    return None


_VOLUME_SOURCE_FIELDS = {
    "DOCKER_VOLUME": "docker_volume",
    "HOST_PATH": "host_path",
    "SANDBOX_PATH": "sandbox_path",
    "SECRET": "secret",
    "CSI_VOLUME": "csi_volume",
}


def _volume_error(volume: Mapping[str, Any]) -> str | None:
    given = [k for k in ("host_path", "image", "source") if volume.get(k) is not None]
    if len(given) != 1:
        return "Only one of them should be set: 'host_path', 'image' and 'source'"
    source = volume.get("source")
    if source is not None:
        kind = source.get("type")
        needed = _VOLUME_SOURCE_FIELDS.get(str(kind))
        if needed is None:
            return "'source.type' is unknown"
        if source.get(needed) is None:
            label = {
                "DOCKER_VOLUME": "DOCKER_VOLUME",
                "HOST_PATH": "HOST_PATH",
                "SANDBOX_PATH": "SANDBOX_PATH",
                "SECRET": "SECRET",
                "CSI_VOLUME": "CSI",
            }[str(kind)]
            return f"'source.{needed}' is not set for {label} volume"
    return None


def _container_error(container: Mapping[str, Any]) -> str | None:
    for volume in container.get("volumes") or []:
        error = _volume_error(volume)
        if error is not None:
            return f"Invalid volume: {error}"
    if container.get("type") == "DOCKER":
        docker = container.get("docker")
        if docker is None:
            return "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
        # The docker containerizer names its containers itself, and finds them by name.
        if any(p.get("key") == "name" for p in docker.get("parameters") or []):
            return "Parameter in DockerInfo must not be 'name'"
    return None


def _check_error(check: Mapping[str, Any], what: str) -> str | None:
    """HealthCheck / CheckInfo: a type, and what that type needs."""
    kind = check.get("type")
    if kind is None:
        return f"{what} must specify 'type'"
    label = "health check" if what == "HealthCheck" else "check"
    if kind == "COMMAND":
        command = check.get("command")
        if command is None:
            return f"Expecting 'command' to be set for COMMAND {label}"
        if what != "HealthCheck":
            command = command.get("command") or {}
        if command.get("value") is None:
            shape = "'shell command'" if command.get("shell", True) else "'executable path'"
            return f"Command {label} must contain {shape}"
        error = _environment_error(command.get("environment"))
        if error is not None:
            return f"{'Health check' if what == 'HealthCheck' else 'Check'}'s `CommandInfo` is invalid: {error}"
    elif kind == "HTTP":
        http = check.get("http")
        if http is None:
            return f"Expecting 'http' to be set for HTTP {label}"
        path = http.get("path")
        if path is not None and not str(path).startswith("/"):
            return f"The path '{path}' of HTTP {label} must start with '/'"
    elif kind == "TCP":
        if check.get("tcp") is None:
            return f"Expecting 'tcp' to be set for TCP {label}"
    else:
        return f"'{kind}' is not a valid {label} type"
    for name in ("delay_seconds", "interval_seconds", "timeout_seconds", "grace_period_seconds"):
        value = check.get(name)
        if value is not None and float(value) < 0:
            return f"Expecting '{name}' to be non-negative"
    return None


def _health_check(ti: Mapping[str, Any]) -> dict[str, Any] | None:
    check = ti.get("health_check")
    if check is None:
        return None
    check = dict(check)
    # The master infers a missing type from the one of 'command' and 'http' given.
    if check.get("type") is None:
        if check.get("command") is not None and check.get("http") is None:
            check["type"] = "COMMAND"
        elif check.get("http") is not None and check.get("command") is None:
            check["type"] = "HTTP"
    return check


def _limits_error(ti: Mapping[str, Any], resources: RoleResources) -> str | None:
    limits = ti.get("limits") or {}
    if not limits:
        return None
    if set(limits) - {"cpus", "mem"}:
        return "Only cpus and mem may be included in a task's resource limits"
    for name, noun in (("cpus", "CPU"), ("mem", "memory")):
        if name not in limits:
            continue
        request = resources.scalar(name)
        if request <= 0:
            return f"When a {noun} limit is specified, a {noun} request must also be specified"
        limit = float((limits[name] or {}).get("value", 0.0))
        if not math.isinf(limit) and limit < request:
            wording = "cpu" if name == "cpus" else "memory"
            return f"The {wording} limit must be greater than or equal to the {wording} request"
    return None


def _allocation_role(items: list[Mapping[str, Any]], offered_role: str) -> str:
    """The one allocation role of a task's resources, the offer's for those without one."""
    roles = []
    for item in items:
        role = (item.get("allocation_info") or {}).get("role", offered_role)
        if role not in roles:
            roles.append(role)
    if len(roles) > 1:
        raise TaskInvalid(
            f"Invalid task resources: The resources have multiple allocation roles ('{roles[1]}' and "
            f"'{roles[0]}') but only one allocation role is allowed"
        )
    return str(roles[0]) if roles else offered_role


def validate_task(
    ti: Mapping[str, Any],
    *,
    known_tasks: Mapping[str, Any],
    unreachable_tasks: Mapping[str, Any],
    agent_id: str,
    available: RoleResources,
    offered_role: str,
) -> RoleResources:
    """Check one TaskInfo of an ACCEPT; return the resources it takes, or raise TaskInvalid.

    ``known_tasks`` are the framework's tasks the master knows (launched earlier in the
    same ACCEPT included), ``unreachable_tasks`` those on agents marked unreachable,
    ``available`` what the offers have left, allocated to ``offered_role``.
    """
    task_id = ti["task_id"]["value"]
    error = validate_id(task_id)
    if error is not None:
        raise TaskInvalid(error)
    if task_id in known_tasks:
        raise TaskInvalid(f"Task has duplicate ID: {task_id}")
    if task_id in unreachable_tasks:
        raise TaskInvalid(f"Task reuses the ID of an unreachable task: {task_id}")
    task_agent = ti["agent_id"]["value"]
    if task_agent != agent_id:
        raise TaskInvalid(f"Task uses invalid agent {task_agent} while agent {agent_id} is expected")
    grace = _nanoseconds((ti.get("kill_policy") or {}).get("grace_period"))
    if grace is not None and grace < 0:
        raise TaskInvalid("Task's 'kill_policy.grace_period' must be non-negative")
    completion = _nanoseconds(ti.get("max_completion_time"))
    if completion is not None and completion < 0:
        raise TaskInvalid("Task's `max_completion_time` must be non-negative")
    if ti.get("check") is not None:
        error = _check_error(ti["check"], "CheckInfo")
        if error is not None:
            raise TaskInvalid(f"Task uses invalid check: {error}")
    health = _health_check(ti)
    if health is not None:
        error = _check_error(health, "HealthCheck")
        if error is not None:
            raise TaskInvalid(f"Task uses invalid health check: {error}")

    items = list(ti.get("resources") or [])
    if not items:
        raise TaskInvalid("Task uses no resources")
    try:
        resources = RoleResources.from_json(items)
    except (ValueError, KeyError, TypeError) as exc:
        raise TaskInvalid(f"Task uses invalid resources: Invalid resources: {exc}") from None
    gpus = resources.scalar("gpus")
    if int(round(gpus * 1000)) % 1000 != 0:
        raise TaskInvalid(
            "Task uses invalid resources: Invalid 'gpus' resource: The 'gpus' resource must be an unsigned integer"
        )
    allocation_role = _allocation_role(items, offered_role)

    command = ti.get("command")
    if command is not None:
        error = _environment_error(command.get("environment"))
        if error is not None:
            raise TaskInvalid(f"Task's `CommandInfo` is invalid: {error}")
    container = ti.get("container")
    if container is not None:
        error = _container_error(container)
        if error is not None:
            raise TaskInvalid(f"Task's `ContainerInfo` is invalid: {error}")
    error = _limits_error(ti, resources)
    if error is not None:
        raise TaskInvalid(error)

    if (ti.get("executor") is None) == (command is None):
        raise TaskInvalid("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
    if ti.get("executor") is not None:
        raise TaskInvalid("Custom executors are not supported by the local master; use 'command'")
    # Allocation info is part of a resource's identity: resources allocated to another
    # role than the offer's are not in the offer.
    if allocation_role != offered_role or not available.contains(resources):
        shown = str(resources) if allocation_role == offered_role else f"{resources} (allocated to '{allocation_role}')"
        raise TaskInvalid(
            f"Total resources {shown} required by task and its executor is more than available {available}"
        )
    return resources


def validate_framework(info: Mapping[str, Any], *, root_submissions: bool = True) -> str | None:
    """Why a master refuses a SUBSCRIBE with this FrameworkInfo, or None."""
    capabilities = {c.get("type") for c in info.get("capabilities") or []}
    multi_role = "MULTI_ROLE" in capabilities
    if multi_role and info.get("role") is not None:
        return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
    if not multi_role and info.get("roles"):
        return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
    roles = list(info.get("roles") or []) if multi_role else [info.get("role") or UNRESERVED]
    duplicates = sorted({r for r in roles if roles.count(r) > 1})
    if duplicates:
        return f"'FrameworkInfo.roles' contains duplicate items: {{ {', '.join(duplicates)} }}"
    for role in roles:
        error = _role_error(str(role))
        if error is not None:
            field = (
                "'FrameworkInfo.roles' contains invalid role"
                if multi_role
                else "'FrameworkInfo.role' is not a valid role"
            )
            return f"{field}: {error}"
    framework_id = (info.get("id") or {}).get("value")
    if framework_id:
        error = validate_id(framework_id)
        if error is not None:
            return error
    timeout = info.get("failover_timeout")
    if timeout is not None and not math.isfinite(float(timeout)):
        # Any finite number is a Duration to the master; a negative one is no time at all.
        return f"The framework failover_timeout ({timeout}) is invalid"
    if info.get("user") == "root" and not root_submissions:
        return "User 'root' is not allowed to run frameworks without --root_submissions set"
    return None


def _role_error(role: str) -> str | None:
    """src/common/roles.cpp: a role is a path of non-empty, non-special components."""
    if role == UNRESERVED:
        return None
    if role.startswith("/"):
        return f"Role '{role}' cannot start with a slash"
    if role.endswith("/"):
        return f"Role '{role}' cannot end with a slash"
    if "//" in role:
        return f"Role '{role}' cannot contain two adjacent slashes"
    if not role:
        return "Role names cannot be the empty string"
    for part in role.split("/"):
        if part in (".", "..", "*"):
            return f"Role '{role}' cannot include '{part}' as a component"
        if part.startswith("-"):
            return f"Role component '{part}' is invalid because it starts with a dash"
        if any(c.isspace() or c in "\b\x7f" for c in part):
            return f"Role component '{part}' is invalid because it contains backspace or whitespace"
    return None


def run_task_allowed(acls: Mapping[str, Any] | None, principal: str | None, user: str) -> bool:
    """The ``run_tasks`` ACL of the Mesos ``--acls`` JSON, as the local authorizer reads it.

    Entries are read in order; the first whose principals match decides when its users
    match too (``type: NONE`` denies); when no entry decides, ``permissive`` (default
    true) does. No ACLs at all: everything is allowed.
    """
    if not acls:
        return True
    for entry in acls.get("run_tasks") or []:
        if not _matches(entry.get("principals"), principal):
            continue
        users = entry.get("users") or {}
        if users.get("type") == "NONE":
            return False
        if _matches(users, user):
            return True
    return bool(acls.get("permissive", True))


def _matches(entity: Mapping[str, Any] | None, value: str | None) -> bool:
    entity = entity or {}
    kind = entity.get("type")
    if kind == "ANY" or (kind is None and not entity.get("values")):
        return True
    if kind == "NONE":
        return value is None
    return value is not None and value in (entity.get("values") or [])
