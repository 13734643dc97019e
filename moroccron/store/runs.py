"""Runs in the store: one row per attempt of a job's scheduled time, fenced by the
leadership epoch, and their pruning.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from moroccron.errors import Conflict, NotFound, ValidationError
from moroccron.model import Run, RunState, RunTrigger
from moroccron.store.base import (
    _CHUNK,
    FINAL_STATES,
    LIVE_STATES,
    UNFINISHED_STATES,
    StoreBase,
    _aware,
    _chunks,
    _is_foreign_key_violation,
    _page,
)
from moroccron.store.models import JobRow, JobStateRow, RunRow

__all__ = ["RunsMixin"]

_PRUNE_READ = 50_000  # run ids prune_runs reads at a time: bounds its memory, not its work


def _run_label(run: Run) -> str:
    return f"run {run.task_id} of job {run.job!r} (scheduled {run.scheduled_at.isoformat()}, attempt {run.attempt})"


def _run_columns(run: Run) -> dict[str, Any]:
    """Every column of a run except the identity, the job id and the epoch."""
    launched_at = _aware("launched_at", run.launched_at)
    scheduled_at = _aware("scheduled_at", run.scheduled_at)
    return {
        "state": RunState(run.state).value,
        "trigger": RunTrigger(run.trigger).value,
        "queued_at": _aware("queued_at", run.queued_at),
        "launched_at": launched_at,
        "started_at": _aware("started_at", run.started_at),
        "finished_at": _aware("finished_at", run.finished_at),
        "skew_seconds": run.skew if launched_at is not None and scheduled_at is not None else None,
        "exit_status": run.exit_status,
        "reason": run.reason,
        "message": run.message,
        "agent_id": run.agent_id,
        "hostname": run.hostname,
        "arguments": _arguments_value(run),
        "caused_by": run.caused_by,
        "relaunches": run.relaunches,
        "kill_requested": run.kill_requested,
        "offered_at": _aware("offered_at", run.offered_at),
        "requested_by": run.requested_by,
        "killed_by": run.killed_by,
    }


def _arguments_value(run: Run) -> list[str] | dict[str, Any] | None:
    """The ``arguments`` JSON column: the run's own argument list, or, for a run started
    with an argument string (Chronos), ``{"line": STRING}`` (no API gives both).

    An async run's completion state rides in the same object (``awaiting``: its task has
    finished and it waits for a report; ``reported``: the status a report gave while the
    task still ran; its list of arguments then under ``list``), so that a new leader
    reads it without a schema change."""
    extra: dict[str, Any] = {}
    if run.awaiting_completion:
        extra["awaiting"] = True
    if run.reported_status is not None:
        extra["reported"] = run.reported_status
    if run.argument_line is not None:
        return {"line": run.argument_line, **extra}
    if extra:
        return {**extra, **({"list": list(run.arguments)} if run.arguments is not None else {})}
    return list(run.arguments) if run.arguments is not None else None


def _run_arguments(value: Any) -> dict[str, Any]:
    """The Run fields the ``arguments`` column holds (see :func:`_arguments_value`)."""
    if isinstance(value, list):
        return {"arguments": tuple(value)}
    if not isinstance(value, dict):
        return {}
    listed = value.get("list")
    reported = value.get("reported")
    return {
        "arguments": tuple(listed) if isinstance(listed, list) else None,
        "argument_line": value.get("line") if isinstance(value.get("line"), str) else None,
        "awaiting_completion": value.get("awaiting") is True,
        "reported_status": reported if isinstance(reported, int) and not isinstance(reported, bool) else None,
    }


def _run_from_row(row: RunRow) -> Run:
    return Run(
        job=row.job,
        scheduled_at=row.scheduled_at,
        attempt=row.attempt,
        state=RunState(row.state),
        trigger=RunTrigger(row.trigger),
        queued_at=row.queued_at,
        launched_at=row.launched_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        exit_status=row.exit_status,
        reason=row.reason,
        message=row.message,
        agent_id=row.agent_id,
        hostname=row.hostname,
        **_run_arguments(row.arguments),
        caused_by=row.caused_by,
        id=row.id,
        relaunches=row.relaunches,
        kill_requested=row.kill_requested,
        offered_at=row.offered_at,
        requested_by=row.requested_by,
        killed_by=row.killed_by,
    )


class RunsMixin(StoreBase):
    """The :class:`~moroccron.store.Store`'s runs."""

    def create_run(self, run: Run, *, epoch: int | None = None) -> Run:
        """Store a new run; return it with its id.

        Fencing: with ``epoch`` (the caller's leadership epoch), the write is refused
        if a newer leader has taken over. The check and the insert are one atomic
        step: on PostgreSQL the framework row is read ``FOR SHARE``, which
        :meth:`take_leadership`'s update must wait for, so a leadership change either
        happens before the check (and the write is refused) or after the commit. On
        SQLite the transaction already holds the database's write lock.

        :raises Conflict: a run with the same identity (job, scheduled_at, attempt) or
            task id exists: it was launched already, perhaps by a previous leader.
        :raises StaleEpoch: ``epoch`` is older than the current leader's.
        :raises NotFound: the job does not exist.
        """
        columns = _run_columns(run)
        with self._tx() as s:
            self._check_epoch(s, epoch)
            job_id = self._job_id(s, run.job)
            values = {
                **columns,
                "job_id": job_id,
                "job": run.job,
                "scheduled_at": run.scheduled_at,
                "attempt": run.attempt,
                "task_id": run.task_id,
                "epoch": epoch,
            }
            try:
                run_id = s.scalar(insert(RunRow).values(**values).returning(RunRow.id))
            except IntegrityError as exc:
                if _is_foreign_key_violation(exc):  # the job was deleted just now
                    raise NotFound(f"job {run.job!r} not found") from exc
                raise Conflict(f"{_run_label(run)} already exists") from exc
            assert run_id is not None
            return run.evolve(id=run_id)

    def save_runs(self, creates: Sequence[Run], updates: Sequence[Run], *, epoch: int | None = None) -> None:
        """Create and update many runs in one go: what the scheduler commits per step.

        One fencing check, one query for the job ids, then one multi-row INSERT and one
        multi-row UPDATE, instead of three statements per run: 10,000 runs due in the
        same second are recorded in a fraction of a second. Same errors as
        :meth:`create_run` and :meth:`update_run`, for the batch as a whole.
        """
        if not creates and not updates:
            return
        with self._tx() as s:
            self._check_epoch(s, epoch)
            if creates:
                names = sorted({r.job for r in creates})
                ids: dict[str, int] = {}
                for chunk in _chunks(names, _CHUNK):
                    ids.update(s.execute(select(JobRow.name, JobRow.id).where(JobRow.name.in_(chunk))).all())
                missing = [n for n in names if n not in ids]
                if missing:
                    raise NotFound(f"job {missing[0]!r} not found")
                rows = [
                    {
                        **_run_columns(r),
                        "job_id": ids[r.job],
                        "job": r.job,
                        "scheduled_at": r.scheduled_at,
                        "attempt": r.attempt,
                        "task_id": r.task_id,
                        "epoch": epoch,
                    }
                    for r in creates
                ]
                try:
                    for part in _chunks(rows, _CHUNK):
                        s.execute(insert(RunRow), list(part))
                except IntegrityError as exc:
                    if _is_foreign_key_violation(exc):
                        raise NotFound("a job of these runs was deleted just now") from exc
                    raise Conflict(f"one of {len(rows)} runs already exists (first: {_run_label(creates[0])})") from exc
            if updates:
                stmt = (
                    update(RunRow)
                    .where(
                        RunRow.job == bindparam("b_job"),
                        RunRow.scheduled_at == bindparam("b_at"),
                        RunRow.attempt == bindparam("b_attempt"),
                    )
                    .execution_options(synchronize_session=False)
                )
                params = [
                    {**_run_columns(r), "b_job": r.job, "b_at": r.scheduled_at, "b_attempt": r.attempt} for r in updates
                ]
                result = s.connection().execute(stmt, params)
                if 0 <= result.rowcount < len(params):
                    raise NotFound(f"{len(params) - result.rowcount} of {len(params)} runs to update were not found")

    def update_run(self, run: Run, *, epoch: int | None = None) -> Run:
        """Overwrite a run's state and timestamps, found by its identity.

        State transitions are the Engine's business and are not checked here.
        Fencing as for :meth:`create_run`.

        :raises NotFound: no such run. :raises StaleEpoch:
        """
        columns = _run_columns(run)
        with self._tx() as s:
            self._check_epoch(s, epoch)
            run_id = s.scalar(
                update(RunRow)
                .where(RunRow.job == run.job, RunRow.scheduled_at == run.scheduled_at, RunRow.attempt == run.attempt)
                .values(**columns)
                .returning(RunRow.id)
                .execution_options(synchronize_session=False)
            )
            if run_id is None:
                raise NotFound(f"{_run_label(run)} not found")
            return run.evolve(id=run_id)

    def get_run(self, job: str, scheduled_at: datetime, attempt: int = 0) -> Run:
        """The run with this identity. :raises NotFound:"""
        when = _aware("scheduled_at", scheduled_at)
        return self._one_run(
            select(RunRow).where(RunRow.job == job, RunRow.scheduled_at == when, RunRow.attempt == attempt),
            f"run of job {job!r} scheduled {scheduled_at.isoformat()} attempt {attempt} not found",
        )

    def get_run_by_id(self, run_id: int) -> Run:
        """:raises NotFound:"""
        return self._one_run(select(RunRow).where(RunRow.id == run_id), f"run {run_id} not found")

    def get_run_by_task_id(self, task_id: str) -> Run:
        """The run a Mesos status update is about. :raises NotFound:"""
        return self._one_run(select(RunRow).where(RunRow.task_id == task_id), f"run with task id {task_id!r} not found")

    def list_runs(
        self,
        job: str | None = None,
        *,
        states: Iterable[RunState | str] | None = None,
        offset: int = 0,
        limit: int = 100,
        newest_first: bool = True,
    ) -> tuple[list[Run], int]:
        """One page of runs (of one job, or of all), by scheduled time, and the total.

        An unknown job has no runs: this returns ``([], 0)`` rather than raising.
        """
        _page(offset, limit)
        conditions: list[Any] = []
        if job is not None:
            conditions.append(RunRow.job == job)
        if states is not None:
            conditions.append(RunRow.state.in_([RunState(st).value for st in states]))
        if newest_first:
            order = (RunRow.scheduled_at.desc(), RunRow.attempt.desc(), RunRow.id.desc())
        else:
            order = (RunRow.scheduled_at.asc(), RunRow.attempt.asc(), RunRow.id.asc())
        with self._tx(readonly=True) as s:
            total = s.scalar(select(func.count()).select_from(RunRow).where(*conditions)) or 0
            rows = s.scalars(select(RunRow).where(*conditions).order_by(*order).offset(offset).limit(limit))
            return [_run_from_row(r) for r in rows], total

    def attempts_of(self, job: str, scheduled_at: datetime, *, limit: int = 100) -> list[Run]:
        """Every attempt (retries, relaunches) of one fire time of ``job``, first attempt first."""
        when = _aware("scheduled_at", scheduled_at)
        with self._tx(readonly=True) as s:
            rows = s.scalars(
                select(RunRow)
                .where(RunRow.job == job, RunRow.scheduled_at == when)
                .order_by(RunRow.attempt.asc(), RunRow.id.asc())
                .limit(limit)
            )
            return [_run_from_row(r) for r in rows]

    def live_runs(self) -> list[Run]:
        """Runs whose Mesos task exists or may exist (launched, starting, running):
        what a new leader reconciles with the master. Oldest first."""
        return self._runs_in(LIVE_STATES)

    def unfinished_runs(self) -> list[Run]:
        """Every run not in a final state (waiting and queued too): what a new leader
        puts back into its queue. Oldest first."""
        return self._runs_in(UNFINISHED_STATES)

    def last_run(self, job: str) -> Run | None:
        """The job's newest run (latest scheduled_at, then highest attempt), or None."""
        with self._tx(readonly=True) as s:
            row = s.scalars(
                select(RunRow)
                .where(RunRow.job == job)
                .order_by(RunRow.scheduled_at.desc(), RunRow.attempt.desc())
                .limit(1)
            ).first()
            return _run_from_row(row) if row is not None else None

    def last_final_runs(self) -> dict[str, Run]:
        """Per job, its newest final run (latest scheduled_at, then highest attempt).

        What a new leader needs to decide whether a retry was pending when the previous
        leader stopped. One query: the runs ranked per job, the first of each kept.
        """
        rank = (
            func.row_number()
            .over(partition_by=RunRow.job_id, order_by=(RunRow.scheduled_at.desc(), RunRow.attempt.desc()))
            .label("rank")
        )
        ranked = select(RunRow.id, rank).where(RunRow.state.in_([st.value for st in FINAL_STATES])).subquery()
        with self._tx(readonly=True) as s:
            rows = s.scalars(select(RunRow).join(ranked, ranked.c.id == RunRow.id).where(ranked.c.rank == 1))
            return {r.job: _run_from_row(r) for r in rows}

    def job_overview(
        self,
        names: Sequence[str],
        *,
        now: datetime | None = None,
    ) -> dict[str, tuple[datetime | None, Run | None]]:
        """For a page of jobs: ``{name: (next run's time, newest run that was due)}``.

        A run prepared ahead of its second (QUEUED, scheduled after ``now``) is the next
        run, not the last one. Three indexed queries for just these jobs, whatever the
        number of jobs stored: what a list page of the UI needs next to each job.
        """
        now = now or datetime.now(UTC)
        out: dict[str, tuple[datetime | None, Run | None]] = {n: (None, None) for n in names}
        if not names:
            return out
        with self._tx(readonly=True) as s:
            ids = dict(s.execute(select(JobRow.id, JobRow.name).where(JobRow.name.in_(list(names)))).all())
            if not ids:
                return out
            for job_id, nxt in s.execute(
                select(JobStateRow.job_id, JobStateRow.next_fire_at).where(JobStateRow.job_id.in_(list(ids)))
            ):
                out[ids[job_id]] = (nxt, None)
            early = (RunRow.state == RunState.QUEUED.value) & (RunRow.scheduled_at > now)
            for job_id, at in s.execute(
                select(RunRow.job_id, func.min(RunRow.scheduled_at))
                .where(RunRow.job_id.in_(list(ids)), early)
                .group_by(RunRow.job_id)
            ):
                at = _aware("scheduled_at", at)
                nxt = out[ids[job_id]][0]
                out[ids[job_id]] = (at if nxt is None or at < nxt else nxt, None)
            rank = (
                func.row_number()
                .over(partition_by=RunRow.job_id, order_by=(RunRow.scheduled_at.desc(), RunRow.attempt.desc()))
                .label("rank")
            )
            ranked = select(RunRow.id, rank).where(RunRow.job_id.in_(list(ids)), ~early).subquery()
            for row in s.scalars(select(RunRow).join(ranked, ranked.c.id == RunRow.id).where(ranked.c.rank == 1)):
                out[row.job] = (out[row.job][0], _run_from_row(row))
        return out

    def prune_runs(self, keep_per_job: int, batch: int = 500, *, cancelled: Callable[[], bool] | None = None) -> int:
        """Delete all but the newest ``keep_per_job`` runs of each job; return how many.

        Unfinished runs are never deleted (a live task must stay reconcilable), though
        they count towards the runs kept. Written so that pruning never stalls the
        scheduler, however large the history:

        - the runs to delete are found by a read (which on SQLite, in WAL mode, blocks
          no writer), at most :data:`_PRUNE_READ` ids at a time, so a first pruning of
          years of history does not load millions of ids into memory;
        - they are deleted in transactions of ``batch`` rows, each a few milliseconds;
        - on SQLite, which has one write lock and no queue for it, each delete is
          followed by a pause as long as the delete took, so a writer waiting on the
          busy timeout gets the lock between two batches rather than after all of them.
          PostgreSQL locks rows, and scheduling writes never touch a finished run.

        :param cancelled: asked before each batch; when it says True, pruning stops
            there (and returns what was deleted so far), so a shutdown does not wait
            for a long first pruning to finish. The next call carries on.
        """
        if not isinstance(keep_per_job, int) or keep_per_job < 0:
            raise ValidationError.single("keep_per_job", "must be an integer >= 0", keep_per_job, ">= 0")
        if not isinstance(batch, int) or batch < 1:
            raise ValidationError.single("batch", "must be an integer >= 1", batch, ">= 1")
        rank = (
            func.row_number()
            .over(
                partition_by=RunRow.job_id,
                order_by=(RunRow.scheduled_at.desc(), RunRow.attempt.desc(), RunRow.id.desc()),
            )
            .label("rank")
        )
        ranked = select(RunRow.id, RunRow.state, rank).subquery()
        finals = [st.value for st in FINAL_STATES]
        prunable = (
            select(ranked.c.id)
            .where(ranked.c.rank > keep_per_job, ranked.c.state.in_(finals))
            .order_by(ranked.c.id)
            .limit(_PRUNE_READ)
        )
        deleted = 0
        pause = 0.0
        while True:
            with self.transaction(readonly=True) as s:
                ids = list(s.scalars(prunable))
            deleted_now = 0
            for chunk in _chunks(ids, batch):
                if cancelled is not None and cancelled():
                    return deleted + deleted_now
                if pause:
                    time.sleep(pause)
                started = time.monotonic()
                with self.transaction() as s:
                    # Checking the state again: the ids were read in another transaction.
                    result = s.execute(
                        delete(RunRow)
                        .where(RunRow.id.in_(chunk), RunRow.state.in_(finals))
                        .execution_options(synchronize_session=False)
                    )
                    deleted_now += result.rowcount  # type: ignore[attr-defined]
                if self.dialect == "sqlite":
                    pause = max(time.monotonic() - started, 0.001)
            deleted += deleted_now
            # A full read may have left more behind; stop if a pass achieved nothing,
            # which only a concurrent pruner could cause, rather than spin.
            if len(ids) < _PRUNE_READ or deleted_now == 0:
                return deleted

    def _one_run(self, stmt: Select[Any], missing: str) -> Run:
        with self._tx(readonly=True) as s:
            row = s.scalars(stmt).first()
            if row is None:
                raise NotFound(missing)
            return _run_from_row(row)

    def _runs_in(self, states: Iterable[RunState]) -> list[Run]:
        with self._tx(readonly=True) as s:
            rows = s.scalars(
                select(RunRow)
                .where(RunRow.state.in_([st.value for st in states]))
                .order_by(RunRow.scheduled_at, RunRow.attempt, RunRow.id)
            )
            return [_run_from_row(r) for r in rows]
