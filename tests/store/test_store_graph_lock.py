"""The job-graph lock and conditional job writes in the Store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from moroccron.errors import DependencyError, NotFound, StaleVersion
from moroccron.store import Store
from moroccron.store.store import JobRecord
from tests.conftest import _fresh_postgres
from tests.store.factories import job


def test_save_job_builds_from_the_stored_record_checks_and_writes(store):
    seen: list[JobRecord | None] = []

    def build(current: JobRecord | None) -> Any:
        seen.append(current)
        return job("a", description="v" + str(current.version + 1 if current else 1))

    record, created = store.save_job("a", build)
    assert created and seen == [None] and record.version == 1 and record.spec.description == "v1"
    record, created = store.save_job("a", build)
    assert not created and seen[-1].version == 1 and record.version == 2 and record.spec.description == "v2"

    def refuse(spec: Any, uow: Store) -> None:
        assert uow.parent_map(["a"]) == {"a": ()}, "the check reads through the write's transaction"
        raise DependencyError([])

    with pytest.raises(DependencyError):
        store.save_job("a", build, refuse)
    assert store.get_job_record("a").version == 2, "nothing written when the check refuses"


def test_conditional_delete(store):
    store.put_job(job("a"))
    store.set_disabled("a", True)
    with pytest.raises(StaleVersion):
        store.delete_job("a", expected_version=1)
    assert store.job_names() == {"a"}
    store.delete_job("a", expected_version=2)
    with pytest.raises(NotFound):
        store.delete_job("a", expected_version=2)


def test_the_store_checks_a_batch_as_it_will_stand(store):
    """One job losing a link while another gains the reverse one is no cycle."""
    store.apply_jobs([job("a", schedule=None, parents=("b",)), job("b")])
    store.apply_jobs([job("a"), job("b", schedule=None, parents=("a",))])  # a loses b, b gains a
    assert store.parent_map() == {"a": (), "b": ("a",)}
    # A chain deeper than one level, closed by its last link.
    store.apply_jobs([job("c", schedule=None, parents=("b",)), job("d", schedule=None, parents=("c",))])
    with pytest.raises(DependencyError) as err:
        store.put_job(job("a", schedule=None, parents=("d",)))
    assert "cycle" in str(err.value) and err.value.errors[0].field.endswith(".parents")
    # A big change reads the whole graph at once, with the same answer.
    many = [job(f"n{i}", schedule=None, parents=(f"n{i + 1}",)) for i in range(300)] + [
        job("n300", schedule=None, parents=("n0",))
    ]
    with pytest.raises(DependencyError):
        store.apply_jobs(many)
    assert "n0" not in store.job_names()


@pytest.fixture
def pg_store(postgres_url: str, _postgres_template: str) -> Iterator[Store]:
    with _fresh_postgres(postgres_url, _postgres_template) as url, Store(url) as s:
        yield s


def _waiting_for_the_graph_lock(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar()


def _poll(condition: Any, what: str) -> None:
    import time

    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.postgres
def test_postgres_job_writers_wait_for_the_lock_and_the_scheduler_does_not(pg_store):
    """While one transaction holds the graph lock, another Store's job write waits for it
    (seen in pg_locks), and the scheduler's fenced run writes and disabling do not."""
    from datetime import UTC, datetime

    from moroccron.model import Run

    store = pg_store
    store.put_job(job("a"))
    epoch = store.take_leadership("leader-1", "127.0.0.1:4400")
    with Store(store.url) as other:
        done = threading.Event()
        with store.job_unit_of_work() as uow:
            uow.get_job_record("a")
            writer = threading.Thread(
                target=lambda: (other.put_job(job("b", schedule=None, parents=("a",))), done.set())
            )
            writer.start()
            _poll(lambda: _waiting_for_the_graph_lock(store) == 1, "the second writer to wait for the lock")
            # Not held up by the lock: the scheduler's fenced writes and its disabling of a job.
            other.create_run(Run(job="a", scheduled_at=datetime(2026, 1, 1, tzinfo=UTC)), epoch=epoch)
            with other.unit_of_work() as uow:
                uow.create_run(Run(job="a", scheduled_at=datetime(2026, 1, 2, tzinfo=UTC)), epoch=epoch)
                uow.set_disabled("a", True)
            assert not done.is_set()
        writer.join(timeout=60)
        assert done.is_set() and store.parent_map(["b"]) == {"b": ("a",)}


@pytest.mark.postgres
def test_postgres_save_job_builds_again_when_the_job_is_disabled_meanwhile(pg_store):
    """set_disabled takes no graph lock: if it changes the job between save_job's read
    and its write, the write is not made over the stale read; build runs again on the
    new record, and the change made meanwhile is kept."""
    store = pg_store
    store.put_job(job("a"))
    with Store(store.url) as other:
        calls: list[int] = []

        def build(current: JobRecord | None) -> Any:
            assert current is not None
            calls.append(current.version)
            if len(calls) == 1:
                other.set_disabled("a", True)  # another connection, committed at once
            return current.spec.evolve(description="edited")

        record, _ = store.save_job("a", build)
    assert calls == [1, 2]
    assert record.version == 3 and record.spec.disabled and record.spec.description == "edited"
