"""Jobs in the Store, on SQLite and PostgreSQL: CRUD, versions, filters, apply."""

from __future__ import annotations

import threading
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import event

from moroccron.errors import Conflict, NotFound, ValidationError
from moroccron.model import Constraint, Container, Notify, Resources, Triggers, Volume
from moroccron.store import Store
from tests.store.factories import job, run


def rich_job(name: str = "etl"):
    """A job with every kind of field filled, to prove the JSON round trip loses nothing."""
    return job(
        name,
        command="python -m etl --day {{ds}}",
        shell=False,
        arguments=("--verbose",),
        schedule="0 3 * * *",
        timezone="Europe/London",
        owners=("alice@example.com", "bob@example.com"),
        description="Nightly ETL — ünïcode too",
        resources=Resources(cpus=0.5, mem=256, disk=10),  # Docker gives a task no GPUs
        container=Container(
            type="docker",
            image="python:3.11",
            volumes=(
                Volume("/data", "/srv", "RW"),
                Volume(
                    "/cache",
                    source={
                        "type": "docker_volume",
                        "name": "etl-cache",
                        "driver": "local",
                        "driver_options": {"o": "bind"},
                    },
                ),
            ),
            force_pull=True,
            network="etl-net",
            parameters=[{"key": "env", "value": "A=1"}, {"key": "env", "value": "B=2"}],
        ),
        constraints=(Constraint("hostname", "UNIQUE"), Constraint("rack", "LIKE", "r[12]")),
        env={"A": "1"},
        uris=("https://example.com/x.tgz",),
        user="etl",
        retries=3,
        retry_delay_seconds=30,
        timeout_seconds=3600,
        concurrency="replace",
        starting_deadline_seconds=120,
        catchup="all",
        soft_error=True,
        triggers=Triggers(on_success=("report",), on_failure=("cleanup",)),
        notify=Notify(on_failure=("slack:#etl",)),
        labels={"team": "data", "tier": "1"},
        disable_after_failures=5,
        role="etl/nightly",
        kill_grace_seconds=30,
    )


# --------------------------------------------------------------------------- CRUD


def test_create_and_get_round_trips_every_field(store: Store) -> None:
    spec = rich_job()
    job_id = store.create_job(spec)
    assert isinstance(job_id, int)
    assert store.get_job("etl") == spec
    assert store.get_job("etl").to_dict() == spec.to_dict()
    # A job runs on a schedule or after its parents: the parents get a job of their own.
    dependent = rich_job("report").evolve(schedule=None, parents=("extract", "etl"))
    store.create_job(dependent)
    assert store.get_job("report") == dependent and store.get_job("report").parents == ("extract", "etl")


def test_create_twice_is_a_conflict_naming_the_job(store: Store) -> None:
    store.create_job(job("a"))
    with pytest.raises(Conflict, match="job 'a' already exists"):
        store.create_job(job("a", command="other"))
    assert store.get_job("a").command == "echo a"


def test_missing_job_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="job 'nope' not found"):
        store.get_job("nope")
    with pytest.raises(NotFound, match="job 'nope' not found"):
        store.delete_job("nope")
    with pytest.raises(NotFound, match="job 'nope' not found"):
        store.set_disabled("nope", True)


def test_record_has_version_and_aware_timestamps(store: Store) -> None:
    store.create_job(job("a"))
    rec = store.get_job_record("a")
    assert rec.name == "a" and rec.version == 1
    assert rec.created_at.tzinfo is UTC and rec.created_at == rec.updated_at


def test_put_job_creates_then_replaces_and_bumps_the_version(store: Store) -> None:
    assert store.put_job(job("a")) == (job("a"), True)
    spec, created = store.put_job(job("a", command="echo 2"))
    assert not created and spec.command == "echo 2"
    rec = store.get_job_record("a")
    assert rec.version == 2 and rec.spec.command == "echo 2" and rec.updated_at >= rec.created_at


def test_putting_the_same_spec_again_changes_nothing(store: Store) -> None:
    store.put_job(job("a"))
    before = store.get_job_record("a")
    assert store.put_job(job("a")) == (job("a"), False)
    assert store.get_job_record("a") == before


def test_optimistic_concurrency(store: Store) -> None:
    store.create_job(job("a"))
    store.put_job(job("a", command="v2"), expected_version=1)
    with pytest.raises(Conflict, match="job 'a' is at version 2, not 1"):
        store.put_job(job("a", command="lost update"), expected_version=1)
    assert store.get_job("a").command == "v2"
    with pytest.raises(Conflict, match="job 'a' already exists"):
        store.put_job(job("a"), expected_version=0)
    with pytest.raises(Conflict, match="job 'b' does not exist"):
        store.put_job(job("b"), expected_version=3)
    with pytest.raises(NotFound):
        store.get_job("b")
    assert store.put_job(job("b"), expected_version=0)[1] is True


