"""TaskInfo per containerizer: the exact JSON, and the argv the agent would run from it.

What a real agent makes of a TaskInfo is written down here as two small functions, from
how the Mesos containerizer (its docker runtime isolator) and the Docker containerizer
(``docker run``) build a command (apache/mesos src/slave/containerizer/mesos/isolators/
docker/runtime.cpp and src/docker/docker.cpp, read, not copied). The local master does
not run images, so these are the checks that an image-only job runs its entrypoint and
that ``shell: false`` under Docker does not run the program twice.
"""

from __future__ import annotations

from typing import Any

import pytest

from moroccron import Container, Job, Resources
from moroccron.mesos.framework import framework_info, kill_policy, task_info
from moroccron.mesos.proto import validate_call
from moroccron.model import JobSpec, Run, stored_data
from tests.engine.helpers import T0


def launch_call(*infos: dict[str, Any]) -> dict[str, Any]:
    return {
        "framework_id": {"value": "fw"},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "o1"}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": list(infos)}}],
        },
    }


def build(job: JobSpec, arguments: tuple[str, ...] | None = None) -> dict[str, Any]:
    info = task_info(job, Run(job=job.name, scheduled_at=T0, arguments=arguments), "agent-1")
    validate_call(launch_call(info))  # every shape is a well-formed Call first
    return info


def docker_argv(info: dict[str, Any], entrypoint: list[str] | None = None, cmd: list[str] | None = None) -> list[str]:
    """The argv a container started by the Docker containerizer runs.

    It calls ``docker run [--entrypoint /bin/sh] IMAGE ARGS...``: with ``shell`` the
    entrypoint is replaced by the shell and ARGS are ``-c VALUE``; without it ARGS are
    ``VALUE`` (if set) then every ``arguments`` item. Docker then runs ENTRYPOINT + ARGS,
    or ENTRYPOINT + CMD when there are no ARGS.
    """
    command = info["command"]
    if command.get("shell", True):
        if "value" not in command:
            raise AssertionError("the agent fails it: Shell specified but no command value provided")
        return ["/bin/sh", "-c", command["value"]]
    args = ([command["value"]] if "value" in command else []) + list(command.get("arguments", []))
    return (entrypoint or []) + (args or cmd or [])


def mesos_argv(info: dict[str, Any], entrypoint: list[str] | None = None, cmd: list[str] | None = None) -> list[str]:
    """The argv the Mesos containerizer's command task runs (with or without an image).

    ``shell``: ``/bin/sh -c VALUE``. Otherwise VALUE is exec'd with ``arguments`` as its
    whole argv (argv[0] included). With an image and no VALUE, the image's ENTRYPOINT
    (else CMD[0]) is the program, ``arguments`` follow it, and CMD (the rest of it) only
    when no arguments are given.
    """
    command = info["command"]
    if command.get("shell", True):
        if "value" not in command:
            raise AssertionError("the agent fails it: Shell specified but no command value provided")
        return ["/bin/sh", "-c", command["value"]]
    if "value" in command:
        return list(command.get("arguments", []))
    args = list(command.get("arguments", []))
    if entrypoint:
        return entrypoint + (args or cmd or [])
    if cmd:
        return [cmd[0]] + (args or cmd[1:])
    raise AssertionError("the agent fails it: No executable is found")


# ----------------------------------------------------------------------------- commands


def test_mesos_shell_command_quotes_arguments_into_the_command_line() -> None:
    info = build(Job(name="sh", command="echo", arguments=["a b", "$HOME"]))
    assert info["command"]["shell"] is True and "arguments" not in info["command"]
    assert "container" not in info
    assert mesos_argv(info) == ["/bin/sh", "-c", "echo 'a b' '$HOME'"]


def test_mesos_exec_passes_argv_zero_and_run_arguments_replace_the_jobs() -> None:
    info = build(Job(name="raw", command="/bin/echo", shell=False, arguments=["a"]), arguments=("x", "y z"))
    assert info["command"]["value"] == "/bin/echo"
    assert info["command"]["arguments"] == ["/bin/echo", "x", "y z"]
    assert mesos_argv(info) == ["/bin/echo", "x", "y z"]


