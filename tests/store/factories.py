"""Small builders for the store tests: valid domain objects with only the fields that matter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from moroccron.model import JobSpec, Run, RunState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
"""A fixed instant; tests never read the clock for values they compare."""


def job(name: str, **fields: Any) -> JobSpec:
    """A runnable job every five minutes, unless told otherwise."""
    fields.setdefault("command", f"echo {name}")
    fields.setdefault("schedule", "*/5 * * * *")
    return JobSpec(name=name, **fields)


def run(job_name: str, minutes: int = 0, attempt: int = 0, **fields: Any) -> Run:
    """A queued run of ``job_name`` due ``minutes`` after :data:`T0`."""
    scheduled_at = T0 + timedelta(minutes=minutes)
    fields.setdefault("state", RunState.QUEUED)
    fields.setdefault("queued_at", scheduled_at)
    return Run(job=job_name, scheduled_at=scheduled_at, attempt=attempt, **fields)
