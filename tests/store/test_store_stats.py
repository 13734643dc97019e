"""Run history statistics: the percentile helper, and JobStats from the Store on both backends."""

from __future__ import annotations

import random
import statistics
from datetime import timedelta

import pytest

from moroccron.errors import NotFound, ValidationError
from moroccron.model import Run, RunState, RunTrigger
from moroccron.store import JobStats, Store
from moroccron.store.stats import percentile, percentiles
from tests.store.factories import T0, job, run

# --------------------------------------------------------------------------- percentile


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5  # unsorted input is fine
    assert percentile([1, 2, 3, 4], 0) == 1 and percentile([1, 2, 3, 4], 100) == 4
    assert percentile([10, 20, 30, 40, 50, 60, 70], 95) == pytest.approx(67.0)
    assert percentile([10, 20, 30, 40, 50, 60, 70], 99) == pytest.approx(69.4)
    assert percentile([7.5], 99) == 7.5
    assert percentile([], 50) is None
    assert percentiles([]) == (None, None, None)
    assert percentiles(range(1, 101)) == pytest.approx((50.5, 95.05, 99.01))


def test_percentile_agrees_with_the_inclusive_method_of_the_standard_library() -> None:
    rnd = random.Random(7)
    for size in (2, 3, 10, 101):
        data = [rnd.uniform(-5, 500) for _ in range(size)]
        cuts = statistics.quantiles(data, n=100, method="inclusive")
        assert [percentile(data, q) for q in range(1, 100)] == pytest.approx(cuts)


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="outside 0..100"):
        percentile([1.0], 101)
    with pytest.raises(ValueError, match="outside 0..100"):
        percentile([1.0], -1)
    with pytest.raises(ValueError, match="NaN"):
        percentile([1.0, float("nan"), 2.0], 50)


# --------------------------------------------------------------------------- store


def ended(
    job_name: str,
    minute: int,
    state: RunState,
    *,
    attempt: int = 0,
    skew: float | None = None,
    duration: float | None = None,
    **fields: object,
) -> Run:
    """A final run due ``minute`` after T0, launched ``skew`` seconds late and ending
    ``duration`` seconds after it started; no skew means it was never launched."""
    r = run(job_name, minute, attempt, state=state, **fields)
    if skew is not None:
        launched = r.scheduled_at + timedelta(seconds=skew)
        r = r.evolve(launched_at=launched, started_at=launched, finished_at=launched + timedelta(seconds=duration or 0))
    return r


@pytest.fixture
def store(store: Store) -> Store:
    """Job ``a`` with a crafted history; ``b`` without runs; ``c`` that never succeeded."""
    store.apply_jobs([job("a"), job("b"), job("c")], [])
    history = [
        ended("a", 0, RunState.SUCCEEDED, skew=1, duration=10),
        ended("a", 1, RunState.FAILED, skew=2, duration=20),
        ended("a", 2, RunState.SUCCEEDED, skew=3, duration=30),  # the last success
        ended("a", 3, RunState.FAILED, skew=4, duration=40),  # retried: not a final failure
        ended("a", 3, RunState.FAILED, attempt=1, skew=5, duration=50, trigger=RunTrigger.RETRY),
        ended("a", 4, RunState.KILLED, skew=6, duration=60),  # neither counts nor breaks the streak
        ended("a", 5, RunState.SKIPPED),  # never launched, no finish: out of the window
        ended("a", 6, RunState.LOST, skew=7, duration=70),
        run("a", 7, state=RunState.RUNNING, launched_at=T0 + timedelta(minutes=7, seconds=8)),
        ended("c", 0, RunState.FAILED, skew=0.5, duration=1),
        ended("c", 1, RunState.LOST, skew=0.25, duration=2),
    ]
    with store.unit_of_work() as uow:
        for r in history:
            uow.create_run(r)
    return store


def test_job_stats_of_a_crafted_history(store: Store) -> None:
    stats = store.job_stats("a")
    assert (stats.success_count, stats.failure_count, stats.killed_count, stats.skipped_count) == (2, 4, 1, 1)
    assert stats.finished_count == 8
    assert stats.last_success_at == T0 + timedelta(minutes=2, seconds=3 + 30)
    assert stats.last_failure_at == T0 + timedelta(minutes=6, seconds=7 + 70)
    assert stats.last_success_at.tzinfo is not None and stats.last_success_at.utcoffset() == timedelta(0)
    # After the last success: a3 (retried), a3 attempt 1 and the lost a6; the retried
    # attempt is no final failure.
    assert stats.consecutive_failures == 2
    assert stats.last_run_state == RunState.RUNNING
    # Launched and finished: a0, a1, a2, a3, a3 attempt 1, a4, a6.
    assert stats.window_size == 7
    assert (stats.duration_p50, stats.duration_p95, stats.duration_p99) == pytest.approx((40, 67, 69.4))
    assert (stats.skew_p50, stats.skew_p95, stats.skew_p99) == pytest.approx((4, 6.7, 6.94))


