"""Small builders for the values hooks receive."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from moroccron.hooks.types import Offer, PendingTask
from moroccron.model import JobSpec, Resources, Run

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def job(name: str = "etl", **fields: Any) -> JobSpec:
    fields.setdefault("command", "true")
    return JobSpec(name=name, **fields)


def run(job: str = "etl", **fields: Any) -> Run:
    fields.setdefault("scheduled_at", T0)
    return Run(job=job, **fields)


def task(job: str = "etl", cpus: float = 1.0, mem: float = 128.0, attempt: int = 0) -> PendingTask:
    return PendingTask(run=run(job, attempt=attempt), resources=Resources(cpus=cpus, mem=mem))


def offer(id: str = "o1", cpus: float = 4.0, mem: float = 1024.0, hostname: str = "agent1") -> Offer:
    return Offer(
        id=id,
        agent_id=f"{hostname}-S0",
        hostname=hostname,
        resources=Resources(cpus=cpus, mem=mem),
        attributes={"rack": "r1"},
    )
