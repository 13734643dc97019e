"""The Pruner: a background thread keeping the newest runs of each job, on real stores
(SQLite and PostgreSQL through the ``store`` fixture), that survives a failing database."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError

from moroccron.model import RunState, task_id_for
from moroccron.retention import Pruner
from moroccron.store import Store
from moroccron.store.models import JobRow, RunRow
from tests.store.factories import T0, job, run


class FlakyStore(Store):
    """A real store whose ``prune_runs`` fails ``failures`` times first, like a database
    that is restarting."""

    def __init__(self, url: Any, failures: int = 1) -> None:
        super().__init__(url)
        self.failures = failures
        self.calls = 0

    def prune_runs(self, keep_per_job: int, batch: int = 500, **kwargs: Any) -> int:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise OperationalError("DELETE FROM runs", {}, Exception("server closed the connection unexpectedly"))
        return super().prune_runs(keep_per_job, batch, **kwargs)


@pytest.fixture
def store(store: Store) -> Store:
    """Jobs ``a`` (12 finished runs and an old one still running) and ``b`` (2 runs)."""
    store.apply_jobs([job("a"), job("b")], [])
    with store.unit_of_work() as uow:
        for m in range(12):
            uow.create_run(run("a", m, state=RunState.SUCCEEDED if m % 2 else RunState.FAILED))
        uow.create_run(run("a", -1, state=RunState.RUNNING))
        for m in range(2):
            uow.create_run(run("b", m, state=RunState.SUCCEEDED))
    return store


def minutes(store: Store, name: str) -> list[int]:
    return [int((r.scheduled_at - T0).total_seconds() // 60) for r in store.list_runs(name, limit=1000)[0]]


def test_the_thread_keeps_the_newest_runs_and_every_unfinished_one(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "moroccron.retention")
    pruner = Pruner(store, keep_per_job=3, interval=0.05).start()
    try:
        assert pruner.running
        assert pruner.wait_for_passes(2, timeout=30)
    finally:
        assert pruner.stop(timeout=10)
    assert not pruner.running
    assert minutes(store, "a") == [11, 10, 9, -1]  # the running one is old, and kept
    assert minutes(store, "b") == [1, 0]
    assert pruner.pruned_total == 9 and pruner.last_error is None
    assert "pruned 9 runs beyond the newest 3 per job" in caplog.text


def test_prune_now_returns_what_it_deleted(store: Store) -> None:
    pruner = Pruner(store, keep_per_job=5, interval=3600)
    assert pruner.prune_now() == 7
    assert pruner.prune_now() == 0
    store.create_run(run("a", 20, state=RunState.SUCCEEDED))
    assert pruner.prune_now() == 1
    assert pruner.pruned_total == 8 and pruner.passes == 0  # passes counts the thread's only
    assert minutes(store, "a") == [20, 11, 10, 9, 8, -1]


def test_the_thread_survives_a_failing_database(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "moroccron.retention")
    flaky = FlakyStore(store.url, failures=2)
    pruner = Pruner(flaky, keep_per_job=3, interval=0.05).start()
    try:
        assert pruner.wait_for_passes(3, timeout=30)
    finally:
        pruner.stop()
        flaky.close()
    assert flaky.calls >= 3 and pruner.last_error is None
    assert minutes(store, "a") == [11, 10, 9, -1]
    assert caplog.text.count("pruning runs failed (OperationalError") == 2


def test_prune_now_lets_errors_through(store: Store) -> None:
    flaky = FlakyStore(store.url)
    try:
        with pytest.raises(OperationalError):
            Pruner(flaky, keep_per_job=3, interval=1).prune_now()
        assert Pruner(flaky, keep_per_job=3, interval=1).prune_now() == 9
    finally:
        flaky.close()


def test_a_pruner_that_is_not_enabled_skips_its_passes(store: Store) -> None:
    leading = False
    pruner = Pruner(store, keep_per_job=1, interval=0.02, enabled=lambda: leading).start()
    try:
        assert pruner.wait_for_passes(3, timeout=30)
        assert store.list_runs()[1] == 15  # not the leader: nothing pruned
        leading = True
        assert pruner.wait_for_passes(pruner.passes + 2, timeout=30)
    finally:
        pruner.stop()
    assert minutes(store, "a") == [11, -1] and minutes(store, "b") == [1]


def test_stop_does_not_wait_for_a_long_pruning_to_finish(store: Store) -> None:
    with store.transaction() as tx:
        job_id = tx.scalar(select(JobRow.id).where(JobRow.name == "b"))
        tx.execute(
            insert(RunRow),
            [
                {
                    "job_id": job_id,
                    "job": "b",
                    "scheduled_at": T0 - timedelta(minutes=m),
                    "attempt": 0,
                    "state": "succeeded",
                    "trigger": "schedule",
                    "task_id": task_id_for("b", T0 - timedelta(minutes=m), 0),
                }
                for m in range(1, 20_001)
            ],
        )
    pruner = Pruner(store, keep_per_job=2, interval=3600, first_delay=0, batch=5).start()
    deadline = time.monotonic() + 30
    while store.list_runs("b")[1] > 19_000 and time.monotonic() < deadline:
        time.sleep(0.01)  # well under way
    started = time.monotonic()
    assert pruner.stop(timeout=10)
    assert time.monotonic() - started < 2.0
    left = store.list_runs("b")[1]
    assert 2 < left <= 19_000  # stopped between batches, not at the end
    Pruner(store, keep_per_job=2, interval=3600).prune_now()  # the next pass carries on
    assert store.list_runs("b")[1] == 2


def test_interval_zero_means_never_and_bad_settings_are_refused(store: Store) -> None:
    pruner = Pruner(store, keep_per_job=3, interval=0).start()
    assert not pruner.running and pruner.stop()
    assert store.list_runs()[1] == 15
    with pytest.raises(ValueError, match="keep_per_job"):
        Pruner(store, keep_per_job=-1, interval=1)
    with pytest.raises(ValueError, match="interval"):
        Pruner(store, keep_per_job=1, interval=-5)
