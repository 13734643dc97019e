"""What an agent runs for a task: CommandInfo read the way each containerizer reads it.

The same CommandInfo means different things to different containerizers, and a
framework that only ever ran on one of them gets the others wrong. This module turns a
TaskInfo into a :class:`LaunchPlan` the way a real agent would:

* **MESOS, no image** (the command executor): ``shell`` true runs ``/bin/sh -c value``;
  ``shell`` false runs ``execvp(value, arguments)``, ``arguments`` being the whole argv,
  argv[0] included. A missing ``value`` makes the executor abort after TASK_STARTING.
* **MESOS with an image** (the docker runtime isolator): as above when ``value`` is set;
  ``shell`` false without ``value`` runs the image's entrypoint (then its cmd, unless
  ``arguments`` are given); ``shell`` true without ``value`` fails the launch.
* **DOCKER** (the docker executor and ``docker run``): ``shell`` true overrides the
  entrypoint with ``/bin/sh`` and passes ``-c value``; ``shell`` false passes ``value``
  *and then* ``arguments`` to the image's entrypoint, so ``value: /bin/echo, arguments:
  [/bin/echo, hello]`` runs ``/bin/echo /bin/echo hello``. Volumes, ``network``,
  ``port_mappings``, ``parameters`` (``--key=value``; ``net``/``network`` replace the
  network) and ``force_pull_image`` go into the ``docker run`` command line, with the
  same refusals as the docker executor's (TASK_FAILED "Failed to create docker run
  options: ...").

There is no container engine here. Images the master was told about (``images``: name
-> entrypoint, cmd, env) run on the host, the host's filesystem standing in for the
image's; an unknown image fails to "pull". The plan records what would run inside the
container (``argv``) and, for DOCKER, the ``docker run`` command line the executor would
have used, so tests can check both.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moroccron.mesos.local.resources import RoleResources
from moroccron.mesos.local.state import _LaunchFailure

__all__ = ["DOCKER_SANDBOX", "ImageConfig", "LaunchPlan", "plan_launch"]

DOCKER_SANDBOX = "/mnt/mesos/sandbox"  # where the docker containerizer mounts the sandbox
_DOCKER_SOCKET = "unix:///var/run/docker.sock"
_CPU_SHARES_PER_CPU = 1024
_MIN_CPU_SHARES = 2
_MIN_MEMORY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ImageConfig:
    """What the local agent knows of an image: its entrypoint, cmd and environment."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | Sequence[str] | None) -> ImageConfig:
        """``{"entrypoint": [...], "cmd": [...], "env": {...}}``; a list is a cmd."""
        if data is None:
            return cls()
        if isinstance(data, (list, tuple)):
            return cls(cmd=tuple(str(a) for a in data))
        if not isinstance(data, Mapping):
            raise ValueError('an image is {"entrypoint": [...], "cmd": [...], "env": {...}}')
        unknown = set(data) - {"entrypoint", "cmd", "env"}
        if unknown:
            raise ValueError(f"unknown image fields: {', '.join(sorted(unknown))}")
        return cls(
            entrypoint=tuple(str(a) for a in data.get("entrypoint") or ()),
            cmd=tuple(str(a) for a in data.get("cmd") or ()),
            env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
        )


@dataclass
class LaunchPlan:
    """How a task is run: by which containerizer, from which image, with which argv."""

    containerizer: str  # MESOS or DOCKER
    argv: list[str]  # what runs in the container; argv[0] as the program sees it
    executable: str  # the program to exec (a path, or a name looked up on PATH)
    image: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # from the image and the task, not the host's
    docker_run: list[str] | None = None  # the docker CLI call of the docker executor
    docker_pull: bool = False  # force_pull_image: a ``docker pull`` comes first
    links: list[tuple[str, str]] = field(default_factory=list)  # sandbox-relative path -> host path

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "containerizer": self.containerizer,
            "argv": list(self.argv),
            "command_line": self.command_line,
            "image": self.image,
        }
        if self.docker_run is not None:
            out["docker_run"] = list(self.docker_run)
            out["docker_pull"] = self.docker_pull
        return out


