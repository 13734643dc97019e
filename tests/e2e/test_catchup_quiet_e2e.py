"""A ``catchup="none"`` job tells nobody about the fires it skipped while the scheduler was
down: that is what its owner asked for. The skipped runs are still recorded and counted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from moroccron import Job
from moroccron.model import RunState, RunTrigger
from tests.e2e.harness import Cluster, wait_for
from tests.receivers import Receiver

pytestmark = pytest.mark.slow


def test_a_restart_does_not_mail_catchup_none_skips(tmp_path):
    receiver = Receiver()
    cluster = Cluster(tmp_path, agents=1, settings={"webhooks": {"ops": receiver.url}})
    try:
        cluster.add_job(
            Job(
                name="c",
                command="true",
                schedule="*/2 * * * * *",
                catchup="none",
                owners=["owner@example.com"],
                notify={"on_failure": ["webhook:ops"]},
            )
        )
        for restart in range(2):
            cluster.start_scheduler()
            cluster.finished("c", restart + 1)
            cluster.stop_scheduler()
            stopped = max(r.scheduled_at for r in cluster.runs("c"))
            wait_for(
                lambda stopped=stopped: (datetime.now(UTC) - stopped).total_seconds() >= 5,
                20,
                what="two fire times missed",
            )
        sched = cluster.start_scheduler()
        skipped = wait_for(
            lambda: [
                r
                for r in cluster.runs("c")
                if r.trigger == RunTrigger.CATCHUP
                and r.state == RunState.SKIPPED
                and r.queued_at
                and r.queued_at >= sched.started_at
            ],
            30,
            what="the missed fires recorded as skipped after the last restart",
        )
        assert all(r.reason == "missed during downtime; catchup=none" for r in skipped)
        assert len([r for r in cluster.runs("c") if r.state == RunState.SKIPPED]) >= 4, "two restarts, 2+ each"
        # A notice would be queued in the transaction that recorded the skip: none was.
        assert [n.event for n in cluster.store.notifications(job="c")] == []
        assert sched.metrics.registry.get_sample_value("moroccron_runs_total", {"job": "c", "state": "skipped"}) >= 2
        assert not [b for b in receiver.bodies if b["event"] == "skipped"]
    finally:
        cluster.close()
        receiver.close()