def test_delete_job_cascades_to_runs_index_rows_and_state(store: Store) -> None:
    store.create_job(job("a", owners=("alice",), labels={"k": "v"}, schedule=None, parents=("p",)))
    store.create_job(job("b"))
    r = store.create_run(run("a"))
    store.set_job_state("a", r.scheduled_at, None)
    store.delete_job("a")
    with pytest.raises(NotFound):
        store.get_job("a")
    with pytest.raises(NotFound):
        store.get_run_by_task_id(r.task_id)
    assert store.get_job_states() == {}
    assert store.list_jobs(owner="alice") == ([], 0)
    assert store.list_jobs(label=("k", "v")) == ([], 0)
    assert store.children_of("p") == []
    assert [j.name for j in store.all_jobs()] == ["b"]


def test_set_disabled(store: Store) -> None:
    store.create_job(job("a"))
    assert store.set_disabled("a", True).disabled is True
    rec = store.get_job_record("a")
    assert rec.spec.disabled and rec.version == 2
    store.set_disabled("a", True)  # already disabled: no new version
    assert store.get_job_record("a").version == 2
    assert store.list_jobs(disabled=True)[1] == 1
    assert store.set_disabled("a", False).disabled is False
    assert store.list_jobs(disabled=True)[1] == 0


def test_children_of(store: Store) -> None:
    store.create_job(job("root"))
    store.create_job(job("c2", schedule=None, parents=("root",)))
    store.create_job(job("c1", schedule=None, parents=("root", "other")))
    store.create_job(job("unrelated"))
    assert store.children_of("root") == ["c1", "c2"]
    assert store.children_of("other") == ["c1"]
    store.put_job(job("c1", schedule=None, parents=("other",)))  # index rows follow the spec
    assert store.children_of("root") == ["c2"]


def test_duplicate_owners_are_stored_once(store: Store) -> None:
    store.create_job(job("a", owners=("alice", "alice")))
    assert store.list_jobs(owner="alice")[1] == 1


# --------------------------------------------------------------------------- listing


@pytest.fixture
def many(store: Store) -> Store:
    """300 jobs: owner, label, disabled and text vary with the number."""
    specs = [
        job(
            f"job-{i:03d}",
            owners=("alice",) if i % 2 == 0 else ("bob", "carol"),
            labels={"team": "a" if i % 3 == 0 else "b"},
            disabled=i % 7 == 0,
            description="Backs up the DATABASE" if i % 10 == 0 else "",
            command="rsync 100%_done" if i == 5 else f"echo {i}",
        )
        for i in range(300)
    ]
    store.apply_jobs(specs, [])
    return store


def test_list_jobs_filters(many: Store) -> None:
    assert many.list_jobs()[1] == 300
    assert many.list_jobs(owner="alice")[1] == 150
    assert many.list_jobs(owner="carol")[1] == 150
    assert many.list_jobs(owner="nobody") == ([], 0)
    assert many.list_jobs(label=("team", "a"))[1] == 100
    assert many.list_jobs(label=("team", "c"))[1] == 0
    assert many.list_jobs(disabled=True)[1] == 43
    assert many.list_jobs(disabled=False)[1] == 257
    jobs, total = many.list_jobs(owner="alice", label=("team", "a"), disabled=False)
    assert total == len([i for i in range(0, 300, 6) if i % 7]) and all(j.name for j in jobs)


def test_list_jobs_text_search_is_case_insensitive_over_name_description_command(many: Store) -> None:
    assert many.list_jobs(q="database")[1] == 30
    assert many.list_jobs(q="DataBase")[1] == 30
    assert many.list_jobs(q="JOB-29")[1] == 10  # job-290..job-299
    # LIKE wildcards in the query are literal characters.
    assert [j.name for j in many.list_jobs(q="100%_")[0]] == ["job-005"]
    assert many.list_jobs(q="%")[1] == 1
    assert many.list_jobs(q="echo 17")[1] == 11  # echo 17, echo 170..179


def test_list_jobs_pages_through_everything_once_in_name_order(many: Store) -> None:
    seen: list[str] = []
    for offset in range(0, 300, 70):
        page, total = many.list_jobs(offset=offset, limit=70)
        assert total == 300
        seen.extend(j.name for j in page)
    assert seen == [f"job-{i:03d}" for i in range(300)]
    assert many.list_jobs(offset=300, limit=10) == ([], 300)
    with pytest.raises(ValidationError, match="limit"):
        many.list_jobs(limit=-1)


def test_all_jobs_reflects_changes(many: Store) -> None:
    specs = many.all_jobs()
    assert [s.name for s in specs] == [f"job-{i:03d}" for i in range(300)]
    many.put_job(job("job-001", command="changed"))
    many.delete_job("job-002")
    again = many.all_jobs()
    assert len(again) == 299 and again[1].command == "changed"
    assert again[0] is specs[0]  # unchanged specs are not validated again


