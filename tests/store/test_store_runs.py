"""Runs in the Store, on SQLite and PostgreSQL: identity, fencing, time, queries, pruning."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from moroccron.errors import Conflict, NotFound, StaleEpoch, ValidationError
from moroccron.model import Run, RunState, RunTrigger
from moroccron.store import Store
from moroccron.store.models import RunRow
from tests.store.factories import T0, job, run


@pytest.fixture
def store(store: Store) -> Store:
    """The shared store fixture with jobs ``a`` and ``b`` in it."""
    store.apply_jobs([job("a"), job("b")], [])
    return store


def test_create_and_get_round_trips_every_field(store: Store) -> None:
    r = run(
        "a",
        attempt=2,
        state=RunState.FAILED,
        trigger=RunTrigger.RETRY,
        launched_at=T0 + timedelta(seconds=1.5),
        started_at=T0 + timedelta(seconds=2),
        finished_at=T0 + timedelta(seconds=9),
        exit_status=3,
        reason="REASON_COMMAND_EXECUTOR_FAILED",
        message="exit 3",
        agent_id="agent-1",
        hostname="h1",
        arguments=("--x", "y"),
        caused_by="a.1772366400.1",
    )
    created = store.create_run(r)
    assert created.id is not None and created == r.evolve(id=created.id)
    assert store.get_run("a", r.scheduled_at, 2) == created
    assert store.get_run_by_id(created.id) == created
    assert store.get_run_by_task_id(r.task_id) == created
    with store.transaction(readonly=True) as tx:
        assert tx.scalar(select(RunRow.skew_seconds)) == pytest.approx(1.5)
        assert tx.scalar(select(RunRow.epoch)) is None


def test_times_come_back_aware_utc_with_microseconds(store: Store) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    when = datetime(2026, 7, 1, 18, 29, 59, 123456, tzinfo=india)
    r = store.create_run(Run(job="a", scheduled_at=when, launched_at=when + timedelta(microseconds=1)))
    back = store.get_run_by_id(r.id or 0)
    assert back.scheduled_at == when and back.scheduled_at.tzinfo is UTC
    assert back.scheduled_at.microsecond == 123456 and back.scheduled_at.hour == 12
    assert back.launched_at == when + timedelta(microseconds=1)
    assert store.get_run("a", when.astimezone(UTC)) == back  # the same instant in another zone
    assert back.arguments is None and back.queued_at is None


def test_naive_datetimes_are_refused_by_field(store: Store) -> None:
    with pytest.raises(ValidationError, match="scheduled_at: must be timezone-aware"):
        store.create_run(Run(job="a", scheduled_at=datetime(2026, 1, 1)))
    with pytest.raises(ValidationError, match="finished_at"):
        store.create_run(run("a", finished_at=datetime(2026, 1, 1)))
    assert store.list_runs() == ([], 0)


def test_the_same_run_cannot_be_created_twice(store: Store) -> None:
    first = store.create_run(run("a"))
    with pytest.raises(Conflict, match=r"run a\.\d+\.0 of job 'a' .* already exists"):
        store.create_run(run("a", state=RunState.RUNNING))
    assert store.list_runs() == ([first], 1)
    store.create_run(run("a", attempt=1))  # another attempt is another run
    store.create_run(run("b"))  # and so is the same time of another job


def test_a_run_of_an_unknown_job_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="job 'zz' not found"):
        store.create_run(run("zz"))


def test_update_run(store: Store) -> None:
    r = store.create_run(run("a"))
    launched = r.evolve(state=RunState.RUNNING, launched_at=T0 + timedelta(seconds=4), agent_id="ag", hostname="h")
    assert store.update_run(launched) == launched
    assert store.get_run_by_task_id(r.task_id) == launched
    assert store.live_runs() == [launched]
    with pytest.raises(NotFound, match="not found"):
        store.update_run(run("a", minutes=99))


def test_list_runs_orders_filters_and_pages(store: Store) -> None:
    for m in range(10):
        store.create_run(run("a", m, state=RunState.SUCCEEDED if m < 8 else RunState.QUEUED))
        store.create_run(run("b", m))
    store.create_run(run("a", 9, attempt=1))
    runs, total = store.list_runs("a")
    assert total == 11
    assert [(r.scheduled_at, r.attempt) for r in runs][:3] == [
        (T0 + timedelta(minutes=9), 1),
        (T0 + timedelta(minutes=9), 0),
        (T0 + timedelta(minutes=8), 0),
    ]
    oldest = store.list_runs("a", newest_first=False, limit=2)[0]
    assert [r.scheduled_at for r in oldest] == [T0, T0 + timedelta(minutes=1)]
    page, total = store.list_runs("a", offset=10, limit=5)
    assert total == 11 and [r.scheduled_at for r in page] == [T0]
    assert store.list_runs(states=[RunState.QUEUED])[1] == 13
    assert store.list_runs("a", states=["queued"])[1] == 3
    assert store.list_runs()[1] == 21
    assert store.list_runs("nobody") == ([], 0)


def test_live_unfinished_and_last(store: Store) -> None:
    states = list(RunState)
    for m, state in enumerate(states):
        store.create_run(run("a", m, state=state))
    assert {r.state for r in store.live_runs()} == {RunState.LAUNCHED, RunState.STARTING, RunState.RUNNING}
    assert {r.state for r in store.unfinished_runs()} == {s for s in states if not s.final}
    assert [r.scheduled_at for r in store.live_runs()] == sorted(r.scheduled_at for r in store.live_runs())
    last = store.last_run("a")
    assert last is not None and last.scheduled_at == T0 + timedelta(minutes=len(states) - 1)
    assert store.last_run("b") is None


def test_last_final_runs(store: Store) -> None:
    store.create_run(run("a", 0, state=RunState.SUCCEEDED))
    store.create_run(run("a", 5, state=RunState.FAILED))
    retry = store.create_run(run("a", 5, attempt=1, state=RunState.FAILED))
    store.create_run(run("a", 9, state=RunState.RUNNING))  # newer, but not final
    b = store.create_run(run("b", 1, state=RunState.SKIPPED))
    store.create_job(job("c"))
    store.create_run(run("c", 0, state=RunState.QUEUED))
    assert store.last_final_runs() == {"a": retry, "b": b}


def test_prune_keeps_the_newest_n_per_job_and_every_unfinished_run(store: Store) -> None:
    for m in range(12):
        store.create_run(run("a", m, state=RunState.SUCCEEDED))
        store.create_run(run("b", m, state=RunState.FAILED))
    store.create_run(run("a", 0, attempt=1, state=RunState.RUNNING))  # old but live
    store.create_job(job("c"))
    store.create_run(run("c", 0, state=RunState.SUCCEEDED))
    assert store.prune_runs(keep_per_job=3, batch=4) == 9 + 9
    a = store.list_runs("a")[0]
    assert [(r.scheduled_at, r.attempt) for r in a] == [(T0 + timedelta(minutes=m), 0) for m in (11, 10, 9)] + [(T0, 1)]
    assert [r.scheduled_at for r in store.list_runs("b")[0]] == [T0 + timedelta(minutes=m) for m in (11, 10, 9)]
    assert store.list_runs("c")[1] == 1
    assert store.prune_runs(keep_per_job=3) == 0
    assert store.prune_runs(keep_per_job=0) == 3 + 3 + 1
    assert store.list_runs()[0] == store.live_runs()


# --------------------------------------------------------------------------- fencing


def test_fencing_refuses_writes_of_a_replaced_leader(store: Store) -> None:
    assert store.current_epoch() == 0
    old = store.take_leadership("one", "10.0.0.1:4400")
    r = store.create_run(run("a"), epoch=old)
    new = store.take_leadership("two", "10.0.0.2:4400")
    assert (old, new) == (1, 2)
    with pytest.raises(StaleEpoch, match="epoch 1 has ended"):
        store.create_run(run("a", 1), epoch=old)
    with pytest.raises(StaleEpoch):
        store.update_run(r.evolve(state=RunState.KILLED), epoch=old)
    assert store.list_runs() == ([r], 1)  # nothing written
    assert store.get_run_by_id(r.id or 0).state == RunState.QUEUED
    store.update_run(r.evolve(state=RunState.KILLED), epoch=new)
    store.create_run(run("a", 1), epoch=new)
    with store.transaction(readonly=True) as tx:
        assert sorted(e or 0 for e in tx.scalars(select(RunRow.epoch))) == [1, 2]


def test_leadership_change_waits_for_a_run_write_in_flight(store: Store) -> None:
    """The epoch check and the insert are one atomic step: a new leader cannot take over
    between them. Its take_leadership waits for the old leader's transaction instead."""
    epoch = store.take_leadership("one", "h1")
    taken: list[int] = []
    with store.unit_of_work() as uow:
        uow.create_run(run("a"), epoch=epoch)
        thief = threading.Thread(target=lambda: taken.append(store.take_leadership("two", "h2")))
        thief.start()
        time.sleep(0.5)
        assert taken == []  # blocked behind the write in flight
    thief.join(timeout=30)
    assert taken == [epoch + 1]
    assert store.list_runs()[1] == 1  # committed before the handover
    with pytest.raises(StaleEpoch):
        store.create_run(run("a", 1), epoch=epoch)


