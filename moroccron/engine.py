"""The scheduler itself: a deterministic state machine, ``step(now, event) -> actions``.

No I/O, no clock, no threads: the shell (moroccron.service) feeds it events with the
time they happened and carries out the actions it returns. Given the same events at
the same times, it returns the same actions, which is what makes it testable with
hypothesis and what lets a new leader rebuild it from the store alone.

What it owns:

- the schedule: a heap of (next fire time, job); only jobs that are due are touched,
  so a tick costs O(due · log jobs), never a scan of all jobs;
- the runs that are not final, and the queue of runs waiting for an offer;
- offers held while work is due or about to be (``offer_horizon``), declined
  otherwise, with SUPPRESS when idle and REVIVE ahead of the next fire time;
- the policies: missed runs (catch-up), starting deadline, concurrency, retries with
  exponential backoff, timeouts;
- reconciliation gating: after a (re)subscription nothing is launched until every
  task the store believes is live has been accounted for by the master, and a job
  with such a task has its missed fire times decided only once the master has
  answered for it (or after ``CATCHUP_WAIT``), so a run that turns out lost does not
  block its own job's catch-up;
- fault isolation: an error while handling one job (its schedule, its run, its task)
  sets that job aside (:class:`~moroccron.events.JobQuarantined`) and the step goes on
  for every other job and event. See :meth:`Engine._guard`.
- launches prepared ahead (``prepare_horizon``): a run due within the horizon is
  created (QUEUED) and placed on a held offer before its second, so that on the second
  itself the only work left is the ACCEPT. See :meth:`Engine._prepare`.

Fire times are processed as they fall due, even when a tick is late; when a job has
fallen behind by more than one fire time (the scheduler was stopped or paused), its
``catchup`` policy decides which missed times still run (:func:`plan_catchup`). With
``catchup="all"`` and ``concurrency="forbid"`` they run one after another: each is a
stored QUEUED run that waits for its turn (:meth:`Engine._release_held`), so a new
leader finds them all again. The rules are written out in docs/schedules.md.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, cast

from moroccron.dag import DependencyGraph
from moroccron.events import (
    Acknowledge,
    Action,
    AgentLost,
    AsyncCompleted,
    ClearDependency,
    Decline,
    DependencyUnblocked,
    DisableJob,
    Disconnected,
    EngineFault,
    Event,
    FrameworkLost,
    JobDisabled,
    JobPut,
    JobQuarantined,
    JobRemoved,
    JobRestored,
    Kill,
    KillRequested,
    Launch,
    Launched,
    Loaded,
    MarkSuccess,
    OfferMatched,
    OfferRescinded,
    OffersReceived,
    PrepareLaunch,
    Quarantine,
    Reconcile,
    ReconcileTasks,
    Revive,
    RunFinished,
    RunLaunched,
    RunQueued,
    RunRequested,
    RunSkipped,
    SaveDependency,
    SaveJobState,
    SaveRun,
    StatusUpdate,
    Subscribed,
    Suppress,
    Tick,
)
from moroccron.hooks.types import Offer, PackingPlan, PendingTask
from moroccron.model import (
    JobSpec,
    Resources,
    Run,
    RunState,
    RunTrigger,
    parse_task_id,
    task_id_for,
)
from moroccron.schedule import (
    POLICY_SKIPS,
    CatchupPolicy,
    Schedule,
    deadline_exceeded,
    parse_schedule,
    plan_catchup,
)

__all__ = ["Engine", "EngineSnapshot", "Packer", "mesos_state_to_run_state"]

Packer = Callable[[Sequence[PendingTask], Sequence[Offer], Mapping[str, JobSpec]], PackingPlan]

MAX_RETRY_DELAY = 3600.0
RECONCILE_FIRST = 5.0
"""Seconds before an explicit reconciliation left unanswered is asked again; doubled each time."""
RECONCILE_MAX = 300.0
RECONCILE_GIVE_UP = 900.0
"""Seconds after which a task the master still has not answered for is declared LOST (more
than a master's default agent_reregister_timeout of 10 minutes, during which it may stay silent)."""
RECONCILE_PERIOD = 600.0
"""Default seconds between explicit reconciliations of every live run, as Chronos did."""
UNREACHABLE_GRACE = 900.0
"""Seconds a task on an unreachable agent is waited for before its run is declared LOST."""
SUPPRESS_AFTER = 60.0
"""Offers are suppressed only when nothing is due for this long; closer work keeps them
coming, declined with a filter that lasts until shortly before it (no REVIVE churn)."""
MAX_RELAUNCHES = 10
"""Launches of one fire time the master may drop before the run counts as lost."""
OFFER_HOLD_MAX = 10.0
CATCHUP_CAP = 100
CATCHUP_WAIT = 60.0
"""Seconds after loading that missed fire times of a job with a task in doubt wait, at
most, for the master to say what became of that task."""
REASON_MAX = 500

_STATE_MAP = {
    "TASK_STAGING": RunState.STARTING,
    "TASK_STARTING": RunState.STARTING,
    "TASK_RUNNING": RunState.RUNNING,
    "TASK_KILLING": RunState.RUNNING,
    "TASK_FINISHED": RunState.SUCCEEDED,
    "TASK_FAILED": RunState.FAILED,
    "TASK_ERROR": RunState.FAILED,
    "TASK_KILLED": RunState.KILLED,
    "TASK_LOST": RunState.LOST,
    "TASK_DROPPED": RunState.LOST,
    "TASK_GONE": RunState.LOST,
    "TASK_GONE_BY_OPERATOR": RunState.LOST,
    "TASK_UNREACHABLE": RunState.LOST,  # only after UNREACHABLE_GRACE: see Engine._on_status
    "TASK_UNKNOWN": RunState.LOST,
}


def mesos_state_to_run_state(state: str) -> RunState | None:
    return _STATE_MAP.get(state)


_NOT_STARTED_REASONS = frozenset({"REASON_INVALID_OFFERS", "REASON_RECONCILIATION"})
UNREACHABLE = "TASK_UNREACHABLE"


def _never_started(run: Run, ev: StatusUpdate) -> bool:
    """Whether a terminal update says the task never started anywhere.

    True for a run we launched that no agent ever reported on, when the master dropped
    it (TASK_DROPPED, or TASK_LOST for invalid offers) or does not know it at all
    (reconciliation answers TASK_UNKNOWN, or TASK_LOST for a framework that is not
    partition-aware): the ACCEPT was lost with a dead leader, a master failover or a
    rescinded offer. Such a run is launched again as its next attempt, under a new task
    id (a task id is never used twice: the old one could still turn up on an agent).
    """
    if run.state != RunState.LAUNCHED or run.started_at is not None or ev.source == "SOURCE_EXECUTOR":
        return False
    return _unknown_to_master(ev)


def _unknown_to_master(ev: StatusUpdate) -> bool:
    """The master dropped the task or has never heard of it.

    Asked about a task it does not know on an agent that is registered, a master answers
    TASK_GONE to a partition-aware framework (TASK_LOST to others), reason
    REASON_RECONCILIATION: for a run that never started, that is a launch that never arrived.
    """
    return ev.state in ("TASK_DROPPED", "TASK_UNKNOWN") or (
        ev.state in ("TASK_LOST", "TASK_GONE") and ev.reason in _NOT_STARTED_REASONS
    )


def _fires_at(sched: Schedule, at: datetime) -> bool:
    """Whether ``at`` (a whole second) is one of the schedule's fire times."""
    return sched.times_between(at - timedelta(seconds=1), at, 1) == [at]


@dataclass(slots=True)
class _Plan:
    """Runs placed ahead of their second on a held offer (see :meth:`Engine._prepare`).

    ``runs`` are the LAUNCHED versions, built when planned; they are private to the plan
    until its second, when their ``launched_at`` is stamped and they replace the QUEUED runs.
    """

    offer: Offer
    received: datetime
    at: datetime
    runs: list[Run]


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """What readers (the API, the UI, metrics) may know of the engine, as of one step.

    Built by the engine's thread after each step and handed over whole, so that readers on
    other threads never iterate the engine's own dictionaries while it changes them.

    :ivar confirmed: per live run's task id, when the master last said anything about it.
    """

    at: datetime
    connected: bool
    queue: int
    prepared: int
    offers_held: int
    tasks_running: int
    jobs: int
    reconciling: int
    quarantined: Mapping[str, str]
    confirmed: Mapping[str, datetime]


EMPTY_SNAPSHOT = EngineSnapshot(
    datetime(1970, 1, 1, tzinfo=UTC), False, 0, 0, 0, 0, 0, 0, MappingProxyType({}), MappingProxyType({})
)


@dataclass(frozen=True, slots=True)
class _Timer:
    kind: str  # "retry" | "deadline" | "timeout" | "reconcile"
    key: str  # task id (or "" for reconcile)


def _second(dt: datetime) -> datetime:
    return dt.replace(microsecond=0)


class Engine:
    """The pure scheduler. See the module docstring.

    :param packer: places pending tasks on offers (the ``moroccron_pack_offers`` hook,
        or a strategy function directly). Must be pure.
    :param offer_horizon: seconds before a fire time from which offers are held and
        a suppressed framework is revived, so the launch lands on its second.
    :param decline_seconds: the refuse filter for offers declined while idle.
    :param reconcile_period: seconds between explicit reconciliations of every live run.
    :param prepare_horizon: seconds before a fire time from which its run is created and
        placed on a held offer, ready to launch on its second; 0 creates runs on their
        second. Should be shorter than ``offer_horizon``, so offers are held by then.
    """

    def __init__(
        self,
        packer: Packer,
        *,
        offer_horizon: float = 2.0,
        decline_seconds: float = 30.0,
        max_retry_delay: float = MAX_RETRY_DELAY,
        prepare_horizon: float = 0.0,
        reconcile_period: float = RECONCILE_PERIOD,
    ) -> None:
        self.packer = packer
        self.reconcile_period = timedelta(seconds=reconcile_period)
        self.offer_horizon = timedelta(seconds=offer_horizon)
        self.prepare_horizon = timedelta(seconds=prepare_horizon)
        self.decline_seconds = decline_seconds
        self.max_retry_delay = max_retry_delay
        self._reset()

    def _reset(self) -> None:
        self.jobs: dict[str, JobSpec] = {}
        self._schedules: dict[str, Schedule] = {}
        self._fire_heap: list[tuple[datetime, str]] = []
        self._soon_heap: list[tuple[datetime, str]] = []  # within the horizon, not prepared: run on the second
        self.next_fire: dict[str, datetime] = {}
        self.last_scheduled: dict[str, datetime] = {}
        self.active: dict[str, Run] = {}  # task id -> run that is not final
        self.queue: dict[str, None] = {}  # task ids of QUEUED runs, in queue order
        self._early: dict[str, None] = {}  # task ids of QUEUED runs prepared before their second
        self._early_heap: list[tuple[datetime, str]] = []
        # job -> task ids of QUEUED catch-up runs waiting for their turn, oldest first
        # (catchup=all with concurrency=forbid: one at a time; see _release_held)
        self._held: dict[str, list[str]] = {}
        self._plans: dict[str, _Plan] = {}  # offer id -> runs placed on it for their second
        self._planned: dict[str, str] = {}  # task id -> offer id of its plan
        self._unsure: set[str] = set()  # loaded QUEUED runs a dead leader may have launched
        self._by_job: dict[str, set[str]] = {}  # job -> task ids in self.active
        self._timers: list[tuple[datetime, int, _Timer]] = []
        self._last_adhoc: dict[str, datetime] = {}  # job -> second of its newest ad-hoc run
        self._retries: dict[str, Run] = {}  # task id of the next attempt -> that run (not yet queued)
        # child -> parent -> (task id, when): parents that succeeded since the child last ran
        self.dep_progress: dict[str, dict[str, tuple[str, datetime]]] = {}
        self.failures_in_row: dict[str, int] = {}
        self._seq = itertools.count()
        self.offers: dict[str, tuple[Offer, datetime]] = {}
        self.connected = False
        self.reconciling: set[str] = set()
        self.suppressed: bool | None = None
        self.loaded = False
        self._graph: DependencyGraph | None = None
        self.quarantined: dict[str, str] = {}  # job -> why it was set aside (JobQuarantined)
        self._quarantined_specs: dict[str, JobSpec] = {}  # their specs, while they are set aside
        self._catchup_waiting: set[str] = set()  # jobs whose missed fires wait for reconciliation
        self._catchup_until: datetime | None = None
        self._reconciled_since_load = False
        self._asked_at: dict[str, datetime] = {}  # task id -> when the master was first asked about it
        self._reconcile_delay = RECONCILE_FIRST
        self._reconcile_armed = False
        self._unreachable: dict[str, datetime] = {}  # task id -> when its agent became unreachable
        self._confirmed: dict[str, datetime] = {}  # task id -> when the master last spoke of it

    # ------------------------------------------------------------------ public API

    def step(self, now: datetime, event: Event) -> list[Action]:
        """Apply one event at time ``now`` (tz-aware UTC); return what must happen.

        Never raises for a job's sake: an error while handling the job an event is about
        quarantines that job (and an update that could not be handled is still
        acknowledged, so the master does not send it forever); the rest of the step,
        and every other job, goes on.
        """
        out: list[Action] = []
        handler = _HANDLERS[type(event)]
        handled = self._guard(now, self._subject(event), out, handler, self, now, event, out)
        if (
            not handled
            and isinstance(event, StatusUpdate)
            and not any(isinstance(a, Acknowledge) and a.uuid == event.uuid for a in out)
        ):
            self._ack(event, out)
        if self.loaded:
            self._guard(now, None, out, self._advance, now, out)
        return out

    def next_wakeup(self, now: datetime) -> datetime | None:
        """When the shell should next send a :class:`Tick`, if nothing else happens first."""
        candidates: list[datetime] = []
        fire = self._peek(self._fire_heap)
        if fire is not None:
            for lead in (self.offer_horizon, self.prepare_horizon):
                if fire - lead > now:
                    candidates.append(fire - lead)
                    break
            else:
                candidates.append(fire)
        soon = self._peek(self._soon_heap)
        if soon is not None:
            candidates.append(soon)
        if self._early_heap:
            candidates.append(self._early_heap[0][0])
        if self._timers:
            candidates.append(self._timers[0][0])
        if self.offers:
            oldest = min(received for _, received in self.offers.values())
            candidates.append(oldest + timedelta(seconds=OFFER_HOLD_MAX))
        return min(candidates) if candidates else None

    @property
    def prepared(self) -> int:
        """Runs created ahead of their second, not yet due."""
        return len(self._early)

    @property
    def held_offers(self) -> int:
        """Offers held: free ones and those planned for prepared runs."""
        return len(self.offers) + len(self._plans)

    def runs_of(self, job: str) -> list[Run]:
        return [self.active[t] for t in self._by_job.get(job, ())]

    def snapshot(self, now: datetime) -> EngineSnapshot:
        """An immutable account of the engine's state, for readers on other threads."""
        return EngineSnapshot(
            at=now,
            connected=self.connected,
            queue=len(self.queue),
            prepared=len(self._early),
            offers_held=len(self.offers) + len(self._plans),
            tasks_running=sum(1 for r in self.active.values() if _has_task(r)),
            jobs=len(self.jobs),
            reconciling=len(self.reconciling),
            quarantined=MappingProxyType(dict(self.quarantined)),
            confirmed=MappingProxyType(dict(self._confirmed)),
        )

    def known_jobs(self) -> dict[str, JobSpec]:
        """Every job the engine was given, quarantined ones included: what a store
        watcher compares with, so that a job set aside is not taken for a changed one.
        Safe to call from another thread (the copies are made without Python code)."""
        return {**self._quarantined_specs, **self.jobs}

    # ------------------------------------------------------------------ fault isolation
    #
    # Every unit of work that concerns one job (an event about it, one of its fire times,
    # one of its runs being placed or launched, one of its timers) runs under _guard. What
    # the unit emitted before it failed is kept: it describes changes already made to the
    # engine's state, which the store must follow. The job is then purged from that state
    # (_quarantine), so nothing half-done of it survives, and it is not scheduled again
    # until someone changes it. Units never mix jobs: where one step handles several
    # jobs' runs together (an offer's launch), each run's own work is done, guarded,
    # before anything is committed for the group.

    def _guard(
        self, now: datetime, job: str | None, out: list[Action], fn: Callable[..., object], *args: object
    ) -> bool:
        """Call ``fn(*args)``; on an error, quarantine ``job`` (or report an EngineFault). True if it worked."""
        try:
            fn(*args)
        except Exception as exc:  # the point: one job's error must not stop the others
            self._fault(now, job, exc, out, getattr(fn, "__name__", "step").strip("_"))
            return False
        return True

    def _fault(self, now: datetime, job: str | None, exc: Exception, out: list[Action], where: str) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if len(reason) > REASON_MAX:
            reason = reason[:REASON_MAX] + "..."
        reason = f"internal error while handling the job ({where.replace('_', ' ')}): {reason}"
        detail = "".join(traceback.format_exception(exc))
        if job is not None and (job in self.jobs or job in self._by_job or job in self.quarantined):
            self._quarantine(now, job, reason, out, detail)
        else:
            out.append(EngineFault(f"{where}:{type(exc).__name__}", reason, detail))

    def _quarantine(self, now: datetime, name: str, reason: str, out: list[Action], detail: str = "") -> None:
        """Set ``name`` aside: no more fire times, its unfinished runs failed, its tasks killed."""
        job = self.jobs.pop(name, None)
        if job is not None:
            self._quarantined_specs[name] = job
        first = name not in self.quarantined
        self.quarantined.setdefault(name, reason)
        self._schedules.pop(name, None)
        self.next_fire.pop(name, None)  # its heap entries are stale from now on
        self.last_scheduled.pop(name, None)
        self._catchup_waiting.discard(name)
        self._graph = None
        for task_id in sorted(self._by_job.get(name, ())):
            run = self.active[task_id]
            self._untrack(task_id)
            out.append(SaveRun(run.evolve(state=RunState.FAILED, finished_at=now, reason=f"quarantined: {reason}")))
            if _has_task(run):
                out.append(Kill(task_id, run.agent_id, "job quarantined"))
        for task_id in [t for t, r in self._retries.items() if r.job == name]:
            del self._retries[task_id]
        if first:
            out.append(JobQuarantined(name, reason, job, detail))

    @staticmethod
    def _subject(event: Event) -> str | None:
        """The job an event is about, if it is about one."""
        if isinstance(event, JobPut):
            return event.job.name
        if isinstance(event, (JobRemoved, Quarantine)):
            return event.name if isinstance(event, JobRemoved) else event.job
        if isinstance(event, (RunRequested, MarkSuccess, KillRequested)):
            return event.job
        if isinstance(event, (StatusUpdate, AsyncCompleted)):
            try:
                return parse_task_id(event.task_id)[0]
            except ValueError:
                return None
        return None

    @property
    def graph(self) -> DependencyGraph:
        if self._graph is None:
            self._graph = DependencyGraph.from_jobs(self.jobs.values())
        return self._graph

    # ------------------------------------------------------------------ events

    def _on_tick(self, now: datetime, event: Tick, out: list[Action]) -> None:
        pass  # _advance does the work

    def _on_loaded(self, now: datetime, event: Loaded, out: list[Action]) -> None:
        connected = self.connected
        self._reset()
        self.connected = connected
        self.loaded = True
        self.quarantined = dict(event.quarantined)
        for job in event.jobs:
            if job.name in self.quarantined:
                self._quarantined_specs[job.name] = job
            else:
                self._guard(now, job.name, out, self._set_job, job)
        self.last_scheduled.update((k, v) for k, v in event.last_scheduled.items() if k in self.jobs)
        self.dep_progress = {child: dict(parents) for child, parents in event.dependency_progress.items()}
        # Only jobs failing now: the store has a count for every job, nearly all 0, and a
        # missing job reads as 0 (100,000 zeros would be a dictionary held for nothing).
        self.failures_in_row = {name: n for name, n in event.consecutive_failures.items() if n}
        for run in event.runs:
            if run.job in self.jobs and not run.state.final:
                self._guard(now, run.job, out, self._load_run, now, run)
        for name in list(self._by_job):
            self._guard(now, name, out, self._hold_loaded, name)
        # Missed fire times are decided now, except for a job with a task whose fate is
        # unknown until the master answers: a run that turns out lost must not make its
        # own job's catch-up skip as "still running".
        doubtful = {self.active[t].job for t in self.active if _has_task(self.active[t]) or t in self._unsure}
        for job in event.jobs:
            if job.name not in self.jobs:
                continue
            if job.name in doubtful:
                self._catchup_waiting.add(job.name)
            else:
                self._guard(now, job.name, out, self._catch_up, now, job, True, out)
        if self._catchup_waiting:
            self._catchup_until = now + timedelta(seconds=CATCHUP_WAIT)
            self._arm(self._catchup_until, _Timer("catchup", ""))
        for run in (*event.runs, *event.last_final.values()):
            # ad-hoc runs must not reuse a second an existing run of the job already has
            if run.scheduled_at > self._last_adhoc.get(run.job, run.scheduled_at - timedelta(seconds=1)):
                self._last_adhoc[run.job] = run.scheduled_at
        for name, last in event.last_final.items():
            spec = self.jobs.get(name)
            if spec is None or self._by_job.get(name):
                continue
            if self._wants_retry(spec, last):
                self._guard(now, name, out, self._schedule_retry, spec, last, (last.finished_at or now))
        if self.connected and self._unsure:
            self._reconcile(now, [], out)

    def _load_run(self, now: datetime, run: Run) -> None:
        queued = run.state == RunState.QUEUED
        self._track(run, early=queued and run.scheduled_at > now)  # first: a quarantine must find it
        if queued and run.trigger == RunTrigger.SCHEDULE and run.scheduled_at <= now:
            # Launches prepared ahead are recorded just after their ACCEPT: a leader
            # that died in between left them QUEUED. Ask the master before launching.
            self._unsure.add(run.task_id)
        if queued:
            self._arm_deadline(run)
        elif run.state.live:
            self._arm_timeout(run, run.launched_at or now)

    def _hold_loaded(self, name: str) -> None:
        """A previous leader's queue of catch-up runs waits again, one at a time.

        The queue is not stored as such: each missed time is a stored QUEUED run (trigger
        ``catchup``), so a new leader finds them all, launches none twice, and holds them
        again here; :meth:`_release_held` then lets the oldest go when the job is idle.
        """
        job = self.jobs.get(name)
        if job is None or job.concurrency != "forbid":
            return
        for task_id in list(self._by_job.get(name, ())):
            run = self.active[task_id]
            if (
                run.state == RunState.QUEUED
                and run.trigger == RunTrigger.CATCHUP
                and task_id in self.queue
                and task_id not in self._unsure
            ):
                del self.queue[task_id]
                self._hold(run)

    def _on_job_put(self, now: datetime, event: JobPut, out: list[Action]) -> None:
        job = event.job
        if self.quarantined.pop(job.name, None) is not None:
            self._quarantined_specs.pop(job.name, None)
            out.append(JobRestored(job.name))  # changed or enabled again: given another chance
        old = self.jobs.get(job.name)
        self._set_job(job)
        for task_id in list(self._by_job.get(job.name, ())):
            if task_id in self._planned:  # its TaskInfo was built from the old spec
                self._drop_plan(self._planned[task_id], keep_offer=True)
            if task_id in self._early:
                # Prepared ahead of a second the job no longer fires on: as if never prepared.
                sched = self._schedules.get(job.name)
                run = self.active[task_id]
                if job.disabled or sched is None or not _fires_at(sched, run.scheduled_at):
                    self._finish(
                        now,
                        run,
                        RunState.SKIPPED,
                        out,
                        reason="the job was disabled or rescheduled before this run was due",
                    )
        if job.disabled:
            # Disabling stops the backlog of missed times waiting for their turn.
            for task_id in list(self._held.get(job.name, ())):
                self._finish(
                    now,
                    self.active[task_id],
                    RunState.SKIPPED,
                    out,
                    reason="the job was disabled before this missed run's turn (catchup=all)",
                )
        if old is not None and old.disabled and not job.disabled:
            # time spent disabled is not "missed": start from now
            self.last_scheduled[job.name] = max(self.last_scheduled.get(job.name, now), _second(now))
        self._reschedule(now, job, out)

    def _on_job_removed(self, now: datetime, event: JobRemoved, out: list[Action]) -> None:
        name = event.name
        self.jobs.pop(name, None)
        self.quarantined.pop(name, None)
        self._quarantined_specs.pop(name, None)
        self._catchup_waiting.discard(name)
        self._schedules.pop(name, None)
        self.next_fire.pop(name, None)
        self.last_scheduled.pop(name, None)
        self.dep_progress.pop(name, None)
        self.failures_in_row.pop(name, None)
        self._graph = None
        for task_id in list(self._by_job.get(name, ())):
            run = self.active[task_id]
            if run.state == RunState.QUEUED or run.awaiting_completion:
                self._untrack(task_id)
            else:
                self._kill(run, "job deleted", out, record=False)  # nothing of a deleted job is written
        for task_id in [t for t, r in self._retries.items() if r.job == name]:
            del self._retries[task_id]

    def _on_run_requested(self, now: datetime, event: RunRequested, out: list[Action]) -> None:
        job = self.jobs.get(event.job)
        if job is None:
            return
        at = self._free_second(job, _second(now))
        self._last_adhoc[job.name] = at
        trigger = RunTrigger(event.trigger) if event.trigger in RunTrigger._value2member_map_ else RunTrigger.MANUAL
        self._materialise(
            now,
            job,
            at,
            trigger,
            out,
            arguments=event.arguments,
            caused_by=event.caused_by,
            argument_line=event.argument_line,
            requested_by=event.by,
        )

    def _on_mark_success(self, now: datetime, event: MarkSuccess, out: list[Action]) -> None:
        job = self.jobs.get(event.job)
        if job is None:
            return
        at = self._free_second(job, _second(now))
        self._last_adhoc[job.name] = at
        run = Run(
            job=job.name,
            scheduled_at=at,
            state=RunState.SUCCEEDED,
            trigger=RunTrigger.MARK_SUCCESS,
            queued_at=now,
            finished_at=now,
            reason="marked as succeeded by request",
        )
        out.append(SaveRun(run, new=True))
        self.failures_in_row.pop(job.name, None)  # none in a row: absent reads as 0
        self._parent_done(now, job, run, out)

    def _on_kill_requested(self, now: datetime, event: KillRequested, out: list[Action]) -> None:
        targets = [event.task_id] if event.task_id else list(self._by_job.get(event.job, ()))
        for task_id in targets:
            run = self.active.get(task_id)
            if run is None:
                continue
            who = f"killed by request of {event.by}" if event.by else "killed by request"
            if run.state == RunState.QUEUED:
                self._finish(
                    now,
                    run.evolve(kill_requested=who, killed_by=event.by),
                    RunState.KILLED,
                    out,
                    reason=f"{who}, before launch",
                )
            elif run.awaiting_completion:  # no task left to kill: the wait for its report ends
                self._finish(
                    now,
                    run.evolve(kill_requested=who, killed_by=event.by),
                    RunState.KILLED,
                    out,
                    reason=f"{who}, while waiting for its completion report",
                    retry=False,
                )
            else:
                self._kill(run, who, out, by=event.by)

    def _on_quarantine(self, now: datetime, event: Quarantine, out: list[Action]) -> None:
        if event.job in self.quarantined:
            return
        if event.job in self.jobs or event.job in self._by_job:
            self._quarantine(now, event.job, event.reason, out)
        else:  # a stored job that never loaded (its definition cannot be read)
            self.quarantined[event.job] = event.reason
            out.append(JobQuarantined(event.job, event.reason))

    def _on_subscribed(self, now: datetime, event: Subscribed, out: list[Action]) -> None:
        self.connected = True
        self._reconciled_since_load = True
        # Unknown: a re-subscription may or may not keep suppression and decline
        # filters. The next step says REVIVE or SUPPRESS explicitly, whichever is true.
        self.suppressed = None
        self.offers.clear()
        self._drop_plans()
        self.reconciling = set()
        self._asked_at.clear()
        out.append(Reconcile(()))
        self._reconcile(now, [r for r in self.active.values() if _has_task(r)], out)
        self._arm(now + self.reconcile_period, _Timer("periodic", ""))

    def _reconcile(self, now: datetime, live: list[Run], out: list[Action]) -> None:
        """Ask the master about ``live`` runs and the unsure QUEUED ones.

        Only those runs wait for the answer: new runs (new task ids) launch meanwhile. A
        real master stays silent about tasks on agents that have not re-registered after
        its failover, so unanswered tasks are asked again with a growing delay, and given
        up on (LOST) after RECONCILE_GIVE_UP.
        """
        tasks = [(r.task_id, r.agent_id) for r in live] + [(t, None) for t in sorted(self._unsure)]
        if not tasks:
            return
        for task_id, _ in tasks:
            self._asked_at.setdefault(task_id, now)
        self.reconciling.update(t for t, _ in tasks)
        out.append(Reconcile(tuple(tasks)))
        if not self._reconcile_armed:
            self._reconcile_delay = RECONCILE_FIRST
            self._reconcile_armed = True
            self._arm(now + timedelta(seconds=self._reconcile_delay), _Timer("reconcile", ""))

    def _on_reconcile_tasks(self, now: datetime, event: ReconcileTasks, out: list[Action]) -> None:
        """The shell could not deliver a call about these tasks (an ACCEPT failed): ask about them now."""
        runs = [self.active[t] for t in event.task_ids if t in self.active and _has_task(self.active[t])]
        if self.connected:
            self._reconcile(now, runs, out)

    def _on_framework_lost(self, now: datetime, event: FrameworkLost, out: list[Action]) -> None:
        """The framework is gone and its tasks with it: launched runs end LOST (retried per
        their policy); queued ones, even those a dead leader may have launched, wait for
        the new framework (the master killed whatever the old one had)."""
        self.connected = False
        self.offers.clear()
        self._drop_plans()
        self.reconciling.clear()
        self._unsure.clear()
        for run in sorted((r for r in self.active.values() if _has_task(r)), key=lambda r: r.task_id):
            self._guard(now, run.job, out, self._lost, now, run, event.reason, out)

    def _lost(self, now: datetime, run: Run, reason: str, out: list[Action]) -> None:
        self._finish(now, run, RunState.LOST, out, reason=reason)

    def _on_disconnected(self, now: datetime, event: Disconnected, out: list[Action]) -> None:
        self.connected = False
        self.offers.clear()
        self._drop_plans()

    def _on_offers(self, now: datetime, event: OffersReceived, out: list[Action]) -> None:
        for offer in event.offers:
            self.offers[offer.id] = (offer, now)

    def _on_rescinded(self, now: datetime, event: OfferRescinded, out: list[Action]) -> None:
        self.offers.pop(event.offer_id, None)
        self._drop_plan(event.offer_id, keep_offer=False)

    def _on_agent_lost(self, now: datetime, event: AgentLost, out: list[Action]) -> None:
        for oid in [o for o, (offer, _) in self.offers.items() if offer.agent_id == event.agent_id]:
            del self.offers[oid]
        for oid in [o for o, plan in self._plans.items() if plan.offer.agent_id == event.agent_id]:
            self._drop_plan(oid, keep_offer=False)

    def _on_status(self, now: datetime, event: StatusUpdate, out: list[Action]) -> None:
        self.reconciling.discard(event.task_id)
        self._asked_at.pop(event.task_id, None)
        run = self.active.get(event.task_id)
        if run is not None:
            self._confirmed[event.task_id] = now
        if run is not None and event.state == UNREACHABLE:
            # Partition-aware: the agent may come back with the task still running. The
            # run stays as it is for UNREACHABLE_GRACE; its task id is not used again.
            if event.task_id not in self._unreachable:
                self._unreachable[event.task_id] = now
                run = run.evolve(message=f"agent unreachable since {now.isoformat()} ({event.reason or 'no reason'})")
                self._replace(run)
                out.append(SaveRun(run))
                self._arm(now + timedelta(seconds=UNREACHABLE_GRACE), _Timer("unreachable", run.task_id))
            self._ack(event, out)
            return
        if run is not None and event.task_id in self._unreachable:
            # Heard of again: back from the partition, as it was.
            del self._unreachable[event.task_id]
            run = run.evolve(message=f"agent reachable again since {now.isoformat()}")
            self._replace(run)
            out.append(SaveRun(run))
        if run is not None and run.awaiting_completion:
            # Its task ended already; the master's later word on it (a reconciliation,
            # a resent update) changes nothing: the completion report decides.
            self._ack(event, out)
            return
        new_state = mesos_state_to_run_state(event.state)
        if run is None or new_state is None:
            if run is None and new_state is not None and not new_state.final and event.agent_id:
                # A live task nobody here knows (its job was deleted, or it was never
                # recorded): it would run unobserved, so stop it.
                out.append(Kill(event.task_id, event.agent_id, "unknown task"))
            self._ack(event, out)
            return
        if run.state == RunState.QUEUED and event.task_id in self._unsure:
            self._unsure.discard(event.task_id)
            if new_state.final and _unknown_to_master(event):
                # Never reached the master, as far as it knows: launched again as the next
                # attempt, so that its task id, which a dead leader may have sent, is not reused.
                self._relaunch(now, run, f"{event.state} {event.reason or ''}".strip(), out)
                self._ack(event, out)
                return
            # The previous leader launched it and died before recording that.
            run = run.evolve(
                state=RunState.LAUNCHED,
                agent_id=event.agent_id,
                message="launched by the previous leader; found by reconciliation",
            )
            self._replace(run)
            out.append(SaveRun(run))
            self._arm_timeout(run, now)
        changes: dict[str, Any] = {}
        if event.agent_id:
            changes["agent_id"] = event.agent_id
        if event.hostname:
            changes["hostname"] = event.hostname
        if new_state.final and _never_started(run, event):
            # The master never ran it (the ACCEPT came on an offer that was gone, or never
            # reached the master): not a failure; launched again as its next attempt.
            detail = f"{event.state} {event.reason or ''} {event.message or ''}".strip()
            self._relaunch(now, run.evolve(**changes), detail, out)
        elif new_state == RunState.SUCCEEDED and self._is_async(run):
            self._task_done_async(now, run.evolve(**changes), event, out)
        elif new_state.final:
            self._finish_from_status(now, run.evolve(**changes), new_state, event, out)
        elif new_state != run.state and not (new_state == RunState.STARTING and run.state == RunState.RUNNING):
            if new_state == RunState.RUNNING and run.started_at is None:
                changes["started_at"] = now
            changes["state"] = new_state
            run = run.evolve(**changes)
            self._replace(run)
            out.append(SaveRun(run))
        self._ack(event, out)

    def _is_async(self, run: Run) -> bool:
        job = self.jobs.get(run.job)
        return job is not None and job.async_completion and not run.kill_requested

    def _task_done_async(self, now: datetime, run: Run, ev: StatusUpdate, out: list[Action]) -> None:
        """An async job's task exited 0: the run waits for its completion report, unless
        the report came first (then it decides now)."""
        if run.started_at is None:
            run = run.evolve(started_at=now)
        if run.reported_status is not None:
            self._complete_async(now, run, run.reported_status, out)
            return
        run = run.evolve(
            state=RunState.RUNNING,
            awaiting_completion=True,
            exit_status=ev.exit_status,
            message=f"task finished at {now.isoformat()}; waiting for its completion report",
        )
        self._replace(run)
        self._unreachable.pop(run.task_id, None)
        out.append(SaveRun(run))

    def _on_async_completed(self, now: datetime, event: AsyncCompleted, out: list[Action]) -> None:
        """A completion report. It decides a waiting run at once; for a run whose task still
        runs it is kept and decides when the task exits 0 (a task that fails, is lost or
        killed fails as any other). Reports of any other task are ignored, as Chronos did."""
        run = self.active.get(event.task_id)
        if run is None or not run.state.live:
            return
        if run.awaiting_completion:
            self._complete_async(now, run, event.status_code, out)
        elif self._is_async(run) and run.reported_status is None:
            run = run.evolve(reported_status=event.status_code)
            self._replace(run)
            out.append(SaveRun(run))

    def _complete_async(self, now: datetime, run: Run, code: int, out: list[Action]) -> None:
        reason = f"completion reported with statusCode {code}"
        run = run.evolve(awaiting_completion=False)
        if code == 0:
            self._finish(now, run, RunState.SUCCEEDED, out, reason=reason, exit_status=0)
        else:
            self._finish(now, run, RunState.FAILED, out, reason=reason, exit_status=code)

    def _relaunch(self, now: datetime, run: Run, detail: str, out: list[Action]) -> None:
        """End ``run`` (its task never started) and queue its next attempt under a new task id."""
        job = self.jobs.get(run.job)
        if job is None or run.relaunches >= MAX_RELAUNCHES:
            self._finish(
                now, run, RunState.LOST, out, reason=f"never started ({detail}), {run.relaunches} relaunches already"
            )
            return
        nxt = Run(
            job=run.job,
            scheduled_at=run.scheduled_at,
            attempt=run.attempt + 1,
            state=RunState.QUEUED,
            trigger=RunTrigger.RELAUNCH,
            queued_at=now,
            arguments=run.arguments,
            caused_by=run.task_id,
            relaunches=run.relaunches + 1,
            argument_line=run.argument_line,
        )
        self._untrack(run.task_id)
        out.append(
            SaveRun(
                run.evolve(
                    state=RunState.LOST,
                    finished_at=now,
                    reason=f"never started ({detail}); relaunched as {nxt.task_id}",
                )
            )
        )
        self._track(nxt)
        out.append(SaveRun(nxt, new=True))
        self._arm_deadline(nxt)

    # ------------------------------------------------------------------ advancing time

    def _advance(self, now: datetime, out: list[Action]) -> None:
        self._run_timers(now, out)
        self._release(now, out)
        self._decide_waiting_catchups(now, out)
        self._fire_due(now, out)
        self._release_held(now, out)
        self._launch(now, out)
        self._prepare(now, out)
        self._plan_early(now, out)
        self._manage_offers(now, out)

    def _fire_due(self, now: datetime, out: list[Action]) -> None:
        for heap in (self._soon_heap, self._fire_heap):
            while heap and heap[0][0] <= now:
                at, name = heapq.heappop(heap)
                if self.next_fire.get(name) != at:
                    continue  # stale entry: the job was rescheduled or removed
                del self.next_fire[name]
                self._guard(now, name, out, self._catch_up, now, self.jobs[name], False, out)

    def _release_held(self, now: datetime, out: list[Action]) -> None:
        """Queue the oldest waiting catch-up run of each job that has nothing else in flight.

        "In flight" is any other run of the job that is not final (queued, launched,
        running) or a retry still pending: each missed time starts after the previous
        one, retries included, has ended. Its starting deadline still applies while it
        waits (the deadline timer skips it).
        """
        if not self._held:
            return
        retrying: set[str] | None = None
        for name in list(self._held):
            waiting = self._held[name]
            if len(self._by_job.get(name, ())) > len(waiting):
                continue
            if retrying is None:
                retrying = {r.job for r in self._retries.values()}
            if name in retrying:
                continue
            task_id = waiting.pop(0)
            if not waiting:
                del self._held[name]
            self.queue[task_id] = None

    def _decide_waiting_catchups(self, now: datetime, out: list[Action]) -> None:
        """Missed fire times held back at load, once the master has answered for the job's tasks."""
        if not self._catchup_waiting:
            return
        expired = self._catchup_until is None or now >= self._catchup_until
        if not expired and not (self.connected and self._reconciled_since_load):
            return
        for name in sorted(self._catchup_waiting):
            if not expired and any(t in self.reconciling or t in self._unsure for t in self._by_job.get(name, ())):
                continue
            self._catchup_waiting.discard(name)
            job = self.jobs.get(name)
            if job is not None:
                self._guard(now, name, out, self._catch_up, now, job, True, out)

    # ------------------------------------------------------------------ launches prepared ahead
    #
    # Ten thousand runs due in the same second cost about a second of work each way they
    # are looked at: create, record, place, build the TaskInfos. Done on the second, the
    # last ACCEPT leaves a second late. So a run due within ``prepare_horizon`` is created
    # and recorded (QUEUED) beforehand, placed on a held offer, and its ACCEPT built; on
    # its second the engine only stamps ``launched_at`` and emits the Launch, and the
    # shell sends it before recording it. Only the simple case is prepared: an enabled
    # job with no run in flight or retry pending, due exactly once since it last fired.
    # Anything else (catch-up, concurrency policies, retries) is decided on the second.

    def _prepare(self, now: datetime, out: list[Action]) -> None:
        if not self.prepare_horizon:
            return
        until = now + self.prepare_horizon
        retrying: set[str] | None = None
        while self._fire_heap and self._fire_heap[0][0] <= until:
            at, name = heapq.heappop(self._fire_heap)
            if self.next_fire.get(name) != at:
                continue
            if retrying is None:
                retrying = {r.job for r in self._retries.values()}
            self._guard(now, name, out, self._prepare_one, now, self.jobs[name], at, name in retrying, out)

    def _prepare_one(self, now: datetime, job: JobSpec, at: datetime, retrying: bool, out: list[Action]) -> None:
        sched = self._schedules.get(job.name)
        last = self.last_scheduled.get(job.name)
        # A run of its own (in flight, or a retry pending) could make a prepared run
        # change what the job's concurrency policy decides: not prepared.
        if (
            at <= now
            or sched is None
            or job.disabled
            or last is None
            or self._by_job.get(job.name)
            or retrying
            or sched.times_between(last, at, 2) != [at]
        ):
            heapq.heappush(self._soon_heap, (at, job.name))  # decided on its second
            return
        nxt = sched.next_after(at)
        self._materialise(now, job, at, RunTrigger.SCHEDULE, out, early=True)
        self.last_scheduled[job.name] = at
        self._set_next(job.name, nxt)
        out.append(SaveJobState(job.name, at, nxt))

    def _plan_early(self, now: datetime, out: list[Action]) -> None:
        """Place prepared runs on held offers, one plan per offer and second."""
        if not (self._early and self.offers and self.connected):
            return
        by_second: dict[datetime, list[PendingTask]] = {}
        for task_id in list(self._early):
            if task_id not in self._planned and task_id in self.active:
                run = self.active[task_id]
                self._guard(now, run.job, out, _collect, by_second.setdefault(run.scheduled_at, []), run, self.jobs)
        for at in sorted(by_second):
            pending = [t for t in by_second[at] if t.run.task_id in self.active]
            offers = [o for o, _ in self.offers.values()]
            if not offers:
                return
            if not pending:
                continue
            wanted = {t.run.task_id for t in pending}
            plan = self._place(now, pending, offers, out)
            for offer in offers:
                task_ids = [t for t in plan.assignments.get(offer.id, ()) if t in wanted]
                if not task_ids:
                    continue
                _, received = self.offers.pop(offer.id)
                runs = [
                    self.active[t].evolve(
                        state=RunState.LAUNCHED, agent_id=offer.agent_id, hostname=offer.hostname, offered_at=received
                    )
                    for t in task_ids
                ]
                self._plans[offer.id] = _Plan(offer, received, at, runs)
                for task_id in task_ids:
                    self._planned[task_id] = offer.id
                    wanted.discard(task_id)
                out.append(PrepareLaunch(offer.id, offer.agent_id, offer.hostname, at, tuple(runs)))

    def _release(self, now: datetime, out: list[Action]) -> None:
        """On their second: prepared runs join the queue, or go out with their plan."""
        while self._early_heap and self._early_heap[0][0] <= now:
            _, task_id = heapq.heappop(self._early_heap)
            if task_id not in self._early:
                continue
            del self._early[task_id]
            if task_id not in self._planned and task_id in self.active:
                self.queue[task_id] = None
        if not self._plans:
            return
        for offer_id in [o for o, plan in self._plans.items() if plan.at <= now]:
            plan = self._plans.pop(offer_id)
            launched = []
            for run in plan.runs:
                if self._planned.pop(run.task_id, None) != offer_id:
                    continue
                current = self.active.get(run.task_id)
                if current is None or current.state != RunState.QUEUED:
                    continue  # killed, replaced or deleted since it was planned
                run = replace(run, launched_at=now)
                if not self._guard(now, run.job, out, self._arm_timeout, run, now):
                    continue  # its job is quarantined; the others on the offer still go
                self._replace(run)
                launched.append(run)
            if not launched:
                self.offers[offer_id] = (plan.offer, plan.received)
                continue
            offer = plan.offer
            runs = tuple(launched)
            out.append(Launch(offer_id, offer.agent_id, offer.hostname, runs))
            out.append(Launched(runs))  # recorded after the ACCEPT
            out.extend(RunLaunched(job, run) for run in runs if (job := self.jobs.get(run.job)) is not None)
            out.append(OfferMatched(offer, runs))

    def _drop_plan(self, offer_id: str, *, keep_offer: bool) -> None:
        """Undo a plan: its runs are placed again (or launched from the queue on their second)."""
        plan = self._plans.pop(offer_id, None)
        if plan is None:
            return
        for run in plan.runs:
            if self._planned.get(run.task_id) == offer_id:
                del self._planned[run.task_id]
        if keep_offer:
            self.offers[offer_id] = (plan.offer, plan.received)

    def _drop_plans(self) -> None:
        self._plans.clear()
        self._planned.clear()

    def _catch_up(self, now: datetime, job: JobSpec, strict: bool, out: list[Action]) -> None:
        """Materialise the fire times of ``job`` up to ``now`` and schedule the next.

        ``strict`` applies the catch-up policy even to a single missed time: at start-up
        every past fire time was missed. While running, one late fire time is simply
        late and runs; two or more mean the scheduler fell behind.
        """
        sched = self._schedules.get(job.name)
        if sched is None or job.disabled:
            return
        last = self.last_scheduled.get(job.name)
        if last is None:
            # A job seen for the first time: fire times from now on are its own, and
            # recording "now" means one that falls in a later downtime counts as missed.
            last = _second(now)
            self.last_scheduled[job.name] = last
            nxt = sched.next_after(now)
            self._set_next(job.name, nxt)
            out.append(SaveJobState(job.name, last, nxt))
            return
        due = sched.times_between(last, now, 2)
        if not due:
            nxt = sched.next_after(max(last, now))
            self._set_next(job.name, nxt)
            return
        if len(due) == 1 and not strict:
            run_times, skipped = due, []
            nxt = sched.next_after(now)
        else:
            plan = plan_catchup(
                sched,
                last,
                now,
                cast(CatchupPolicy, job.catchup),
                cap=CATCHUP_CAP,
                starting_deadline_seconds=job.starting_deadline_seconds,
            )
            run_times, skipped, nxt = plan.run, list(plan.skipped), plan.next_fire
            hidden = plan.skipped_count - len(plan.skipped)
            if hidden > 0 and skipped:
                # Only a bounded sample of a long gap is recorded run by run; the newest
                # record says how many more there were.
                at, reason = skipped[-1]
                skipped[-1] = (at, f"{reason} ({hidden} more missed times not recorded one by one)")
        for at, reason in skipped:
            # A time skipped because the catchup policy says so is what the owner asked
            # for: recorded (and logged and counted), not notified after every restart.
            self._record_skip(
                now,
                job,
                at,
                reason,
                RunTrigger.CATCHUP,
                out,
                notify=not any(reason.startswith(p) for p in POLICY_SKIPS),
            )
        for at in run_times:
            trigger = RunTrigger.SCHEDULE if run_times is due else RunTrigger.CATCHUP
            # catchup=all means all: with concurrency=forbid they wait for their turn
            # instead of being skipped as "still running".
            self._materialise(now, job, at, trigger, out, hold=trigger == RunTrigger.CATCHUP and job.catchup == "all")
        newest = max([last, *run_times, *(a for a, _ in skipped)])
        self.last_scheduled[job.name] = newest
        self._set_next(job.name, nxt)
        out.append(SaveJobState(job.name, newest, nxt))

    def _materialise(
        self,
        now: datetime,
        job: JobSpec,
        at: datetime,
        trigger: RunTrigger,
        out: list[Action],
        *,
        arguments: tuple[str, ...] | None = None,
        caused_by: str | None = None,
        attempt: int = 0,
        early: bool = False,
        relaunches: int = 0,
        hold: bool = False,
        argument_line: str | None = None,
        requested_by: str | None = None,
    ) -> None:
        """Create the run of ``job`` for ``at``, as its concurrency policy and deadline allow.

        ``hold``: with ``concurrency="forbid"``, a run that finds another of the job in
        flight waits for its turn (:meth:`_release_held`) instead of being skipped.
        """
        task_id = task_id_for(job.name, at, attempt)
        if task_id in self.active:
            return  # already materialised (loaded from the store): never twice
        run = Run(
            job=job.name,
            scheduled_at=at,
            attempt=attempt,
            state=RunState.QUEUED,
            trigger=trigger,
            queued_at=now,
            arguments=arguments,
            caused_by=caused_by,
            relaunches=relaunches,
            argument_line=argument_line,
            requested_by=requested_by,
        )
        others = [r for r in self.runs_of(job.name) if r.task_id != task_id]
        if trigger == RunTrigger.RETRY and job.name in self._held:
            # A retry carries on the run that failed: it goes before the missed runs
            # waiting behind that one, which it is not concurrent with.
            waiting = self._held[job.name]
            others = [r for r in others if r.task_id not in waiting]
        held = bool(others) and job.concurrency == "forbid" and hold
        if others and job.concurrency == "forbid" and not held:
            busy = others[0]
            self._record_skip(
                now,
                job,
                at,
                f"concurrency=forbid: run {busy.task_id} is still {busy.state.value}",
                trigger,
                out,
                attempt=attempt,
            )
            return
        if others and job.concurrency == "replace":
            for other in others:
                if other.state == RunState.QUEUED:
                    self._finish(
                        now, other, RunState.SKIPPED, out, reason=f"replaced by {task_id} (concurrency=replace)"
                    )
                elif other.awaiting_completion:  # no task to kill: its wait ends
                    why = f"replaced by {task_id} (concurrency=replace)"
                    self._finish(now, other.evolve(kill_requested=why), RunState.KILLED, out, reason=why, retry=False)
                else:
                    self._kill(other, f"replaced by {task_id} (concurrency=replace)", out)
        reason = deadline_exceeded(at, now, job.starting_deadline_seconds)
        if reason:
            self._record_skip(now, job, at, reason, trigger, out, attempt=attempt)
            return
        self._track(run, early=early, held=held)
        out.append(SaveRun(run, new=True))
        out.append(RunQueued(job, run))
        self._arm_deadline(run)

    def _free_second(self, job: JobSpec, at: datetime) -> datetime:
        """The first second from ``at`` that no other run of the job has as its identity.

        Ad-hoc runs are identified by the second they were asked for; two in one second,
        or one on a second the schedule also fires, are kept one second apart.
        """
        sched = self._schedules.get(job.name)
        one = timedelta(seconds=1)
        last = self._last_adhoc.get(job.name)
        while True:
            if last is not None and at <= last:
                at = last + one
            elif self._second_taken(job, at, sched):
                at += one
            else:
                return at

    def _second_taken(self, job: JobSpec, at: datetime, sched: Schedule | None) -> bool:
        if any(task_id_for(job.name, at, a) in self.active for a in range(job.retries + MAX_RELAUNCHES + 1)):
            return True
        return sched is not None and _fires_at(sched, at)

    def _record_skip(
        self,
        now: datetime,
        job: JobSpec,
        at: datetime,
        reason: str,
        trigger: RunTrigger,
        out: list[Action],
        attempt: int = 0,
        notify: bool = True,
    ) -> None:
        run = Run(
            job=job.name,
            scheduled_at=at,
            attempt=attempt,
            state=RunState.SKIPPED,
            trigger=trigger,
            queued_at=now,
            finished_at=now,
            reason=reason,
        )
        out.append(SaveRun(run, new=True))
        out.append(RunSkipped(job, run, reason, announce=notify))

    def _run_timers(self, now: datetime, out: list[Action]) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            self._guard(now, self._timer_job(timer), out, self._run_timer, now, timer, out)

    def _timer_job(self, timer: _Timer) -> str | None:
        run = self._retries.get(timer.key) if timer.kind == "retry" else self.active.get(timer.key)
        return run.job if run is not None else None

    def _run_timer(self, now: datetime, timer: _Timer, out: list[Action]) -> None:
        if timer.kind == "retry":
            run = self._retries.pop(timer.key, None)
            job = self.jobs.get(run.job) if run else None
            if run is not None and job is not None and not job.disabled:
                self._materialise(
                    now,
                    job,
                    run.scheduled_at,
                    RunTrigger.RETRY,
                    out,
                    arguments=run.arguments,
                    caused_by=run.caused_by,
                    attempt=run.attempt,
                    relaunches=run.relaunches,
                    argument_line=run.argument_line,
                )
        elif timer.kind == "deadline":
            run = self.active.get(timer.key)
            job = self.jobs.get(run.job) if run else None
            if run is not None and job is not None and run.state == RunState.QUEUED:
                reason = deadline_exceeded(run.scheduled_at, now, job.starting_deadline_seconds)
                if reason:
                    self._finish(now, run, RunState.SKIPPED, out, reason=reason)
        elif timer.kind == "timeout":
            run = self.active.get(timer.key)
            job = self.jobs.get(run.job) if run else None
            if run is not None and job is not None and run.state.live and job.timeout_seconds:
                reason = f"timeout: ran longer than timeout_seconds={job.timeout_seconds:g}"
                if run.awaiting_completion:  # the timeout covers the wait for the report too
                    self._finish(now, run, RunState.FAILED, out, reason=f"{reason}, waiting for its completion report")
                else:
                    self._kill(run, reason, out)
        elif timer.kind == "reconcile":
            self._reconcile_again(now, out)
        elif timer.kind == "periodic" and self.connected:
            # Every few minutes, ask about every live run: a task the master forgot (a
            # lost ACCEPT, an agent wiped clean) is found without waiting for a failover.
            self._arm(now + self.reconcile_period, _Timer("periodic", ""))
            self._reconcile(now, [r for r in self.active.values() if _has_task(r)], out)
        elif timer.kind == "unreachable":
            run = self.active.get(timer.key)
            since = self._unreachable.pop(timer.key, None)
            if run is not None and since is not None:
                out.append(Kill(run.task_id, run.agent_id, "its agent was unreachable too long"))  # should it return
                self._finish(
                    now,
                    run,
                    RunState.LOST,
                    out,
                    reason=f"agent unreachable since {since.isoformat()} "
                    f"(waited {UNREACHABLE_GRACE:.0f}s for it to come back)",
                )

    def _reconcile_again(self, now: datetime, out: list[Action]) -> None:
        """Ask again about what the master has not answered for; give up on the oldest."""
        self._reconcile_armed = False
        self.reconciling &= set(self.active)
        if not self.connected or not self.reconciling:
            return
        for task_id in sorted(self.reconciling):
            asked = self._asked_at.get(task_id, now)
            if (now - asked).total_seconds() < RECONCILE_GIVE_UP:
                continue
            run = self.active[task_id]
            self.reconciling.discard(task_id)
            self._asked_at.pop(task_id, None)
            reason = f"the master has not said what became of it for {RECONCILE_GIVE_UP / 60:.0f} minutes"
            if task_id in self._unsure:
                self._unsure.discard(task_id)
                self._guard(now, run.job, out, self._relaunch, now, run, reason, out)
            else:
                out.append(Kill(task_id, run.agent_id, "unknown to the master for too long"))  # should it turn up
                self._guard(now, run.job, out, self._lost, now, run, reason, out)
        if not self.reconciling:
            return
        out.append(Reconcile(tuple((t, self.active[t].agent_id) for t in sorted(self.reconciling))))
        self._reconcile_delay = min(self._reconcile_delay * 2, RECONCILE_MAX)
        self._reconcile_armed = True
        self._arm(now + timedelta(seconds=self._reconcile_delay), _Timer("reconcile", ""))

    # ------------------------------------------------------------------ offers and launches

    def _launch(self, now: datetime, out: list[Action]) -> None:
        if not (self.connected and self.queue and self.offers):
            return
        pending: list[PendingTask] = []
        for task_id in list(self.queue):
            if task_id in self._unsure:
                continue  # a dead leader may have launched it: the master's answer decides
            run = self.active[task_id]
            self._guard(now, run.job, out, _collect, pending, run, self.jobs)
        pending = [t for t in pending if t.run.task_id in self.queue]
        if not pending:
            return
        # high_priority jobs (Chronos's highPriority) jump the queue; the rest keep its order
        pending.sort(key=lambda t: not self.jobs[t.run.job].high_priority)
        offers = [o for o, _ in self.offers.values()]
        plan = self._place(now, pending, offers, out)
        for offer in offers:
            task_ids = [t for t in plan.assignments.get(offer.id, ()) if t in self.queue]
            launched = []
            offered_at = self.offers[offer.id][1]
            for task_id in task_ids:
                queued = self.active.get(task_id)
                if queued is None:
                    continue  # its job was quarantined while this offer was being filled
                run = queued.evolve(
                    state=RunState.LAUNCHED,
                    launched_at=now,
                    agent_id=offer.agent_id,
                    hostname=offer.hostname,
                    offered_at=offered_at,
                )
                if not self._guard(now, run.job, out, self._arm_timeout, run, now):
                    continue
                self._replace(run)
                launched.append(run)
                out.append(SaveRun(run))
            if not launched:
                continue
            del self.offers[offer.id]
            out.append(Launch(offer.id, offer.agent_id, offer.hostname, tuple(launched)))
            out.append(OfferMatched(offer, tuple(launched)))
            out.extend(RunLaunched(self.jobs[run.job], run) for run in launched)

    def _place(self, now: datetime, pending: list[PendingTask], offers: list[Offer], out: list[Action]) -> PackingPlan:
        """Pack ``pending`` on ``offers``, keeping a job with a timeout off an agent whose
        maintenance window starts before the run could be over (its offer's unavailability)."""
        everywhere = tuple(o.id for o in offers)
        allowed: dict[str, tuple[str, ...]] = {}
        if any(o.unavailable_from is not None for o in offers):
            for task in pending:
                self._guard(now, task.run.job, out, self._allowed_offers, now, task, offers, everywhere, allowed)
            pending = [t for t in pending if t.run.task_id in self.active]
        if not allowed:
            return self._pack(now, pending, offers, out)
        groups: dict[tuple[str, ...], list[PendingTask]] = {}
        for task in pending:
            groups.setdefault(allowed.get(task.run.task_id, everywhere), []).append(task)
        remaining = {o.id: o for o in offers}
        assignments: dict[str, list[str]] = {}
        # the restricted first, while every offer is whole; then the rest on what is left
        for ids in sorted(groups, key=lambda ids: ids == everywhere):
            usable = [remaining[i] for i in ids]
            if not usable:
                continue
            tasks = {t.run.task_id: t for t in groups[ids]}
            plan = self._pack(now, list(tasks.values()), usable, out)
            for offer_id, task_ids in plan.assignments.items():
                assignments.setdefault(offer_id, []).extend(task_ids)
                used = Resources.unchecked()
                for task_id in task_ids:
                    used = used + tasks[task_id].resources
                remaining[offer_id] = replace(remaining[offer_id], resources=remaining[offer_id].resources - used)
        placed = {t for ids in assignments.values() for t in ids}
        return PackingPlan(
            assignments={o: tuple(ids) for o, ids in assignments.items()},
            unplaced=tuple(t.run.task_id for t in pending if t.run.task_id not in placed),
        )

    def _allowed_offers(
        self,
        now: datetime,
        task: PendingTask,
        offers: list[Offer],
        everywhere: tuple[str, ...],
        allowed: dict[str, tuple[str, ...]],
    ) -> None:
        job = self.jobs[task.run.job]
        if job.timeout_seconds:
            end = now + timedelta(seconds=job.timeout_seconds)
            ids = tuple(o.id for o in offers if not _in_maintenance(o, now, end))
            if ids != everywhere:
                allowed[task.run.task_id] = ids

    def _pack(self, now: datetime, pending: list[PendingTask], offers: list[Offer], out: list[Action]) -> PackingPlan:
        """The packer's plan; if it fails, find the runs it fails on, quarantine their jobs, place the rest."""
        try:
            return self.packer(pending, offers, self.jobs)
        except Exception as exc:
            failure = exc
        failing: list[tuple[PendingTask, Exception]] = []
        for task in pending:
            try:
                self.packer([task], offers, self.jobs)
            except Exception as exc:
                failing.append((task, exc))
        if failing and len(failing) < len(pending):
            for task, error in failing:
                self._fault(now, task.run.job, error, out, "packing")
            placeable = [t for t in pending if t.run.task_id in self.queue or t.run.task_id in self._early]
            try:
                return self.packer(placeable, offers, self.jobs)
            except Exception as exc:
                failure = exc
        # It fails for every task, or only for all of them together: not any one job's
        # fault. Nothing is placed this time; the shell logs it once per kind of failure.
        self._fault(now, None, failure, out, "packing")
        return PackingPlan(assignments={}, unplaced=tuple(t.run.task_id for t in pending))

    def _work_soon(self, now: datetime) -> bool:
        if self.queue or self._early:
            return True
        fire = self._peek_fire()
        return fire is not None and fire <= now + self.offer_horizon

    def _manage_offers(self, now: datetime, out: list[Action]) -> None:
        if not self.connected:
            return
        soon = self._work_soon(now)
        if self.offers:
            hold_limit = now - timedelta(seconds=OFFER_HOLD_MAX)
            release = [oid for oid, (_, received) in self.offers.items() if not soon or received <= hold_limit]
            if release:
                for oid in release:
                    del self.offers[oid]
                # Short refusal while work waits (the offer just did not fit); longer when idle.
                out.append(Decline(tuple(sorted(release)), 1.0 if soon else self._idle_refuse(now)))
        if soon and self.suppressed is not False:
            self.suppressed = False
            out.append(Revive())
        elif not soon and self.suppressed is not True and not self._unsure and self._idle_long(now):
            self.suppressed = True
            out.append(Suppress())

    def _idle_long(self, now: datetime) -> bool:
        """Nothing due for SUPPRESS_AFTER: worth suppressing (a REVIVE later clears filters)."""
        fire = self._peek_fire()
        return fire is None or (fire - now).total_seconds() > SUPPRESS_AFTER

    def _idle_refuse(self, now: datetime) -> float:
        """Seconds to refuse an offer while idle: until shortly before the next fire time."""
        fire = self._peek_fire()
        if fire is None:
            return self.decline_seconds
        until = (fire - self.offer_horizon - now).total_seconds()
        return max(1.0, min(self.decline_seconds, until))

    # ------------------------------------------------------------------ run lifecycle

    def _finish_from_status(
        self, now: datetime, run: Run, state: RunState, ev: StatusUpdate, out: list[Action]
    ) -> None:
        requested = run.kill_requested
        reason = ev.reason
        message = ev.message
        if state == RunState.KILLED and requested and requested.startswith("timeout"):
            state, reason = RunState.FAILED, requested
        elif state == RunState.KILLED and requested:
            reason = requested
        self._finish(
            now,
            run,
            state,
            out,
            reason=reason,
            message=message,
            exit_status=ev.exit_status,
            retry=not (state == RunState.KILLED and requested),
        )

    def _finish(
        self,
        now: datetime,
        run: Run,
        state: RunState,
        out: list[Action],
        *,
        reason: str | None = None,
        message: str | None = None,
        exit_status: int | None = None,
        retry: bool = True,
    ) -> None:
        if state == RunState.SUCCEEDED and exit_status is None:
            exit_status = 0
        run = run.evolve(state=state, finished_at=now, reason=reason, message=message, exit_status=exit_status)
        self._untrack(run.task_id)
        out.append(SaveRun(run))
        job = self.jobs.get(run.job)
        if job is None:
            return
        if state == RunState.SUCCEEDED:
            failures = self.failures_in_row.pop(job.name, 0)
            out.append(RunFinished(job, run, failure_count=failures))
            self._parent_done(now, job, run, out)
            return
        if state == RunState.SKIPPED:
            out.append(RunSkipped(job, run, reason))
            return
        will_retry = retry and self._wants_retry(job, run)
        if will_retry:
            self._schedule_retry(job, run, now)
        counted = not will_retry and state in (RunState.FAILED, RunState.LOST)
        if counted:
            self.failures_in_row[job.name] = self.failures_in_row.get(job.name, 0) + 1
        out.append(
            RunFinished(
                job,
                run,
                final=not will_retry,
                failure_count=self.failures_in_row.get(job.name, 0),
                pending_subtree=() if will_retry or job.soft_error else self.graph.subtree(job.name).children,
            )
        )
        if not counted:
            return
        if job.soft_error:
            self._parent_done(now, job, run, out)
        self._maybe_disable(now, job, out)

    def _parent_done(self, now: datetime, parent: JobSpec, run: Run, out: list[Action]) -> None:
        """``parent`` has succeeded (or failed softly): advance its children, start the ready ones."""
        for name in self.graph.children(parent.name):
            child = self.jobs.get(name)
            if child is None or child.disabled or parent.name not in child.parents:
                continue
            # a child's own error is the child's: the parent and its other children go on
            self._guard(now, name, out, self._child_progress, now, child, parent, run, out)

    def _child_progress(self, now: datetime, child: JobSpec, parent: JobSpec, run: Run, out: list[Action]) -> None:
        name = child.name
        progress = self.dep_progress.setdefault(name, {})
        progress[parent.name] = (run.task_id, now)
        out.append(SaveDependency(name, parent.name, run.task_id, now))
        if not all(p in progress for p in child.parents):
            return
        del self.dep_progress[name]
        out.append(ClearDependency(name))
        at = self._free_second(child, _second(now))
        self._last_adhoc[name] = at
        self._materialise(now, child, at, RunTrigger.DEPENDENCY, out, caused_by=run.task_id)
        out.append(DependencyUnblocked(child, child.parents, run))

    def _maybe_disable(self, now: datetime, job: JobSpec, out: list[Action]) -> None:
        limit = job.disable_after_failures
        count = self.failures_in_row.get(job.name, 0)
        if not limit or count < limit or job.disabled:
            return
        reason = f"disabled after {count} consecutive failures (disable_after_failures={limit})"
        disabled = job.evolve(disabled=True)
        self._set_job(disabled)
        self._reschedule(now, disabled, out)
        out.append(DisableJob(job.name, reason))
        out.append(JobDisabled(disabled, reason, count))

    def _wants_retry(self, job: JobSpec, run: Run) -> bool:
        # Relaunched attempts (the master dropped them unstarted) are not failures.
        return (
            run.state in (RunState.FAILED, RunState.LOST, RunState.KILLED)
            and run.attempt - run.relaunches < job.retries
        )

    def _schedule_retry(self, job: JobSpec, run: Run, since: datetime) -> None:
        """Arm the timer of ``run``'s next attempt, after its backoff (doubling, capped)."""
        delay = min(job.retry_delay_seconds * (2**run.attempt), self.max_retry_delay)
        nxt = Run(
            job=job.name,
            scheduled_at=run.scheduled_at,
            attempt=run.attempt + 1,
            state=RunState.QUEUED,
            trigger=RunTrigger.RETRY,
            arguments=run.arguments,
            caused_by=run.task_id,
            relaunches=run.relaunches,
            argument_line=run.argument_line,
        )
        self._retries[nxt.task_id] = nxt
        self._arm(since + timedelta(seconds=delay), _Timer("retry", nxt.task_id))

    def _kill(self, run: Run, reason: str, out: list[Action], *, record: bool = True, by: str | None = None) -> None:
        """Ask Mesos to kill ``run``'s task, once. The request is recorded with the run, so
        that its end is read as asked for (a kill by request is final: no retry) even by a
        leader that reloads or takes over before the task is dead."""
        if run.kill_requested:
            return
        run = run.evolve(kill_requested=reason, killed_by=by)
        self._replace(run)
        if record:
            out.append(SaveRun(run))
        out.append(Kill(run.task_id, run.agent_id, reason))

    def _ack(self, ev: StatusUpdate, out: list[Action]) -> None:
        if ev.uuid and ev.agent_id:
            out.append(Acknowledge(ev.agent_id, ev.task_id, ev.uuid))

    # ------------------------------------------------------------------ bookkeeping

    def _set_job(self, job: JobSpec) -> None:
        old = self.jobs.get(job.name)
        self.jobs[job.name] = job
        if old is None or old.parents != job.parents or old.owners != job.owners:
            self._graph = None
        if job.schedule:
            if old is None or old.schedule != job.schedule or old.timezone != job.timezone:
                self._schedules[job.name] = parse_schedule(job.schedule, job.timezone)
        else:
            self._schedules.pop(job.name, None)

    def _reschedule(self, now: datetime, job: JobSpec, out: list[Action]) -> None:
        sched = self._schedules.get(job.name)
        if sched is None or job.disabled:
            self.next_fire.pop(job.name, None)
            out.append(SaveJobState(job.name, self.last_scheduled.get(job.name), None))
            return
        last = self.last_scheduled.setdefault(job.name, _second(now))
        nxt = sched.next_after(max(last, now))
        self._set_next(job.name, nxt)
        out.append(SaveJobState(job.name, last, nxt))

    def _set_next(self, name: str, at: datetime | None) -> None:
        if at is None:
            self.next_fire.pop(name, None)
            return
        self.next_fire[name] = at
        heapq.heappush(self._fire_heap, (at, name))

    def _peek_fire(self) -> datetime | None:
        times = [t for t in (self._peek(self._soon_heap), self._peek(self._fire_heap)) if t is not None]
        return min(times) if times else None

    def _peek(self, heap: list[tuple[datetime, str]]) -> datetime | None:
        while heap:
            at, name = heap[0]
            if self.next_fire.get(name) == at:
                return at
            heapq.heappop(heap)
        return None

    def _arm(self, when: datetime, timer: _Timer) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), timer))

    def _arm_deadline(self, run: Run) -> None:
        job = self.jobs.get(run.job)
        if job is not None and job.starting_deadline_seconds is not None:
            # just past the deadline: a run may still start at exactly the deadline
            self._arm(
                run.scheduled_at + timedelta(seconds=job.starting_deadline_seconds, milliseconds=1),
                _Timer("deadline", run.task_id),
            )

    def _arm_timeout(self, run: Run, since: datetime) -> None:
        job = self.jobs.get(run.job)
        if job is not None and job.timeout_seconds:
            self._arm(since + timedelta(seconds=job.timeout_seconds), _Timer("timeout", run.task_id))

    def _track(self, run: Run, *, early: bool = False, held: bool = False) -> None:
        self.active[run.task_id] = run
        self._by_job.setdefault(run.job, set()).add(run.task_id)
        if run.state == RunState.QUEUED and held:
            self._hold(run)
        elif run.state == RunState.QUEUED and early:
            self._early[run.task_id] = None
            heapq.heappush(self._early_heap, (run.scheduled_at, run.task_id))
        elif run.state == RunState.QUEUED:
            self.queue[run.task_id] = None

    def _hold(self, run: Run) -> None:
        """Put a QUEUED run in its job's waiting line, in scheduled order."""
        waiting = self._held.setdefault(run.job, [])
        key = (run.scheduled_at, run.attempt)
        i = bisect.bisect_left(waiting, key, key=lambda t: (self.active[t].scheduled_at, self.active[t].attempt))
        waiting.insert(i, run.task_id)

    def _replace(self, run: Run) -> None:
        self.active[run.task_id] = run
        if run.state != RunState.QUEUED:
            self.queue.pop(run.task_id, None)

    def _untrack(self, task_id: str) -> None:
        run = self.active.pop(task_id, None)
        self.queue.pop(task_id, None)
        self._early.pop(task_id, None)
        self._planned.pop(task_id, None)
        self._unsure.discard(task_id)
        self.reconciling.discard(task_id)
        self._asked_at.pop(task_id, None)
        self._unreachable.pop(task_id, None)
        self._confirmed.pop(task_id, None)
        if run is not None:
            waiting = self._held.get(run.job)
            if waiting is not None and task_id in waiting:
                waiting.remove(task_id)
                if not waiting:
                    del self._held[run.job]
            ids = self._by_job.get(run.job)
            if ids is not None:
                ids.discard(task_id)
                if not ids:
                    del self._by_job[run.job]


