"""Dependency progress in the Store, on SQLite and PostgreSQL: which parents of a
dependent job have succeeded since it last ran, kept across restarts and leaders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from moroccron.errors import NotFound, StaleEpoch, ValidationError
from moroccron.store import Store
from tests.store.factories import T0, job, run


@pytest.fixture
def store(store: Store) -> Store:
    """Parents ``a`` and ``b`` (scheduled) and their children ``c`` and ``d`` (dependent)."""
    store.apply_jobs(
        [job("a"), job("b"), job("c", schedule=None, parents=("a", "b")), job("d", schedule=None, parents=("a",))], []
    )
    return store


def test_set_get_and_clear(store: Store) -> None:
    assert store.get_dependency_progress() == {}
    store.set_dependency_progress("c", "a", "a.1772366400.0", T0)
    store.set_dependency_progress("d", "a", "a.1772366400.0", T0)
    store.set_dependency_progress("c", "b", "b.1772366460.1", T0 + timedelta(minutes=1))
    assert store.get_dependency_progress() == {
        "c": {"a": ("a.1772366400.0", T0), "b": ("b.1772366460.1", T0 + timedelta(minutes=1))},
        "d": {"a": ("a.1772366400.0", T0)},
    }

    store.clear_dependency_progress("c")  # c ran: its parents must succeed again
    assert store.get_dependency_progress() == {"d": {"a": ("a.1772366400.0", T0)}}
    store.clear_dependency_progress("c")  # nothing left to clear is not an error
    store.clear_dependency_progress("no-such-job")  # nor is a job deleted meanwhile
    assert store.get_dependency_progress() == {"d": {"a": ("a.1772366400.0", T0)}}


def test_a_second_success_of_the_same_parent_replaces_the_first(store: Store) -> None:
    store.set_dependency_progress("c", "a", "a.1.0", T0)
    store.set_dependency_progress("c", "a", "a.2.0", T0 + timedelta(hours=1))
    assert store.get_dependency_progress() == {"c": {"a": ("a.2.0", T0 + timedelta(hours=1))}}


def test_times_are_aware_utc_and_naive_ones_are_refused(store: Store) -> None:
    tokyo = timezone(timedelta(hours=9))
    at = datetime(2026, 3, 1, 21, 0, 0, 123456, tzinfo=tokyo)
    store.set_dependency_progress("c", "a", "a.1.0", at)
    ((task_id, back),) = store.get_dependency_progress()["c"].values()
    assert task_id == "a.1.0" and back == at and back.tzinfo is UTC and back.hour == 12
    assert back.microsecond == 123456
    with pytest.raises(ValidationError, match="at: must be timezone-aware"):
        store.set_dependency_progress("c", "b", "b.1.0", datetime(2026, 3, 1))
    assert set(store.get_dependency_progress()["c"]) == {"a"}


def test_progress_of_an_unknown_child_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="job 'zz' not found"):
        store.set_dependency_progress("zz", "a", "a.1.0", T0)
    assert store.get_dependency_progress() == {}


def test_deleting_the_child_deletes_its_progress(store: Store) -> None:
    store.set_dependency_progress("c", "a", "a.1.0", T0)
    store.set_dependency_progress("d", "a", "a.1.0", T0)
    store.delete_job("c")
    assert store.get_dependency_progress() == {"d": {"a": ("a.1.0", T0)}}
    store.create_job(job("c", schedule=None, parents=("a",)))  # a new job of the same name
    assert "c" not in store.get_dependency_progress()  # starts from nothing


def test_rows_naming_a_deleted_parent_are_harmless(store: Store) -> None:
    store.set_dependency_progress("d", "a", "a.1.0", T0)
    store.set_dependency_progress("d", "gone", "gone.1.0", T0)  # a parent that is no job at all
    store.put_job(job("d", schedule=None, parents=("b",)))  # d no longer depends on a
    store.delete_job("a")
    # Kept as recorded: the engine ignores parents the child does not have, and the
    # child's next run clears them.
    assert store.get_dependency_progress() == {"d": {"a": ("a.1.0", T0), "gone": ("gone.1.0", T0)}}
    store.clear_dependency_progress("d")
    assert store.get_dependency_progress() == {}


def test_writes_of_a_replaced_leader_are_refused_and_leave_nothing(store: Store) -> None:
    old = store.take_leadership("one", "h1")
    store.set_dependency_progress("c", "a", "a.1.0", T0, epoch=old)
    new = store.take_leadership("two", "h2")
    with pytest.raises(StaleEpoch, match=f"epoch {old} has ended"):
        store.set_dependency_progress("c", "b", "b.1.0", T0, epoch=old)
    with pytest.raises(StaleEpoch):
        store.set_dependency_progress("c", "a", "a.2.0", T0, epoch=old)  # nor an update
    with pytest.raises(StaleEpoch):
        store.clear_dependency_progress("c", epoch=old)
    assert store.get_dependency_progress() == {"c": {"a": ("a.1.0", T0)}}

    store.set_dependency_progress("c", "b", "b.1.0", T0, epoch=new)
    assert set(store.get_dependency_progress()["c"]) == {"a", "b"}
    store.clear_dependency_progress("c", epoch=new)
    assert store.get_dependency_progress() == {}


def test_progress_commits_or_rolls_back_with_the_callers_transaction(store: Store) -> None:
    """What the shell does: the child's run and the reset of its progress are one step."""
    store.set_dependency_progress("c", "a", "a.1.0", T0)
    store.create_run(run("c"))
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.set_dependency_progress("c", "b", "b.1.0", T0)
        uow.clear_dependency_progress("c")
        assert uow.get_dependency_progress() == {}  # seen inside the transaction
        raise RuntimeError("the commit fails")
    assert store.get_dependency_progress() == {"c": {"a": ("a.1.0", T0)}}

    with store.unit_of_work() as uow:
        uow.set_dependency_progress("c", "b", "b.1.0", T0)
        with pytest.raises(NotFound):  # a failing call inside the transaction ...
            uow.set_dependency_progress("zz", "a", "a.1.0", T0)
        uow.clear_dependency_progress("d")  # ... leaves the rest of it usable
    assert store.get_dependency_progress() == {"c": {"a": ("a.1.0", T0), "b": ("b.1.0", T0)}}