def plan_launch(
    ti: Mapping[str, Any],
    *,
    task_id: str,
    container_id: str,
    sandbox: Path,
    images: Mapping[str, ImageConfig],
    resources: RoleResources,
    allocation_role: str,
) -> LaunchPlan:
    """The LaunchPlan of a TaskInfo the master accepted, or _LaunchFailure."""
    container = ti.get("container") or {}
    command: Mapping[str, Any] = ti.get("command") or {}
    if container.get("type") == "DOCKER":
        return _plan_docker(ti, command, container, task_id, container_id, sandbox, images, resources, allocation_role)
    image_info = (container.get("mesos") or {}).get("image")
    links = _mesos_volumes(container.get("volumes") or [], sandbox)
    if image_info is None:
        plan = _plan_command_executor(command, task_id)
    else:
        name = _image_name(image_info)
        config = _lookup(images, name)
        plan = _plan_image(command, name, config)
    plan.links = links
    for variable in (command.get("environment") or {}).get("variables") or []:
        plan.env[variable["name"]] = variable.get("value", "")
    return plan


# -- MESOS ---------------------------------------------------------------------------------


def _plan_command_executor(command: Mapping[str, Any], task_id: str) -> LaunchPlan:
    shell = command.get("shell", True)
    value = command.get("value")
    if value is None:
        # The command executor CHECK-fails on this, after its TASK_STARTING.
        what = "Shell command" if shell else "Executable"
        raise _LaunchFailure(
            f"Abnormal executor termination: {what} of task '{task_id}' is not specified",
            "REASON_EXECUTOR_TERMINATED",
        )
    if shell:
        return LaunchPlan("MESOS", ["/bin/sh", "-c", value], "/bin/sh")
    return LaunchPlan("MESOS", list(command.get("arguments") or [value]), value)


def _plan_image(command: Mapping[str, Any], name: str, config: ImageConfig) -> LaunchPlan:
    """The docker runtime isolator's merge of CommandInfo with the image's config."""
    shell = command.get("shell", True)
    value = command.get("value")
    arguments = list(command.get("arguments") or [])
    env = dict(config.env)
    if shell:
        if value is None:
            raise _LaunchFailure("Failed to launch container: Shell specified but no command value provided")
        return LaunchPlan("MESOS", ["/bin/sh", "-c", value], "/bin/sh", image=name, env=env)
    if value is not None:
        return LaunchPlan("MESOS", arguments or [value], value, image=name, env=env)
    if config.entrypoint:
        argv = [*config.entrypoint, *arguments]
        if not arguments:
            argv += config.cmd
    elif config.cmd:
        argv = [config.cmd[0], *arguments] if arguments else list(config.cmd)
    else:
        raise _LaunchFailure("Failed to launch container: No executable is found")
    return LaunchPlan("MESOS", argv, argv[0], image=name, env=env)


def _mesos_volumes(volumes: Sequence[Mapping[str, Any]], sandbox: Path) -> list[tuple[str, str]]:
    links = []
    for volume in volumes:
        target = volume["container_path"]
        source = volume.get("source") or {}
        if volume.get("image") is not None:
            raise _LaunchFailure(
                f"Failed to launch container: volume '{target}': image volumes need the "
                "provisioner, which the local master does not have"
            )
        if volume.get("host_path") is not None:
            host = volume["host_path"]
        elif source.get("type") == "HOST_PATH":
            host = source["host_path"]["path"]
        elif source.get("type") == "SANDBOX_PATH":
            sandbox_path = source["sandbox_path"]
            if sandbox_path.get("type", "SELF") != "SELF":
                raise _LaunchFailure(
                    f"Failed to launch container: volume '{target}': a PARENT sandbox path "
                    "needs a task group, which the local master does not run"
                )
            host = str(sandbox / sandbox_path["path"])
            if not Path(host).resolve().is_relative_to(sandbox.resolve()):
                raise _LaunchFailure(f"Failed to launch container: volume '{target}' escapes the sandbox")
            Path(host).mkdir(parents=True, exist_ok=True)
        else:
            raise _LaunchFailure(
                f"Failed to launch container: volume '{target}': {source.get('type')} "
                "volumes are not supported by the local master"
            )
        links.append(_host_volume(target, host))
    return links


