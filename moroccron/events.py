"""The Engine's vocabulary: the events it is fed and the actions it asks for.

Kept apart from :mod:`moroccron.model` (what jobs and runs *are*) because these types
describe the conversation between the pure engine and the shell around it. All are
frozen values; none holds a socket, a session or a clock.

Order matters in a list of actions: the shell commits every ``SaveRun`` and
``SaveJobState`` of one step in one transaction *before* it performs any Mesos call or
hook of that step. Among the actions are the domain events (:data:`DomainEvent`): what
happened, for plugins, notifications, metrics and triggers. That is what makes "launch only what is recorded" and "acknowledge
only what is committed" hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from moroccron.dag import SubtreeNode
from moroccron.hooks.types import Offer
from moroccron.model import JobSpec, Run

__all__ = [
    "DOMAIN_EVENTS",
    "NOTICES",
    "STATE_ACTIONS",
    "Acknowledge",
    "Action",
    "AgentLost",
    "AsyncCompleted",
    "ClearDependency",
    "Decline",
    "DependencyUnblocked",
    "DisableJob",
    "Disconnected",
    "DomainEvent",
    "EngineFault",
    "Event",
    "FrameworkLost",
    "JobDisabled",
    "JobPut",
    "JobQuarantined",
    "JobRemoved",
    "JobRestored",
    "Kill",
    "KillRequested",
    "Launch",
    "Launched",
    "Loaded",
    "MarkSuccess",
    "OfferMatched",
    "OfferRescinded",
    "OffersReceived",
    "PrepareLaunch",
    "Quarantine",
    "Reconcile",
    "ReconcileTasks",
    "Revive",
    "RunFinished",
    "RunLaunched",
    "RunQueued",
    "RunRequested",
    "RunSkipped",
    "SaveDependency",
    "SaveJobState",
    "SaveRun",
    "StatusUpdate",
    "Subscribed",
    "Suppress",
    "Tick",
]


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Tick:
    """Time has moved on; fire whatever is due."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """The state the engine starts from (start-up, or taking over leadership).

    :ivar jobs: every job.
    :ivar last_scheduled: per job, the last fire time already materialised as a run.
    :ivar runs: every run that is not final (queued, launched, starting, running).
    :ivar last_final: per job, its newest final run of any state, so a retry that was pending when
        the previous leader stopped is not lost.
    :ivar dependency_progress: per dependent job, the parents that have succeeded since
        its last run: parent -> (task id of that success, when).
    :ivar consecutive_failures: per job, final failures since its last success
        (for ``disable_after_failures``).
    :ivar quarantined: jobs set aside after an internal error (see :class:`JobQuarantined`),
        with the reason: loaded, but not scheduled until they are changed or enabled again.
        A job whose stored definition cannot be read at all is named here only.
    """

    jobs: tuple[JobSpec, ...]
    last_scheduled: Mapping[str, datetime] = field(default_factory=dict)
    runs: tuple[Run, ...] = ()
    last_final: Mapping[str, Run] = field(default_factory=dict)
    dependency_progress: Mapping[str, Mapping[str, tuple[str, datetime]]] = field(default_factory=dict)
    consecutive_failures: Mapping[str, int] = field(default_factory=dict)
    quarantined: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobPut:
    job: JobSpec


@dataclass(frozen=True, slots=True)
class JobRemoved:
    name: str


@dataclass(frozen=True, slots=True)
class RunRequested:
    """Start a job now, outside its schedule (``moroccron run``, the API, a trigger)."""

    job: str
    arguments: tuple[str, ...] | None = None
    trigger: str = "manual"
    caused_by: str | None = None
    argument_line: str | None = None  # added as is to a shell command line (see Run.argument_line)
    by: str | None = None  # who asked (a user or token name), recorded as Run.requested_by


@dataclass(frozen=True, slots=True)
class MarkSuccess:
    """Record a job as succeeded without running it, to unblock its children (Chronos's
    ``/job/success``)."""

    job: str


@dataclass(frozen=True, slots=True)
class KillRequested:
    """Kill a job's live runs, or one task; ``by`` names who asked (recorded with the run)."""

    job: str
    task_id: str | None = None
    by: str | None = None


@dataclass(frozen=True, slots=True)
class AsyncCompleted:
    """A report that an async job's work is done (Chronos's ``PUT /scheduler/task/<id>``):
    ``status_code`` 0 is success, anything else a failure."""

    task_id: str
    status_code: int