# --------------------------------------------------------------------------- concurrency


def test_two_threads_creating_the_same_run_exactly_one_wins(store: Store) -> None:
    for minute in range(5):
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def launch(m: int = minute, b: threading.Barrier = barrier, out: list[str] = outcomes) -> None:
            b.wait()
            try:
                store.create_run(run("a", m), epoch=None)
                out.append("created")
            except Conflict:
                out.append("conflict")

        threads = [threading.Thread(target=launch) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes) == ["conflict", "created"]
    assert store.list_runs("a")[1] == 5


def test_many_threads_writing_different_runs_all_succeed(store: Store) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for m in range(15):
                r = store.create_run(run("b", n * 100 + m))
                store.update_run(r.evolve(state=RunState.SUCCEEDED, finished_at=r.scheduled_at))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert store.list_runs("b", states=[RunState.SUCCEEDED])[1] == 60


def test_save_runs_creates_and_updates_in_bulk_with_the_same_guarantees(store: Store) -> None:
    epoch = store.take_leadership("one", "h1")
    store.save_runs([run("a", 0), run("a", 5), run("b", 0)], [], epoch=epoch)
    launched = run("a", 0, state=RunState.LAUNCHED, launched_at=T0 + timedelta(seconds=1), agent_id="ag")
    finished = run("b", 0, state=RunState.SUCCEEDED, finished_at=T0 + timedelta(minutes=1), exit_status=0)
    store.save_runs([run("a", 10)], [launched, finished], epoch=epoch)
    got = {r.task_id: r for r in store.list_runs(limit=10)[0]}
    assert len(got) == 4
    assert got[launched.task_id].state == RunState.LAUNCHED and got[launched.task_id].skew == 1.0
    assert got[finished.task_id].exit_status == 0 and got[run("a", 5).task_id].state == RunState.QUEUED
    with pytest.raises(Conflict):
        store.save_runs([run("a", 15), run("a", 5)], [], epoch=epoch)
    assert store.list_runs(limit=10)[1] == 4, "nothing of a refused batch is stored"
    with pytest.raises(NotFound):
        store.save_runs([], [run("a", 99, state=RunState.LAUNCHED)], epoch=epoch)
    with pytest.raises(NotFound):
        store.save_runs([run("ghost", 0)], [], epoch=epoch)
    store.take_leadership("two", "h2")
    with pytest.raises(StaleEpoch):
        store.save_runs([run("a", 20)], [], epoch=epoch)


