"""JobWatcher: job changes written by someone else reach the scheduler (both backends)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from moroccron import Job
from moroccron.store import Store
from moroccron.store.models import JobRow
from moroccron.watch import JobWatcher


class Scheduler:
    """What the watcher talks to: the jobs it holds, and the two callbacks."""

    def __init__(self, store: Store) -> None:
        self.jobs = {j.name: j for j in store.all_jobs()}
        self.put: list[str] = []
        self.removed: list[str] = []

    def on_put(self, job):
        self.jobs[job.name] = job
        self.put.append(job.name)

    def on_removed(self, name):
        self.jobs.pop(name)
        self.removed.append(name)


def watcher_for(store: Store) -> tuple[JobWatcher, Scheduler]:
    sched = Scheduler(store)
    w = JobWatcher(store, lambda: dict(sched.jobs), on_put=sched.on_put, on_removed=sched.on_removed, interval=0)
    return w, sched


def test_new_changed_and_deleted_jobs_are_reported_once(store: Store) -> None:
    store.put_job(Job(name="a", command="true", schedule="* * * * *"))
    store.put_job(Job(name="b", command="true", schedule="* * * * *"))
    w, sched = watcher_for(store)
    assert w.check() == 0, "the first look finds what the scheduler loaded"
    assert w.check() == 0, "nothing moved: nothing to do"

    store.put_job(Job(name="c", command="true", schedule="@hourly"))
    store.put_job(Job(name="a", command="false", schedule="* * * * *"))
    assert w.check() == 2
    assert sorted(sched.put) == ["a", "c"] and sched.jobs["a"].command == "false"

    store.delete_job("b")
    assert w.check() == 1 and sched.removed == ["b"]
    assert w.check() == 0
    assert set(sched.jobs) == {"a", "c"}


def test_a_change_the_scheduler_already_has_is_not_reported(store: Store) -> None:
    w, sched = watcher_for(store)
    w.check()
    job = Job(name="a", command="true", schedule="* * * * *")
    store.put_job(job)
    sched.jobs["a"] = job  # the API told the scheduler already
    assert w.check() == 0 and sched.put == []


def test_a_writer_whose_clock_is_far_behind_is_still_seen(store: Store) -> None:
    store.put_job(Job(name="a", command="true", schedule="* * * * *"))
    w, sched = watcher_for(store)
    w.check()
    store.put_job(Job(name="a", command="echo late", schedule="* * * * *"))
    with store.transaction() as tx:  # as if written by a host whose clock is a day behind
        row_time = tx.scalar(JobRow.__table__.select().with_only_columns(JobRow.created_at))
        tx.execute(update(JobRow).values(updated_at=row_time - timedelta(days=1)))
    assert w.check() == 1 and sched.jobs["a"].command == "echo late"


def test_removal_and_addition_in_one_look(store: Store) -> None:
    store.put_job(Job(name="a", command="true", schedule="* * * * *"))
    w, sched = watcher_for(store)
    w.check()
    store.delete_job("a")
    store.put_job(Job(name="b", command="true", schedule="* * * * *"))
    assert w.check() == 2
    assert sched.put == ["b"] and sched.removed == ["a"]


def test_a_primed_watcher_reads_only_what_changed_after(store: Store) -> None:
    store.put_job(Job(name="a", command="true", schedule="* * * * *"))
    w, sched = watcher_for(store)
    w.prime()
    reads = []
    original = store.all_jobs
    store.all_jobs = lambda **kw: reads.append(1) or original(**kw)  # type: ignore[method-assign]
    assert w.check() == 0 and not reads, "nothing changed: not even one job read"
    store.put_job(Job(name="b", command="true", schedule="* * * * *"))
    assert w.check() == 1 and sched.put == ["b"] and not reads
