"""The SQL schema, as typed SQLAlchemy 2 ORM classes.

Only the :class:`~moroccron.store.store.Store` touches these classes; everything else
works with the frozen domain types in :mod:`moroccron.model`. A row keeps the job's
full spec as JSON (the truth) plus a few denormalised columns and side tables that
exist only so that the API can filter and the scheduler can look things up with an
index: owners, labels, parents, a search text.

Conventions that the migrations rely on:

- every constraint and index has a deterministic name (``naming_convention``), so a
  later migration can drop or alter it by name on SQLite and PostgreSQL alike;
- every timestamp is a :class:`UTCDateTime`: timezone-aware UTC in, timezone-aware UTC
  out, on SQLite too (which has no time zone type);
- relationships are ``lazy="raise"``: a query never hides behind an attribute access,
  which matters when one API call touches 10,000 jobs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "DependencyProgressRow",
    "FrameworkRow",
    "JobLabelRow",
    "JobOwnerRow",
    "JobParentRow",
    "JobRow",
    "JobStateRow",
    "OutboxRow",
    "OwnerRow",
    "RunRow",
    "UTCDateTime",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JOB_NAME_LENGTH = 200  # moroccron.model.JOB_NAME_RE allows at most 200 characters
OWNER_ID_LENGTH = 320  # the longest email address; Owner validates the same bound
JOB_SOURCE_LENGTH = 255  # moroccron.definitions.SOURCE_MAX


class UTCDateTime(TypeDecorator[datetime]):
    """A ``TIMESTAMP WITH TIME ZONE`` that always reads back as an aware UTC datetime.

    PostgreSQL returns aware values in the session time zone; SQLite stores text and
    returns naive values. Normalising both to UTC here means that nothing above the
    store ever compares a naive datetime with an aware one. Naive input is refused
    rather than guessed at: a naive datetime from a local clock would be silently off
    by the machine's UTC offset. On SQLite the value is stored as naive UTC text in a
    fixed-width format, so text order is time order and range queries use the index.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: pass a timezone-aware value")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only autoincrements a column declared exactly INTEGER PRIMARY KEY, so the
