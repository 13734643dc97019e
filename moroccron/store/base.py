"""The Store: the one repository through which moroccron reads and writes SQL state.

The service, the CLI and the API all go through :class:`Store`; none of them sees a
SQLAlchemy row. Each public method runs in a transaction of its own, or, called on a
unit of work (:meth:`StoreBase.unit_of_work`: the same store, bound to one
transaction), inside that transaction, wrapped in a savepoint so that a method that
fails leaves nothing half-written behind even when the caller catches the error and
goes on.

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

This module holds what every part of the store shares: the database engine, the
transactions, the fencing check and the helpers the aggregates' modules use. :class:`Store`
(:mod:`moroccron.store.store`) composes one class per aggregate on top of :class:`StoreBase`.
"""

from __future__ import annotations

import copy
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self, TypeVar, overload

from sqlalchemy import Connection, Engine, Table, create_engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from moroccron.bounds import MAX_OFFSET
from moroccron.errors import Conflict, NotFound, StaleEpoch, ValidationError
from moroccron.model import JobSpec, RunState
from moroccron.store.models import FrameworkRow, JobRow

__all__ = ["FINAL_STATES", "LIVE_STATES", "SQLITE_BUSY_TIMEOUT_MS", "UNFINISHED_STATES", "StoreBase", "normalize_url"]

log = logging.getLogger("moroccron.store")
SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another writer before giving up."""
_WRITE = "moroccron_write"  # execution option: this connection's transactions write
_CHUNK = 500  # names per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
LIVE_STATES: tuple[RunState, ...] = tuple(s for s in RunState if s.live)
UNFINISHED_STATES: tuple[RunState, ...] = tuple(s for s in RunState if not s.final)
FINAL_STATES: tuple[RunState, ...] = tuple(s for s in RunState if s.final)
T = TypeVar("T")


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


def _is_foreign_key_violation(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "23503" or "FOREIGN KEY" in str(exc.orig)


def _table(cls: type[Any]) -> Table:
    table = cls.__table__
    assert isinstance(table, Table)
    return table


class StoreBase:
    """The connection to the database and its transactions, which every aggregate of the
    :class:`~moroccron.store.Store` builds on."""

    def __init__(self, url: str | URL, *, pool_size: int = 5, max_overflow: int = 10, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = _create_engine(self.url, pool_size=pool_size, max_overflow=max_overflow, echo=echo)
        # Same pool and events; only the BEGIN statement differs (on SQLite).
        self._write_engine = self.engine.execution_options(**{_WRITE: True})
        self._spec_cache: dict[int, tuple[int, JobSpec]] = {}  # job id: (hash of stored JSON, spec)
        self._spec_cache_lock = threading.Lock()
        self._invalid_seen: set[tuple[int, int]] = set()  # (job id, hash of stored JSON) warned about
        self._session: Session | None = None  # the transaction a unit of work is bound to

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection (PostgreSQL then forgets this client)."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Session]:
        """One database transaction: commit when the block ends, roll back if it raises.

        For SQL of one's own (the lease, UI sessions); to make several store calls
        atomic, use :meth:`unit_of_work`. ``readonly=True`` only matters on SQLite, where it lets the transaction start
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
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[Self]:
        """The store bound to one transaction: every method called on it joins that
        transaction, which commits when the block ends and rolls back if it raises::

            with store.unit_of_work() as uow:
                uow.update_run(run, epoch=epoch)
                uow.set_job_state(run.job, run.scheduled_at, next_fire)

        ``readonly`` as for :meth:`transaction`. On a unit of work, the same unit of work.
        """
        if self._session is not None:
            yield self
            return
        with self.transaction(readonly=readonly) as session:
            yield self._bound(session)

    def _bound(self, session: Session) -> Self:
        """This store bound to ``session`` (a shallow copy: engine and caches are shared)."""
        uow = copy.copy(self)
        uow._session = session
        return uow

    @contextmanager
    def _tx(self, *, readonly: bool = False) -> Iterator[Session]:
        """The unit of work's transaction (inside a savepoint) or a new one."""
        tx = self._session
        if tx is None:
            with self.transaction(readonly=readonly) as session:
                yield session
        elif readonly:
            yield tx
        else:
            with tx.begin_nested():
                yield tx

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT (both dialects spell it the same)."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def _job_id(self, s: Session, name: str) -> int:
        job_id = s.scalar(select(JobRow.id).where(JobRow.name == name))
        if job_id is None:
            raise NotFound(f"job {name!r} not found")
        return job_id

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
