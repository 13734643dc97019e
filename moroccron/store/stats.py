"""Run history summarised per job: :class:`JobStats`, the :func:`percentile` it uses, and
the store's queries that build them (:class:`StatsMixin`).

:meth:`moroccron.store.Store.job_stats` and :meth:`~moroccron.store.Store.all_job_stats`
fetch the numbers in SQL; :class:`JobStats` and the percentiles are pure code. The
percentiles are computed here in Python rather than in SQL because SQLite has no
percentile aggregate, and one definition for both backends beats two that disagree in
the last digit.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session, aliased

from moroccron.errors import ValidationError
from moroccron.model import RunState
from moroccron.store.base import _CHUNK, UNFINISHED_STATES, StoreBase, _chunks
from moroccron.store.models import JobRow, RunRow

__all__ = ["FAILURE_STATES", "JobStats", "Percentiles", "StatsMixin", "percentile", "percentiles"]

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


def _ended() -> ColumnElement[datetime]:
    """When a final run ended: ``finished_at``, or ``scheduled_at`` for a run that has no
    finish recorded (skipped before it was queued), so every final run has an end."""
    return func.coalesce(RunRow.finished_at, RunRow.scheduled_at)


class StatsMixin(StoreBase):
    """The :class:`~moroccron.store.Store`'s run history summarised per job."""

    def job_stats(self, name: str, *, window: int = 100) -> JobStats:
        """What the job's stored runs say about it; see :class:`JobStats` for each number.

        :param window: how many of the job's most recent finished runs the duration and
            skew percentiles are over.
        :raises NotFound: no job has this name.
        """
        with self._tx(readonly=True) as s:
            job_id = self._job_id(s, name)
            return self._stats(s, window, [job_id]).get(name, JobStats())

    def all_job_stats(self, *, window: int = 100, names: Iterable[str] | None = None) -> dict[str, JobStats]:
        """:meth:`job_stats` of every job (a job without runs gets zeros), in two queries.

        One aggregates every stored run per job; the other reads the last ``window``
        finished runs of each job, ranked per job with a window function, for the
        percentiles. Durations are computed by the database, so Python only sorts
        numbers. That reads up to ``window`` rows per job: at 10,000 jobs with 100 runs
        each, about 3.5 s on SQLite and 3 s on PostgreSQL; a page of 100 jobs
        (``names``) takes about 50 ms.

        :param names: only these jobs (names that are not jobs are left out), e.g. the
            page of jobs a UI shows: then the queries follow the per-job index and cost
            what the page costs, not what the whole history costs.
        """
        with self._tx(readonly=True) as s:
            if names is None:
                return self._stats(s, window, None)
            ids: list[int] = []
            for chunk in _chunks(list(dict.fromkeys(names)), _CHUNK):
                ids.extend(s.scalars(select(JobRow.id).where(JobRow.name.in_(chunk))))
            out: dict[str, JobStats] = {}
            for id_chunk in _chunks(ids, _CHUNK):
                out.update(self._stats(s, window, id_chunk))
            return out

    def consecutive_failures(self) -> dict[str, int]:
        """Per job (every job, 0 for most), :attr:`JobStats.consecutive_failures`: its final
        failures since its last success.

        What the engine needs at start-up to keep enforcing ``disable_after_failures``
        across a restart or a change of leader, counted as the engine counts: a
        scheduled time whose last attempt failed or was lost is one failure, however
        many attempts it took. One query, no percentiles.
        """
        _, streak = self._streak_ctes(None)
        with self._tx(readonly=True) as s:
            rows = s.execute(select(JobRow.name, streak.c.streak).outerjoin(streak, streak.c.job_id == JobRow.id))
            return {r.name: r.streak or 0 for r in rows}

    def last_success_times(self) -> dict[str, datetime]:
        """Per job that ever succeeded (among the stored runs), the end of its latest success:
        what the ``moroccron_job_last_success_timestamp_seconds`` gauge starts from."""
        ended = _ended()
        with self._tx(readonly=True) as s:
            rows = s.execute(
                select(JobRow.name, func.max(ended).label("at"))
                .join(RunRow, RunRow.job_id == JobRow.id)
                .where(RunRow.state == RunState.SUCCEEDED.value)
                .group_by(JobRow.name)
            )
            return {r.name: r.at for r in rows}

    def _streak_ctes(self, job_ids: Sequence[int] | None) -> tuple[Any, Any]:
        """Two CTEs keyed by ``job_id``: per-job counts and last times of final runs
        (``agg``), and the failures that ended after the last success (``streak``)."""
        ended = _ended()
        succeeded = RunRow.state == RunState.SUCCEEDED.value
        failed = RunRow.state.in_([st.value for st in FAILURE_STATES])
        only = [RunRow.job_id.in_(job_ids)] if job_ids is not None else []
        # A failure that was retried is not a final failure: the engine counts a scheduled
        # time once, when its last attempt fails, and this must agree with it.
        later = aliased(RunRow)
        retried = (
            select(later.id)
            .where(
                later.job_id == RunRow.job_id, later.scheduled_at == RunRow.scheduled_at, later.attempt > RunRow.attempt
            )
            .exists()
        )
        agg = (
            select(
                RunRow.job_id,
                func.count(case((succeeded, 1))).label("successes"),
                func.count(case((failed, 1))).label("failures"),
                func.count(case((and_(failed, ~retried), 1))).label("final_failures"),
                func.count(case((RunRow.state == RunState.KILLED.value, 1))).label("killed"),
                func.count(case((RunRow.state == RunState.SKIPPED.value, 1))).label("skipped"),
                func.max(case((succeeded, ended))).label("last_success"),
                func.max(case((failed, ended))).label("last_failure"),
            )
            # "Not unfinished" is "final", said so that SQLite scans the table once
            # instead of walking the state index once per final state.
            .where(RunRow.state.not_in([st.value for st in UNFINISHED_STATES]), *only)
            .group_by(RunRow.job_id)
            .cte("agg")
        )
        streak = (
            select(RunRow.job_id, func.count().label("streak"))
            .join(agg, agg.c.job_id == RunRow.job_id)
            .where(failed, or_(agg.c.last_success.is_(None), ended > agg.c.last_success), ~retried, *only)
            .group_by(RunRow.job_id)
            .cte("streak")
        )
        return agg, streak

    def _stats(self, s: Session, window: int, job_ids: Sequence[int] | None) -> dict[str, JobStats]:
        """Stats of the jobs with these ids, or of every job."""
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ValidationError.single("window", "must be an integer >= 1", window, ">= 1")
        agg, streak = self._streak_ctes(job_ids)
        # The newest run's state through the (job_id, scheduled_at, attempt) index, once
        # per job, rather than a window over every run.
        last_state = (
            select(RunRow.state)
            .where(RunRow.job_id == JobRow.id)
            .order_by(RunRow.scheduled_at.desc(), RunRow.attempt.desc())
            .limit(1)
            .correlate(JobRow)
            .scalar_subquery()
        )
        totals = (
            select(
                JobRow.id,
                JobRow.name,
                agg.c.successes,
                agg.c.failures,
                agg.c.final_failures,
                agg.c.killed,
                agg.c.skipped,
                agg.c.last_success,
                agg.c.last_failure,
                streak.c.streak,
                last_state.label("last_state"),
            )
            .outerjoin(agg, agg.c.job_id == JobRow.id)
            .outerjoin(streak, streak.c.job_id == JobRow.id)
        )
        if job_ids is not None:
            totals = totals.where(JobRow.id.in_(job_ids))

        rank = (
            func.row_number()
            .over(partition_by=RunRow.job_id, order_by=(RunRow.finished_at.desc(), RunRow.id.desc()))
            .label("rank")
        )
        ranked = (
            select(RunRow.job_id, self._duration_seconds().label("duration"), RunRow.skew_seconds.label("skew"), rank)
            .where(
                RunRow.state.not_in([st.value for st in UNFINISHED_STATES]),
                RunRow.launched_at.is_not(None),
                RunRow.finished_at.is_not(None),
                *([RunRow.job_id.in_(job_ids)] if job_ids is not None else []),
            )
            .subquery()
        )
        samples = select(ranked.c.job_id, ranked.c.duration, ranked.c.skew).where(ranked.c.rank <= window)

        # Up to window x jobs rows: read through Core as plain tuples, the cheapest way
        # SQLAlchemy has of handing over a million numbers.
        durations: defaultdict[int, list[float]] = defaultdict(list)
        skews: defaultdict[int, list[float]] = defaultdict(list)
        counts: Counter[int] = Counter()
        conn = s.connection()
        for job, duration, skew in conn.execute(samples):
            counts[job] += 1
            if duration is not None:
                durations[job].append(duration)
            if skew is not None:
                skews[job].append(skew)

        out: dict[str, JobStats] = {}
        for r in conn.execute(totals):
            d50, d95, d99 = percentiles(durations.get(r.id, ()))
            s50, s95, s99 = percentiles(skews.get(r.id, ()))
            out[r.name] = JobStats(
                success_count=r.successes or 0,
                failure_count=r.failures or 0,
                killed_count=r.killed or 0,
                skipped_count=r.skipped or 0,
                last_success_at=r.last_success,
                last_failure_at=r.last_failure,
                consecutive_failures=r.streak or 0,
                final_failure_count=r.final_failures or 0,
                duration_p50=d50,
                duration_p95=d95,
                duration_p99=d99,
                skew_p50=s50,
                skew_p95=s95,
                skew_p99=s99,
                window_size=counts.get(r.id, 0),
                last_run_state=RunState(r.last_state) if r.last_state is not None else None,
            )
        return out

    def _duration_seconds(self) -> ColumnElement[Any]:
        """``finished_at - (started_at or launched_at)`` in seconds, as the database computes it
        (:attr:`moroccron.model.Run.duration`). SQLite keeps times as text and computes
        with milliseconds; PostgreSQL subtracts timestamps to the microsecond."""
        start = func.coalesce(RunRow.started_at, RunRow.launched_at)
        if self.dialect == "sqlite":
            # julianday() is a double in days: rounding to whole milliseconds (SQLite's
            # own resolution) removes the float noise that its day fraction carries.
            return func.round((func.julianday(RunRow.finished_at) - func.julianday(start)) * 86_400_000.0) / 1000.0
        return cast(func.extract("epoch", RunRow.finished_at - start), Float)