def test_mesos_with_an_image_and_a_command() -> None:
    job = Job(
        name="m",
        command="/usr/bin/env",
        shell=False,
        arguments=["-0"],
        container=Container(type="mesos", image="alpine:3"),
    )
    info = build(job)
    assert info["container"] == {
        "type": "MESOS",
        "volumes": [],
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": "alpine:3"}, "cached": True}},
    }
    # A command of its own overrides the image's entrypoint.
    assert mesos_argv(info, entrypoint=["/docker-entrypoint.sh"]) == ["/usr/bin/env", "-0"]


def test_mesos_image_only_runs_the_entrypoint_with_the_arguments_after_it() -> None:
    job = Job(name="img", container=Container(type="mesos", image="registry/app:1", force_pull=True))
    assert job.shell is False  # decided by the job's shape: an image's entrypoint takes no shell
    info = build(job)
    assert info["command"]["shell"] is False and "value" not in info["command"]
    assert info["container"]["mesos"]["image"]["cached"] is False  # force_pull: pull at every launch
    assert mesos_argv(info, entrypoint=["/app"], cmd=["--serve"]) == ["/app", "--serve"]
    with_args = build(job, arguments=("--once",))
    assert with_args["command"]["arguments"] == ["--once"]
    assert mesos_argv(with_args, entrypoint=["/app"], cmd=["--serve"]) == ["/app", "--once"]


def test_docker_shell_command_replaces_the_entrypoint_with_the_shell() -> None:
    job = Job(name="d", command="echo hi", arguments=["a b"], container=Container(type="docker", image="busybox"))
    info = build(job)
    assert info["command"] == {**info["command"], "shell": True, "value": "echo hi 'a b'"}
    assert "arguments" not in info["command"]  # the docker containerizer would drop them anyway
    assert docker_argv(info, entrypoint=["/entry"]) == ["/bin/sh", "-c", "echo hi 'a b'"]


def test_docker_exec_does_not_repeat_the_program() -> None:
    """docker run passes VALUE then ARGUMENTS: argv[0] in the arguments ran `/bin/echo /bin/echo hello`."""
    job = Job(
        name="d",
        command="/bin/echo",
        shell=False,
        arguments=["hello"],
        container=Container(type="docker", image="busybox"),
    )
    info = build(job)
    assert info["command"]["value"] == "/bin/echo" and info["command"]["arguments"] == ["hello"]
    assert docker_argv(info) == ["/bin/echo", "hello"]
    # An image with an ENTRYPOINT gets the program and its arguments as its own arguments.
    assert docker_argv(info, entrypoint=["/tini", "--"]) == ["/tini", "--", "/bin/echo", "hello"]
    # The same job under the Mesos containerizer keeps argv[0]: each gets the argv it expects.
    mesos = build(job.evolve(container=Container(type="mesos", image="busybox")))
    assert mesos["command"]["arguments"] == ["/bin/echo", "hello"] and mesos_argv(mesos) == ["/bin/echo", "hello"]


def test_docker_image_only_runs_the_images_entrypoint() -> None:
    job = Job(name="d", container=Container(type="docker", image="registry/app:1"))
    info = build(job)
    assert info["command"]["shell"] is False and "value" not in info["command"]
    assert docker_argv(info, entrypoint=["/app"], cmd=["--serve"]) == ["/app", "--serve"]
    assert docker_argv(build(job, arguments=("--once",)), entrypoint=["/app"], cmd=["--serve"]) == ["/app", "--once"]


def test_the_old_image_only_shape_is_what_the_agent_refused() -> None:
    """Before: shell true and no value. Both containerizers fail such a task."""
    old = {"command": {"shell": True}}
    with pytest.raises(AssertionError, match="no command value"):
        docker_argv(old)
    with pytest.raises(AssertionError, match="no command value"):
        mesos_argv(old)


