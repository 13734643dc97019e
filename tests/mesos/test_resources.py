"""Reserved and unreserved resources kept apart: offers read into pools, tasks that ask
for exactly what was offered under each reservation, packing by role, and GPUs.

The master's rule checked here (``contained``): for every distinct reservation, what the
tasks of one ACCEPT ask for is no more than what the offer holds under that same
reservation; otherwise it answers TASK_ERROR "... is more than available".
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest

from moroccron import Container, Job, Resources
from moroccron.events import Event, Kill, Launch, OffersReceived, PrepareLaunch
from moroccron.hooks.types import Offer, PendingTask, ResourcePool
from moroccron.mesos.framework import FrameworkAdapter, framework_info, offer_from_json, task_info
from moroccron.mesos.proto import validate_call
from moroccron.mesos.resources import PoolLedger, offer_pools
from moroccron.model import JobSpec, Run
from moroccron.packing import best_fit_decreasing, first_fit
from tests.engine.helpers import T0

STRATEGIES = [first_fit, best_fit_decreasing]


def scalar(name: str, value: float, **identity: Any) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}, **identity}


ETL = {"allocation_info": {"role": "etl"}}
STATIC = {"role": "etl", **ETL}
DYNAMIC = {
    "role": "etl",
    "reservation": {"principal": "ops", "labels": {"labels": [{"key": "team", "value": "d"}]}},
    **ETL,
}
REFINED = {"reservations": [{"type": "DYNAMIC", "role": "etl", "principal": "ops"}], **ETL}
UNRESERVED = {"role": "*", **ETL}


def offer_json(
    resources: list[dict[str, Any]], role: str = "etl", offer_id: str = "o1", agent: str = "a1"
) -> dict[str, Any]:
    return {
        "id": {"value": offer_id},
        "agent_id": {"value": agent},
        "framework_id": {"value": "fw"},
        "hostname": f"host-{agent}",
        "resources": resources,
        "allocation_info": {"role": role},
    }


def identity_key(res: dict[str, Any]) -> tuple[str, str]:
    rest = {k: v for k, v in res.items() if k not in ("name", "type", "scalar")}
    return res["name"], json.dumps(rest, sort_keys=True)


def contained(task_infos: Sequence[dict[str, Any]], offer: dict[str, Any]) -> None:
    """The master's check: per resource name and reservation, asked <= offered (thousandths)."""
    offered: dict[tuple[str, str], int] = defaultdict(int)
    for res in offer["resources"]:
        if res.get("type") == "SCALAR":
            offered[identity_key(res)] += round(res["scalar"]["value"] * 1000)
    asked: dict[tuple[str, str], int] = defaultdict(int)
    for info in task_infos:
        for res in info["resources"]:
            asked[identity_key(res)] += round(res["scalar"]["value"] * 1000)
    over = {k: (v, offered.get(k, 0)) for k, v in asked.items() if v > offered.get(k, 0)}
    assert not over, f"more than available: {over}"


# ----------------------------------------------------------------------------- offers


def test_an_offer_is_read_into_one_pool_per_reservation() -> None:
    raw = offer_json(
        [
            scalar("cpus", 1.0, **UNRESERVED),
            scalar("mem", 512, **UNRESERVED),
            scalar("cpus", 2.0, **STATIC),
            scalar("mem", 1024, **STATIC),
            scalar("cpus", 0.5, **DYNAMIC),
            scalar("mem", 256, **REFINED),
            scalar("cpus", 8.0, revocable={}, **UNRESERVED),  # revocable: not used
            scalar(
                "disk",
                100,
                disk={"persistence": {"id": "p1"}, "volume": {"container_path": "d", "mode": "RW"}},
                **STATIC,
            ),  # a persistent volume
            scalar("disk", 5000, disk={"source": {"type": "MOUNT", "mount": {"root": "/mnt/d1"}}}, **UNRESERVED),
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}, **UNRESERVED},
            scalar("disk", 2000, **UNRESERVED),
        ]
    )
    offer = offer_from_json(raw, default_role="etl")
    assert offer.role == "etl" and offer.default_role
    by = {(p.reserved_for, json.dumps(dict(p.identity), sort_keys=True)): p.resources for p in offer.pools}
    assert len(offer.pools) == 4
    assert by["*", json.dumps(UNRESERVED, sort_keys=True)] == Resources.unchecked(1.0, 512.0, 2000.0, 0.0)
    assert by["etl", json.dumps(STATIC, sort_keys=True)] == Resources.unchecked(2.0, 1024.0, 0.0, 0.0)
    assert by["etl", json.dumps(DYNAMIC, sort_keys=True)] == Resources.unchecked(0.5, 0.0, 0.0, 0.0)
    assert by["etl", json.dumps(REFINED, sort_keys=True)] == Resources.unchecked(0.0, 256.0, 0.0, 0.0)
    assert offer.resources == Resources.unchecked(3.5, 1792.0, 2000.0, 0.0)  # revocable, volumes, mounts: out
    other = offer_from_json(offer_json([scalar("cpus", 1.0)], role="adhoc"), default_role="etl")
    assert other.role == "adhoc" and not other.default_role


