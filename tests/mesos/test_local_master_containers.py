"""CommandInfo as each containerizer reads it, run on the local agent.

The same CommandInfo runs different programs under MESOS and DOCKER; an image's
entrypoint and cmd fill in what the task leaves out; the docker executor refuses the
combinations docker would. The local agent records, per task, what would run inside the
container and the ``docker run`` command line, and runs the former on the host.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from moroccron.mesos.local import LocalMaster
from tests.mesos.conftest import MasterFactory, Scheduler, task_info

Schedulers = Callable[..., Scheduler]

IMAGES: dict[str, Any] = {
    "busybox": {"cmd": ["sh"]},
    "echoer": {"entrypoint": ["/bin/echo", "from-entrypoint"], "cmd": ["default-arg"], "env": {"IMAGE_VAR": "1"}},
    "cmd-only": {"cmd": ["/bin/echo", "from-cmd"]},
}


@pytest.fixture
def with_images(make_master: MasterFactory, schedulers: Schedulers) -> tuple[LocalMaster, Scheduler]:
    master = make_master(images=IMAGES)
    sched = schedulers(master, failover_timeout=60.0)
    sched.subscribe()
    return master, sched


def _docker(image: str = "busybox", **docker: Any) -> dict[str, Any]:
    return {"type": "DOCKER", "docker": {"image": image, **docker}}


def _run(sched: Scheduler, tasks: list[dict[str, Any]]) -> None:
    offer = sched.offer()
    sched.accept([offer], [t(offer) if callable(t) else t for t in tasks], refuse_seconds=0)


def _task(sched: Scheduler, task_id: str) -> dict[str, Any]:
    tasks = requests.get(sched.url + "/__local__/tasks", timeout=5).json()
    return next(t for t in tasks if t["task_id"] == task_id)


def _stdout(sched: Scheduler, task_id: str) -> str:
    return (Path(_task(sched, task_id)["directory"]) / "stdout").read_text()


def test_docker_passes_value_and_arguments_where_mesos_execs_value(with_images: tuple[LocalMaster, Scheduler]) -> None:
    _, sched = with_images
    command = {"shell": False, "value": "/bin/echo", "arguments": ["/bin/echo", "hello"]}
    _run(
        sched,
        [lambda o: task_info("docker", o, command, container=_docker()), lambda o: task_info("mesos", o, command)],
    )
    sched.follow("docker", "TASK_FINISHED")
    sched.follow("mesos", "TASK_FINISHED")
    assert _stdout(sched, "docker") == "/bin/echo hello\n"
    assert _stdout(sched, "mesos") == "hello\n"
    docker = _task(sched, "docker")["launch"]
    assert docker["containerizer"] == "DOCKER"
    assert docker["argv"] == ["/bin/echo", "/bin/echo", "hello"]
    run = docker["docker_run"]
    assert run[:4] == ["docker", "-H", "unix:///var/run/docker.sock", "run"]
    assert run[-4:] == ["busybox", "/bin/echo", "/bin/echo", "hello"]
    assert "--entrypoint" not in run
    assert run[run.index("--net") + 1] == "host"  # DOCKER's default network
    mesos = _task(sched, "mesos")["launch"]
    assert (mesos["containerizer"], mesos["argv"], mesos.get("docker_run")) == ("MESOS", ["/bin/echo", "hello"], None)


def test_docker_shell_overrides_the_entrypoint(with_images: tuple[LocalMaster, Scheduler]) -> None:
    _, sched = with_images
    _run(sched, [lambda o: task_info("sh", o, {"value": "echo $0 ok"}, container=_docker())])
    sched.follow("sh", "TASK_FINISHED")
    launch = _task(sched, "sh")["launch"]
    assert launch["argv"] == ["/bin/sh", "-c", "echo $0 ok"]
    run = launch["docker_run"]
    assert run[run.index("--entrypoint") + 1] == "/bin/sh"
    assert run[-3:] == ["busybox", "-c", "echo $0 ok"]
    assert _stdout(sched, "sh") == "/bin/sh ok\n"


def test_image_only_tasks_run_the_images_entrypoint(with_images: tuple[LocalMaster, Scheduler]) -> None:
    _, sched = with_images
    image = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "echoer"}}}}
    _run(
        sched,
        [
            lambda o: task_info("entrypoint", o, {"shell": False}, container=image),
            lambda o: task_info("entrypoint-args", o, {"shell": False, "arguments": ["mine"]}, container=image),
            lambda o: task_info("docker-cmd", o, {"shell": False}, container=_docker("cmd-only")),
            lambda o: task_info("image-env", o, {"value": "echo $IMAGE_VAR"}, container=image),
        ],
    )
    for task_id in ("entrypoint", "entrypoint-args", "docker-cmd", "image-env"):
        sched.follow(task_id, "TASK_FINISHED")
    assert _stdout(sched, "entrypoint") == "from-entrypoint default-arg\n"
    assert _stdout(sched, "entrypoint-args") == "from-entrypoint mine\n"
    assert _stdout(sched, "docker-cmd") == "from-cmd\n"
    assert _stdout(sched, "image-env") == "1\n"
    assert _task(sched, "entrypoint")["launch"]["image"] == "echoer"


def test_a_shell_without_a_command_fails_as_each_containerizer_fails_it(
    with_images: tuple[LocalMaster, Scheduler],
) -> None:
    _, sched = with_images
    image = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "echoer"}}}}
    _run(
        sched,
        [
            lambda o: task_info("docker", o, {"shell": True}, container=_docker()),
            lambda o: task_info("mesos-image", o, {"shell": True}, container=image),
            lambda o: task_info("mesos", o, {"shell": True}),
        ],
    )
    # The docker executor starts, then cannot build its docker run options.
    statuses = sched.follow("docker", "TASK_FAILED")
    assert [s["state"] for s in statuses] == ["TASK_STARTING", "TASK_FAILED"]
    failed = statuses[-1]
    assert failed["message"] == "Failed to create docker run options: Shell specified but no command value provided"
    assert failed["source"] == "SOURCE_EXECUTOR" and "reason" not in failed
    # The docker runtime isolator fails the container launch.
    failed = sched.follow("mesos-image", "TASK_FAILED")[-1]
    assert failed["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert "Shell specified but no command value provided" in failed["message"]
    # The command executor aborts after TASK_STARTING.
    statuses = sched.follow("mesos", "TASK_FAILED")
    assert statuses[0]["state"] == "TASK_STARTING"
    assert statuses[-1]["reason"] == "REASON_EXECUTOR_TERMINATED"
    assert "Shell command of task 'mesos' is not specified" in statuses[-1]["message"]


def test_docker_options_volumes_network_parameters_and_pull(
    tmp_path: Path, with_images: tuple[LocalMaster, Scheduler]
) -> None:
    _, sched = with_images
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("mounted\n")
    container = {
        **_docker(
            network="BRIDGE",
            force_pull_image=True,
            parameters=[{"key": "memory-swap", "value": "1g"}, {"key": "label", "value": "a=b"}],
        ),
        "volumes": [{"container_path": "data", "host_path": str(data), "mode": "RO"}],
    }
    _run(sched, [lambda o: task_info("opts", o, {"value": "cat $MESOS_SANDBOX/data/in.txt"}, container=container)])
    sched.follow("opts", "TASK_FINISHED")
    assert _stdout(sched, "opts") == "mounted\n"
    launch = _task(sched, "opts")["launch"]
    run = launch["docker_run"]
    assert launch["docker_pull"] is True
    assert run[run.index("--net") + 1] == "bridge"
    assert f"{data}:/mnt/mesos/sandbox/data:ro" in run
    assert "--memory-swap=1g" in run and "--label=a=b" in run
    assert run[run.index("--cpu-shares") + 1] == "102"  # 0.1 cpus
    assert "MESOS_SANDBOX=/mnt/mesos/sandbox" in run


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({**_docker(), "hostname": "box"}, "Unable to set hostname with host network mode"),
        (
            _docker(port_mappings=[{"host_port": 31000, "container_port": 80}]),
            "Port mappings are only supported for bridge and user-defined networks",
        ),
        (
            _docker(network="BRIDGE", port_mappings=[{"host_port": 40000, "container_port": 80}]),
            "Port [40000] not included in resources",
        ),
        (_docker(network="USER"), "No network info found in container info"),
        (
            {**_docker(), "volumes": [{"container_path": "d", "host_path": "rel", "mode": "RW"}]},
            "Both host_path 'rel' and container_path 'd' of a volume are relative",
        ),
    ],
)
def test_docker_run_options_the_docker_executor_refuses(
    with_images: tuple[LocalMaster, Scheduler], container: dict[str, Any], message: str
) -> None:
    _, sched = with_images
    _run(
        sched,
        [
            lambda o: task_info(
                "refused",
                o,
                "true",
                container=container,
                resources=[
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                    {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31000}]}},
                ],
            )
        ],
    )
    failed = sched.follow("refused", "TASK_FAILED")[-1]
    assert failed["message"] == f"Failed to create docker run options: {message}"


def test_the_net_parameter_replaces_the_network(with_images: tuple[LocalMaster, Scheduler]) -> None:
    _, sched = with_images
    container = _docker(network="BRIDGE", parameters=[{"key": "net", "value": "none"}])
    _run(sched, [lambda o: task_info("net", o, "true", container=container)])
    sched.follow("net", "TASK_FINISHED")
    run = _task(sched, "net")["launch"]["docker_run"]
    assert run[run.index("--net") + 1] == "none" and "--net=none" not in run


def test_images_can_be_added_over_http(master: LocalMaster, scheduler: Scheduler) -> None:
    offer = scheduler.offer()
    scheduler.accept(
        [offer], [task_info("early", offer, {"shell": False}, container=_docker("late"))], refuse_seconds=0
    )
    assert "Failed to pull image 'late'" in scheduler.follow("early", "TASK_FAILED")[-1]["message"]
    response = requests.post(master.url + "/__local__/images", json={"name": "late", "cmd": ["/bin/true"]}, timeout=5)
    assert response.status_code == 200
    offer = scheduler.offer()
    scheduler.accept([offer], [task_info("later", offer, {"shell": False}, container=_docker("late"))])
    scheduler.follow("later", "TASK_FINISHED")
    bad = requests.post(master.url + "/__local__/images", json={"name": "x", "entrypoint": "sh", "bogus": 1}, timeout=5)
    assert bad.status_code == 400 and "bogus" in bad.text
