"""Missed fire times after a restart are decided once the master has said what became of
the runs the store believed were running.

The report: after a restart, a ``catchup`` job's missed fires were skipped as "run ...
still running", though that run was reconciled as LOST 0.3 s later.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from moroccron import Job
from moroccron.mesos.local import AgentSpec
from moroccron.model import RunState
from tests.e2e.harness import Cluster, wait_for

pytestmark = pytest.mark.slow


def test_a_run_lost_while_nobody_led_does_not_block_its_own_jobs_catch_up(tmp_path):
    c = Cluster(tmp_path, agents=1)
    try:
        c.add_job(Job(name="c", command="sleep 600", schedule="*/3 * * * * *", catchup="latest", concurrency="forbid"))
        c.start_scheduler()
        (running,) = wait_for(lambda: [r for r in c.runs("c") if r.state == RunState.RUNNING], 30, what="a running run")
        c.stop_scheduler()
        c.master.kill_agent("agent-0")  # its host dies while no scheduler is connected
        c.master.add_agent(AgentSpec(id="agent-1", hostname="agent1.local", cpus=4.0, mem=4096.0))
        stopped_at = running.scheduled_at
        wait_for(lambda: (datetime.now(UTC) - stopped_at).total_seconds() >= 7, 20, what="two fire times missed")
        sched = c.start_scheduler()
        lost = wait_for(
            lambda: [r for r in c.runs("c") if r.task_id == running.task_id and r.state.final],
            30,
            what="the old run reconciled",
        )
        assert lost[0].state == RunState.LOST
        caught = wait_for(
            lambda: [r for r in c.runs("c") if r.trigger.value == "catchup" and r.launched_at],
            30,
            what="the latest missed fire launched",
        )
        assert caught[0].scheduled_at > stopped_at and caught[0].scheduled_at <= sched.started_at
        blocked = [r for r in c.runs("c") if r.state == RunState.SKIPPED and running.task_id in (r.reason or "")]
        assert not blocked, f"skipped because of the lost run: {[(r.scheduled_at, r.reason) for r in blocked]}"
    finally:
        c.close()


def test_catchup_all_runs_every_missed_time_one_at_a_time_in_order(tmp_path):
    # forbid (the default) and all: the N fires missed while no leader ran each run,
    # oldest first, each starting only after the previous one has ended.
    c = Cluster(tmp_path, agents=1)
    try:
        c.add_job(Job(name="c", command="sleep 1", schedule="*/2 * * * * *", catchup="all"))
        c.start_scheduler()
        c.finished("c", 1)
        c.stop_scheduler()
        stopped = max(r.scheduled_at for r in c.runs("c"))
        wait_for(lambda: (datetime.now(UTC) - stopped).total_seconds() >= 7, 20, what="three fire times missed")
        sched = c.start_scheduler()
        missed = wait_for(
            lambda: [r for r in c.runs("c") if r.trigger.value == "catchup"], 30, what="the missed fires recorded"
        )
        assert len(missed) >= 3, [(r.scheduled_at, r.state) for r in c.runs("c")]
        assert all(stopped < r.scheduled_at <= sched.started_at for r in missed)
        ids = {r.task_id for r in missed}

        def all_done():
            runs = [r for r in c.runs("c") if r.task_id in ids]
            return runs if all(r.state.final for r in runs) else None

        done = sorted(wait_for(all_done, 60, what="every missed run finished"), key=lambda r: r.scheduled_at)
        assert [r.state for r in done] == [RunState.SUCCEEDED] * len(done), [(r.state, r.reason) for r in done]
        assert len({r.scheduled_at for r in done}) == len(done), "each with its own scheduled time"
        for before, after in zip(done, done[1:], strict=False):
            assert after.launched_at >= before.finished_at, "one at a time, in order"
    finally:
        c.close()
