"""The Store: the one repository through which moroccron reads and writes SQL state.

The service, the CLI and the API all go through :class:`Store`; none of them sees a
SQLAlchemy row. It is composed of one class per aggregate, each in its own module:

- :mod:`moroccron.store.base`: the engine, transactions, fencing and shared helpers
  (how SQLite and PostgreSQL are set up is described there);
- :mod:`moroccron.store.jobs`: jobs, their index rows and the job-graph lock;
- :mod:`moroccron.store.runs`: runs and their pruning;
- :mod:`moroccron.store.state`: the scheduler's bookkeeping per job (fire times,
  quarantines, dependency progress);
- :mod:`moroccron.store.stats`: run history summarised per job;
- :mod:`moroccron.store.owners`: owners;
- :mod:`moroccron.store.outbox`: the notification outbox;
- :mod:`moroccron.store.leadership`: FrameworkID, leader and epoch;
- :mod:`moroccron.store.schema`: migrations.

Each consumer is typed with the narrow protocol it needs (:mod:`moroccron.store.interfaces`).
"""

from __future__ import annotations

from moroccron.store.base import normalize_url
from moroccron.store.jobs import JOB_STATES, JobRecord, JobsMixin
from moroccron.store.leadership import LeadershipMixin
from moroccron.store.outbox import OutboxItem, OutboxMixin
from moroccron.store.owners import OwnersMixin
from moroccron.store.runs import RunsMixin
from moroccron.store.schema import MIGRATIONS_DIR, SchemaMixin
from moroccron.store.state import SchedulerStateMixin
from moroccron.store.stats import StatsMixin

__all__ = ["JOB_STATES", "MIGRATIONS_DIR", "JobRecord", "OutboxItem", "Store", "normalize_url"]


class Store(
    JobsMixin,
    RunsMixin,
    SchedulerStateMixin,
    StatsMixin,
    OwnersMixin,
    OutboxMixin,
    LeadershipMixin,
    SchemaMixin,
):
    """SQL state of moroccron: jobs, runs, owners, scheduler bookkeeping, leadership.

    Thread-safe: one Store per process, shared by the scheduler, API and CLI threads;
    each transaction takes its own pooled connection.

    :param url: ``sqlite:///PATH`` or a PostgreSQL URL (``postgresql://`` is rewritten
        to ``postgresql+psycopg://``). ``sqlite://`` (in memory) works for
        single-threaded tests only.
    :param pool_size: connections kept open; ``max_overflow`` more may be opened briefly.
    """
