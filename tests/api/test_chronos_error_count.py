"""The Chronos hash's ``errorCount`` counts invocations that failed after their retries,
as Chronos did, while the native statistics keep counting attempts."""

from __future__ import annotations

from datetime import timedelta

from moroccron.model import Run, RunState, RunTrigger
from moroccron.store import Store
from tests.api.test_chronos import T0, V1, make_client, scheduled


def test_error_count_is_per_invocation(store: Store) -> None:
    with make_client(store) as c:
        assert c.post(f"{V1}/iso8601", json=scheduled("a", retries=2)).status_code == 204
        for minutes, states in (
            (0, [RunState.FAILED, RunState.FAILED, RunState.SUCCEEDED]),
            (60, [RunState.FAILED, RunState.FAILED, RunState.FAILED]),
        ):
            at = T0 + timedelta(minutes=minutes)
            for n, state in enumerate(states):
                done = at + timedelta(seconds=10 * n + 5)
                store.create_run(
                    Run(
                        job="a",
                        scheduled_at=at,
                        attempt=n,
                        state=state,
                        trigger=RunTrigger.RETRY if n else RunTrigger.SCHEDULE,
                        launched_at=done - timedelta(seconds=4),
                        finished_at=done,
                    )
                )
        got = c.get(f"{V1}/job/a").json()
        listed = c.get(f"{V1}/jobs").json()[0]
    assert got["errorCount"] == 1 and listed["errorCount"] == 1, "one invocation failed after its retries"
    assert got["successCount"] == 1 and got["errorsSinceLastSuccess"] == 1
    assert store.job_stats("a").failure_count == 5, "the native statistics still count every failed attempt"