def _host_volume(target: str, host: str) -> tuple[str, str]:
    """A volume on the host: an absolute ``target`` must be ``host`` itself (no mount
    namespace here); a relative one becomes a link in the sandbox."""
    if os.path.isabs(target):
        if os.path.realpath(target) != os.path.realpath(host):
            raise _LaunchFailure(
                f"Failed to launch container: volume '{target}': an absolute container_path needs a mount "
                "namespace, which the local master does not create; use a path relative to the sandbox"
            )
        return (target, host)
    if not os.path.exists(host):
        raise _LaunchFailure(f"Failed to launch container: volume host_path '{host}' does not exist")
    return (target, host)


# -- DOCKER --------------------------------------------------------------------------------


def _plan_docker(
    ti: Mapping[str, Any],
    command: Mapping[str, Any],
    container: Mapping[str, Any],
    task_id: str,
    container_id: str,
    sandbox: Path,
    images: Mapping[str, ImageConfig],
    resources: RoleResources,
    allocation_role: str,
) -> LaunchPlan:
    docker = container["docker"]
    image = docker["image"]
    config = _lookup(images, image)  # the containerizer pulls before the executor starts
    name = f"mesos-{container_id}"

    def refuse(message: str) -> _LaunchFailure:
        # Docker::RunOptions::create fails inside the docker executor, after TASK_STARTING.
        return _LaunchFailure(f"Failed to create docker run options: {message}", None, source="SOURCE_EXECUTOR")

    run = ["docker", "-H", _DOCKER_SOCKET, "run"]
    if docker.get("privileged"):
        run.append("--privileged")
    cpus, mem = resources.scalar("cpus"), resources.scalar("mem")
    if cpus:
        run += ["--cpu-shares", str(max(int(_CPU_SHARES_PER_CPU * cpus), _MIN_CPU_SHARES))]
    if mem:
        run += ["--memory", str(max(int(mem * 1024 * 1024), _MIN_MEMORY_BYTES))]
    env = dict(config.env)
    for variable in (command.get("environment") or {}).get("variables") or []:
        env[variable["name"]] = variable.get("value", "")
    docker_env = {
        **env,
        "MESOS_SANDBOX": DOCKER_SANDBOX,
        "MESOS_CONTAINER_NAME": name,
        "MESOS_ALLOCATION_ROLE": allocation_role,
    }
    for key, setting in sorted(docker_env.items()):
        run += ["-e", f"{key}={setting}"]

    links: list[tuple[str, str]] = []
    driver: str | None = None
    for volume in container.get("volumes") or []:
        target = volume["container_path"]
        mapped = target if os.path.isabs(target) else f"{DOCKER_SANDBOX}/{target}"
        mode = {"RW": "rw", "RO": "ro"}.get(volume.get("mode", "RW"))
        if mode is None:
            raise refuse("Unsupported volume mode")
        if volume.get("host_path") is not None:
            host = volume["host_path"]
            if not os.path.isabs(host) and not os.path.isabs(target):
                raise refuse(f"Both host_path '{host}' and container_path '{target}' of a volume are relative")
            if not os.path.isabs(host) and not docker.get("volume_driver"):
                host = str(sandbox / host)
            run += ["-v", f"{host}:{mapped}:{mode}"]
            links.append(_host_volume(target, host))
        elif volume.get("source") is not None:
            source = volume["source"]
            if source.get("type") != "DOCKER_VOLUME":
                continue  # the docker containerizer ignores the other source types
            named = source["docker_volume"]
            if named.get("driver"):
                if driver is not None and driver != named["driver"]:
                    raise refuse("Only one volume driver is supported")
                driver = named["driver"]
            raise _LaunchFailure(
                f"Failed to launch container: docker volume '{named['name']}' cannot be "
                "created: the local master has no docker daemon"
            )
        else:
            raise refuse("Host path or volume source is required")
    run += ["-v", f"{sandbox}:{DOCKER_SANDBOX}"]
    if docker.get("volume_driver"):
        if driver is not None and driver != docker["volume_driver"]:
            raise refuse("Only one volume driver per task is supported")
        driver = docker["volume_driver"]
    if driver is not None:
        run.append(f"--volume-driver={driver}")

    network = {"HOST": "host", "BRIDGE": "bridge", "NONE": "none", "USER": None}[docker.get("network", "HOST")]
    if docker.get("network") == "USER":
        infos = container.get("network_infos") or []
        if not infos:
            raise refuse("No network info found in container info")
        if len(infos) > 1:
            raise refuse("Only a single network can be defined in Docker run")
        if not infos[0].get("name"):
            raise refuse("No network name found in network info")
        network = infos[0]["name"]
    if container.get("hostname") is not None and network == "host":
        raise refuse("Unable to set hostname with host network mode")
    mappings = docker.get("port_mappings") or []
    if mappings:
        if network in ("host", "none"):
            raise refuse("Port mappings are only supported for bridge and user-defined networks")
        ports = [span for pool in resources.pools.values() for span in pool.ranges.get("ports", ())]
        if not ports:
            raise refuse("Port mappings require port resources")
        for mapping in mappings:
            if not any(b <= int(mapping["host_port"]) <= e for b, e in ports):
                raise refuse(f"Port [{mapping['host_port']}] not included in resources")
    extra: list[str] = []
    overridden = False
    for parameter in docker.get("parameters") or []:
        if not overridden and parameter["key"] in ("net", "network"):
            network, overridden = parameter["value"], True
        else:
            extra.append(f"--{parameter['key']}={parameter['value']}")
    run += ["--net", str(network)]
    if container.get("hostname") is not None:
        run += ["--hostname", container["hostname"]]
    for mapping in mappings:
        protocol = f"/{str(mapping['protocol']).lower()}" if mapping.get("protocol") else ""
        run += ["-p", f"{mapping['host_port']}:{mapping['container_port']}{protocol}"]

    shell = command.get("shell", True)
    value = command.get("value")
    if shell:
        if value is None:
            raise refuse("Shell specified but no command value provided")
        run += ["--entrypoint", "/bin/sh"]
        arguments = ["-c", value]
        argv = ["/bin/sh", *arguments]
    else:
        arguments = ([value] if value is not None else []) + list(command.get("arguments") or [])
        # docker run: the image's entrypoint gets the arguments, or runs its cmd without them.
        argv = [*config.entrypoint, *(arguments or config.cmd)]
    run += ["--name", name, *extra, image, *arguments]
    if not argv:
        raise _LaunchFailure(
            "Container exited with status 125: docker: Error response from daemon: No command specified",
            None,
            source="SOURCE_EXECUTOR",
        )
    return LaunchPlan(
        "DOCKER",
        argv,
        argv[0],
        image=image,
        env=env,
        docker_run=run,
        docker_pull=bool(docker.get("force_pull_image")),
        links=links,
    )


# -- images --------------------------------------------------------------------------------


def _image_name(image: Mapping[str, Any]) -> str:
    if image.get("type") == "DOCKER":
        return str((image.get("docker") or {}).get("name", ""))
    return str((image.get("appc") or {}).get("name", ""))


def _lookup(images: Mapping[str, ImageConfig], name: str) -> ImageConfig:
    config = images.get(name)
    if config is None:
        known = ", ".join(sorted(images)) or "none"
        raise _LaunchFailure(
            f"Failed to launch container: Failed to pull image '{name}': the local master runs only the "
            f"images it was given, on the host (known: {known})"
        )
    return config