def test_user_is_per_task_and_the_framework_user_is_a_setting() -> None:
    info = build(Job(name="u", command="id", user="nobody"))
    assert info["command"]["user"] == "nobody"
    assert "user" not in build(Job(name="v", command="id"))["command"]  # the framework's user applies
    fw = framework_info(user="moroccron", roles=["etl", "adhoc", "etl"])
    assert fw["user"] == "moroccron" and fw["roles"] == ["etl", "adhoc"]
    validate_call({"type": "SUBSCRIBE", "subscribe": {"framework_info": fw}})


def test_framework_info_registers_gpus_only_when_asked() -> None:
    assert [c["type"] for c in framework_info()["capabilities"]] == ["MULTI_ROLE", "PARTITION_AWARE"]
    gpus = framework_info(gpus=True, capabilities=["GPU_RESOURCES", "PARTITION_AWARE"])
    assert [c["type"] for c in gpus["capabilities"]] == ["MULTI_ROLE", "PARTITION_AWARE", "GPU_RESOURCES"]
    validate_call({"type": "SUBSCRIBE", "subscribe": {"framework_info": gpus}})


# ----------------------------------------------------------------------------- containers


def test_volumes_of_each_kind() -> None:
    job = Job(
        name="v",
        command="ls",
        container=Container(
            type="mesos",
            image="alpine:3",
            volumes=[
                {"container_path": "/data", "host_path": "/srv/data", "mode": "RW"},
                {"container_path": "/tools", "image": "registry/tools:2"},
                {
                    "container_path": "/cache",
                    "source": {
                        "type": "docker_volume",
                        "name": "cache",
                        "driver": "rexray",
                        "driver_options": {"size": "5"},
                    },
                },
                {"container_path": "/logs", "source": {"type": "host_path", "path": "/var/log/app"}, "mode": "RW"},
                {"container_path": "scratch", "source": {"type": "sandbox_path", "path": "tmp/scratch"}, "mode": "RW"},
            ],
        ),
    )
    volumes = build(job)["container"]["volumes"]
    assert volumes == [
        {"container_path": "/data", "mode": "RW", "host_path": "/srv/data"},
        {"container_path": "/tools", "mode": "RO", "image": {"type": "DOCKER", "docker": {"name": "registry/tools:2"}}},
        {
            "container_path": "/cache",
            "mode": "RO",
            "source": {
                "type": "DOCKER_VOLUME",
                "docker_volume": {
                    "name": "cache",
                    "driver": "rexray",
                    "driver_options": {"parameter": [{"key": "size", "value": "5"}]},
                },
            },
        },
        {
            "container_path": "/logs",
            "mode": "RW",
            "source": {"type": "HOST_PATH", "host_path": {"path": "/var/log/app"}},
        },
        {
            "container_path": "scratch",
            "mode": "RW",
            "source": {"type": "SANDBOX_PATH", "sandbox_path": {"type": "SELF", "path": "tmp/scratch"}},
        },
    ]
    # The master's rule: exactly one of host_path, image and source in every volume.
    assert all(sum(k in v for k in ("host_path", "image", "source")) == 1 for v in volumes)


def test_docker_parameters_repeat_in_order_and_force_pull_and_networks() -> None:
    job = Job(
        name="d",
        command="env",
        container=Container(
            type="docker",
            image="busybox",
            force_pull=True,
            network="bridge",
            parameters=[{"key": "env", "value": "A=1"}, ["env", "B=2"], {"key": "add-host", "value": "db:10.0.0.5"}],
            volumes=[
                {"container_path": "/data", "host_path": "/srv/data"},
                {"container_path": "/cache", "source": {"type": "docker_volume", "name": "cache"}},
            ],
        ),
    )
    container = build(job)["container"]
    assert container["docker"] == {
        "image": "busybox",
        "force_pull_image": True,
        "network": "BRIDGE",
        "parameters": [
            {"key": "env", "value": "A=1"},
            {"key": "env", "value": "B=2"},
            {"key": "add-host", "value": "db:10.0.0.5"},
        ],
    }
    assert "network_infos" not in container
    user_net = build(job.evolve(container=Container(type="docker", image="busybox", network="backend")))
    assert user_net["container"]["docker"]["network"] == "USER"
    assert user_net["container"]["network_infos"] == [{"name": "backend"}]  # the one network docker run joins
    default = build(job.evolve(container=Container(type="docker", image="busybox")))
    assert "network" not in default["container"]["docker"]  # the agent's default: the host network
    cni = build(job.evolve(container=Container(type="mesos", image="busybox", network="calico")))
    assert cni["container"]["network_infos"] == [{"name": "calico"}] and "docker" not in cni["container"]
    host = build(job.evolve(container=Container(type="mesos", network="host")))
    assert "network_infos" not in host["container"]