def test_tasks_draw_on_reserved_pools_first_and_may_span_pools() -> None:
    raw = offer_json(
        [
            scalar("cpus", 1.0, **UNRESERVED),
            scalar("mem", 1024, **UNRESERVED),
            scalar("cpus", 0.7, **DYNAMIC),
            scalar("mem", 256, **DYNAMIC),
        ]
    )
    ledger = PoolLedger(offer_from_json(raw, "etl"))
    first = ledger.take(Resources(cpus=0.5, mem=128))
    assert first == [scalar("cpus", 0.5, **DYNAMIC), scalar("mem", 128.0, **DYNAMIC)]
    second = ledger.take(Resources(cpus=0.6, mem=512))  # 0.2 reserved cpus left, then unreserved
    assert second == [
        scalar("cpus", 0.2, **DYNAMIC),
        scalar("cpus", 0.4, **UNRESERVED),
        scalar("mem", 128.0, **DYNAMIC),
        scalar("mem", 384.0, **UNRESERVED),
    ]
    infos = [{"resources": first}, {"resources": second}]
    contained(infos, raw)
    with pytest.raises(ValueError, match="cpus too few"):
        ledger.take(Resources(cpus=0.7, mem=1))  # 0.6 cpus are left


def test_thousandths_add_up_exactly() -> None:
    """0.1 + 0.2 as floats is more than 0.3: counted in thousandths, ten tasks of 0.1 fill 1.0."""
    raw = offer_json([scalar("cpus", 1.0, **UNRESERVED), scalar("mem", 1000, **UNRESERVED)])
    ledger = PoolLedger(offer_from_json(raw, "etl"))
    infos = [{"resources": ledger.take(Resources(cpus=0.1, mem=100))} for _ in range(10)]
    contained(infos, raw)


def test_under_a_role_with_reservations_tasks_no_longer_ask_for_more_than_available() -> None:
    """The offer holds cpus only as reserved: unreserved cpus asked for were "more than available"."""
    raw = offer_json([scalar("cpus", 2.0, **STATIC), scalar("mem", 2048, **UNRESERVED)])
    job = Job(name="r", command="true", resources=Resources(cpus=1.5, mem=512))
    run = Run(job="r", scheduled_at=T0)
    before = task_info(job, run, "a1")  # what was sent without the offer's pools
    with pytest.raises(AssertionError, match="more than available"):
        contained([before], raw)
    after = task_info(job, run, "a1", PoolLedger(offer_from_json(raw, "etl")))
    contained([after], raw)
    assert after["resources"][0] == scalar("cpus", 1.5, **STATIC)
    validate_call(
        {
            "type": "ACCEPT",
            "framework_id": {"value": "fw"},
            "accept": {
                "offer_ids": [{"value": "o1"}],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": [after]}}],
            },
        }
    )


def test_pools_keep_the_offers_order_and_merge_identical_reservations() -> None:
    pools = offer_pools(
        [scalar("cpus", 0.5, **UNRESERVED), scalar("cpus", 0.25, **UNRESERVED), scalar("mem", 64, **STATIC)]
    )
    assert [p.reserved_for for p in pools] == ["*", "etl"]
    assert pools[0].resources.cpus == 0.75 and not pools[0].reserved and pools[1].reserved


