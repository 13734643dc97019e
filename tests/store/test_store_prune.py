"""Pruning of old runs in the Store, on both backends: bounded reads, small batches,
cancellation, and scheduling writes that keep flowing while a large history is pruned."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select

import moroccron.store.runs as store_module
from moroccron.model import RunState, task_id_for
from moroccron.store import Store
from moroccron.store.models import JobRow, RunRow
from tests.store.factories import T0, job, run


@pytest.fixture
def store(store: Store) -> Store:
    store.apply_jobs([job("a"), job("b")], [])
    return store


def bulk_runs(store: Store, name: str, count: int, state: RunState = RunState.SUCCEEDED) -> None:
    """``count`` runs of ``name``, one a minute from T0, in one statement (fast setup)."""
    with store.transaction() as tx:
        job_id = tx.scalar(select(JobRow.id).where(JobRow.name == name))
        tx.execute(
            insert(RunRow),
            [
                {
                    "job_id": job_id,
                    "job": name,
                    "scheduled_at": T0 + timedelta(minutes=m),
                    "attempt": 0,
                    "state": state.value,
                    "trigger": "schedule",
                    "task_id": task_id_for(name, T0 + timedelta(minutes=m), 0),
                }
                for m in range(count)
            ],
        )


def count_statements(store: Store, verb: str) -> list[int]:
    """A one-element list counting the statements starting with ``verb`` from now on."""
    seen = [0]

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(verb):
            seen[0] += 1

    event.listen(store.engine, "before_cursor_execute", before)
    return seen


def test_reads_ids_a_bounded_number_at_a_time(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "_PRUNE_READ", 7)
    bulk_runs(store, "a", 30)
    bulk_runs(store, "b", 4)
    store.create_run(run("a", -5, state=RunState.RUNNING))  # the oldest, and unfinished
    reads, deletes = count_statements(store, "SELECT"), count_statements(store, "DELETE")
    assert store.prune_runs(keep_per_job=3, batch=3) == 27 + 1
    # 28 ids read as 7 + 7 + 7 + 7, then an empty read; each 7 deleted as 3 + 3 + 1.
    assert (reads[0], deletes[0]) == (5, 12)
    assert [r.scheduled_at for r in store.list_runs("a")[0]] == (
        [T0 + timedelta(minutes=m) for m in (29, 28, 27)] + [T0 - timedelta(minutes=5)]
    )
    assert store.list_runs("b")[1] == 3


def test_cancelled_stops_between_batches_and_the_next_call_carries_on(store: Store) -> None:
    bulk_runs(store, "a", 25)
    asked = [0]

    def cancelled() -> bool:
        asked[0] += 1
        return asked[0] > 2  # two batches, then stop

    assert store.prune_runs(keep_per_job=5, batch=4, cancelled=cancelled) == 8
    assert store.list_runs("a")[1] == 17
    assert store.prune_runs(keep_per_job=5, batch=4) == 12
    assert [r.scheduled_at for r in store.list_runs("a")[0]] == [T0 + timedelta(minutes=m) for m in range(24, 19, -1)]


def test_scheduling_writes_go_on_while_a_large_history_is_pruned(store: Store) -> None:
    """Each batch is a short transaction (and, on SQLite, followed by a pause), so a
    writer never waits for the whole pruning: it gets in between batches."""
    bulk_runs(store, "a", 30_000)
    latencies: list[float] = []
    pruning = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        minute = 0
        try:
            pruning.wait(30)
            while not done.is_set():
                started = time.monotonic()
                r = store.create_run(run("b", minute))
                store.update_run(r.evolve(state=RunState.RUNNING))
                latencies.append(time.monotonic() - started)
                minute += 1
                time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        pruning.set()
        assert store.prune_runs(keep_per_job=10, batch=200) == 29_990
    finally:
        done.set()
        thread.join(60)
    assert errors == []
    assert len(latencies) >= 5, "the writer should have got in between the batches"
    assert max(latencies) < 2.0
    assert store.list_runs("a")[1] == 10 and store.list_runs("b")[1] == len(latencies)
