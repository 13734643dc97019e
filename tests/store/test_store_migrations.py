"""Alembic migrations on SQLite and PostgreSQL: one head, a full round trip with data,
and no drift between the migrations and the models."""

from __future__ import annotations

import threading

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from moroccron.model import Owner, RunState
from moroccron.store import Store
from moroccron.store.models import Base
from tests.store.factories import T0, job, run

TABLES = {
    "jobs",
    "job_owners",
    "job_labels",
    "job_parents",
    "runs",
    "owners",
    "job_state",
    "framework",
    "dependency_progress",
    "outbox",
    "session_versions",
}


def tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names()) - {"alembic_version"}


def test_there_is_a_single_head() -> None:
    with Store("sqlite://") as store:
        script = ScriptDirectory.from_config(store.alembic_config())
        assert len(script.get_heads()) == 1
        assert store.head_revision() == script.get_current_head()


def test_round_trip_with_data(db_url: str) -> None:
    with Store(db_url) as store:
        assert store.current_revision() is None and tables(store) == set()
        store.upgrade()
        assert store.current_revision() == store.head_revision()
        assert tables(store) == TABLES

        store.create_job(job("a", owners=("alice",), labels={"k": "v"}))
        store.create_job(job("b", schedule=None, parents=("a",)))
        r = store.create_run(run("a"), epoch=store.take_leadership("me", "h"))
        store.update_run(r.evolve(state=RunState.RUNNING))
        store.create_run(run("b"))
        store.put_owner(Owner(id="alice@example.com"))
        store.set_framework_id("fw-1")
        store.set_dependency_progress("b", "a", r.task_id, T0)

        store.downgrade("base")
        assert store.current_revision() is None and tables(store) == set()

        store.upgrade("head")
        assert tables(store) == TABLES
        assert store.all_jobs() == [] and store.list_runs() == ([], 0)
        assert store.list_owners() == [] and store.get_framework_id() is None
        assert store.current_epoch() == 0 and store.get_dependency_progress() == {}
        store.create_job(job("a"))  # usable again
        assert store.take_leadership("me", "h") == 1


def test_each_revision_downgrades_one_step_and_keeps_older_data(db_url: str) -> None:
    """Walk the revisions one at a time, down then up, with data in every table: each
    downgrade drops only what its upgrade added, and every older row survives it."""
    with Store(db_url) as store:
        script = ScriptDirectory.from_config(store.alembic_config())
        revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
        assert revisions[:3] == ["0001", "0002", "0003"]
        store.upgrade()
        store.apply_jobs([job("a"), job("b", schedule=None, parents=("a",))])
        parent = store.create_run(run("a", state=RunState.SUCCEEDED, finished_at=T0))
        store.set_dependency_progress("b", "a", parent.task_id, T0)
        store.enqueue_notification("failure", "a", parent.task_id, {"x": 1}, now=T0)

        for older in reversed(revisions[:-1]):
            store.downgrade(older)
            assert store.current_revision() == older
            assert [j.name for j in store.all_jobs()] == ["a", "b"]
            # read as SQL: the model has columns an older schema does not (runs.relaunches)
            with store.engine.connect() as conn:
                assert conn.execute(text("SELECT task_id FROM runs")).scalars().all() == [parent.task_id]
        assert "dependency_progress" not in tables(store)

        for newer in revisions[1:]:
            store.upgrade(newer)
            assert store.current_revision() == newer
        assert tables(store) == TABLES
        assert store.list_runs() == ([parent], 1)
        assert store.get_dependency_progress() == {}  # dropped with its table: parents must succeed again
        assert store.notifications() == []
        store.set_dependency_progress("b", "a", parent.task_id, T0)
        assert store.get_dependency_progress() == {"b": {"a": (parent.task_id, T0)}}


def test_migrations_match_the_models(db_url: str) -> None:
    with Store(db_url) as store:
        store.upgrade()
        with store.migration_connection() as conn:
            command.check(store.alembic_config(conn))  # raises on any pending autogenerate op
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            assert compare_metadata(context, Base.metadata) == []


def test_instances_starting_together_upgrade_once(db_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def start() -> None:
        try:
            with Store(db_url) as store:
                barrier.wait()
                store.ensure_schema()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with Store(db_url) as store:
        assert store.current_revision() == store.head_revision() and tables(store) == TABLES
        assert store.current_epoch() == 0  # the framework row was inserted once