# ----------------------------------------------------------------------------- packing


def pending(job: str, cpus: float = 1.0, mem: float = 128.0, gpus: float = 0.0, n: int = 0) -> PendingTask:
    return PendingTask(Run(job=job, scheduled_at=T0.replace(second=n)), Resources(cpus=cpus, mem=mem, gpus=gpus))


def plain_offer(
    i: int, cpus: float = 4.0, mem: float = 4096.0, gpus: float = 0.0, role: str = "*", default: bool = True
) -> Offer:
    return Offer(
        id=f"o{i}",
        agent_id=f"a{i}",
        hostname=f"h{i}",
        resources=Resources.unchecked(cpus, mem, 0.0, gpus),
        role=role,
        default_role=default,
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_job_runs_only_on_offers_of_its_role(strategy: Any) -> None:
    offers = [
        plain_offer(1, role="adhoc", default=False),
        plain_offer(2, role="etl"),
        plain_offer(3, role="gpu", default=False),
    ]
    jobs = {
        j.name: j
        for j in (
            Job(name="free", command="x"),
            Job(name="pinned", command="x", role="adhoc"),
            Job(name="elsewhere", command="x", role="nobody"),
        )
    }
    tasks = [pending("free"), pending("pinned", n=1), pending("elsewhere", n=2)]
    plan = strategy(tasks, offers, jobs)
    placed = {t.split(".")[0]: o for t, o in plan.placed().items()}
    assert placed == {"free": "o2", "pinned": "o1"}  # free: the default role's offer only
    assert [t.split(".")[0] for t in plan.unplaced] == ["elsewhere"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_tasks_without_gpus_keep_off_gpu_agents_while_others_fit(strategy: Any) -> None:
    offers = [plain_offer(1, gpus=4.0), plain_offer(2, cpus=1.0)]
    jobs = {
        j.name: j
        for j in (
            Job(name="cpu", command="x"),
            Job(
                name="gpu", command="x", resources=Resources(gpus=1), container=Container(type="mesos", image="cuda:12")
            ),
        )
    }
    plan = strategy([pending("cpu"), pending("gpu", gpus=1, n=1)], offers, jobs)
    placed = {t.split(".")[0]: o for t, o in plan.placed().items()}
    assert placed == {"cpu": "o2", "gpu": "o1"}
    # With nothing else free, a task without GPUs may still use a GPU agent.
    plan = strategy([pending("cpu", cpus=2.0)], offers, jobs)
    assert set(plan.placed().values()) == {"o1"}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_packing_fits_on_the_offer_total_of_all_pools(strategy: Any) -> None:
    pools = (ResourcePool("etl", Resources.unchecked(1.0, 512.0)), ResourcePool("*", Resources.unchecked(1.0, 512.0)))
    offer = Offer(
        id="o1", agent_id="a1", hostname="h", resources=Resources.unchecked(2.0, 1024.0), pools=pools, role="etl"
    )
    jobs = {"big": Job(name="big", command="x")}
    plan = strategy([pending("big", cpus=1.5, mem=900)], [offer], jobs)
    assert list(plan.placed().values()) == ["o1"]


# ----------------------------------------------------------------------------- the adapter


class FakeClient:
    """Records what the adapter sends, as a connected client would."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.kills: list[tuple[str, str | None, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.declined: list[list[str]] = []
        self._info = info

    @property
    def framework_info(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._info))

    def update_framework_info(self, info: dict[str, Any]) -> None:
        self.updates.append(info)
        self._info = info

    def accept_encoded_many(self, bodies: Sequence[bytes]) -> list[BaseException | None]:
        self.bodies.extend(json.loads(b) for b in bodies)
        return [None] * len(bodies)

    def kill(self, task_id: str, agent_id: str | None = None, kill_policy: Any = None) -> None:
        self.kills.append((task_id, agent_id, kill_policy))

    def decline(self, offer_ids: list[str], refuse_seconds: float | None = None) -> None:
        self.declined.append(offer_ids)

    def revive(self) -> None:
        pass


def adapter_with(
    jobs: dict[str, JobSpec], *, gpus: bool = False, wants_gpus: Any = None
) -> tuple[FrameworkAdapter, FakeClient, list[Event]]:
    events: list[Event] = []
    adapter = FrameworkAdapter(events.append, lambda _fid: None, jobs.get, default_role="etl", wants_gpus=wants_gpus)
    client = FakeClient(framework_info(roles=["etl", "adhoc"], gpus=gpus))
    adapter.client = client
    return adapter, client, events


def test_the_adapter_launches_against_the_reservation_that_was_offered() -> None:
    jobs = {
        "a": Job(name="a", command="true", resources=Resources(cpus=1.0, mem=256)),
        "b": Job(name="b", command="true", resources=Resources(cpus=1.0, mem=256)),
    }
    adapter, client, events = adapter_with(jobs)
    raw = offer_json(
        [
            scalar("cpus", 1.5, **DYNAMIC),
            scalar("mem", 300, **DYNAMIC),
            scalar("cpus", 1.0, **UNRESERVED),
            scalar("mem", 1024, **UNRESERVED),
        ]
    )
    adapter.resourceOffers(None, [raw])
    (received,) = events
    assert isinstance(received, OffersReceived) and len(received.offers[0].pools) == 2
    runs = (Run(job="a", scheduled_at=T0), Run(job="b", scheduled_at=T0))
    adapter.perform(Launch("o1", "a1", "host-a1", runs))
    (body,) = client.bodies
    validate_call({"type": "ACCEPT", "framework_id": {"value": "fw"}, "accept": body})
    infos = body["operations"][0]["launch"]["task_infos"]
    contained(infos, raw)
    assert infos[0]["resources"] == [scalar("cpus", 1.0, **DYNAMIC), scalar("mem", 256.0, **DYNAMIC)]
    assert infos[1]["resources"] == [
        scalar("cpus", 0.5, **DYNAMIC),
        scalar("cpus", 0.5, **UNRESERVED),
        scalar("mem", 44.0, **DYNAMIC),
        scalar("mem", 212.0, **UNRESERVED),
    ]
    assert not adapter._offers  # launched on: forgotten


def test_a_prepared_launch_uses_the_offers_pools_too() -> None:
    jobs = {"a": Job(name="a", command="true", resources=Resources(cpus=1.0, mem=256))}
    adapter, client, _ = adapter_with(jobs)
    raw = offer_json([scalar("cpus", 2.0, **STATIC), scalar("mem", 512, **STATIC)])
    adapter.resourceOffers(None, [raw])
    runs = (Run(job="a", scheduled_at=T0),)
    adapter.perform(PrepareLaunch("o1", "a1", "host-a1", T0, runs))
    adapter.perform(Launch("o1", "a1", "host-a1", runs))
    contained(client.bodies[0]["operations"][0]["launch"]["task_infos"], raw)


def test_kills_carry_the_jobs_grace_period() -> None:
    jobs = {"slow": Job(name="slow", command="sleep 100", kill_grace_seconds=30)}
    adapter, client, _ = adapter_with(jobs)
    adapter.perform(Kill("slow.1767225600.0", "a1", "timeout"))
    adapter.perform(Kill("gone.1767225600.0", None, "killed by hand"))  # a job deleted since
    assert client.kills == [
        ("slow.1767225600.0", "a1", {"grace_period": {"nanoseconds": 30_000_000_000}}),
        ("gone.1767225600.0", None, None),
    ]


def test_the_gpu_capability_is_registered_once_a_job_asks_for_gpus() -> None:
    wanted = {"gpus": False}
    adapter, client, _ = adapter_with({}, wants_gpus=lambda: wanted["gpus"])
    adapter.check_capabilities(force=True)
    assert client.updates == []  # no job needs GPUs: GPU agents stay with GPU frameworks
    wanted["gpus"] = True
    adapter.check_capabilities()
    assert client.updates == []  # looked at every few seconds, not at every call
    adapter.check_capabilities(force=True)
    (update,) = client.updates
    assert [c["type"] for c in update["capabilities"]] == ["MULTI_ROLE", "PARTITION_AWARE", "GPU_RESOURCES"]
    adapter.check_capabilities(force=True)
    assert len(client.updates) == 1  # registered already
