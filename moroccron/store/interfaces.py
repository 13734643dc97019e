"""What each consumer of the store needs from it: narrow, structural interfaces.

:class:`~moroccron.store.Store` (SQL) implements every protocol here without naming any
of them; a test double or a second backend implements only the ones its consumer takes:

- :class:`JobSource`: the job watcher (:mod:`moroccron.watch`).
- :class:`JobLookup`: the view of stored jobs that plugins validate against
  (:mod:`moroccron.store.view`).
- :class:`RunPruner`: run retention (:mod:`moroccron.retention`).
- :class:`OutboxStore`: the notification outbox worker (:mod:`moroccron.outbox`).
- :class:`LeaderRecord`: who leads, as the API's leader check reads it.
- :class:`LeadershipStore`: taking leadership, and fencing writes with its epoch.
- :class:`FrameworkRecord`: the framework health monitor (:mod:`moroccron.framework_health`).
- :class:`RunLog`: the scheduler's runs, job states, dependency progress and quarantines.
- :class:`SchedulerStore`: the scheduler (:mod:`moroccron.service`): all of the above
  that it and the workers it starts use.

Each call is its own transaction, unless it is made on a unit of work
(:meth:`Transactional.unit_of_work`): the same store bound to one transaction, which
every call made on it joins. This module imports no database library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from moroccron.model import JobSpec, Owner, Run

if TYPE_CHECKING:
    from moroccron.store.store import OutboxItem, Store

__all__ = [
    "FrameworkRecord",
    "JobLookup",
    "JobSource",
    "LeaderRecord",
    "LeadershipStore",
    "NotificationQueue",
    "OutboxStore",
    "OwnerList",
    "RunLog",
    "RunPruner",
    "SchedulerStore",
    "Transactional",
]

JobState = tuple[datetime | None, datetime | None]
"""A job's (last scheduled, next fire) times."""


@runtime_checkable
class Transactional(Protocol):
    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[Self]:
        """This store bound to one transaction, which every call made on it joins; committed on a clean exit."""
        ...


@runtime_checkable
class JobSource(Protocol):
    """The stored job definitions, as the job watcher polls them."""

    def jobs_revision(self) -> int:
        """A number that changes whenever any job is written or deleted."""
        ...

    def jobs_fingerprint(self) -> tuple[int, datetime | None]:
        """How many jobs there are and when the newest was last written."""
        ...

    def all_jobs(self, *, invalid: dict[str, str] | None = None) -> list[JobSpec]:
        """Every readable job; ``invalid`` receives the name and error of each unreadable one."""
        ...

    def jobs_updated_since(self, since: datetime, *, invalid: dict[str, str] | None = None) -> list[JobSpec]: ...

    def job_names(self) -> set[str]: ...


@runtime_checkable
class JobLookup(Protocol):
    """Single stored jobs by name (read inside the caller's transaction when it is a unit of work)."""

    def get_job(self, name: str) -> JobSpec:
        """The job called ``name``; raises :class:`moroccron.errors.NotFound`."""
        ...

    def job_names(self) -> set[str]: ...

    def parent_map(self, names: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
        """Each job's parents (of ``names`` only, if given); a job not stored is left out."""
        ...


@runtime_checkable
class RunPruner(Protocol):
    def prune_runs(self, keep_per_job: int, batch: int = 500, *, cancelled: Callable[[], bool] | None = None) -> int:
        """Delete finished runs beyond the newest ``keep_per_job`` of each job; returns how many."""
        ...


@runtime_checkable
class OwnerList(Protocol):
    def list_owners(self) -> list[Owner]: ...


@runtime_checkable
class OutboxStore(OwnerList, Protocol):
    """The notification outbox, as the delivery worker reads and updates it."""

    def due_notifications(self, now: datetime, *, limit: int = 100) -> list[OutboxItem]: ...

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
    ) -> None: ...

    def last_notification(
        self,
        job: str,
        events: Sequence[str],
        *,
        states: Sequence[str] = ("delivered", "failed"),
        before_id: int | None = None,
    ) -> OutboxItem | None: ...