def test_check_epoch_fences_without_writing(store: Store) -> None:
    old = store.take_leadership("one", "10.0.0.1:4400")
    store.check_epoch(old)
    new = store.take_leadership("two", "10.0.0.2:4400")
    with pytest.raises(StaleEpoch, match=f"epoch {old} has ended"):
        store.check_epoch(old)
    store.check_epoch(new)
    store.check_epoch(None)


def test_job_overview_shows_a_run_prepared_ahead_as_next_not_last(store: Store) -> None:
    done = store.create_run(run("a", 0, state=RunState.SUCCEEDED, launched_at=T0, finished_at=T0))
    store.create_run(run("a", 5))  # QUEUED, due at T0+5 min: prepared ahead of its second
    store.set_job_states({"a": (T0 + timedelta(minutes=5), T0 + timedelta(minutes=10))})
    now = T0 + timedelta(minutes=5) - timedelta(seconds=1)
    nxt, last = store.job_overview(["a", "b"], now=now)["a"]
    assert nxt == T0 + timedelta(minutes=5) and last is not None and last.id == done.id
    assert store.job_overview(["b"], now=now)["b"] == (None, None)
    # once due, the queued run is the newest run that was due, and the next is the schedule's
    nxt, last = store.job_overview(["a"], now=T0 + timedelta(minutes=5))["a"]
    assert nxt == T0 + timedelta(minutes=10) and last is not None and last.state == RunState.QUEUED