def test_parameters_in_the_older_object_form_still_read() -> None:
    c = Container(type="docker", image="busybox", parameters={"memory-swap": "1g", "ulimit": "nofile=4096"})
    assert [p.to_dict() for p in c.parameters] == [
        {"key": "memory-swap", "value": "1g"},
        {"key": "ulimit", "value": "nofile=4096"},
    ]
    assert Container.from_dict(c.to_dict()) == c


# ----------------------------------------------------------------------------- kill policy


def test_kill_policy_gives_the_task_its_grace_period() -> None:
    info = build(Job(name="k", command="sleep 60"))
    assert info["kill_policy"] == {"grace_period": {"nanoseconds": 5_000_000_000}}  # the default, 5 s
    info = build(Job(name="k", command="sleep 60", kill_grace_seconds=0.25))
    assert info["kill_policy"] == {"grace_period": {"nanoseconds": 250_000_000}}
    assert kill_policy(None) is None
    kill = {
        "type": "KILL",
        "framework_id": {"value": "fw"},
        "kill": {"task_id": {"value": "k.1.0"}, "kill_policy": kill_policy(Job(name="k", command="x"))},
    }
    validate_call(kill)


# ----------------------------------------------------------------------------- stored jobs


def test_stored_shapes_a_master_refuses_are_set_aside_with_the_reason() -> None:
    """Older versions accepted a volume without a source and fractional GPUs. Such jobs
    still load, but their task is not described to Mesos (the adapter sets the job aside
    with this reason instead of a TASK_ERROR at every run)."""
    with stored_data():
        no_source = JobSpec.from_dict(
            {
                "name": "v",
                "command": "ls",
                "container": {"type": "docker", "image": "busybox", "volumes": [{"container_path": "/data"}]},
            }
        )
        half_gpu = JobSpec.from_dict({"name": "g", "command": "nvidia-smi", "resources": {"gpus": 0.5}})
    with pytest.raises(ValueError, match=r"container.volumes\[0\] has none of host_path, image and source"):
        task_info(no_source, Run(job="v", scheduled_at=T0), "a1")
    with pytest.raises(ValueError, match="whole GPUs"):
        task_info(half_gpu, Run(job="g", scheduled_at=T0), "a1")


def test_a_stored_image_only_job_with_shell_true_launches_its_entrypoint() -> None:
    stored = {"name": "img", "command": None, "shell": True, "container": {"type": "docker", "image": "app:1"}}
    with pytest.raises(Exception, match="shell"):
        JobSpec.from_dict(stored)  # as input: refused, naming shell
    with stored_data():
        job = JobSpec.from_dict(stored)
    assert job.shell is False
    assert docker_argv(build(job), entrypoint=["/app"]) == ["/app"]


def test_resources_without_an_offer_are_unreserved_scalars() -> None:
    info = build(
        Job(
            name="r",
            command="x",
            resources=Resources(cpus=0.25, mem=64, disk=0, gpus=2),
            container=Container(type="mesos", image="cuda:12"),
        )
    )
    assert info["resources"] == [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.25}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 64.0}},
        {"name": "gpus", "type": "SCALAR", "scalar": {"value": 2.0}},
    ]
