"""Run history summarised per job: :class:`JobStats`, and the :func:`percentile` it uses.

Pure code, no SQL: :meth:`moroccron.store.Store.job_stats` and
:meth:`~moroccron.store.Store.all_job_stats` fetch the numbers and build these. The
percentiles are computed here in Python rather than in SQL because SQLite has no
percentile aggregate, and one definition for both backends beats two that disagree in
the last digit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from moroccron.model import RunState

__all__ = ["FAILURE_STATES", "JobStats", "Percentiles", "percentile", "percentiles"]

FAILURE_STATES: tuple[RunState, ...] = (RunState.FAILED, RunState.LOST)
"""What counts as a failure in statistics. KILLED is left out because a kill is usually
asked for (by a user, a ``replace`` policy or a timeout the job's owner chose), and a
count that mixes those with crashes tells nobody anything; it is counted apart."""


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0 <= q <= 100) of ``values``, or None when there are none.

    Linear interpolation between the closest ranks (NumPy's default, PostgreSQL's
    ``percentile_cont``, a spreadsheet's ``PERCENTILE.INC``): with sorted values
    ``v[0] .. v[n-1]``, the result is at position ``(n - 1) * q / 100``, interpolated
    between its neighbours. So the 50th percentile of ``[1, 2, 3, 4]`` is 2.5, the 0th
    is the minimum and the 100th the maximum. Chosen over nearest-rank because it moves
    smoothly as runs come and go, instead of jumping from one run's value to another's.

    :raises ValueError: ``q`` outside [0, 100], or a value that is NaN.
    """
    return _interpolate(_sorted(values), q)


Percentiles = tuple[float | None, float | None, float | None]
"""The 50th, 95th and 99th percentiles, each None when there is no data."""


def percentiles(values: Iterable[float]) -> Percentiles:
    """p50, p95 and p99 of ``values`` (sorted once), as :func:`percentile` computes them."""
    ordered = _sorted(values)
    return _interpolate(ordered, 50), _interpolate(ordered, 95), _interpolate(ordered, 99)


def _sorted(values: Iterable[float]) -> list[float]:
    ordered = sorted(values)
    # NaN compares false with everything, so sorted() would leave it anywhere and
    # quietly shift every percentile; refuse it instead.
    if any(math.isnan(v) for v in ordered):
        raise ValueError("cannot take a percentile of NaN")
    return ordered


def _interpolate(ordered: list[float], q: float) -> float | None:
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q!r} is outside 0..100")
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@dataclass(frozen=True, slots=True)
class JobStats:
    """What a job's stored run history says about it.

    Counts and last times are over every stored run of the job (retention,
    ``run_retention``, bounds how far back that goes); percentiles are over a window of
    its most recent runs. A run's *end* is its ``finished_at``, or its ``scheduled_at``
    for a final run that has none recorded (a run skipped before it was queued).

    :ivar success_count: runs that SUCCEEDED.
    :ivar failure_count: runs that FAILED or were LOST (:data:`FAILURE_STATES`); every
        attempt is a run, so a failure that was retried counts once per attempt.
    :ivar killed_count: runs KILLED (not failures, see :data:`FAILURE_STATES`).
    :ivar skipped_count: runs SKIPPED (never launched).
    :ivar last_success_at: the end of the latest successful run, or None.
    :ivar last_failure_at: the end of the latest failed or lost run, or None.
    :ivar consecutive_failures: final failures that ended after the last success (all of
        them when the job never succeeded). That is also the number of failures in a row
        at the end of the history ordered by end time, since KILLED and SKIPPED runs
        neither count nor break the streak: one number, so one field (it answers both
        "failures since the last success" and "consecutive failures"). *Final* means
        the last attempt of its scheduled time: a failed attempt that was retried does
        not count, whatever became of the retry, so a job with ``retries=2`` that
        failed three times in one go has failed once, as the engine counts for
        ``disable_after_failures``. (A retry still pending when the history is read
        cannot be told from a final failure.) 0 when the latest run that counts
        succeeded.
    :ivar duration_p50, duration_p95, duration_p99: seconds from start (or launch, when
        the start was not reported) to finish, over the window; None without data.
    :ivar skew_p50, skew_p95, skew_p99: launch skew, seconds from when each run was due
        (:attr:`moroccron.model.Run.due_at`) to its launch, over the window; None without data.
    :ivar window_size: how many runs the percentiles are over: the job's most recent
        runs, by end, that were launched and have finished (in any final state), at
        most the ``window`` asked for. Skipped runs have neither a duration nor a skew
        and take no place in the window.
    :ivar last_run_state: the state of the job's newest run by scheduled time and
        attempt, finished or not (so a running job shows RUNNING); None without runs.
    :ivar final_failure_count: failures counted per invocation, as Chronos's
        ``errorCount``: failed or lost runs that were the last attempt of their
        scheduled time (a failure that was retried does not count, whatever the retry
        did), as ``consecutive_failures`` counts them.
    """

    success_count: int = 0
    failure_count: int = 0
    killed_count: int = 0
    skipped_count: int = 0
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    consecutive_failures: int = 0
    duration_p50: float | None = None
    duration_p95: float | None = None
    duration_p99: float | None = None
    skew_p50: float | None = None
    skew_p95: float | None = None
    skew_p99: float | None = None
    window_size: int = 0
    last_run_state: RunState | None = None
    final_failure_count: int = 0

    @property
    def finished_count(self) -> int:
        """Every run in a final state: successes, failures, kills and skips."""
        return self.success_count + self.failure_count + self.killed_count + self.skipped_count
