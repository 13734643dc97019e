"""The store's unit of work: the same store bound to one transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from moroccron.errors import NotFound
from moroccron.store import Store
from tests.store.factories import job, run


def test_calls_on_a_unit_of_work_commit_together(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert isinstance(uow, Store) and uow is not store
        uow.create_job(job("a"))
        uow.create_run(run("a"))
        assert uow.get_job("a").name == "a"  # its reads see its own writes
    assert store.get_job("a").name == "a" and store.list_runs("a")[1] == 1


def test_a_unit_of_work_that_raises_leaves_nothing_and_the_store_usable(store: Store) -> None:
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.create_job(job("a"))
        raise RuntimeError("boom")
    with pytest.raises(NotFound):
        store.get_job("a")
    store.create_job(job("b"))  # the store it came from still opens a transaction per call
    assert store.job_names() == {"b"}


def test_a_unit_of_work_asked_for_one_joins_itself(store: Store) -> None:
    with store.unit_of_work() as uow:
        with uow.unit_of_work() as inner:
            assert inner is uow
            inner.create_job(job("a"))
        assert uow.job_names() == {"a"}
    assert store.job_names() == {"a"}


def test_the_job_unit_of_work_holds_the_graph_lock_and_checks_through_it(store: Store) -> None:
    store.put_job(job("a"))
    with store.job_unit_of_work() as uow:
        uow.put_job(job("b", schedule=None, parents=("a",)))
        assert uow.parent_map(["b"]) == {"b": ("a",)}
        assert uow.children_of("a") == ["b"]
    assert store.children_of("a") == ["b"]


def test_a_job_unit_of_work_inside_a_unit_of_work_joins_it(store: Store) -> None:
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.put_job(job("a"))
        with uow.job_unit_of_work() as inner:
            assert inner is uow
            inner.put_job(job("b", schedule=None, parents=("a",)))
        raise RuntimeError("both writes go with the outer transaction")
    assert store.job_names() == set()
