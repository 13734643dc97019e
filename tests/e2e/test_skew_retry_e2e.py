"""A retry's delay is not launch skew: over the local Mesos master, a job failing with a 5 s
retry delay shows its retry launched well within a second of when the retry was due."""

from __future__ import annotations

import pytest

from moroccron import Job
from moroccron.events import RunRequested
from moroccron.model import RunTrigger
from tests.e2e.harness import Cluster

pytestmark = pytest.mark.slow

RETRY_DELAY = 5


def test_a_retry_launched_after_its_backoff_has_no_skew_for_the_delay(tmp_path):
    cluster = Cluster(tmp_path, agents=1)
    try:
        cluster.add_job(Job(name="flaky", command="exit 3", retries=1, retry_delay_seconds=RETRY_DELAY))
        sched = cluster.start_scheduler()
        sched.submit(RunRequested("flaky"))
        first, retry = cluster.finished("flaky", 2, timeout=60)
        assert retry.trigger == RunTrigger.RETRY and retry.scheduled_at == first.scheduled_at
        # the retry really waited for its backoff...
        waited = (retry.launched_at - first.finished_at).total_seconds()
        assert waited >= RETRY_DELAY - 0.1, waited
        assert (retry.launched_at - retry.scheduled_at).total_seconds() > RETRY_DELAY
        # ...and its skew counts from when the backoff expired: "well under a second", with room
        # for a busy machine, and in any case below the retry delay it used to include
        assert retry.due_at == retry.queued_at
        assert retry.skew is not None and 0 <= retry.skew < 2 < RETRY_DELAY, retry.skew
        stats = cluster.store.job_stats("flaky")  # percentiles over the stored skew_seconds
        assert stats.window_size == 2 and stats.skew_p99 is not None and stats.skew_p99 < 2
        # the metric observes the same figures: both launches fall below the retry delay
        registry = sched.metrics.registry
        assert registry.get_sample_value("moroccron_run_skew_seconds_count") == 2
        assert registry.get_sample_value("moroccron_run_skew_seconds_bucket", {"le": "2.5"}) == 2
    finally:
        cluster.close()
