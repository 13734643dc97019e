"""The client against the local master on what a real cluster asks of it: heartbeat
grace, the GPU capability registered after subscription, kill policies.

Uses the master and client fixtures of test_client.py; every wait is on a condition.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moroccron.mesos.client import MesosCallError, MesosSchedulerClient
from moroccron.mesos.local import AgentSpec, LocalMaster
from tests.mesos.test_client import (  # noqa: F401 - fixtures
    Recorder,
    ack_all,
    framework_info,
    fresh_offer,
    make_client,
    new_master,
    task_info,
)

pytestmark = pytest.mark.timeout(90)


def test_heartbeat_grace_is_five_intervals(
    tmp_path: Path,
    make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]],  # noqa: F811
) -> None:
    """Two silent intervals dropped the subscription (and made the engine reconcile every
    live task); a master busy for a few heartbeats is slow, not gone."""
    master = new_master(tmp_path / "mesos", heartbeat_interval=1.0)
    try:
        client, rec = make_client(master.address)  # the default grace
        client.start()
        rec.wait_for(lambda: rec.count("heartbeat") >= 1, what="first heartbeat")
        assert client._socket is not None and client._socket.gettimeout() == pytest.approx(5.0)
        mark = rec.mark()
        master.pause_heartbeats(2.2)  # more than the old grace of 2 intervals
        # Heartbeats resume after the pause: wait for two, on the same subscription.
        rec.wait_for(
            lambda: sum(1 for n, _ in rec.events[mark:] if n == "heartbeat") >= 2, what="heartbeats after the pause"
        )
        assert rec.count("disconnected") == 0 and rec.count("reregistered") == 0
        assert client.connected
    finally:
        master.stop()


@pytest.fixture
def gpu_master(tmp_path: Path) -> Any:
    m = new_master(
        tmp_path / "mesos",
        agents=[AgentSpec(id="CPU0", cpus=2.0, mem=1024.0), AgentSpec(id="GPU0", cpus=2.0, mem=1024.0, gpus=2.0)],
    )
    try:
        yield m
    finally:
        m.stop()


def offered_agents(rec: Recorder, start: int = 0) -> set[str]:
    return {args[0]["agent_id"]["value"] for name, args in rec.events[start:] if name == "offer"}


def gpu_info() -> dict[str, Any]:
    info = framework_info(roles=["*"], capabilities=[{"type": "MULTI_ROLE"}])
    return {**info, "capabilities": [*info["capabilities"], {"type": "GPU_RESOURCES"}]}


def test_gpu_agents_are_offered_once_the_capability_is_registered(
    gpu_master: LocalMaster,
    make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]],  # noqa: F811
) -> None:
    client, rec = make_client(gpu_master.address, framework_info(roles=["*"], capabilities=[{"type": "MULTI_ROLE"}]))
    client.start()
    rec.wait_for(lambda: "CPU0" in offered_agents(rec), what="an offer of the agent without GPUs")
    assert "GPU0" not in offered_agents(rec)  # a master keeps GPU agents for GPU-aware frameworks
    mark = rec.mark()
    client.update_framework_info(gpu_info())  # UPDATE_FRAMEWORK, on the same subscription
    rec.wait_for(lambda: "GPU0" in offered_agents(rec, mark), what="an offer of the GPU agent")
    assert rec.count("disconnected") == 0
    assert "GPU_RESOURCES" in gpu_master.frameworks()[0]["capabilities"]
    gpu_offer = next(a[0] for n, a in rec.events[mark:] if n == "offer" and a[0]["agent_id"]["value"] == "GPU0")
    assert {r["name"]: r["scalar"]["value"] for r in gpu_offer["resources"] if r["type"] == "SCALAR"}["gpus"] == 2.0


def test_a_master_without_update_framework_gets_the_capability_on_a_new_subscription(
    gpu_master: LocalMaster,
    make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, rec = make_client(gpu_master.address, framework_info(roles=["*"], capabilities=[{"type": "MULTI_ROLE"}]))
    client.start()
    rec.wait_for(lambda: rec.count("registered"), what="registered")
    real_call = client._call

    def older_master(call_type: str, *args: Any, **kwargs: Any) -> None:
        if call_type == "UPDATE_FRAMEWORK":  # Mesos before 1.9 has no such call
            raise MesosCallError(400, "Failed to validate scheduler::Call: unknown call type", call_type)
        real_call(call_type, *args, **kwargs)

    monkeypatch.setattr(client, "_call", older_master)
    mark = rec.mark()
    client.update_framework_info(gpu_info())
    rec.next_event("reregistered", mark)
    rec.wait_for(lambda: "GPU0" in offered_agents(rec, mark), what="an offer of the GPU agent")
    assert client.framework_id == gpu_master.frameworks()[0]["id"]  # the same framework, re-subscribed


def test_a_kill_policy_is_accepted_in_the_task_and_in_the_kill(
    tmp_path: Path,
    make_client: Callable[..., tuple[MesosSchedulerClient, Recorder]],  # noqa: F811
) -> None:
    master = new_master(tmp_path / "mesos")
    try:
        client, rec = make_client(master.address)
        client.start()
        offer = fresh_offer(rec)
        info = {
            **task_info("k1", offer["agent_id"]["value"], "sleep 30"),
            "kill_policy": {"grace_period": {"nanoseconds": 2_000_000_000}},
        }
        client.launch([offer["id"]["value"]], [info])
        ack_all(client, rec, "k1", "TASK_RUNNING")
        client.kill("k1", offer["agent_id"]["value"], kill_policy={"grace_period": {"nanoseconds": 100_000_000}})
        # Killed (sleep 30 left alone would end TASK_FINISHED); the master took both policies.
        assert ack_all(client, rec, "k1", "TASK_KILLED")["state"] == "TASK_KILLED"
    finally:
        master.stop()