# --------------------------------------------------------------------------- apply


def test_apply_jobs_creates_updates_and_deletes(store: Store) -> None:
    store.apply_jobs([job("a"), job("b"), job("c")], [])
    store.apply_jobs([job("a", command="new"), job("d")], ["b"])
    assert [j.name for j in store.all_jobs()] == ["a", "c", "d"]
    assert store.get_job("a").command == "new"
    assert store.get_job_record("a").version == 2
    assert store.get_job_record("c").version == 1


def test_apply_jobs_is_all_or_nothing(store: Store) -> None:
    store.apply_jobs([job("a", owners=("alice",)), job("b")], [])
    before = [(r.spec, r.version) for r in map(store.get_job_record, ["a", "b"])]
    # The upserts come before the failing delete would be noticed by a naive
    # implementation; none of them may survive.
    with pytest.raises(NotFound, match="job 'missing' not found"):
        store.apply_jobs([job("a", command="changed", owners=("zed",)), job("new")], ["b", "missing"])
    assert [(r.spec, r.version) for r in map(store.get_job_record, ["a", "b"])] == before
    assert store.list_jobs(owner="zed") == ([], 0)
    with pytest.raises(NotFound):
        store.get_job("new")


def test_apply_jobs_rolls_back_a_database_failure_after_writing(store: Store) -> None:
    """The database fails the last statement of an apply, after the job rows were
    inserted and updated: every one of those writes must be undone."""
    store.apply_jobs([job("a"), job("b")], [])

    def fail_on_parents(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO JOB_PARENTS"):
            raise RuntimeError("disk full (simulated)")

    event.listen(store.engine, "before_cursor_execute", fail_on_parents)
    try:
        with pytest.raises(RuntimeError, match="simulated"):
            store.apply_jobs([job("a", command="changed"), job("c", schedule=None, parents=("a",))], ["b"])
    finally:
        event.remove(store.engine, "before_cursor_execute", fail_on_parents)
    assert [(j.name, j.command) for j in store.all_jobs()] == [("a", "echo a"), ("b", "echo b")]
    assert store.get_job_record("a").version == 1


def test_concurrent_editors_with_the_same_version_one_wins(store: Store) -> None:
    store.create_job(job("a"))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def edit(command: str) -> None:
        barrier.wait()
        try:
            store.put_job(job("a", command=command), expected_version=1)
            outcomes.append("saved")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=edit, args=(c,)) for c in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["conflict", "saved"]
    assert store.get_job_record("a").version == 2


def test_apply_jobs_refuses_a_name_twice(store: Store) -> None:
    with pytest.raises(ValidationError, match="more than once"):
        store.apply_jobs([job("a"), job("a", command="x")], [])
    with pytest.raises(ValidationError, match="both upserted and deleted"):
        store.apply_jobs([job("a")], ["a"])
    assert store.all_jobs() == []


def test_a_failed_method_inside_a_callers_transaction_leaves_the_rest_usable(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.create_job(job("a"))
        with pytest.raises(NotFound):
            uow.apply_jobs([job("b")], ["missing"])
        with pytest.raises(Conflict):
            uow.create_job(job("a"))
        uow.create_job(job("c"))
    assert [j.name for j in store.all_jobs()] == ["a", "c"]


def test_a_caller_transaction_that_raises_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.create_job(job("a"))
        uow.create_run(run("a"))
        raise RuntimeError("boom")
    assert store.all_jobs() == [] and store.list_runs() == ([], 0)


def test_job_listing_as_dicts_matches_the_specs(store: Store) -> None:
    from sqlalchemy import update

    from moroccron import Job
    from moroccron.store.models import JobRow

    store.put_job(
        Job(
            name="b",
            command="true",
            schedule="@daily",
            resources=Resources(cpus=1.0, mem=64.0),
            labels={"team": "data"},
            owners=("ops@example.com",),
        )
    )
    store.put_job(Job(name="a", command="echo a", description="nightly export"))
    specs, total = store.list_jobs(limit=10)
    dicts, total2 = store.list_job_dicts(limit=10)
    assert total == total2 == 2 and dicts == [s.to_dict() for s in specs]
    assert store.list_job_dicts(q="export")[0] == [specs[0].to_dict()]
    # a row written before a field existed still lists with that field's default
    with store.transaction() as tx:
        spec = tx.scalar(JobRow.__table__.select().with_only_columns(JobRow.spec).where(JobRow.name == "a"))
        old = {k: v for k, v in spec.items() if k != "soft_error"}
        tx.execute(update(JobRow).where(JobRow.name == "a").values(spec=old))
    assert store.list_job_dicts(limit=1)[0][0]["soft_error"] is False