@dataclass(frozen=True, slots=True)
class Subscribed:
    framework_id: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    pass


@dataclass(frozen=True, slots=True)
class OffersReceived:
    offers: tuple[Offer, ...]


@dataclass(frozen=True, slots=True)
class OfferRescinded:
    offer_id: str


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A Mesos TaskStatus, reduced to what the engine decides on.

    :ivar state: the Mesos state name, e.g. ``TASK_RUNNING``.
    :ivar uuid: present when the update must be acknowledged.
    """

    task_id: str
    state: str
    agent_id: str | None = None
    uuid: str | None = None
    reason: str | None = None
    message: str | None = None
    source: str | None = None
    exit_status: int | None = None
    hostname: str | None = None


@dataclass(frozen=True, slots=True)
class AgentLost:
    agent_id: str


@dataclass(frozen=True, slots=True)
class ReconcileTasks:
    """Ask the master about these tasks now (a call carrying them may not have arrived)."""

    task_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FrameworkLost:
    """The master removed this framework for good (an ERROR event such as "Framework has
    been removed", or a FrameworkID it no longer knows). Every task it had is gone: the
    engine records its unfinished launched runs as LOST with ``reason`` and forgets its
    offers; the shell registers a new framework, whose subscription follows as usual."""

    reason: str


@dataclass(frozen=True, slots=True)
class Quarantine:
    """Set a job aside: the shell could not carry out what the engine decided for it
    (its runs could not be recorded, or its task could not be described to Mesos)."""

    job: str
    reason: str


Event = (
    Tick
    | Loaded
    | JobPut
    | JobRemoved
    | RunRequested
    | MarkSuccess
    | KillRequested
    | AsyncCompleted
    | Subscribed
    | Disconnected
    | OffersReceived
    | OfferRescinded
    | StatusUpdate
    | AgentLost
    | Quarantine
    | FrameworkLost
    | ReconcileTasks
)


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class SaveRun:
    """Create or update a run. ``new`` runs must not exist yet: the store refuses duplicates."""

    run: Run
    new: bool = False


@dataclass(frozen=True, slots=True)
class SaveJobState:
    job: str
    last_scheduled_at: datetime | None
    next_fire_at: datetime | None


@dataclass(frozen=True, slots=True)
class SaveDependency:
    """Record that ``parent`` succeeded (run ``task_id``) since ``child`` last ran."""

    child: str
    parent: str
    task_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ClearDependency:
    """``child`` has been started: its parents must succeed again before it runs again."""

    child: str


@dataclass(frozen=True, slots=True)
class DisableJob:
    """Disable a job (``disable_after_failures`` reached); ``reason`` says why."""

    job: str
    reason: str


@dataclass(frozen=True, slots=True)
class Launch:
    """ACCEPT one offer with a LAUNCH of these runs' tasks."""

    offer_id: str
    agent_id: str
    hostname: str
    runs: tuple[Run, ...]


@dataclass(frozen=True, slots=True)
class Launched:
    """The runs of a prepared :class:`Launch`, now LAUNCHED: record each (a
    :class:`RunLaunched` follows for each).

    Unlike :class:`SaveRun`, the shell writes them *after* the step's ACCEPTs, so that a
    second's worth of prepared launches reach the master at once; and one action per
    offer, instead of a save per run, keeps the step on the second short. The
    runs were stored (QUEUED) when prepared. A new leader reconciles past-due QUEUED runs
    before it launches anything, which covers a crash between the ACCEPT and this write.
    """

    runs: tuple[Run, ...]


@dataclass(frozen=True, slots=True)
class PrepareLaunch:
    """A :class:`Launch` of these runs on this offer is planned for their second (``at``).

    Nothing goes to Mesos: the shell builds the ACCEPT now, so that when the engine
    emits the Launch the call only has to be sent. The runs carry their agent; their
    ``launched_at`` is set when they are launched.
    """

    offer_id: str
    agent_id: str
    hostname: str
    at: datetime
    runs: tuple[Run, ...]


@dataclass(frozen=True, slots=True)
class Decline:
    offer_ids: tuple[str, ...]
    refuse_seconds: float


@dataclass(frozen=True, slots=True)
class Kill:
    task_id: str
    agent_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Acknowledge:
    agent_id: str
    task_id: str
    uuid: str


@dataclass(frozen=True, slots=True)
class Reconcile:
    """Ask the master for task states; an empty ``tasks`` asks for all (implicit)."""

    tasks: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Revive:
    pass


@dataclass(frozen=True, slots=True)
class Suppress:
    pass


@dataclass(frozen=True, slots=True)
class JobQuarantined:
    """Handling this job raised an error: it is set aside so the others go on.

    The engine has already stopped scheduling it, failed its unfinished runs and asked
    for its tasks to be killed. The shell records the reason with the job (it shows in
    the API and the UI, and survives a restart), tells its owners, and logs it once.
    Changing the job, or enabling it again, lifts the quarantine (:class:`JobRestored`).

    :ivar job: the job's spec as the engine knew it, or None if it never loaded.
    :ivar detail: the traceback, for the log.
    """

    name: str
    reason: str
    job: JobSpec | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class JobRestored:
    """A quarantined job was changed or enabled: forget its error, schedule it again."""

    name: str


@dataclass(frozen=True, slots=True)
class EngineFault:
    """An error that no single job can be blamed for (the step went on without that part).

    Logged by the shell; ``key`` groups repeats of the same fault so it is logged once.
    """

    key: str
    reason: str
    detail: str = ""


# --------------------------------------------------------------------------- domain events
#
# What happened, told once each, as the engine decided it. The shell
# (:mod:`moroccron.dispatch`) maps each to the plugin hooks, the notification outbox,
# metrics and triggers; who is told what is decided in :mod:`moroccron.routing`.


@dataclass(frozen=True, slots=True)
class RunQueued:
    """A run was created for ``job`` and waits for an offer (``moroccron_job_scheduled``)."""

    job: JobSpec
    run: Run


@dataclass(frozen=True, slots=True)
class OfferMatched:
    """These runs go out on this offer (``moroccron_offer_matched``)."""

    offer: Offer
    runs: tuple[Run, ...]


@dataclass(frozen=True, slots=True)
class RunLaunched:
    """A run's task was sent to Mesos (``moroccron_task_launched``)."""

    job: JobSpec
    run: Run


@dataclass(frozen=True, slots=True)
class RunFinished:
    """A run ended: it succeeded, or failed, was lost or killed.

    :ivar final: False when a retry follows (a failure that will be retried is not announced).
    :ivar failure_count: after a success, the final failures in a row it ends (a recovery
        when above 0); after a final failure or loss, the failures in a row including it.
    :ivar pending_subtree: the jobs that wait on this one and will not run: the children
        of a final failure of a job without ``soft_error`` (computed once, here).
    """

    job: JobSpec
    run: Run
    final: bool = True
    failure_count: int = 0
    pending_subtree: tuple[SubtreeNode, ...] = ()


@dataclass(frozen=True, slots=True)
class RunSkipped:
    """A run did not run (concurrency, a deadline, replaced); ``announce`` False for the
    skips nobody is told about (catch-up's quiet skips)."""

    job: JobSpec
    run: Run
    reason: str | None
    announce: bool = True


@dataclass(frozen=True, slots=True)
class DependencyUnblocked:
    """Every parent of ``job`` has succeeded: it was started (``moroccron_dependency_unblocked``)."""

    job: JobSpec
    parents: tuple[str, ...]
    caused_by: Run | None


@dataclass(frozen=True, slots=True)
class JobDisabled:
    """``disable_after_failures`` was reached (the :class:`DisableJob` records it);
    ``job`` is the spec as disabled."""

    job: JobSpec
    reason: str
    failure_count: int


DomainEvent = RunQueued | OfferMatched | RunLaunched | RunFinished | RunSkipped | DependencyUnblocked | JobDisabled

DOMAIN_EVENTS = (RunQueued, OfferMatched, RunLaunched, RunFinished, RunSkipped, DependencyUnblocked, JobDisabled)

NOTICES = (RunFinished, RunSkipped, JobDisabled)
"""Domain events that may be told to people: queued to the outbox in the step's transaction."""


Action = (
    SaveRun
    | SaveJobState
    | SaveDependency
    | ClearDependency
    | DisableJob
    | Launch
    | Launched
    | PrepareLaunch
    | Decline
    | Kill
    | Acknowledge
    | Reconcile
    | Revive
    | Suppress
    | JobQuarantined
    | JobRestored
    | EngineFault
    | DomainEvent
)

STATE_ACTIONS = (
    SaveRun,
    SaveJobState,
    SaveDependency,
    ClearDependency,
    DisableJob,
    JobQuarantined,
    JobRestored,
    *NOTICES,
)
"""Actions the shell commits, in one transaction, before any other action of the step
(the notices among them are queued to the outbox in that transaction)."""
