"""Jobs in the store: their specs, versions, sources, index rows (owners, labels,
parents), the job-graph lock and the listings.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self

from sqlalchemy import Text, cast, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moroccron.dag import DependencyGraph
from moroccron.errors import Conflict, NotFound, StaleVersion, ValidationError
from moroccron.model import JobSpec, RunState, stored_data
from moroccron.store.base import _CHUNK, LIVE_STATES, StoreBase, _chunks, _dumps, _filter_text, _page, _utcnow, log
from moroccron.store.models import FrameworkRow, JobLabelRow, JobOwnerRow, JobParentRow, JobRow, JobStateRow, RunRow

__all__ = ["ENDED_STATES", "FAILING_STATES", "JOB_STATES", "JobRecord", "JobsMixin"]

JOB_STATES: tuple[str, ...] = ("enabled", "disabled", "failed", "running", "quarantined")
"""What a job list can be filtered by (``state=``): ``enabled``/``disabled`` as set on the job;
``failed``: the newest run that ended (:data:`ENDED_STATES`) ended failed, lost or killed
(:data:`FAILING_STATES`); ``running``: a task of the job is launched, starting or running;
``quarantined``: set aside by the scheduler after an internal error."""
ENDED_STATES: tuple[RunState, ...] = (RunState.SUCCEEDED, RunState.FAILED, RunState.LOST, RunState.KILLED)
"""Runs that ran and ended: a skipped run never ran, so it says nothing of whether a job fails."""
FAILING_STATES: tuple[RunState, ...] = (RunState.FAILED, RunState.LOST, RunState.KILLED)
_GRAPH_LOCK_ID = 0x6D6F6A67  # pg_advisory_xact_lock key ("mojg") serialising changes to the job graph
_GRAPH_READ_ALL = 200  # jobs with new parent links above which the cycle check reads the whole graph


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A stored job with its bookkeeping: what the API returns for ETags and audits."""

    spec: JobSpec
    id: int
    version: int
    created_at: datetime
    updated_at: datetime
    source: str | None = None  # the job-definition modules that applied it last (jobs apply --source)

    @property
    def name(self) -> str:
        return self.spec.name


def _state_condition(state: str) -> Any:
    """The WHERE clause of a job list filtered by ``state`` (one of :data:`JOB_STATES`)."""
    if state not in JOB_STATES:
        raise ValidationError.single("state", "unknown job state", state, " | ".join(JOB_STATES))
    if state in ("enabled", "disabled"):
        return JobRow.disabled == (state == "disabled")
    if state == "running":
        return JobRow.id.in_(select(RunRow.job_id).where(RunRow.state.in_([st.value for st in LIVE_STATES])))
    if state == "quarantined":
        return JobRow.id.in_(select(JobStateRow.job_id).where(JobStateRow.error.is_not(None)))
    # failed: per job, one look down the (job, scheduled_at, attempt) index for its newest ended run
    newest_ended = (
        select(RunRow.state)
        .where(RunRow.job == JobRow.name, RunRow.state.in_([st.value for st in ENDED_STATES]))
        .order_by(RunRow.scheduled_at.desc(), RunRow.attempt.desc())
        .limit(1)
        .correlate(JobRow)
        .scalar_subquery()
    )
    return newest_ended.in_([st.value for st in FAILING_STATES])


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The spec column read as text: decoding JSON costs more than the query itself at
# 100,000 jobs, and a spec already built for the same version needs no decoding at all.
_SPEC_TEXT = cast(JobRow.spec, Text).label("spec_text")
_SPEC_KEYS = frozenset(f.name for f in fields(JobSpec))
_ADDED_FIELDS: dict[str, list[Any]] = {"secret_env": []}
"""Fields added since jobs were first stored, with the JSON of their default: a row written
before one existed is listed with the default rather than rebuilt through a JobSpec."""


def _search_text(spec: JobSpec) -> str:
    return "\n".join((spec.name, spec.description, spec.command or "")).lower()


