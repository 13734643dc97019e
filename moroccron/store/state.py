"""What the scheduler remembers per job between leaders: the last and next fire times,
the quarantine reasons, and the dependency progress of dependent jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from moroccron.errors import NotFound
from moroccron.store.base import _CHUNK, StoreBase, _aware, _chunks, _is_foreign_key_violation, _table
from moroccron.store.models import DependencyProgressRow, JobRow, JobStateRow

__all__ = ["SchedulerStateMixin"]


class SchedulerStateMixin(StoreBase):
    """The :class:`~moroccron.store.Store`'s scheduler bookkeeping per job."""

    def get_job_states(self) -> dict[str, tuple[datetime | None, datetime | None]]:
        """``{job name: (last_scheduled_at, next_fire_at)}`` for every job that has one."""
        with self._tx(readonly=True) as s:
            rows = s.execute(
                select(JobRow.name, JobStateRow.last_scheduled_at, JobStateRow.next_fire_at).join(
                    JobStateRow, JobStateRow.job_id == JobRow.id
                )
            )
            return {r.name: (r.last_scheduled_at, r.next_fire_at) for r in rows}

    def set_job_state(
        self,
        name: str,
        last_scheduled_at: datetime | None,
        next_fire_at: datetime | None,
        *,
        epoch: int | None = None,
    ) -> None:
        """Remember the last fire time materialised for a job and its next one.

        :raises NotFound: no such job. :raises StaleEpoch: as for :meth:`create_run`.
        """
        self.set_job_states({name: (last_scheduled_at, next_fire_at)}, epoch=epoch)

    def set_job_states(
        self,
        states: Mapping[str, tuple[datetime | None, datetime | None]],
        *,
        epoch: int | None = None,
    ) -> None:
        """:meth:`set_job_state` for many jobs in one transaction (and few statements)."""
        values = {
            name: (_aware("last_scheduled_at", last), _aware("next_fire_at", nxt))
            for name, (last, nxt) in states.items()
        }
        if not values:
            return
        with self._tx() as s:
            self._check_epoch(s, epoch)
            names = list(values)
            ids: dict[str, int] = {}
            for chunk in _chunks(names, _CHUNK):
                ids.update(
                    (r.name, r.id) for r in s.execute(select(JobRow.id, JobRow.name).where(JobRow.name.in_(chunk)))
                )
            missing = [n for n in names if n not in ids]
            if missing:
                raise NotFound(
                    f"job {missing[0]!r} not found"
                    if len(missing) == 1
                    else f"jobs not found: {', '.join(repr(n) for n in missing)}"
                )
            rows = [
                {"job_id": ids[n], "last_scheduled_at": last, "next_fire_at": nxt} for n, (last, nxt) in values.items()
            ]
            table = _table(JobStateRow)
            stmt = self._insert(table)
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=[table.c.job_id],
                    set_={
                        "last_scheduled_at": stmt.excluded.last_scheduled_at,
                        "next_fire_at": stmt.excluded.next_fire_at,
                    },
                ),
                rows,
            )

    def set_job_errors(self, errors: Mapping[str, tuple[str, datetime] | None], *, epoch: int | None = None) -> None:
        """Record why jobs were quarantined (``(reason, when)``), or clear it (None).

        Jobs that no longer exist are passed over: a job deleted while it was being set
        aside needs no record.
        """
        if not errors:
            return
        with self._tx() as s:
            self._check_epoch(s, epoch)
            ids: dict[str, int] = {}
            for chunk in _chunks(list(errors), _CHUNK):
                ids.update(
                    (r.name, r.id) for r in s.execute(select(JobRow.id, JobRow.name).where(JobRow.name.in_(chunk)))
                )
            rows = [
                {"job_id": ids[n], "error": e[0] if e else None, "error_at": _aware("error_at", e[1]) if e else None}
                for n, e in errors.items()
                if n in ids
            ]
            if not rows:
                return
            table = _table(JobStateRow)
            stmt = self._insert(table)
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=[table.c.job_id],
                    set_={"error": stmt.excluded.error, "error_at": stmt.excluded.error_at},
                ),
                rows,
            )

    def job_errors(self, names: Iterable[str] | None = None) -> dict[str, tuple[str, datetime]]:
        """``{job: (reason, when)}`` of the jobs set aside after an internal error (see
        set_job_errors), of all jobs or of ``names``."""
        stmt = (
            select(JobRow.name, JobStateRow.error, JobStateRow.error_at)
            .join(JobStateRow, JobStateRow.job_id == JobRow.id)
            .where(JobStateRow.error.is_not(None))
        )
        if names is not None:
            stmt = stmt.where(JobRow.name.in_(list(names)))
        with self._tx(readonly=True) as s:
            return {r.name: (r.error, r.error_at) for r in s.execute(stmt)}

    def get_dependency_progress(self) -> dict[str, dict[str, tuple[str, datetime]]]:
        """``{child: {parent: (task id of the parent's run, when it succeeded)}}``.

        The parents of each dependent job that have succeeded since the child last ran
        (Chronos semantics), as the engine recorded them; what a new leader loads.
        Rows may name a parent that is no longer a job (or no longer a parent of the
        child): the engine ignores those, and the child's next run clears them.
        """
        with self._tx(readonly=True) as s:
            rows = s.execute(
                select(
                    JobRow.name,
                    DependencyProgressRow.parent,
                    DependencyProgressRow.satisfied_by,
                    DependencyProgressRow.satisfied_at,
                )
                .join(DependencyProgressRow, DependencyProgressRow.job_id == JobRow.id)
                .order_by(JobRow.name, DependencyProgressRow.parent)
            )
            out: dict[str, dict[str, tuple[str, datetime]]] = {}
            for r in rows:
                out.setdefault(r.name, {})[r.parent] = (r.satisfied_by, r.satisfied_at)
            return out

    def set_dependency_progress(
        self,
        child: str,
        parent: str,
        task_id: str,
        at: datetime,
        *,
        epoch: int | None = None,
    ) -> None:
        """Record that ``parent`` succeeded (run ``task_id``, at ``at``) since ``child`` last ran.

        Replaces what was recorded for the pair: a parent that succeeds twice before
        the child runs still counts once, and the newest success is the one kept.
        Fencing as for :meth:`create_run`, so a deposed leader cannot leave progress
        behind that its successor would act on.

        :raises NotFound: no job is called ``child``. :raises StaleEpoch:
        """
        when = _aware("at", at)
        with self._tx() as s:
            self._check_epoch(s, epoch)
            job_id = self._job_id(s, child)
            table = _table(DependencyProgressRow)
            stmt = self._insert(table).values(job_id=job_id, parent=parent, satisfied_by=task_id, satisfied_at=when)
            try:
                s.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[table.c.job_id, table.c.parent],
                        set_={"satisfied_by": stmt.excluded.satisfied_by, "satisfied_at": stmt.excluded.satisfied_at},
                    )
                )
            except IntegrityError as exc:
                if _is_foreign_key_violation(exc):  # the child was deleted just now
                    raise NotFound(f"job {child!r} not found") from exc
                raise

    def clear_dependency_progress(self, child: str, *, epoch: int | None = None) -> None:
        """Forget every parent's progress towards ``child``: call it when the child's run
        is created, in the same transaction, so that the run and the reset are one step.

        A child that does not exist (any more) has nothing to clear: not an error, so a
        job deleted while its run was being committed does not fail the commit.
        Fencing as for :meth:`create_run`. :raises StaleEpoch:
        """
        with self._tx() as s:
            self._check_epoch(s, epoch)
            s.execute(
                delete(DependencyProgressRow)
                .where(DependencyProgressRow.job_id.in_(select(JobRow.id).where(JobRow.name == child)))
                .execution_options(synchronize_session=False)
            )
