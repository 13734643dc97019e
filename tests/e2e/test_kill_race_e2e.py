"""A run killed by request is final, whatever races it: deletes, completions, reloads.

The report: a run killed through the Chronos API came back as a retry after the leader
reloaded from the database (a "state conflict" caused by deleting a job while its run was
finishing). Here 50 kills race 50 deletes of jobs whose runs are finishing, and the
leader is made to reload in the middle of it.
"""

from __future__ import annotations

import threading

import pytest

from moroccron import Job
from moroccron.errors import Conflict
from moroccron.events import KillRequested, RunRequested
from moroccron.model import RunState, RunTrigger
from moroccron.store import Store
from tests.e2e.harness import Cluster, wait_for

pytestmark = pytest.mark.slow
ROUNDS = 50


class ConflictOnce(Store):
    """Another writer gets there first once, right when armed: the leader reloads."""

    armed = threading.Event()

    def save_runs(self, creates, updates, **kw):
        if self.armed.is_set():
            self.armed.clear()
            raise Conflict("injected: another writer changed these runs")
        return super().save_runs(creates, updates, **kw)


def test_killed_runs_never_come_back_through_deletes_completions_and_a_reload(tmp_path):
    c = Cluster(tmp_path, agents=2)
    try:
        c.store.close()
        c.store = ConflictOnce(c.db_url)
        for i in range(ROUNDS):
            c.add_job(
                Job(
                    name=f"victim-{i:02d}",
                    command="sleep 600",
                    retries=3,
                    retry_delay_seconds=0.2,
                    resources={"cpus": 0.01, "mem": 4},
                )
            )
            c.add_job(Job(name=f"doomed-{i:02d}", command="sleep 0.3", resources={"cpus": 0.01, "mem": 4}))
        sched = c.start_scheduler()
        for i in range(ROUNDS):
            sched.submit(RunRequested(f"victim-{i:02d}"))
        wait_for(
            lambda: (
                all(r.state == RunState.RUNNING for i in range(ROUNDS) for r in c.runs(f"victim-{i:02d}"))
                and all(c.runs(f"victim-{i:02d}") for i in range(ROUNDS))
            ),
            60,
            what="every victim running",
        )
        for i in range(ROUNDS):
            sched.submit(RunRequested(f"doomed-{i:02d}"))
        wait_for(
            lambda: all(c.runs(f"doomed-{i:02d}") and c.runs(f"doomed-{i:02d}")[0].launched_at for i in range(ROUNDS)),
            60,
            what="every doomed run launched",
        )

        def kill(i: int) -> None:
            sched.submit_nowait(KillRequested(f"victim-{i:02d}", by="race-test"))

        def delete(i: int) -> None:
            name = f"doomed-{i:02d}"
            c.store.delete_job(name)  # while its run is finishing
            sched.job_removed(name)

        ConflictOnce.armed.set()  # the next write of runs fails: the leader reloads mid-race
        threads = [threading.Thread(target=f, args=(i,)) for i in range(ROUNDS) for f in (kill, delete)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_for(lambda: not ConflictOnce.armed.is_set(), 30, what="the injected conflict")
        wait_for(
            lambda: all(r.state.final for i in range(ROUNDS) for r in c.runs(f"victim-{i:02d}")),
            60,
            what="every victim ended",
        )
        sched.submit(RunRequested("victim-00"))  # a later step, after every retry delay had passed
        wait_for(lambda: len(c.runs("victim-00")) == 2, 30, what="a manual run after the race")
        for i in range(ROUNDS):
            runs = c.runs(f"victim-{i:02d}")
            killed = runs[0]
            assert killed.state == RunState.KILLED, [
                (r.task_id, r.state.value, r.trigger.value, r.reason, r.kill_requested) for r in runs
            ]
            assert killed.reason == "killed by request of race-test"
            retries = [r for r in runs if r.trigger == RunTrigger.RETRY]
            assert not retries, f"victim-{i:02d} came back: {[r.task_id for r in retries]}"
        started = {t for call in c.master.accepted_calls for t in call["task_ids"]}
        assert not [t for t in started if t.startswith("victim-") and t.endswith(".1")]
    finally:
        c.close()
