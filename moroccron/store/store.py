"""The Store: the one repository through which moroccron reads and writes SQL state.

The service, the CLI and the API all go through :class:`Store`; none of them sees a
SQLAlchemy row. Each public method runs in a transaction of its own, or, given
``tx=`` (a session from :meth:`Store.transaction`), inside the caller's transaction,
wrapped in a savepoint so that a method that fails leaves nothing half-written behind
even when the caller catches the error and goes on.

Two database engines are supported and tested the same way:

- SQLite (``sqlite:///path``): WAL, foreign keys and a busy timeout are switched on
  for every connection, and write transactions start with ``BEGIN IMMEDIATE``. The
  driver's own transaction handling is turned off because it starts transactions
  lazily, at the first write, so a read-then-write transaction (the fencing check, a
  compare-and-set on a job version) could interleave with another writer or fail with
  ``SQLITE_BUSY`` without waiting. With ``BEGIN IMMEDIATE`` writers queue on the busy
  timeout and every read inside a write transaction is consistent with its writes.
- PostgreSQL (``postgresql+psycopg://``; ``postgresql://`` and ``postgres://`` are
  rewritten to psycopg 3). Read committed, with explicit row locks where a decision
  depends on a row read earlier in the same transaction.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, overload

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Engine,
    Float,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.pool import StaticPool

from moroccron.bounds import MAX_OFFSET
from moroccron.dag import DependencyGraph
from moroccron.errors import Conflict, NotFound, StaleEpoch, StaleVersion, ValidationError
from moroccron.model import JobSpec, Owner, Run, RunState, RunTrigger, stored_data
from moroccron.store.models import (
    DependencyProgressRow,
    FrameworkRow,
    JobLabelRow,
    JobOwnerRow,
    JobParentRow,
    JobRow,
    JobStateRow,
    OutboxRow,
    OwnerRow,
    RunRow,
    UTCDateTime,
)
from moroccron.store.schema import Revision, check_move, revisions_between
from moroccron.store.stats import FAILURE_STATES, JobStats, percentiles

__all__ = ["JOB_STATES", "MIGRATIONS_DIR", "JobRecord", "Store", "normalize_url"]

log = logging.getLogger("moroccron.store")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
"""The Alembic script directory, found through the package so it works when installed."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another writer before giving up."""

_WRITE = "moroccron_write"  # execution option: this connection's transactions write
_CHUNK = 500  # names per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
_PRUNE_READ = 50_000  # run ids prune_runs reads at a time: bounds its memory, not its work
_MIGRATION_LOCK_ID = 0x6D6F726F  # pg_advisory_xact_lock key ("moro") serialising upgrades
_GRAPH_LOCK_ID = 0x6D6F6A67  # pg_advisory_xact_lock key ("mojg") serialising changes to the job graph
_GRAPH_READ_ALL = 200  # jobs with new parent links above which the cycle check reads the whole graph

LIVE_STATES: tuple[RunState, ...] = tuple(s for s in RunState if s.live)
UNFINISHED_STATES: tuple[RunState, ...] = tuple(s for s in RunState if not s.final)
FINAL_STATES: tuple[RunState, ...] = tuple(s for s in RunState if s.final)
JOB_STATES: tuple[str, ...] = ("enabled", "disabled", "failed", "running", "quarantined")
"""What a job list can be filtered by (``state=``): ``enabled``/``disabled`` as set on the job;
``failed``: the newest run that ended (:data:`ENDED_STATES`) ended failed, lost or killed
(:data:`FAILING_STATES`); ``running``: a task of the job is launched, starting or running;
``quarantined``: set aside by the scheduler after an internal error."""
ENDED_STATES: tuple[RunState, ...] = (RunState.SUCCEEDED, RunState.FAILED, RunState.LOST, RunState.KILLED)
"""Runs that ran and ended: a skipped run never ran, so it says nothing of whether a job fails."""
FAILING_STATES: tuple[RunState, ...] = (RunState.FAILED, RunState.LOST, RunState.KILLED)

T = TypeVar("T")
log = logging.getLogger("moroccron.store")


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


# --------------------------------------------------------------------------- engine


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL, choosing psycopg 3 for PostgreSQL.

    ``postgresql://`` would make SQLAlchemy look for psycopg2, which moroccron does not
    depend on; Heroku-style ``postgres://`` is not recognised by SQLAlchemy at all.
    """
    u = make_url(url) if isinstance(url, str) else url
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    backend = u.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValidationError.single(
            "db",
            "unsupported database",
            u.render_as_string(hide_password=True),
            "sqlite:///PATH or postgresql://USER@HOST/DB",
        )
    return u


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Take transaction control away from the sqlite3 module (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")  # off by default: ON DELETE CASCADE needs it
        _sqlite_wal(cursor)  # readers do not block the writer, nor it them
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; safe with WAL
    finally:
        cursor.close()


def _sqlite_wal(cursor: Any) -> None:
    """Switch the database file to WAL, once for all connections (the mode is persistent).

    The switch needs the file to itself and, unlike a write, fails at once with
    "database is locked" instead of waiting on the busy timeout. That happens when
    several instances open a new database together and one is already migrating it,
    so: nothing to do if it is WAL already, else retry until the busy timeout.
    """
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_on_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock at BEGIN (waiting up to busy_timeout), so a write
    # transaction never has to upgrade a read lock, which SQLite refuses without waiting.
    if conn.get_execution_options().get(_WRITE):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _dumps(value: Any) -> str:
    """JSON as stored: compact, and deterministic, so that an unchanged spec serialises
    to the stored text byte for byte (PostgreSQL's ``json`` keeps the text as given)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _create_engine(url: URL, *, pool_size: int, max_overflow: int, echo: bool) -> Engine:
    common: dict[str, Any] = {"echo": echo, "json_serializer": _dumps, "json_deserializer": json.loads}
    if url.get_backend_name() == "sqlite":
        in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
        if in_memory:
            # One connection shared by everyone, or each connection would see its own
            # empty database. Good for single-threaded tests only.
            engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False}, **common)
        else:
            # A file database gets a QueuePool; SQLAlchemy then also sets
            # check_same_thread=False, so pooled connections move between threads.
            engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow, **common)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    # psycopg prepares a statement after five runs, and PostgreSQL then may switch to a
    # generic plan: right after a bulk load (stale statistics) the job lookups by a
    # list of names became sequential scans, 70 times slower at 100,000 jobs. Plain
    # statements also keep moroccron usable behind PgBouncer in transaction mode.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        connect_args={"prepare_threshold": None},
        **common,
    )