def test_the_window_is_the_most_recently_finished_runs(store: Store) -> None:
    stats = store.job_stats("a", window=3)  # a6, a4 and a3 attempt 1
    assert stats.window_size == 3
    assert (stats.duration_p50, stats.duration_p95) == pytest.approx((60, 69))
    assert (stats.skew_p50, stats.skew_p99) == pytest.approx((6, 6.98))
    assert stats.success_count == 2  # counts are over every stored run, whatever the window
    one = store.job_stats("a", window=1)
    assert (one.duration_p50, one.duration_p99, one.skew_p50) == pytest.approx((70, 70, 7))


def test_a_job_without_runs_and_one_that_never_succeeded(store: Store) -> None:
    assert store.job_stats("b") == JobStats()
    assert store.job_stats("b").last_run_state is None and store.job_stats("b").duration_p50 is None
    c = store.job_stats("c")
    assert (c.success_count, c.failure_count, c.consecutive_failures) == (0, 2, 2)
    assert c.last_success_at is None and c.last_failure_at == T0 + timedelta(minutes=1, seconds=2.25)
    assert c.last_run_state == RunState.LOST
    assert (c.skew_p50, c.duration_p50) == pytest.approx((0.375, 1.5))


def test_a_success_ends_the_streak_and_marked_successes_count(store: Store) -> None:
    store.create_run(ended("c", 2, RunState.KILLED, skew=1, duration=1))
    assert store.job_stats("c").consecutive_failures == 2  # a kill does not end it
    marked = T0 + timedelta(minutes=3)
    store.create_run(run("c", 3, state=RunState.SUCCEEDED, trigger=RunTrigger.MARK_SUCCESS, finished_at=marked))
    c = store.job_stats("c")
    assert (c.consecutive_failures, c.success_count, c.last_success_at) == (0, 1, marked)
    assert c.window_size == 3  # never launched: no duration, no skew, no place in the window
    store.create_run(ended("c", 4, RunState.FAILED, skew=1, duration=1))
    assert store.job_stats("c").consecutive_failures == 1


def test_job_stats_errors(store: Store) -> None:
    with pytest.raises(NotFound, match="job 'zz' not found"):
        store.job_stats("zz")
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValidationError, match="window"):
            store.job_stats("a", window=bad)  # type: ignore[arg-type]


def test_all_job_stats_consecutive_failures_and_last_success_times(store: Store) -> None:
    everything = store.all_job_stats()
    assert everything == {name: store.job_stats(name) for name in ("a", "b", "c")}
    assert store.all_job_stats(window=3)["a"] == store.job_stats("a", window=3)
    assert store.all_job_stats(names=["c", "zz", "c"]) == {"c": everything["c"]}
    assert store.all_job_stats(names=[]) == {}
    assert store.consecutive_failures() == {"a": 2, "b": 0, "c": 2}
    assert store.last_success_times() == {"a": T0 + timedelta(minutes=2, seconds=33)}


def test_all_job_stats_over_hundreds_of_jobs(store: Store) -> None:
    """Job i: (i % 4) successes, then (i % 3) failures, each run 1 + i % 10 seconds long
    and launched (i % 5) / 10 seconds late."""
    names = [f"job-{i:03d}" for i in range(300)]
    store.apply_jobs([job(n) for n in names], [])
    with store.unit_of_work() as uow:
        for i, name in enumerate(names):
            states = [RunState.SUCCEEDED] * (i % 4) + [RunState.FAILED] * (i % 3)
            for minute, state in enumerate(states):
                uow.create_run(ended(name, minute, state, skew=(i % 5) / 10, duration=1 + i % 10))
    stats = store.all_job_stats()
    assert set(stats) == set(names) | {"a", "b", "c"}
    streaks = store.consecutive_failures()
    last_success = store.last_success_times()
    for i, name in enumerate(names):
        s = stats[name]
        assert (s.success_count, s.failure_count, s.consecutive_failures) == (i % 4, i % 3, i % 3), name
        assert streaks[name] == i % 3
        runs = i % 4 + i % 3
        assert s.window_size == runs
        if runs:
            assert s.duration_p50 == pytest.approx(1 + i % 10) and s.skew_p99 == pytest.approx((i % 5) / 10)
            assert s.last_run_state == (RunState.FAILED if i % 3 else RunState.SUCCEEDED)
        else:
            assert s == JobStats()
        if i % 4:
            assert (
                last_success[name]
                == s.last_success_at
                == (T0 + timedelta(minutes=i % 4 - 1, seconds=(i % 5) / 10 + 1 + i % 10))
            )
        else:
            assert name not in last_success and s.last_success_at is None
    page = names[10:20]
    assert store.all_job_stats(names=page) == {n: stats[n] for n in page}