@runtime_checkable
class NotificationQueue(Protocol):
    def enqueue_notification(
        self,
        event: str,
        job: str,
        task_id: str | None,
        payload: Mapping[str, Any],
        *,
        now: datetime,
        epoch: int | None = None,
    ) -> int:
        """Add a message to the outbox (on a unit of work: it is sent only if the change that caused it commits)."""
        ...


@runtime_checkable
class LeaderRecord(Protocol):
    def leader(self) -> dict[str, Any] | None:
        """The database's leader (``id``, ``address``, ``epoch``, ...), or None before the first."""
        ...


@runtime_checkable
class LeadershipStore(LeaderRecord, Protocol):
    """Who leads, and the epoch that fences the writes of a leader that was replaced."""

    def take_leadership(self, leader_id: str, address: str) -> int:
        """Become the leader; returns the new epoch."""
        ...

    def check_epoch(self, epoch: int | None) -> None:
        """Raise :class:`moroccron.errors.StaleEpoch` if another leader took over since ``epoch``."""
        ...

    def current_epoch(self) -> int: ...


@runtime_checkable
class FrameworkRecord(Transactional, NotificationQueue, Protocol):
    """The stored Mesos FrameworkID, which a leader keeps across restarts."""

    def get_framework_id(self) -> str | None: ...

    def set_framework_id(self, framework_id: str | None) -> None: ...

    def check_epoch(self, epoch: int | None) -> None: ...


@runtime_checkable
class RunLog(Transactional, Protocol):
    """The scheduler's durable state besides the jobs: runs, job states, dependency
    progress and quarantines; written in one transaction per engine step."""

    def unfinished_runs(self) -> list[Run]: ...

    def last_final_runs(self) -> dict[str, Run]:
        """Each job's latest finished run."""
        ...

    def consecutive_failures(self) -> dict[str, int]: ...

    def last_success_times(self) -> dict[str, datetime]: ...

    def get_job_states(self) -> dict[str, JobState]: ...

    def get_dependency_progress(self) -> dict[str, dict[str, tuple[str, datetime]]]:
        """child -> parent -> (the parent's task id, when it succeeded), since the child last ran."""
        ...

    def job_errors(self) -> dict[str, tuple[str, datetime]]:
        """The quarantined jobs: name -> (reason, since)."""
        ...

    def save_runs(self, creates: Sequence[Run], updates: Sequence[Run], *, epoch: int | None = None) -> None: ...

    def set_job_states(self, states: Mapping[str, JobState], *, epoch: int | None = None) -> None: ...

    def set_job_errors(self, errors: Mapping[str, tuple[str, datetime] | None], *, epoch: int | None = None) -> None:
        """Quarantine (reason, since) or restore (None) each job."""
        ...

    def set_dependency_progress(
        self,
        child: str,
        parent: str,
        task_id: str,
        at: datetime,
        *,
        epoch: int | None = None,
    ) -> None: ...

    def clear_dependency_progress(self, child: str, *, epoch: int | None = None) -> None: ...


@runtime_checkable
class SchedulerStore(RunLog, JobSource, OutboxStore, LeadershipStore, FrameworkRecord, RunPruner, Protocol):
    """Everything the scheduler (moroccron.service) and the workers it starts use."""

    def set_disabled(self, name: str, disabled: bool) -> JobSpec: ...


if TYPE_CHECKING:

    def _store_implements_every_interface(store: Store) -> list[object]:
        """Never called: mypy checks here that the SQL store satisfies each protocol."""
        checked: list[object] = []
        for_scheduler: SchedulerStore = store
        for_watcher: JobSource = store
        for_view: JobLookup = store
        for_retention: RunPruner = store
        for_outbox: OutboxStore = store
        for_api: LeaderRecord = store
        for_health: FrameworkRecord = store
        checked += [for_scheduler, for_watcher, for_view, for_retention, for_outbox, for_api, for_health]
        return checked