# --------------------------------------------------------------------------- helpers


def _utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def _aware(field: str, value: datetime) -> datetime: ...
@overload
def _aware(field: str, value: datetime | None) -> datetime | None: ...
def _aware(field: str, value: datetime | None) -> datetime | None:
    """Refuse naive datetimes with a message naming the field (the column type would too,
    but wrapped in a database error that does not say which value was wrong)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError.single(field, "must be a datetime", value, "a timezone-aware datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError.single(
            field, "must be timezone-aware", value.isoformat(), "a datetime with tzinfo, e.g. datetime.now(UTC)"
        )
    return value.astimezone(UTC)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _page(offset: int, limit: int) -> None:
    if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:  # SQL takes a 64-bit OFFSET at most
        raise ValidationError.single("offset", "must be an integer >= 0", offset, f">= 0 and <= {MAX_OFFSET}")
    if not isinstance(limit, int) or limit < 0:
        raise ValidationError.single("limit", "must be an integer >= 0", limit, ">= 0")


def _filter_text(field: str, value: str | None) -> None:
    """Refuse NUL in a filter: PostgreSQL cannot compare text with it, and SQLite's LIKE
    stops reading a pattern at it (a search for NUL would match every job)."""
    if value is not None and "\x00" in value:
        raise ValidationError.single(field, "contains a NUL character", value, "text without NUL")


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


def _ended() -> ColumnElement[datetime]:
    """When a final run ended: ``finished_at``, or ``scheduled_at`` for a run that has no
    finish recorded (skipped before it was queued), so every final run has an end."""
    return func.coalesce(RunRow.finished_at, RunRow.scheduled_at)


def _owner_columns(owner: Owner) -> dict[str, Any]:
    return {
        "name": owner.name,
        "contacts": {**({"email": owner.email} if owner.email else {}), **owner.contacts},
        "preferences": {event: list(channels) for event, channels in owner.preferences.items()},
        "mute_until": _aware("mute_until", owner.mute_until),
    }


def _owner_from_row(row: OwnerRow) -> Owner:
    with stored_data():  # stored under the bounds of its day (see moroccron.model.stored_data)
        contacts = dict(row.contacts or {})
        return Owner(
            id=row.id,
            name=row.name,
            email=contacts.pop("email", None),
            contacts=contacts,
            preferences=dict(row.preferences),
            mute_until=row.mute_until,
        )


def _is_foreign_key_violation(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "23503" or "FOREIGN KEY" in str(exc.orig)


def _table(cls: type[Any]) -> Table:
    table = cls.__table__
    assert isinstance(table, Table)
    return table


# --------------------------------------------------------------------------- the store


class Store:
    """SQL state of moroccron: jobs, runs, owners, scheduler bookkeeping, leadership.

    Thread-safe: one Store per process, shared by the scheduler, API and CLI threads;
    each transaction takes its own pooled connection.

    :param url: ``sqlite:///PATH`` or a PostgreSQL URL (``postgresql://`` is rewritten
        to ``postgresql+psycopg://``). ``sqlite://`` (in memory) works for
        single-threaded tests only.
    :param pool_size: connections kept open; ``max_overflow`` more may be opened briefly.
    """

    def __init__(self, url: str | URL, *, pool_size: int = 5, max_overflow: int = 10, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = _create_engine(self.url, pool_size=pool_size, max_overflow=max_overflow, echo=echo)
        # Same pool and events; only the BEGIN statement differs (on SQLite).
        self._write_engine = self.engine.execution_options(**{_WRITE: True})
        self._spec_cache: dict[int, tuple[int, JobSpec]] = {}  # job id: (hash of stored JSON, spec)
        self._spec_cache_lock = threading.Lock()
        self._invalid_seen: set[tuple[int, int]] = set()  # (job id, hash of stored JSON) warned about

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection (PostgreSQL then forgets this client)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url.render_as_string(hide_password=True)!r})"

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Session]:
        """One database transaction: commit when the block ends, roll back if it raises.

        Pass the session to store methods as ``tx=`` to make several changes atomic::

            with store.transaction() as tx:
                store.update_run(run, epoch=epoch, tx=tx)
                store.set_job_state(run.job, run.scheduled_at, next_fire, tx=tx)

        ``readonly=True`` only matters on SQLite, where it lets the transaction start
        without waiting for the write lock. An integrity error that no method turned
        into a precise message still comes out as :class:`Conflict`.
        """
        engine = self.engine if readonly else self._write_engine
        with Session(engine, expire_on_commit=False, autoflush=False) as session:
            try:
                with session.begin():
                    yield session
            except IntegrityError as exc:
                raise Conflict(f"change refused by the database: {exc.orig}") from exc

    @contextmanager
    def _tx(self, tx: Session | None, *, readonly: bool = False) -> Iterator[Session]:
        """The caller's transaction (inside a savepoint) or a new one."""
        if tx is None:
            with self.transaction(readonly=readonly) as session:
                yield session
        elif readonly:
            yield tx
        else:
            with tx.begin_nested():
                yield tx

    @contextmanager
    def job_transaction(self) -> Iterator[Session]:
        """A write transaction that holds the job-graph lock from its first statement.

        Whatever decides on the jobs as stored and then writes jobs (is there a cycle,
        does the parent exist, does anyone depend on the job being deleted) reads and
        writes inside one, passing it as ``tx=``: changes to the graph then happen one
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

    def _lock_graph(self, s: Session) -> None:
        if self.dialect == "postgresql":  # re-entrant: taking it again in the same transaction is free
            s.execute(select(func.pg_advisory_xact_lock(_GRAPH_LOCK_ID)))

    # ------------------------------------------------------------------ schema

    def alembic_config(self, connection: Connection | None = None) -> Config:
        """An Alembic config for this database, built in code: no alembic.ini needed.

        With ``connection``, migrations run on it (and inside its transaction);
        moroccron/migrations/env.py looks for it in ``config.attributes``.
        """
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        # ConfigParser interpolates '%', which URL-encoded passwords contain.
        cfg.set_main_option("sqlalchemy.url", self.url.render_as_string(hide_password=False).replace("%", "%%"))
        if connection is not None:
            cfg.attributes["connection"] = connection
        return cfg

    @contextmanager
    def migration_connection(self) -> Iterator[Connection]:
        """A connection in a write transaction, ready for Alembic.

        PostgreSQL: an advisory lock makes instances that start at the same time run
        the upgrade one after the other (the second then finds nothing to do).
        SQLite: ``BEGIN IMMEDIATE`` serialises them, and foreign keys are switched off
        for the migration, because Alembic's batch mode rebuilds a table by copying it
        and dropping the original, which with foreign keys on would cascade-delete
        every dependent row. ``PRAGMA foreign_key_check`` then refuses to commit a
        migration that left a dangling reference.
        """
        with self._write_engine.connect() as conn:
            raw = conn.connection.dbapi_connection if self.dialect == "sqlite" else None
            if raw is not None:
                raw.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction
            try:
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
                    yield conn
                    if raw is not None:
                        bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if bad:
                            raise RuntimeError(f"migration left dangling foreign keys: {bad[:10]}")
            finally:
                if raw is not None:
                    raw.execute("PRAGMA foreign_keys = ON")

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema up to ``revision`` (``moroccron db upgrade``).

        :raises SchemaError: the database is at a revision this code does not know (a
            newer moroccron migrated it), or ``revision`` is unknown.
        """
        check_move(self.script(), self.current_revision(), revision)
        with self.migration_connection() as conn:
            command.upgrade(self.alembic_config(conn), revision)

    def downgrade(self, revision: str) -> None:
        """Migrate the schema down to ``revision`` (``"base"`` drops every table).

        :raises SchemaError: as :meth:`upgrade`.
        """
        check_move(self.script(), self.current_revision(), revision)
        with self.migration_connection() as conn:
            command.downgrade(self.alembic_config(conn), revision)

    def script(self) -> ScriptDirectory:
        """The migrations this version of moroccron carries."""
        return ScriptDirectory.from_config(self.alembic_config())

    def revisions_to_undo(self, revision: str) -> list[Revision]:
        """What ``downgrade(revision)`` would undo, newest first (for its confirmation)."""
        script = self.script()
        current = self.current_revision()
        check_move(script, current, revision)
        return revisions_between(script, current, revision)

    def current_revision(self) -> str | None:
        """The revision the database is at, or None for an empty database."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision this version of moroccron knows."""
        return self.script().get_current_head()

    def ensure_schema(self) -> None:
        """Upgrade to the newest schema; what ``moroccron serve`` does at start."""
        self.upgrade("head")

    # ------------------------------------------------------------------ jobs

    def create_job(self, spec: JobSpec, *, tx: Session | None = None) -> int:
        """Store a new job and return its id.

        :raises Conflict: a job with this name exists.
        """
        with self._tx(tx) as s:
            ((_, _, job_id),) = self._write_jobs(s, [spec], expected={spec.name: 0})
            return job_id

    def save_job(
        self,
        name: str,
        build: Callable[[JobRecord | None], JobSpec],
        check: Callable[[JobSpec, Session], None] | None = None,
        *,
        attempts: int = 3,
    ) -> tuple[JobRecord, bool]:
        """Create or replace the job ``name`` in one step against what is stored.

        In one :meth:`job_transaction`: read the stored record (None if there is none);
        ``build(record)`` the new spec from it (a merge of a partial change, values kept
        from the stored spec, a client's precondition, which raises); ``check(spec, tx)``
        it against the stored jobs (graph, plugin policy), reading through ``tx``; and
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
                            check(spec, s)
                        ((_, created, _),) = self._write_jobs(
                            s, [spec], expected={name: current.version if current is not None else 0}
                        )
                        return self.get_job_record(name, tx=s), created
                except StaleVersion:
                    if attempt == attempts - 1:
                        raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def _find_record(self, s: Session, name: str) -> JobRecord | None:
        try:
            return self.get_job_record(name, tx=s)
        except NotFound:
            return None

    def put_job(
        self, spec: JobSpec, *, expected_version: int | None = None, tx: Session | None = None
    ) -> tuple[JobSpec, bool]:
        """Create the job or replace it; return ``(spec, created)``.

        :param expected_version: replace only if the stored version is this one (the
            version the client read), so two editors cannot silently overwrite each
            other; ``0`` means "only if it does not exist yet"; None replaces whatever
            is there. Storing a spec equal to the stored one changes nothing and keeps
            the version, so re-applying the same definitions is free.
        :raises Conflict: the version did not match.
        """
        with self._tx(tx) as s:
            ((stored, created, _),) = self._write_jobs(s, [spec], expected={spec.name: expected_version})
            return stored, created

    def apply_jobs(
        self,
        upserts: Sequence[JobSpec],
        deletes: Iterable[str] = (),
        *,
        source: str | None = None,
        tx: Session | None = None,
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
        with self._tx(tx) as s:
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

    def job_sources(self, *, tx: Session | None = None) -> dict[str, str | None]:
        """Each job's source: the set of job-definition modules that applied it last
        (``jobs apply --source``), None for a job made otherwise."""
        with self._tx(tx, readonly=True) as s:
            return {r.name: r.source for r in s.connection().execute(select(JobRow.name, JobRow.source))}

    def get_job(self, name: str, *, tx: Session | None = None) -> JobSpec:
        """The job's spec. :raises NotFound: no job has this name."""
        return self.get_job_record(name, tx=tx).spec

    def get_job_record(self, name: str, *, tx: Session | None = None) -> JobRecord:
        """The job with its id, version and timestamps. :raises NotFound:"""
        with self._tx(tx, readonly=True) as s:
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
        tx: Session | None = None,
    ) -> tuple[list[JobSpec], int]:
        """One page of jobs, ordered by name, and how many jobs match in all.

        :param owner: only jobs this owner owns.
        :param q: case-insensitive substring of the name, description or command.
        :param label: ``(key, value)``: only jobs with this label.
        :param disabled: only disabled (True) or enabled (False) jobs.
        :param state: one of :data:`JOB_STATES`: only jobs in that state.
        """
        rows, total = self._job_page(owner, q, label, disabled, state, offset, limit, tx)
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
        tx: Session | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """As :meth:`list_jobs`, but each job in its JSON form (``JobSpec.to_dict()``).

        The stored JSON is that form already: a listing decodes it and is done, instead
        of building and validating a JobSpec per job (130 µs each). A row written by an
        older version that lacks a field goes through the JobSpec for its defaults.
        """
        rows, total = self._job_page(owner, q, label, disabled, state, offset, limit, tx)
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
        tx: Session | None,
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
        with self._tx(tx, readonly=True) as s:
            total = s.scalar(select(func.count()).select_from(JobRow).where(*conditions)) or 0
            rows = (
                s.connection()
                .execute(
                    select(JobRow.id, _SPEC_TEXT).where(*conditions).order_by(JobRow.name).offset(offset).limit(limit)
                )
                .all()
            )
        return rows, total

    def all_jobs(self, *, invalid: dict[str, str] | None = None, tx: Session | None = None) -> list[JobSpec]:
        """Every job, ordered by name: what a new leader loads.

        One query over one table, read through Core (no ORM row overhead). Specs
        already built from the same stored text are reused undecoded, so a reload after
        a few changes decodes and validates only the changed jobs.

        A stored job that is no longer valid (written by hand in SQL, or by an older
        release with looser rules) is left out, with a warning, instead of making every
        reader fail; ``invalid`` collects them, name -> what is wrong.
        """
        with self._tx(tx, readonly=True) as s:
            rows = s.connection().execute(select(JobRow.id, JobRow.name, _SPEC_TEXT).order_by(JobRow.name)).all()
        specs = self._valid_specs(rows, invalid)
        live = {r.id for r in rows}
        with self._spec_cache_lock:
            for job_id in [k for k in self._spec_cache if k not in live]:
                del self._spec_cache[job_id]
        return specs

    def jobs_revision(self, *, tx: Session | None = None) -> int:
        """A number that every job write increases: one row read, cheap enough to poll
        every few seconds at 100,000 jobs (see :class:`moroccron.watch.JobWatcher`)."""
        with self._tx(tx, readonly=True) as s:
            return int(s.scalar(select(FrameworkRow.jobs_revision).where(FrameworkRow.id == 1)) or 0)

    def jobs_fingerprint(self, *, tx: Session | None = None) -> tuple[int, datetime | None]:
        """``(count, newest updated_at)`` of the jobs."""
        with self._tx(tx, readonly=True) as s:
            count, newest = s.connection().execute(select(func.count(), func.max(JobRow.updated_at))).one()
        return int(count), newest

    def jobs_updated_since(
        self, since: datetime, *, invalid: dict[str, str] | None = None, tx: Session | None = None
    ) -> list[JobSpec]:
        """Jobs whose ``updated_at`` is ``since`` or later (through the index on it); ``invalid``
        as for :meth:`all_jobs`."""
        with self._tx(tx, readonly=True) as s:
            rows = (
                s.connection()
                .execute(
                    select(JobRow.id, JobRow.name, _SPEC_TEXT).where(JobRow.updated_at >= since).order_by(JobRow.name)
                )
                .all()
            )
        return self._valid_specs(rows, invalid)

    def parent_map(
        self, names: Iterable[str] | None = None, *, tx: Session | None = None
    ) -> dict[str, tuple[str, ...]]:
        """``name -> parents`` for each of ``names`` that is a stored job, or for every job
        (``names=None``): the dependency graph without decoding a single spec."""
        out: dict[str, list[str]] = {}
        query = select(JobRow.name, JobParentRow.parent).outerjoin(JobParentRow, JobParentRow.job_id == JobRow.id)
        with self._tx(tx, readonly=True) as s:
            conn = s.connection()
            chunks = [None] if names is None else _chunks(sorted(set(names)), _CHUNK)
            for chunk in chunks:
                rows = conn.execute(query if chunk is None else query.where(JobRow.name.in_(chunk)))
                for name, parent in rows:
                    parents = out.setdefault(name, [])
                    if parent is not None:
                        parents.append(parent)
        return {name: tuple(sorted(parents)) for name, parents in out.items()}

    def job_names(self, *, tx: Session | None = None) -> set[str]:
        with self._tx(tx, readonly=True) as s:
            return set(s.scalars(select(JobRow.name)))

    def delete_job(self, name: str, *, expected_version: int | None = None, tx: Session | None = None) -> None:
        """Delete the job with its runs, labels and scheduler state.

        :param expected_version: delete only if the stored version is this one.
        :raises NotFound: no job has this name. :raises StaleVersion:
        """
        with self._tx(tx) as s:
            self._delete_jobs(s, [name], expected={} if expected_version is None else {name: expected_version})

    def set_disabled(self, name: str, disabled: bool, *, tx: Session | None = None) -> JobSpec:
        """Disable or enable a job (a new version, unless it already was). :raises NotFound:"""
        with self._tx(tx) as s:
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

    def children_of(self, name: str, *, tx: Session | None = None) -> list[str]:
        """Names of the jobs that list ``name`` as a parent, sorted."""
        with self._tx(tx, readonly=True) as s:
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
            parents = {**self.parent_map(tx=s), **pending}
        else:
            parents = {}
            frontier = {spec.name for spec in changed}
            seen = set(frontier)
            while frontier:
                parents.update((name, pending[name]) for name in frontier if name in pending)
                stored = [name for name in frontier if name not in pending]
                if stored:
                    parents.update(self.parent_map(stored, tx=s))
                frontier = {p for name in frontier for p in parents.get(name, ())} - seen
                seen |= frontier
        DependencyGraph(parents).check_acyclic()

    def _job_id(self, s: Session, name: str) -> int:
        job_id = s.scalar(select(JobRow.id).where(JobRow.name == name))
        if job_id is None:
            raise NotFound(f"job {name!r} not found")
        return job_id

    # ------------------------------------------------------------------ runs

    def create_run(self, run: Run, *, epoch: int | None = None, tx: Session | None = None) -> Run:
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
        with self._tx(tx) as s:
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

    def save_runs(
        self, creates: Sequence[Run], updates: Sequence[Run], *, epoch: int | None = None, tx: Session | None = None
    ) -> None:
        """Create and update many runs in one go: what the scheduler commits per step.

        One fencing check, one query for the job ids, then one multi-row INSERT and one
        multi-row UPDATE, instead of three statements per run: 10,000 runs due in the
        same second are recorded in a fraction of a second. Same errors as
        :meth:`create_run` and :meth:`update_run`, for the batch as a whole.
        """
        if not creates and not updates:
            return
        with self._tx(tx) as s:
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

    def update_run(self, run: Run, *, epoch: int | None = None, tx: Session | None = None) -> Run:
        """Overwrite a run's state and timestamps, found by its identity.

        State transitions are the Engine's business and are not checked here.
        Fencing as for :meth:`create_run`.

        :raises NotFound: no such run. :raises StaleEpoch:
        """
        columns = _run_columns(run)
        with self._tx(tx) as s:
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

    def get_run(self, job: str, scheduled_at: datetime, attempt: int = 0, *, tx: Session | None = None) -> Run:
        """The run with this identity. :raises NotFound:"""
        when = _aware("scheduled_at", scheduled_at)
        return self._one_run(
            select(RunRow).where(RunRow.job == job, RunRow.scheduled_at == when, RunRow.attempt == attempt),
            f"run of job {job!r} scheduled {scheduled_at.isoformat()} attempt {attempt} not found",
            tx,
        )

    def get_run_by_id(self, run_id: int, *, tx: Session | None = None) -> Run:
        """:raises NotFound:"""
        return self._one_run(select(RunRow).where(RunRow.id == run_id), f"run {run_id} not found", tx)

    def get_run_by_task_id(self, task_id: str, *, tx: Session | None = None) -> Run:
        """The run a Mesos status update is about. :raises NotFound:"""
        return self._one_run(
            select(RunRow).where(RunRow.task_id == task_id), f"run with task id {task_id!r} not found", tx
        )

    def list_runs(
        self,
        job: str | None = None,
        *,
        states: Iterable[RunState | str] | None = None,
        offset: int = 0,
        limit: int = 100,
        newest_first: bool = True,
        tx: Session | None = None,
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
        with self._tx(tx, readonly=True) as s:
            total = s.scalar(select(func.count()).select_from(RunRow).where(*conditions)) or 0
            rows = s.scalars(select(RunRow).where(*conditions).order_by(*order).offset(offset).limit(limit))
            return [_run_from_row(r) for r in rows], total

    def attempts_of(
        self, job: str, scheduled_at: datetime, *, limit: int = 100, tx: Session | None = None
    ) -> list[Run]:
        """Every attempt (retries, relaunches) of one fire time of ``job``, first attempt first."""
        when = _aware("scheduled_at", scheduled_at)
        with self._tx(tx, readonly=True) as s:
            rows = s.scalars(
                select(RunRow)
                .where(RunRow.job == job, RunRow.scheduled_at == when)
                .order_by(RunRow.attempt.asc(), RunRow.id.asc())
                .limit(limit)
            )
            return [_run_from_row(r) for r in rows]

    def live_runs(self, *, tx: Session | None = None) -> list[Run]:
        """Runs whose Mesos task exists or may exist (launched, starting, running):
        what a new leader reconciles with the master. Oldest first."""
        return self._runs_in(LIVE_STATES, tx)

    def unfinished_runs(self, *, tx: Session | None = None) -> list[Run]:
        """Every run not in a final state (waiting and queued too): what a new leader
        puts back into its queue. Oldest first."""
        return self._runs_in(UNFINISHED_STATES, tx)

    def last_run(self, job: str, *, tx: Session | None = None) -> Run | None:
        """The job's newest run (latest scheduled_at, then highest attempt), or None."""
        with self._tx(tx, readonly=True) as s:
            row = s.scalars(
                select(RunRow)
                .where(RunRow.job == job)
                .order_by(RunRow.scheduled_at.desc(), RunRow.attempt.desc())
                .limit(1)
            ).first()
            return _run_from_row(row) if row is not None else None

    def last_final_runs(self, *, tx: Session | None = None) -> dict[str, Run]:
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
        with self._tx(tx, readonly=True) as s:
            rows = s.scalars(select(RunRow).join(ranked, ranked.c.id == RunRow.id).where(ranked.c.rank == 1))
            return {r.job: _run_from_row(r) for r in rows}

    def job_overview(
        self,
        names: Sequence[str],
        *,
        now: datetime | None = None,
        tx: Session | None = None,
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
        with self._tx(tx, readonly=True) as s:
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

    def _one_run(self, stmt: Select[Any], missing: str, tx: Session | None) -> Run:
        with self._tx(tx, readonly=True) as s:
            row = s.scalars(stmt).first()
            if row is None:
                raise NotFound(missing)
            return _run_from_row(row)

    def _runs_in(self, states: Iterable[RunState], tx: Session | None) -> list[Run]:
        with self._tx(tx, readonly=True) as s:
            rows = s.scalars(
                select(RunRow)
                .where(RunRow.state.in_([st.value for st in states]))
                .order_by(RunRow.scheduled_at, RunRow.attempt, RunRow.id)
            )
            return [_run_from_row(r) for r in rows]

    def check_epoch(self, epoch: int | None, *, tx: Session | None = None) -> None:
        """Fencing without a write: raise :class:`StaleEpoch` if ``epoch``'s leadership has
        ended. The scheduler asks before an ACCEPT whose record is written after it."""
        with self._tx(tx) as s:
            self._check_epoch(s, epoch)

    def _check_epoch(self, s: Session, epoch: int | None) -> None:
        """Fencing: refuse a write from a leader that has been replaced (see create_run)."""
        if epoch is None:
            return
        current = (
            s.scalar(select(FrameworkRow.leader_epoch).where(FrameworkRow.id == 1).with_for_update(read=True)) or 0
        )
        if epoch < current:
            raise StaleEpoch(
                f"leadership epoch {epoch} has ended (the current leader's is {current}): "
                "this instance is no longer the leader and must not write runs"
            )

    # ------------------------------------------------------------------ history and statistics

    def job_stats(self, name: str, *, window: int = 100, tx: Session | None = None) -> JobStats:
        """What the job's stored runs say about it; see :class:`JobStats` for each number.

        :param window: how many of the job's most recent finished runs the duration and
            skew percentiles are over.
        :raises NotFound: no job has this name.
        """
        with self._tx(tx, readonly=True) as s:
            job_id = self._job_id(s, name)
            return self._stats(s, window, [job_id]).get(name, JobStats())

    def all_job_stats(
        self, *, window: int = 100, names: Iterable[str] | None = None, tx: Session | None = None
    ) -> dict[str, JobStats]:
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
        with self._tx(tx, readonly=True) as s:
            if names is None:
                return self._stats(s, window, None)
            ids: list[int] = []
            for chunk in _chunks(list(dict.fromkeys(names)), _CHUNK):
                ids.extend(s.scalars(select(JobRow.id).where(JobRow.name.in_(chunk))))
            out: dict[str, JobStats] = {}
            for id_chunk in _chunks(ids, _CHUNK):
                out.update(self._stats(s, window, id_chunk))
            return out

    def consecutive_failures(self, *, tx: Session | None = None) -> dict[str, int]:
        """Per job (every job, 0 for most), :attr:`JobStats.consecutive_failures`: its final
        failures since its last success.

        What the engine needs at start-up to keep enforcing ``disable_after_failures``
        across a restart or a change of leader, counted as the engine counts: a
        scheduled time whose last attempt failed or was lost is one failure, however
        many attempts it took. One query, no percentiles.
        """
        _, streak = self._streak_ctes(None)
        with self._tx(tx, readonly=True) as s:
            rows = s.execute(select(JobRow.name, streak.c.streak).outerjoin(streak, streak.c.job_id == JobRow.id))
            return {r.name: r.streak or 0 for r in rows}

    def last_success_times(self, *, tx: Session | None = None) -> dict[str, datetime]:
        """Per job that ever succeeded (among the stored runs), the end of its latest success:
        what the ``moroccron_job_last_success_timestamp_seconds`` gauge starts from."""
        ended = _ended()
        with self._tx(tx, readonly=True) as s:
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

    # ------------------------------------------------------------------ scheduler state

    def get_job_states(self, *, tx: Session | None = None) -> dict[str, tuple[datetime | None, datetime | None]]:
        """``{job name: (last_scheduled_at, next_fire_at)}`` for every job that has one."""
        with self._tx(tx, readonly=True) as s:
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
        tx: Session | None = None,
    ) -> None:
        """Remember the last fire time materialised for a job and its next one.

        :raises NotFound: no such job. :raises StaleEpoch: as for :meth:`create_run`.
        """
        self.set_job_states({name: (last_scheduled_at, next_fire_at)}, epoch=epoch, tx=tx)

    def set_job_states(
        self,
        states: Mapping[str, tuple[datetime | None, datetime | None]],
        *,
        epoch: int | None = None,
        tx: Session | None = None,
    ) -> None:
        """:meth:`set_job_state` for many jobs in one transaction (and few statements)."""
        values = {
            name: (_aware("last_scheduled_at", last), _aware("next_fire_at", nxt))
            for name, (last, nxt) in states.items()
        }
        if not values:
            return
        with self._tx(tx) as s:
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

    def set_job_errors(
        self, errors: Mapping[str, tuple[str, datetime] | None], *, epoch: int | None = None, tx: Session | None = None
    ) -> None:
        """Record why jobs were quarantined (``(reason, when)``), or clear it (None).

        Jobs that no longer exist are passed over: a job deleted while it was being set
        aside needs no record.
        """
        if not errors:
            return
        with self._tx(tx) as s:
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

    def job_errors(
        self, names: Iterable[str] | None = None, *, tx: Session | None = None
    ) -> dict[str, tuple[str, datetime]]:
        """``{job: (reason, when)}`` of the jobs set aside after an internal error (see
        set_job_errors), of all jobs or of ``names``."""
        stmt = (
            select(JobRow.name, JobStateRow.error, JobStateRow.error_at)
            .join(JobStateRow, JobStateRow.job_id == JobRow.id)
            .where(JobStateRow.error.is_not(None))
        )
        if names is not None:
            stmt = stmt.where(JobRow.name.in_(list(names)))
        with self._tx(tx, readonly=True) as s:
            return {r.name: (r.error, r.error_at) for r in s.execute(stmt)}

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT (both dialects spell it the same)."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # ------------------------------------------------------------------ dependency progress

    def get_dependency_progress(self, *, tx: Session | None = None) -> dict[str, dict[str, tuple[str, datetime]]]:
        """``{child: {parent: (task id of the parent's run, when it succeeded)}}``.

        The parents of each dependent job that have succeeded since the child last ran
        (Chronos semantics), as the engine recorded them; what a new leader loads.
        Rows may name a parent that is no longer a job (or no longer a parent of the
        child): the engine ignores those, and the child's next run clears them.
        """
        with self._tx(tx, readonly=True) as s:
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
        tx: Session | None = None,
    ) -> None:
        """Record that ``parent`` succeeded (run ``task_id``, at ``at``) since ``child`` last ran.

        Replaces what was recorded for the pair: a parent that succeeds twice before
        the child runs still counts once, and the newest success is the one kept.
        Fencing as for :meth:`create_run`, so a deposed leader cannot leave progress
        behind that its successor would act on.

        :raises NotFound: no job is called ``child``. :raises StaleEpoch:
        """
        when = _aware("at", at)
        with self._tx(tx) as s:
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

    def clear_dependency_progress(self, child: str, *, epoch: int | None = None, tx: Session | None = None) -> None:
        """Forget every parent's progress towards ``child``: call it when the child's run
        is created, in the same transaction, so that the run and the reset are one step.

        A child that does not exist (any more) has nothing to clear: not an error, so a
        job deleted while its run was being committed does not fail the commit.
        Fencing as for :meth:`create_run`. :raises StaleEpoch:
        """
        with self._tx(tx) as s:
            self._check_epoch(s, epoch)
            s.execute(
                delete(DependencyProgressRow)
                .where(DependencyProgressRow.job_id.in_(select(JobRow.id).where(JobRow.name == child)))
                .execution_options(synchronize_session=False)
            )

    # ------------------------------------------------------------------ owners

    def put_owner(self, owner: Owner, *, tx: Session | None = None) -> bool:
        """Create or replace an owner; return True if it was created.

        :raises Conflict: another client created the same owner at the same moment.
        """
        columns = _owner_columns(owner)
        with self._tx(tx) as s:
            result = s.execute(
                update(OwnerRow)
                .where(OwnerRow.id == owner.id)
                .values(**columns)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                return False
            try:
                s.execute(insert(OwnerRow).values(id=owner.id, **columns))
            except IntegrityError as exc:
                raise Conflict(f"owner {owner.id!r} was created concurrently; try again") from exc
            return True

    def get_owner(self, owner_id: str, *, tx: Session | None = None) -> Owner:
        """:raises NotFound:"""
        with self._tx(tx, readonly=True) as s:
            row = s.get(OwnerRow, owner_id)
            if row is None:
                raise NotFound(f"owner {owner_id!r} not found")
            return _owner_from_row(row)

    def list_owners(self, *, tx: Session | None = None) -> list[Owner]:
        """Every owner, by id.

        Outside a transaction, also from a database still at a schema older than migration
        0010 (a dry-run apply reads the database as it is): from its email, slack and
        pagerduty columns.
        """
        try:
            with self._tx(tx, readonly=True) as s:
                return [_owner_from_row(r) for r in s.scalars(select(OwnerRow).order_by(OwnerRow.id))]
        except DBAPIError as exc:
            if tx is not None or "contacts" not in str(exc.orig):
                raise
        older = table(
            "owners",
            column("id", Text()),
            column("name", Text()),
            column("email", Text()),
            column("slack", Text()),
            column("pagerduty", Text()),
            column("preferences", JSON()),
            column("mute_until", UTCDateTime()),
        )
        with self.transaction(readonly=True) as s:
            rows = s.execute(select(older).order_by(older.c.id)).all()
        with stored_data():
            return [
                Owner(
                    id=r.id,
                    name=r.name,
                    email=r.email,
                    slack=r.slack,
                    pagerduty=r.pagerduty,
                    preferences=dict(r.preferences),
                    mute_until=r.mute_until,
                )
                for r in rows
            ]

    def job_owner_counts(self, *, tx: Session | None = None) -> dict[str, int]:
        """``{owner: number of jobs naming it}`` for every owner named in a job, stored as an
        :class:`Owner` or not: one grouped query over the job-owner index."""
        with self._tx(tx, readonly=True) as s:
            rows = s.execute(
                select(JobOwnerRow.owner, func.count()).group_by(JobOwnerRow.owner).order_by(JobOwnerRow.owner)
            )
            return {owner: int(count) for owner, count in rows}

    def delete_owner(self, owner_id: str, *, tx: Session | None = None) -> None:
        """Forget an owner's preferences (jobs keep naming them). :raises NotFound:"""
        with self._tx(tx) as s:
            result = s.execute(
                delete(OwnerRow).where(OwnerRow.id == owner_id).execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"owner {owner_id!r} not found")

    # ------------------------------------------------------------------ framework

    def get_framework_id(self, *, tx: Session | None = None) -> str | None:
        """The FrameworkID Mesos assigned, to re-subscribe with after a failover."""
        with self._tx(tx, readonly=True) as s:
            return s.scalar(select(FrameworkRow.framework_id).where(FrameworkRow.id == 1))

    def set_framework_id(self, framework_id: str | None, *, tx: Session | None = None) -> None:
        """Persist the FrameworkID (None forgets it, e.g. after the master tore it down)."""
        with self._tx(tx) as s:
            self._framework_row(s)
            s.execute(
                update(FrameworkRow)
                .where(FrameworkRow.id == 1)
                .values(framework_id=framework_id, updated_at=_utcnow())
                .execution_options(synchronize_session=False)
            )

    def take_leadership(self, leader_id: str, address: str, *, tx: Session | None = None) -> int:
        """Record a new leader and return its epoch, one more than any before.

        Call it after winning the ZooKeeper election and before writing any run; pass
        the epoch to every run write so that writes of the previous leader, should it
        still be running, are refused.
        """
        with self._tx(tx) as s:
            self._framework_row(s)
            epoch = s.scalar(
                update(FrameworkRow)
                .where(FrameworkRow.id == 1)
                .values(
                    leader_epoch=FrameworkRow.leader_epoch + 1,
                    leader_id=leader_id,
                    leader_address=address,
                    updated_at=_utcnow(),
                )
                .returning(FrameworkRow.leader_epoch)
                .execution_options(synchronize_session=False)
            )
            assert epoch is not None
            return epoch

    def leader(self, *, tx: Session | None = None) -> dict[str, Any] | None:
        """The last leader recorded: ``{"leader_id", "address", "epoch", "updated_at"}``,
        or None if no instance ever led. It may have died since; ZooKeeper knows."""
        with self._tx(tx, readonly=True) as s:
            row = s.get(FrameworkRow, 1)
            if row is None or row.leader_id is None:
                return None
            return {
                "leader_id": row.leader_id,
                "address": row.leader_address,
                "epoch": row.leader_epoch,
                "updated_at": row.updated_at,
            }

    def current_epoch(self, *, tx: Session | None = None) -> int:
        """The current leadership epoch (0 before anyone led)."""
        with self._tx(tx, readonly=True) as s:
            return s.scalar(select(FrameworkRow.leader_epoch).where(FrameworkRow.id == 1)) or 0

    def _framework_row(self, s: Session) -> None:
        """Make sure the single framework row exists (the initial migration creates it;
        this covers a schema created some other way)."""
        table = _table(FrameworkRow)
        s.execute(self._insert(table).values(id=1, leader_epoch=0).on_conflict_do_nothing(index_elements=[table.c.id]))

    # ------------------------------------------------------------------ notification outbox

    def enqueue_notification(
        self,
        event: str,
        job: str,
        task_id: str | None,
        payload: Mapping[str, Any],
        *,
        now: datetime,
        epoch: int | None = None,
        tx: Session | None = None,
    ) -> int:
        """Put a message in the outbox (call it in the transaction of the change that caused it)."""
        when = _aware("now", now)
        with self._tx(tx) as s:
            self._check_epoch(s, epoch)
            row = OutboxRow(
                created_at=when,
                event=event,
                job=job,
                task_id=task_id,
                payload=dict(payload),
                state="pending",
                attempts=0,
                next_attempt_at=when,
            )
            s.add(row)
            s.flush()
            return int(row.id)

    def due_notifications(self, now: datetime, *, limit: int = 100, tx: Session | None = None) -> list[OutboxItem]:
        """Pending messages whose next attempt is due, oldest first."""
        when = _aware("now", now)
        with self._tx(tx, readonly=True) as s:
            rows = s.scalars(
                select(OutboxRow)
                .where(OutboxRow.state == "pending", OutboxRow.next_attempt_at <= when)
                .order_by(OutboxRow.id)
                .limit(limit)
            )
            return [_outbox_item(r) for r in rows]

    def update_notification(
        self,
        item_id: int,
        *,
        state: str,
        attempts: int,
        next_attempt_at: datetime,
        results: Mapping[str, Any] | None,
        last_error: str | None,
        delivered_at: datetime | None,
        tx: Session | None = None,
    ) -> None:
        with self._tx(tx) as s:
            row = s.get(OutboxRow, item_id)
            if row is None:
                raise NotFound(f"notification {item_id} not found")
            row.state, row.attempts = state, attempts
            row.next_attempt_at = _aware("next_attempt_at", next_attempt_at)
            row.results = dict(results) if results is not None else None
            row.last_error = last_error
            row.delivered_at = _aware("delivered_at", delivered_at)

    def notifications(
        self, *, job: str | None = None, task_id: str | None = None, limit: int = 100, tx: Session | None = None
    ) -> list[OutboxItem]:
        """Newest first: what was (or will be) sent, for the API, the UI and tests;
        ``task_id``: only the messages about that run."""
        with self._tx(tx, readonly=True) as s:
            q = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
            if job is not None:
                q = q.where(OutboxRow.job == job)
            if task_id is not None:
                q = q.where(OutboxRow.task_id == task_id)
            return [_outbox_item(r) for r in s.scalars(q)]

    def last_notification(
        self,
        job: str,
        events: Sequence[str],
        *,
        states: Sequence[str] = ("delivered", "failed"),
        before_id: int | None = None,
        tx: Session | None = None,
    ) -> OutboxItem | None:
        """The newest message of ``job`` with one of ``events``: collapsing asks "is an
        incident already open for this job?"."""
        with self._tx(tx, readonly=True) as s:
            q = (
                select(OutboxRow)
                .where(OutboxRow.job == job, OutboxRow.event.in_(list(events)), OutboxRow.state.in_(list(states)))
                .order_by(OutboxRow.id.desc())
                .limit(1)
            )
            if before_id is not None:
                q = q.where(OutboxRow.id < before_id)
            row = s.scalars(q).first()
            return _outbox_item(row) if row is not None else None


@dataclass(frozen=True)
class OutboxItem:
    """One outbox row, detached from the session."""

    id: int
    created_at: datetime
    event: str
    job: str
    task_id: str | None
    payload: Mapping[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    results: Mapping[str, Any] | None
    delivered_at: datetime | None


def _outbox_item(row: OutboxRow) -> OutboxItem:
    return OutboxItem(
        id=int(row.id),
        created_at=row.created_at,
        event=row.event,
        job=row.job,
        task_id=row.task_id,
        payload=dict(row.payload or {}),
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        results=dict(row.results) if row.results is not None else None,
        delivered_at=row.delivered_at,
    )