# 64-bit id of runs (which can outgrow 2**31 over years of minutely jobs) is INTEGER there.
RunId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class JobRow(Base):
    """A job. ``spec`` is the whole :class:`~moroccron.model.JobSpec` as JSON.

    ``version`` starts at 1 and is bumped by every change, so a client that read
    version N can say "replace it only if it is still N" (optimistic concurrency).
    ``search_text`` is the lower-cased name, description and command, so that a free
    text search is one ``LIKE`` over one narrow column.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(JOB_NAME_LENGTH), unique=True)
    spec: Mapped[dict[str, Any]]
    schedule: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, index=True)
    search_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(Integer)
    # Which set of job-definition modules applied it (``jobs apply --source``); None for a
    # job made through the API, the UI or ``chronos import``. ``--prune`` deletes by it.
    source: Mapped[str | None] = mapped_column(String(JOB_SOURCE_LENGTH), nullable=True)

    owners: Mapped[list[JobOwnerRow]] = relationship(lazy="raise", cascade="all, delete-orphan", passive_deletes=True)
    labels: Mapped[list[JobLabelRow]] = relationship(lazy="raise", cascade="all, delete-orphan", passive_deletes=True)
    parents: Mapped[list[JobParentRow]] = relationship(lazy="raise", cascade="all, delete-orphan", passive_deletes=True)
    state: Mapped[JobStateRow | None] = relationship(lazy="raise", cascade="all, delete-orphan", passive_deletes=True)
    runs: Mapped[list[RunRow]] = relationship(
        lazy="raise", back_populates="job_row", cascade="all, delete-orphan", passive_deletes=True
    )


class JobOwnerRow(Base):
    """Who owns a job; indexed by owner so "jobs of alice" needs no JSON scan.

    ``owner`` is not a foreign key to ``owners``: a job may name someone who has not
    registered preferences yet, and notifications then use the defaults.
    """

    __tablename__ = "job_owners"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_ID_LENGTH), primary_key=True, index=True)


class JobLabelRow(Base):
    """One ``key=value`` label of a job, indexed by (key, value) for label filters."""

    __tablename__ = "job_labels"
    __table_args__ = (Index("ix_job_labels_key_value", "key", "value"),)

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(1000))


class JobParentRow(Base):
    """A dependency edge: ``job_id`` runs after ``parent``.

    The parent is kept by name, not id: a definition may name a parent that is created
    later in the same ``apply``, and the graph check (moroccron.dag) owns that rule.
    Indexed by parent, so the children of a job are one index lookup.
    """

    __tablename__ = "job_parents"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    parent: Mapped[str] = mapped_column(String(JOB_NAME_LENGTH), primary_key=True, index=True)


class RunRow(Base):
    """One attempt at one scheduled time of one job (see :class:`moroccron.model.Run`).

    ``(job_id, scheduled_at, attempt)`` is unique, and so is ``task_id``: the database,
    not the scheduler's memory, is what refuses a second launch of the same run after a
    failover. ``job`` repeats the job name so that listing runs needs no join;
    ``skew_seconds`` is stored so that percentiles are an aggregate over one column.
    ``epoch`` is the leadership epoch of the leader that created the run.
    """

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("job_id", "scheduled_at", "attempt"),
        CheckConstraint("attempt >= 0", name="attempt_not_negative"),
        Index("ix_runs_job_scheduled_at_attempt", "job", "scheduled_at", "attempt"),
    )

    id: Mapped[int] = mapped_column(RunId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    job: Mapped[str] = mapped_column(String(JOB_NAME_LENGTH))
    scheduled_at: Mapped[datetime] = mapped_column(index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[str] = mapped_column(String(255), unique=True)
    queued_at: Mapped[datetime | None]
    launched_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    skew_seconds: Mapped[float | None] = mapped_column(Float)
    exit_status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[str | None] = mapped_column(String(255))
    hostname: Mapped[str | None] = mapped_column(String(255))
    arguments: Mapped[list[str] | None] = mapped_column(JSON)
    caused_by: Mapped[str | None] = mapped_column(String(255))
    epoch: Mapped[int | None] = mapped_column(Integer)
    # Attempts of this fire time that were relaunches of tasks the master dropped unstarted.
    relaunches: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    # Why its task was asked to die, once asked (a kill by request is final, across leaders).
    kill_requested: Mapped[str | None] = mapped_column(Text)
    # The run page's timeline and actors: when its offer came, who asked for it, who killed it.
    offered_at: Mapped[datetime | None]
    requested_by: Mapped[str | None] = mapped_column(String(255))
    killed_by: Mapped[str | None] = mapped_column(String(255))

    job_row: Mapped[JobRow] = relationship(lazy="raise", back_populates="runs")


class OwnerRow(Base):
    """An owner and their notification preferences (:class:`moroccron.model.Owner`).

    ``contacts`` is the owner's address per channel, ``{channel: address}``: ``email``
    (``Owner.email``) and the entries of ``Owner.contacts`` (migration 0010).
    """

    __tablename__ = "owners"

    id: Mapped[str] = mapped_column(String(OWNER_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    contacts: Mapped[dict[str, Any]]
    preferences: Mapped[dict[str, Any]]
    mute_until: Mapped[datetime | None]


class JobStateRow(Base):
    """What the scheduler must remember about a job across restarts.

    ``last_scheduled_at`` is the last fire time it materialised into a run, so that a
    new leader knows which fire times were missed while nobody was leading (catch-up).
    ``error`` marks a job quarantined after an internal error (see
    :class:`moroccron.events.JobQuarantined`).
    """

    __tablename__ = "job_state"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    last_scheduled_at: Mapped[datetime | None]
    next_fire_at: Mapped[datetime | None]
    # Set when the scheduler quarantined the job after an internal error: why, and when.
    # The job is not scheduled while it is set; changing or enabling the job clears it.
    error: Mapped[str | None] = mapped_column(Text)
    error_at: Mapped[datetime | None]


class DependencyProgressRow(Base):
    """A parent that has succeeded since its dependent job (``job_id``) last ran.

    Chronos semantics: a job with parents and no schedule runs once each time every
    parent has succeeded since the child's last run. The engine keeps that progress in
    memory; these rows let a restarted or newly elected leader pick it up instead of
    waiting for every parent to succeed again (or running the child twice).

    The child is a foreign key, so deleting it deletes its progress; the parent is a
    name, like :class:`JobParentRow`'s, so a row naming a deleted parent merely lingers
    until the child's next run clears it. ``satisfied_by`` is the task id of the
    parent's run that succeeded, for the "why did this run?" question.
    """

    __tablename__ = "dependency_progress"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    parent: Mapped[str] = mapped_column(String(JOB_NAME_LENGTH), primary_key=True)
    satisfied_by: Mapped[str] = mapped_column(String(255))
    satisfied_at: Mapped[datetime]


class OutboxRow(Base):
    """A notification waiting to be delivered, or the record of its delivery.

    Written in the same transaction as the run change that caused it, so a crash can
    never lose a message or send one for a change that was rolled back. Not tied to
    the job by a foreign key: the message about a job's last failure outlives the job.
    ``results`` holds the outcome per target (``"email:ops@x": {"ok": true, ...}``), so a
    retry goes only to the targets that failed.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_outbox_job_event", "job", "event"),
        Index("ix_outbox_task_id", "task_id"),
    )

    id: Mapped[int] = mapped_column(RunId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(32))
    job: Mapped[str] = mapped_column(String(JOB_NAME_LENGTH))
    task_id: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed | collapsed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    results: Mapped[dict[str, Any] | None]
    delivered_at: Mapped[datetime | None]


class FrameworkRow(Base):
    """The one row (``id = 1``) of framework-wide state.

    ``leader_epoch`` only ever grows: each new leader increments it and writes runs
    with its epoch, and the store refuses run writes from an older epoch (fencing), so
    a deposed leader that has not noticed yet cannot overwrite its successor's work.
    The row is created by the initial migration, so there is always a row to lock.
    """

    __tablename__ = "framework"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    framework_id: Mapped[str | None] = mapped_column(String(255))
    leader_id: Mapped[str | None] = mapped_column(String(255))
    leader_address: Mapped[str | None] = mapped_column(String(255))
    leader_epoch: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime | None]
    # Bumped by every job write in the same transaction: one value to poll for "jobs changed".
    jobs_revision: Mapped[int] = mapped_column(Integer, server_default="0", default=0)


class SessionVersionRow(Base):
    """The session version of each principal (user or token name) that can log in to the UI.

    A UI session cookie carries the version it was issued at and is good only while the
    row still holds it: logging out bumps the version (every session of that principal
    ends, on every instance), and so does a start that finds the principal removed from
    the auth config or its role changed. ``role`` is the role at the last such check
    (None: no longer configured). A principal without a row is at version 0.
    """

    __tablename__ = "session_versions"

    principal: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    role: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime]