def _job_columns(spec: JobSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "spec": spec.to_dict(),
        "schedule": spec.schedule,
        "disabled": spec.disabled,
        "search_text": _search_text(spec),
    }


class JobsMixin(StoreBase):
    """The :class:`~moroccron.store.Store`'s jobs."""

    @contextmanager
    def job_transaction(self) -> Iterator[Session]:
        """A write transaction that holds the job-graph lock from its first statement.

        Whatever decides on the jobs as stored and then writes jobs (is there a cycle,
        does the parent exist, does anyone depend on the job being deleted) reads and
        writes inside one (:meth:`job_unit_of_work`): changes to the graph then happen one
        after the other, so two checks that each saw an acyclic graph cannot each store
        half of a cycle. Every job write takes the same lock, in its own transaction or
        in the caller's, except :meth:`set_disabled`, which changes no parent link.

        PostgreSQL: a transaction-scoped advisory lock. Job writers alone wait for it;
        the scheduler's fencing check (the framework row) is not held up while a check
        runs, and job writers take the two in the same order (see :meth:`_write_jobs`).
        SQLite: the database's write lock, which ``BEGIN IMMEDIATE`` takes; there, every
        other writer, the scheduler too, waits while the check runs, so keep checks
        (plugin policies among them) quick.
        """
        with self.transaction() as s:
            self._lock_graph(s)
            yield s

    @contextmanager
    def job_unit_of_work(self) -> Iterator[Self]:
        """A :meth:`~moroccron.store.base.StoreBase.unit_of_work` in a :meth:`job_transaction`:
        the store bound to a write transaction that holds the job-graph lock. On a unit of
        work, the same unit of work, which then holds the lock too."""
        if self._session is not None:
            self._lock_graph(self._session)
            yield self
            return
        with self.job_transaction() as s:
            yield self._bound(s)

    def _lock_graph(self, s: Session) -> None:
        if self.dialect == "postgresql":  # re-entrant: taking it again in the same transaction is free
            s.execute(select(func.pg_advisory_xact_lock(_GRAPH_LOCK_ID)))

    def create_job(self, spec: JobSpec) -> int:
        """Store a new job and return its id.

        :raises Conflict: a job with this name exists.
        """
        with self._tx() as s:
            ((_, _, job_id),) = self._write_jobs(s, [spec], expected={spec.name: 0})
            return job_id

    def save_job(
        self,
        name: str,
        build: Callable[[JobRecord | None], JobSpec],
        check: Callable[[JobSpec, Self], None] | None = None,
        *,
        attempts: int = 3,
    ) -> tuple[JobRecord, bool]:
        """Create or replace the job ``name`` in one step against what is stored.

        In one :meth:`job_transaction`: read the stored record (None if there is none);
        ``build(record)`` the new spec from it (a merge of a partial change, values kept
        from the stored spec, a client's precondition, which raises); ``check(spec, uow)``
        it against the stored jobs (graph, plugin policy), reading through ``uow`` (the
        store bound to the transaction); and
        write it only if the stored record is still the one read. Only
        :meth:`set_disabled` writes a job without the graph lock; should it change the
        job in between, the three steps run again (``attempts`` times in all).

        :return: the stored record and whether it was created.
        :raises StaleVersion: the job kept changing. What ``build`` and ``check`` raise.
        """
        with self.job_transaction() as s:
            for attempt in range(attempts):
                try:
                    with s.begin_nested():
                        current = self._find_record(s, name)
                        spec = build(current)
                        if spec.name != name:
                            raise ValidationError.single(
                                "name", "does not match the job being written", spec.name, name
                            )
                        if check is not None:
                            check(spec, self._bound(s))
                        ((_, created, _),) = self._write_jobs(
                            s, [spec], expected={name: current.version if current is not None else 0}
                        )
                        return self._bound(s).get_job_record(name), created
                except StaleVersion:
                    if attempt == attempts - 1:
                        raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def _find_record(self, s: Session, name: str) -> JobRecord | None:
        try:
            return self._bound(s).get_job_record(name)
        except NotFound:
            return None

    def put_job(self, spec: JobSpec, *, expected_version: int | None = None) -> tuple[JobSpec, bool]:
        """Create the job or replace it; return ``(spec, created)``.

        :param expected_version: replace only if the stored version is this one (the
            version the client read), so two editors cannot silently overwrite each
            other; ``0`` means "only if it does not exist yet"; None replaces whatever
            is there. Storing a spec equal to the stored one changes nothing and keeps
            the version, so re-applying the same definitions is free.
        :raises Conflict: the version did not match.
        """
        with self._tx() as s:
            ((stored, created, _),) = self._write_jobs(s, [spec], expected={spec.name: expected_version})
            return stored, created

    def apply_jobs(
        self,
        upserts: Sequence[JobSpec],
        deletes: Iterable[str] = (),
        *,
        source: str | None = None,
    ) -> None:
        """Create or replace ``upserts`` and delete ``deletes``, all or nothing.

        This is ``moroccron jobs apply``: a repository of definitions lands as one
        change, or, if any part of it is refused, not at all. With ``source``, the
        upserted jobs are marked as that source's (see :meth:`job_sources`).

        :raises NotFound: a job to delete does not exist (nothing is changed).
        :raises ValidationError: a name is listed twice, or both upserted and deleted.
        """
        deletes = list(deletes)
        upserted = {spec.name for spec in upserts}
        both = sorted(upserted.intersection(deletes))
        if both:
            raise ValidationError.single(
                "deletes", "jobs both upserted and deleted", both, "each job name in at most one of the two lists"
            )
        if len(set(deletes)) != len(deletes):
            raise ValidationError.single("deletes", "lists a job more than once", deletes, "distinct names")
        with self._tx() as s:
            self._delete_jobs(s, deletes)
            self._write_jobs(s, list(upserts), expected={})
            if source is not None:
                names = [spec.name for spec in upserts]
                for chunk in _chunks(names, _CHUNK):
                    s.execute(
                        update(JobRow)
                        .where(JobRow.name.in_(chunk), or_(JobRow.source.is_(None), JobRow.source != source))
                        .values(source=source)
                        .execution_options(synchronize_session=False)
                    )

    def job_sources(self) -> dict[str, str | None]:
        """Each job's source: the set of job-definition modules that applied it last
        (``jobs apply --source``), None for a job made otherwise."""
        with self._tx(readonly=True) as s:
            return {r.name: r.source for r in s.connection().execute(select(JobRow.name, JobRow.source))}

    def get_job(self, name: str) -> JobSpec:
        """The job's spec. :raises NotFound: no job has this name."""
        return self.get_job_record(name).spec

    def get_job_record(self, name: str) -> JobRecord:
        """The job with its id, version and timestamps. :raises NotFound:"""
        with self._tx(readonly=True) as s:
            row = (
                s.connection()
                .execute(
                    select(
                        JobRow.id, JobRow.version, _SPEC_TEXT, JobRow.created_at, JobRow.updated_at, JobRow.source
                    ).where(JobRow.name == name)
                )
                .one_or_none()
            )
            if row is None:
                raise NotFound(f"job {name!r} not found")
            return JobRecord(
                self._spec(row.id, row.spec_text), row.id, row.version, row.created_at, row.updated_at, row.source
            )

    def list_jobs(
        self,
        *,
        owner: str | None = None,
        q: str | None = None,
        label: tuple[str, str] | None = None,
        disabled: bool | None = None,
        state: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[JobSpec], int]:
        """One page of jobs, ordered by name, and how many jobs match in all.

        :param owner: only jobs this owner owns.
        :param q: case-insensitive substring of the name, description or command.
        :param label: ``(key, value)``: only jobs with this label.
        :param disabled: only disabled (True) or enabled (False) jobs.
        :param state: one of :data:`JOB_STATES`: only jobs in that state.
        """
        rows, total = self._job_page(owner, q, label, disabled, state, offset, limit)
        return [self._spec(r.id, r.spec_text) for r in rows], total

    def list_job_dicts(
        self,
        *,
        owner: str | None = None,
        q: str | None = None,
        label: tuple[str, str] | None = None,
        disabled: bool | None = None,
        state: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], int]:
        """As :meth:`list_jobs`, but each job in its JSON form (``JobSpec.to_dict()``).

        The stored JSON is that form already: a listing decodes it and is done, instead
        of building and validating a JobSpec per job (130 µs each). A row written by an
        older version that lacks a field goes through the JobSpec for its defaults.
        """
        rows, total = self._job_page(owner, q, label, disabled, state, offset, limit)
        out = []
        for r in rows:
            data = json.loads(r.spec_text)
            for key, default in _ADDED_FIELDS.items():
                if key not in data:
                    data[key] = list(default)
            out.append(data if data.keys() >= _SPEC_KEYS else self._spec(r.id, r.spec_text).to_dict())
        return out, total

    def _job_page(
        self,
        owner: str | None,
        q: str | None,
        label: tuple[str, str] | None,
        disabled: bool | None,
        state: str | None,
        offset: int,
        limit: int,
    ) -> tuple[Sequence[Any], int]:
        _page(offset, limit)
        _filter_text("owner", owner)
        _filter_text("q", q)
        for part in label or ():
            _filter_text("label", part)
        conditions: list[Any] = []
        if owner is not None:
            conditions.append(JobRow.id.in_(select(JobOwnerRow.job_id).where(JobOwnerRow.owner == owner)))
        if label is not None:
            key, value = label
            conditions.append(
                JobRow.id.in_(select(JobLabelRow.job_id).where(JobLabelRow.key == key, JobLabelRow.value == value))
            )
        if disabled is not None:
            conditions.append(JobRow.disabled == disabled)
        if state is not None:
            conditions.append(_state_condition(state))
        if q:
            conditions.append(JobRow.search_text.like(f"%{_like_escape(q.lower())}%", escape="\\"))
        with self._tx(readonly=True) as s:
            total = s.scalar(select(func.count()).select_from(JobRow).where(*conditions)) or 0
            rows = (
                s.connection()
                .execute(
                    select(JobRow.id, _SPEC_TEXT).where(*conditions).order_by(JobRow.name).offset(offset).limit(limit)
                )
                .all()
            )
        return rows, total

    def all_jobs(self, *, invalid: dict[str, str] | None = None) -> list[JobSpec]:
        """Every job, ordered by name: what a new leader loads.

        One query over one table, read through Core (no ORM row overhead). Specs
        already built from the same stored text are reused undecoded, so a reload after
        a few changes decodes and validates only the changed jobs.

        A stored job that is no longer valid (written by hand in SQL, or by an older
        release with looser rules) is left out, with a warning, instead of making every
        reader fail; ``invalid`` collects them, name -> what is wrong.
        """
        with self._tx(readonly=True) as s:
            rows = s.connection().execute(select(JobRow.id, JobRow.name, _SPEC_TEXT).order_by(JobRow.name)).all()
        specs = self._valid_specs(rows, invalid)
        live = {r.id for r in rows}
        with self._spec_cache_lock:
            for job_id in [k for k in self._spec_cache if k not in live]:
                del self._spec_cache[job_id]
        return specs

    def jobs_revision(self) -> int:
        """A number that every job write increases: one row read, cheap enough to poll
        every few seconds at 100,000 jobs (see :class:`moroccron.watch.JobWatcher`)."""
        with self._tx(readonly=True) as s:
            return int(s.scalar(select(FrameworkRow.jobs_revision).where(FrameworkRow.id == 1)) or 0)

    def jobs_fingerprint(self) -> tuple[int, datetime | None]:
        """``(count, newest updated_at)`` of the jobs."""
        with self._tx(readonly=True) as s:
            count, newest = s.connection().execute(select(func.count(), func.max(JobRow.updated_at))).one()
        return int(count), newest

    def jobs_updated_since(self, since: datetime, *, invalid: dict[str, str] | None = None) -> list[JobSpec]:
        """Jobs whose ``updated_at`` is ``since`` or later (through the index on it); ``invalid``
        as for :meth:`all_jobs`."""
        with self._tx(readonly=True) as s:
            rows = (
                s.connection()
                .execute(
                    select(JobRow.id, JobRow.name, _SPEC_TEXT).where(JobRow.updated_at >= since).order_by(JobRow.name)
                )
                .all()
            )
        return self._valid_specs(rows, invalid)

    def parent_map(self, names: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
        """``name -> parents`` for each of ``names`` that is a stored job, or for every job
        (``names=None``): the dependency graph without decoding a single spec."""
        out: dict[str, list[str]] = {}
        query = select(JobRow.name, JobParentRow.parent).outerjoin(JobParentRow, JobParentRow.job_id == JobRow.id)
        with self._tx(readonly=True) as s:
            conn = s.connection()
            chunks = [None] if names is None else _chunks(sorted(set(names)), _CHUNK)
            for chunk in chunks:
                rows = conn.execute(query if chunk is None else query.where(JobRow.name.in_(chunk)))
                for name, parent in rows:
                    parents = out.setdefault(name, [])
                    if parent is not None:
                        parents.append(parent)
        return {name: tuple(sorted(parents)) for name, parents in out.items()}

    def job_names(self) -> set[str]:
        with self._tx(readonly=True) as s:
            return set(s.scalars(select(JobRow.name)))

    def delete_job(self, name: str, *, expected_version: int | None = None) -> None:
        """Delete the job with its runs, labels and scheduler state.

        :param expected_version: delete only if the stored version is this one.
        :raises NotFound: no job has this name. :raises StaleVersion:
        """
        with self._tx() as s:
            self._delete_jobs(s, [name], expected={} if expected_version is None else {name: expected_version})

    def set_disabled(self, name: str, disabled: bool) -> JobSpec:
        """Disable or enable a job (a new version, unless it already was). :raises NotFound:"""
        with self._tx() as s:
            self._jobs_changed(s)  # before the job row's lock: see _write_jobs
            # Locked while read, so a concurrent edit of another field is not undone.
            row = (
                s.connection()
                .execute(select(JobRow.id, JobRow.version, _SPEC_TEXT).where(JobRow.name == name).with_for_update())
                .one_or_none()
            )
            if row is None:
                raise NotFound(f"job {name!r} not found")
            spec = self._spec(row.id, row.spec_text)
            if spec.disabled == disabled:
                return spec
            # No graph lock: the parents stay as they are, and the scheduler disables jobs
            # inside its fenced transactions, which must not wait behind a job check.
            ((stored, _, _),) = self._write_jobs(
                s, [spec.evolve(disabled=disabled)], expected={name: row.version}, graph=False
            )
            return stored

    def children_of(self, name: str) -> list[str]:
        """Names of the jobs that list ``name`` as a parent, sorted."""
        with self._tx(readonly=True) as s:
            stmt = (
                select(JobRow.name)
                .join(JobParentRow, JobParentRow.job_id == JobRow.id)
                .where(JobParentRow.parent == name)
                .order_by(JobRow.name)
            )
            return list(s.scalars(stmt))

    def _spec(self, job_id: int, text: str) -> JobSpec:
        """Decode and build (validate) a stored spec, once per distinct stored text.

        Keyed by the text's hash rather than the version, so the cache stays right
        even when ids and versions start again (a database restored or recreated).
        """
        digest = hash(text)
        cached = self._spec_cache.get(job_id)
        if cached is not None and cached[0] == digest:
            return cached[1]
        data = json.loads(text)
        try:
            spec = JobSpec.from_dict(data)
        except ValidationError as exc:
            # Stored by a version with looser bounds: load it (a job that cannot be loaded
            # would stop every listing and the scheduler), and say once what to fix.
            with stored_data():
                spec = JobSpec.from_dict(data)
            log.warning("job %r breaks today's bounds (%s); it runs as stored until it is changed", spec.name, exc)
        with self._spec_cache_lock:
            self._spec_cache[job_id] = (digest, spec)
        return spec

    def _valid_specs(self, rows: Sequence[Any], invalid: dict[str, str] | None) -> list[JobSpec]:
        specs = []
        for r in rows:
            try:
                specs.append(self._spec(r.id, r.spec_text))
            except (ValidationError, ValueError, TypeError) as exc:
                problem = f"its stored definition is not valid: {exc}"
                if invalid is not None:
                    invalid[r.name] = problem
                key = (r.id, hash(r.spec_text))
                if key not in self._invalid_seen:
                    self._invalid_seen.add(key)
                    log.warning("job %s left out: %s", r.name, problem)
        return specs

    @staticmethod
    def _jobs_changed(s: Session) -> None:
        s.execute(
            update(FrameworkRow)
            .where(FrameworkRow.id == 1)
            .values(jobs_revision=FrameworkRow.jobs_revision + 1)
            .execution_options(synchronize_session=False)
        )

    def _delete_jobs(self, s: Session, names: Sequence[str], expected: Mapping[str, int] | None = None) -> None:
        self._lock_graph(s)
        self._jobs_changed(s)
        if expected:
            versions = {
                r.name: r.version
                for r in s.execute(
                    select(JobRow.name, JobRow.version).where(JobRow.name.in_(list(expected))).with_for_update()
                )
            }
            for name, want in expected.items():
                if name in versions and versions[name] != want:
                    raise StaleVersion(
                        f"job {name!r} is at version {versions[name]}, not {want}: it was changed since you read it"
                    )
        found: set[str] = set()
        for chunk in _chunks(names, _CHUNK):
            found.update(
                s.scalars(
                    delete(JobRow)
                    .where(JobRow.name.in_(chunk))
                    .returning(JobRow.name)
                    .execution_options(synchronize_session=False)
                )
            )
        missing = [n for n in names if n not in found]
        if len(missing) == 1:
            raise NotFound(f"job {missing[0]!r} not found")
        if missing:
            raise NotFound(f"jobs not found: {', '.join(repr(n) for n in missing)}")

    def _write_jobs(
        self, s: Session, specs: Sequence[JobSpec], expected: Mapping[str, int | None], graph: bool = True
    ) -> list[tuple[JobSpec, bool, int]]:
        """Insert or replace jobs and their index rows; ``[(spec, created, id)]`` in order.

        The stored rows are locked first (``FOR UPDATE`` on PostgreSQL; SQLite holds
        the write lock already), so the version compare-and-set cannot race. With
        ``graph``, the job-graph lock is taken and a write that would close a dependency
        cycle is refused, whoever the caller: the engine never loads a cycle.
        """
        # The graph lock, the framework row, then job rows: the scheduler locks the last
        # two in the same order (fencing check, then runs referencing jobs) and never
        # the first, so none of them can deadlock.
        if graph:
            self._lock_graph(s)
        self._jobs_changed(s)
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            dupes = sorted(n for n, count in Counter(names).items() if count > 1)
            raise ValidationError.single("jobs", "lists a job more than once", dupes, "distinct job names")
        existing: dict[str, Any] = {}
        for chunk in _chunks(names, _CHUNK):
            found = s.connection().execute(
                select(JobRow.id, JobRow.name, JobRow.version, _SPEC_TEXT)
                .where(JobRow.name.in_(chunk))
                .with_for_update()
            )
            existing.update((r.name, r) for r in found)

        now = _utcnow()
        new_edges: list[JobSpec] = []  # jobs whose parent links are new: only they can close a cycle
        results: list[tuple[JobSpec, bool, int] | None] = []
        updates: list[dict[str, Any]] = []
        inserts: list[dict[str, Any]] = []
        insert_at: list[int] = []
        for i, spec in enumerate(specs):
            want = expected.get(spec.name)
            row = existing.get(spec.name)
            if row is None:
                if want:
                    raise StaleVersion(
                        f"job {spec.name!r} does not exist (expected version {want}): it was deleted since you read it"
                    )
                if graph and spec.parents:
                    new_edges.append(spec)
                inserts.append({**_job_columns(spec), "version": 1, "created_at": now, "updated_at": now})
                insert_at.append(i)
                results.append(None)
                continue
            if want == 0:
                raise StaleVersion(f"job {spec.name!r} already exists")
            if want is not None and want != row.version:
                raise StaleVersion(
                    f"job {spec.name!r} is at version {row.version}, not {want}: it was changed since you read it"
                )
            columns = _job_columns(spec)
            # Text, not decoded JSON, is compared: re-applying 100,000 unchanged jobs
            # then costs one serialisation each. A spec stored by another serialiser
            # merely gets one spurious new version.
            if _dumps(columns["spec"]) != row.spec_text:
                updates.append({**columns, "id": row.id, "version": row.version + 1, "updated_at": now})
                if graph and set(spec.parents) - set(json.loads(row.spec_text).get("parents") or ()):
                    new_edges.append(spec)
            results.append((spec, False, row.id))
        if new_edges:
            self._refuse_cycles(s, new_edges, specs)

        if updates:
            s.execute(update(JobRow), updates)
            changed = [u["id"] for u in updates]
            for table in (JobOwnerRow, JobLabelRow, JobParentRow):
                for id_chunk in _chunks(changed, _CHUNK):
                    s.execute(
                        delete(table).where(table.job_id.in_(id_chunk)).execution_options(synchronize_session=False)
                    )
        if inserts:
            try:
                new_ids = list(s.scalars(insert(JobRow).returning(JobRow.id, sort_by_parameter_order=True), inserts))
            except IntegrityError as exc:
                raise Conflict(
                    f"job {inserts[0]['name']!r} was created concurrently; try again"
                    if len(inserts) == 1
                    else f"some of the jobs were created concurrently; try again ({exc.orig})"
                ) from exc
            for i, job_id in zip(insert_at, new_ids, strict=True):
                results[i] = (specs[i], True, job_id)

        touched = {u["id"] for u in updates}
        owners: list[dict[str, Any]] = []
        labels: list[dict[str, Any]] = []
        parents: list[dict[str, Any]] = []
        for result in results:
            assert result is not None
            spec, created, job_id = result
            if not created and job_id not in touched:
                continue
            owners.extend({"job_id": job_id, "owner": o} for o in dict.fromkeys(spec.owners))
            labels.extend({"job_id": job_id, "key": k, "value": v} for k, v in spec.labels.items())
            parents.extend({"job_id": job_id, "parent": p} for p in spec.parents)
        for table, rows in ((JobOwnerRow, owners), (JobLabelRow, labels), (JobParentRow, parents)):
            if rows:
                s.execute(insert(table), rows)
        return [r for r in results if r is not None]

    def _refuse_cycles(self, s: Session, changed: Sequence[JobSpec], batch: Sequence[JobSpec]) -> None:
        """Raise :class:`DependencyError` if storing ``batch`` would close a dependency cycle.

        Only ``changed``, the jobs of the batch with new parent links, can close one, and
        a cycle through a job passes through its ancestors: those are read level by level
        (a few indexed queries), or the whole graph at once for a large change. Every job
        of the batch stands in for its stored version (one may lose a link another gains).
        """
        pending = {spec.name: spec.parents for spec in batch}
        if len(changed) > _GRAPH_READ_ALL:
            parents = {**self._bound(s).parent_map(), **pending}
        else:
            parents = {}
            frontier = {spec.name for spec in changed}
            seen = set(frontier)
            while frontier:
                parents.update((name, pending[name]) for name in frontier if name in pending)
                stored = [name for name in frontier if name not in pending]
                if stored:
                    parents.update(self._bound(s).parent_map(stored))
                frontier = {p for name in frontier for p in parents.get(name, ())} - seen
                seen |= frontier
        DependencyGraph(parents).check_acyclic()