def _has_task(run: Run) -> bool:
    """Launched, and its Mesos task not yet ended (an async run waiting for its completion
    report is live, but has no task: it is not reconciled, killed or lost with an agent)."""
    return run.state.live and not run.awaiting_completion


def _in_maintenance(offer: Offer, start: datetime, end: datetime) -> bool:
    """Whether the offer's agent is to be down at some time between ``start`` and ``end``."""
    if offer.unavailable_from is None:
        return False
    until = None if offer.unavailable_for is None else offer.unavailable_from + timedelta(seconds=offer.unavailable_for)
    return offer.unavailable_from < end and (until is None or until > start)


def _collect(into: list[PendingTask], run: Run, jobs: Mapping[str, JobSpec]) -> None:
    """``run`` as a task to place: what its job needs (a job gone or broken raises)."""
    into.append(PendingTask(run, jobs[run.job].resources))


_HANDLERS: dict[type[Any], Callable[[Engine, datetime, Any, list[Action]], None]] = {
    Tick: Engine._on_tick,
    Loaded: Engine._on_loaded,
    JobPut: Engine._on_job_put,
    JobRemoved: Engine._on_job_removed,
    RunRequested: Engine._on_run_requested,
    MarkSuccess: Engine._on_mark_success,
    KillRequested: Engine._on_kill_requested,
    AsyncCompleted: Engine._on_async_completed,
    Subscribed: Engine._on_subscribed,
    Disconnected: Engine._on_disconnected,
    OffersReceived: Engine._on_offers,
    OfferRescinded: Engine._on_rescinded,
    AgentLost: Engine._on_agent_lost,
    StatusUpdate: Engine._on_status,
    Quarantine: Engine._on_quarantine,
    ReconcileTasks: Engine._on_reconcile_tasks,
    FrameworkLost: Engine._on_framework_lost,
}
