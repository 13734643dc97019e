"""A failing job over the local Mesos master tells its owners once, with stderr and the waiting jobs."""

from __future__ import annotations

import pytest

from moroccron import Job
from moroccron.events import RunRequested
from tests.e2e.harness import Cluster, wait_for
from tests.receivers import Receiver

pytestmark = pytest.mark.slow


def test_failure_collapse_and_recovery_reach_the_webhook(tmp_path):
    receiver = Receiver()
    flag = tmp_path / "fixed"
    cluster = Cluster(tmp_path, agents=1, settings={"webhooks": {"ops": receiver.url}})
    try:
        cluster.add_job(
            Job(
                name="etl",
                owners=["data@example.com"],
                command=f'test -e {flag} || {{ echo "disk full on /data" >&2; exit 4; }}',
                notify={"on_failure": ["webhook:ops"], "on_recovery": ["webhook:ops"]},
            )
        )
        cluster.add_job(Job(name="report", command="true", parents=["etl"], owners=["bi@example.com"]))
        sched = cluster.start_scheduler()
        for _ in range(3):
            sched.submit(RunRequested("etl"))
            count = len(cluster.runs("etl"))
            cluster.finished("etl", count)
        flag.write_text("ok")
        sched.submit(RunRequested("etl"))
        cluster.finished("etl", 4)
        wait_for(lambda: [b for b in receiver.bodies if b["event"] == "recovery"], 30, what="recovery message")
        events = [b["event"] for b in receiver.bodies]
        assert events == ["failure", "recovery"], "three failures, one message"
        failure = receiver.bodies[0]
        assert failure["run"]["exit_status"] == 4
        assert "disk full on /data" in failure["text"]
        assert failure["details"]["pending_subtree"] == [
            {"job": "report", "owners": ["bi@example.com"], "children": []}
        ]
        assert "report  (owners: bi@example.com)" in failure["text"]
        assert "after 3 failures" in receiver.bodies[1]["subject"]
        states = sorted(i.state for i in cluster.store.notifications(job="etl"))
        assert states.count("collapsed") == 2
    finally:
        cluster.close()
        receiver.close()
