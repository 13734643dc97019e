"""Failures counted per invocation (Chronos's ``errorCount``) beside the per-attempt
count, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from moroccron.model import RunState, RunTrigger
from moroccron.store import Store
from tests.store.factories import T0, job, run


@pytest.fixture
def store(store: Store) -> Store:
    store.apply_jobs([job("a"), job("b")], [])
    return store


def attempt(store: Store, name: str, minutes: int, n: int, state: RunState) -> None:
    at = T0 + timedelta(minutes=minutes, seconds=n)
    store.create_run(
        run(
            name,
            minutes,
            n,
            state=state,
            trigger=RunTrigger.RETRY if n else RunTrigger.SCHEDULE,
            launched_at=at,
            finished_at=at + timedelta(seconds=1),
        )
    )


def test_a_failure_that_was_retried_is_not_an_invocation_error(store: Store) -> None:
    # 12:00 failed twice, then succeeded on its last retry: no error for Chronos.
    attempt(store, "a", 0, 0, RunState.FAILED)
    attempt(store, "a", 0, 1, RunState.FAILED)
    attempt(store, "a", 0, 2, RunState.SUCCEEDED)
    # 12:10 failed, then was lost on its retry: one error.
    attempt(store, "a", 10, 0, RunState.FAILED)
    attempt(store, "a", 10, 1, RunState.LOST)
    # 12:20 failed without retries; 12:30 was killed (not a failure).
    attempt(store, "a", 20, 0, RunState.FAILED)
    attempt(store, "a", 30, 0, RunState.KILLED)
    stats = store.job_stats("a")
    assert stats.failure_count == 5, "the native count is per attempt, as before"
    assert stats.final_failure_count == 2
    assert stats.consecutive_failures == 2
    assert store.all_job_stats(names=["a", "b"])["a"].final_failure_count == 2
    assert store.job_stats("b").final_failure_count == 0
