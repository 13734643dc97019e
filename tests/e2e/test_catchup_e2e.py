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
        c.add_job(Job(name="c", command="sleep 600", schedule="*/3 * * * * *", catchup="latest",
                      concurrency="forbid"))
        c.start_scheduler()
        (running,) = wait_for(lambda: [r for r in c.runs("c") if r.state == RunState.RUNNING], 30,
                              what="a running run")
        c.stop_scheduler()
        c.master.kill_agent("agent-0")  # its host dies while no scheduler is connected
        c.master.add_agent(AgentSpec(id="agent-1", hostname="agent1.local", cpus=4.0, mem=4096.0))
        stopped_at = running.scheduled_at
        wait_for(lambda: (datetime.now(UTC) - stopped_at).total_seconds() >= 7, 20, what="two fire times missed")
        sched = c.start_scheduler()
        lost = wait_for(lambda: [r for r in c.runs("c") if r.task_id == running.task_id and r.state.final], 30,
                        what="the old run reconciled")
        assert lost[0].state == RunState.LOST
        caught = wait_for(lambda: [r for r in c.runs("c") if r.trigger.value == "catchup" and r.launched_at], 30,
                          what="the latest missed fire launched")
        assert caught[0].scheduled_at > stopped_at and caught[0].scheduled_at <= sched.started_at
        blocked = [r for r in c.runs("c") if r.state == RunState.SKIPPED and running.task_id in (r.reason or "")]
        assert not blocked, f"skipped because of the lost run: {[(r.scheduled_at, r.reason) for r in blocked]}"
    finally:
        c.close()

