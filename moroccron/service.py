"""The imperative shell: threads, clock, database, Mesos, HTTP, around the pure Engine.

One thread owns the Engine. Everything else (the Mesos event stream, API requests,
the clock) reaches it as events on a queue. For each batch of events the loop:

1. steps the Engine once per event, at the time the event is taken off the queue;
2. commits every run and job-state change of the batch in one transaction
   (retrying while the database is unreachable: a restart of PostgreSQL makes the
   scheduler wait, not crash, and nothing is sent to Mesos that is not recorded);
3. only then performs the Mesos calls (launch, acknowledge, ...) in order;
4. then calls the plugin hooks.

A run is therefore always on disk before its task exists, and a status update is
acknowledged only once its effect is on disk, so a crash at any point loses nothing
that a restart cannot rebuild from the store and the master's reconciliation.

Nothing one job does stops the loop. The engine quarantines a job whose handling
raises (see :mod:`moroccron.engine`); here, a job whose records the database refuses,
or whose task cannot be described to Mesos, is quarantined the same way, while the
rest of the batch is written and launched. Plugin hooks run on a thread of their own,
each call within ``hook_timeout_seconds``; a packing plugin that fails or hangs is
replaced by the built-in first-fit. Each kind of fault is logged once, then counted.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moroccron.commands import SchedulerCommands
from moroccron.config import Settings
from moroccron.dispatch import Dispatcher
from moroccron.engine import EMPTY_SNAPSHOT, Engine, EngineSnapshot
from moroccron.errors import Conflict, NotFound, StaleEpoch, ValidationError
from moroccron.events import (
    DOMAIN_EVENTS,
    NOTICES,
    STATE_ACTIONS,
    Action,
    ClearDependency,
    Decline,
    DisableJob,
    EngineFault,
    Event,
    JobPut,
    JobQuarantined,
    JobRemoved,
    JobRestored,
    Kill,
    Launch,
    Launched,
    Loaded,
    Quarantine,
    ReconcileTasks,
    RunRequested,
    SaveDependency,
    SaveJobState,
    SaveRun,
    Subscribed,
    Tick,
)
from moroccron.hooks.manager import PluginError, PluginManager
from moroccron.hooks.runner import HookRunner
from moroccron.memory import release_free_memory
from moroccron.model import JobSpec, Owner, Run
from moroccron.notify import payload_for
from moroccron.plan import plan_step
from moroccron.ratelog import Throttled
from moroccron.routing import notice

if TYPE_CHECKING:
    from moroccron.signals import StopSignals
    from moroccron.store.interfaces import NotificationQueue, SchedulerStore

__all__ = ["Scheduler", "utcnow"]

log = logging.getLogger("moroccron.service")

BATCH_MAX = 5000
DB_RETRY_MAX = 5.0
FAULT_PAUSE_MAX = 2.0
"""Longest pause between two scheduler steps that both failed as a whole (no busy loop)."""
PACKING_TIMEOUT = 5.0
"""Seconds a packing plugin may take; beyond, the built-in first-fit places the runs."""
PACKING_SUSPEND = 300.0
"""Seconds a packing plugin that hung is passed over before it is asked again."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Request:
    event: Event
    reply: Future[list[Action]] | None = None
    replayed: bool = False  # stepped again once after a reload (never twice: no conflict loop)


class Scheduler(SchedulerCommands):
    """The leader's scheduling loop and its Mesos connection (and the typed commands of
    :class:`~moroccron.commands.SchedulerCommands` the routes call).

    :param settings: resolved settings.
    :param store: the shared database.
    :param plugins: the plugin manager (packing, hooks).
    :param master: ``HOST:PORT`` or ``zk://...`` of the Mesos master; ``None`` uses
        ``settings.master`` (``local`` starts the in-process local master).
    """

    def __init__(
        self,
        settings: Settings,
        store: SchedulerStore,
        plugins: PluginManager,
        *,
        master: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        instance_id: str | None = None,
        on_fenced: Callable[[str], None] | None = None,
        leadership: Any = None,
        epoch: int | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.plugins = plugins
        self.clock = clock
        self.master_spec = master or settings.master
        self.on_fenced = on_fenced  # told when another leader's epoch fences this one
        self.leadership = leadership  # moroccron.ha.Leadership: also keeps the FrameworkID
        self.instance_id = instance_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        plugins.check_packing_strategy(settings.packing)
        self.engine = Engine(
            self._pack,
            offer_horizon=settings.offer_horizon_seconds,
            prepare_horizon=settings.prepare_seconds,
            reconcile_period=settings.reconcile_interval_seconds,
        )
        self.epoch: int | None = epoch  # given: already taken with the database lease; else start() takes one
        self.snapshot: EngineSnapshot = EMPTY_SNAPSHOT
        """The engine's state as of its last step: what other threads read (never the engine itself)."""
        self.local_master: Any = None
        self.client: Any = None
        self.adapter: Any = None
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fenced = False
        self.started_at: datetime | None = None
        from moroccron.metrics import Metrics
        from moroccron.retention import Pruner

        self.metrics = Metrics(status=self.status)
        from moroccron.notify import Renderer
        from moroccron.outbox import Deliverer

        self.deliverer = Deliverer(
            store, plugins, Renderer(settings, stderr_tail=self._stderr_tail), enabled=lambda: not self._fenced
        )
        from moroccron.framework_health import FrameworkHealth

        # the framework's own troubles (removed by the master, refused): recorded, shown, told
        self.framework_health = FrameworkHealth(
            settings, store, epoch=lambda: self.epoch, clock=clock, wake=self.deliverer.wake, leadership=leadership
        )
        self.last_step_at: float | None = None  # time.monotonic() of the last scheduler step that succeeded
        self._owners: dict[str, Owner] = {}
        self._owners_at = 0.0
        self.hooks = HookRunner(plugins, timeout=settings.hook_timeout_seconds)
        self.dispatcher = Dispatcher(
            plugins,
            self.hooks,
            self.metrics,
            is_job=lambda name: name in self.engine.jobs,
            request_run=lambda name, caused_by: self.submit_nowait(
                RunRequested(name, trigger="trigger", caused_by=caused_by)
            ),
        )
        self._throttle = Throttled(log)
        self.faults = 0  # engine faults, quarantines and failed steps since start (also in /metrics)
        self._fault_pause = 0.0
        self._packer: Any = None  # the executor a third-party packing strategy runs in
        self._packer_suspended_until = 0.0
        # only a leader prunes: a fenced instance must not write at all
        self.pruner = Pruner(
            store,
            keep_per_job=settings.run_retention,
            interval=settings.prune_interval_seconds,
            enabled=lambda: not self._fenced,
        )
        from moroccron.watch import JobWatcher

        # jobs written elsewhere (moroccron jobs apply, SQL) reach the engine within job_poll_seconds
        self.watcher = JobWatcher(
            store,
            self.engine.known_jobs,
            on_put=self.job_changed,
            on_removed=self.job_removed,
            on_invalid=self.job_invalid,
            interval=settings.job_poll_seconds,
            enabled=lambda: not self._fenced,
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Load state, become leader, connect to Mesos and start the loop."""
        from moroccron.mesos.client import MesosSchedulerClient
        from moroccron.mesos.framework import FrameworkAdapter, framework_info

        self.started_at = self.clock()
        if self.epoch is None:
            self.epoch = self.store.take_leadership(self.instance_id, self.settings.bind)
        log.info("leadership epoch %d (instance %s)", self.epoch, self.instance_id)
        self.watcher.prime()
        self._load()
        self.last_step_at = time.monotonic()
        self.metrics.load_last_success(self.store.last_success_times())
        self.pruner.start()
        self.deliverer.start()
        self.watcher.start()
        self.hooks.start()
        master = self.master_spec
        if master == "local":
            master = self._start_local_master()
        framework_id = self._stored_framework_id()
        settings = self.settings

        def wants_gpus() -> bool:
            # Also called on the client's event thread: list() copies the engine's dict in
            # one step under the GIL, and the specs in it are frozen.
            return any(job.resources.gpus > 0 for job in list(self.engine.jobs.values()))

        # The default role first: the order means nothing to Mesos, but a single-role master
        # (the local one) offers for the first.
        info = framework_info(
            name=settings.framework_name,
            roles=(settings.default_role, *settings.framework_roles),
            user=settings.framework_user,
            principal=settings.principal,
            failover_timeout=settings.failover_timeout,
            framework_id=framework_id,
            webui_url=settings.ui_url + "/",
            gpus=wants_gpus(),
        )
        self.adapter = FrameworkAdapter(
            self.submit_nowait,
            self._framework_registered,
            self.engine.jobs.get,
            on_fault=self.job_faulted,
            on_removed=self.framework_health.removed,
            on_error=self.framework_health.failed,
            default_role=settings.default_role,
            wants_gpus=wants_gpus,
        )
        # A framework the master removed is replaced by a new one (see moroccron.framework_health).
        self.client = MesosSchedulerClient(
            master,
            info,
            self.adapter,
            principal=settings.principal,
            secret=settings.secret,
            register_when_removed=True,
            tls=settings.mesos_uses_tls,
            ca_file=settings.mesos_ca_file,
            client_cert=settings.mesos_client_cert,
            client_key=settings.mesos_client_key,
        )
        self.adapter.client = self.client
        self._thread = threading.Thread(target=self._loop, name="moroccron-engine", daemon=True)
        self._thread.start()
        from moroccron.zk import redact

        log.info(
            "connecting to Mesos master %s%s",
            redact(master) if master.startswith("zk://") else master,
            f" with FrameworkID {framework_id}" if framework_id else "",
        )
        self.client.start()

    def _stored_framework_id(self) -> str | None:
        """The FrameworkID from the database, else from ZooKeeper; the database wins."""
        stored = self.store.get_framework_id()
        kept = self.leadership.framework_id() if self.leadership is not None else None
        if stored and kept and stored != kept:
            log.warning(
                "FrameworkID %s in the database differs from %s in ZooKeeper; using the database's", stored, kept
            )
        if not stored and kept:
            log.warning("no FrameworkID in the database; using %s from ZooKeeper", kept)
            self.store.set_framework_id(kept)
        return stored or kept

    def _framework_registered(self, framework_id: str) -> None:
        self._save_framework_id(framework_id)
        self.framework_health.registered(framework_id)

    def _save_framework_id(self, framework_id: str | None) -> None:
        self.store.set_framework_id(framework_id)
        if self.leadership is not None:
            self.leadership.set_framework_id(framework_id)

    def _start_local_master(self) -> str:
        from moroccron.mesos.local import AgentSpec, LocalMaster

        work_dir = Path(self.settings.local_work_dir).resolve()
        agents = AgentSpec.from_machine(count=self.settings.local_agents, work_dir=work_dir)
        self.local_master = LocalMaster(host="127.0.0.1", port=0, agents=agents, work_dir=work_dir).start()
        log.info(
            "local Mesos master on http://%s with %d agent(s), sandboxes under %s",
            self.local_master.address,
            len(agents),
            work_dir,
        )
        return str(self.local_master.address)

    def stop(
        self, *, teardown: bool = False, release: Callable[[], None] | None = None, flush_outbox: float = 0.0
    ) -> None:
        """Stop scheduling, in the order a clean hand-over needs.

        1. No new work: :meth:`submit` refuses, the job watcher and the pruner stop.
        2. The step in progress is finished and committed (its launches left to the next
           leader's reconciliation if they had not gone out yet).
        3. The Mesos connection is closed. The framework stays (its tasks keep running for
           ``failover_timeout``) unless ``teardown``. Closed before the leadership ends, so
           that this client cannot subscribe again over its successor.
        4. ``release`` (the leadership: ZooKeeper node, database lease): from here a standby takes over.
        5. The outbox is flushed for at most ``flush_outbox`` seconds; the rest stops.
        """
        self._stop.set()
        self._queue.put(_Request(Tick()))
        self.watcher.stop()
        self.pruner.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._fail_waiting()
        if self.client is not None:
            if teardown:
                try:
                    self.client.teardown()
                except Exception as exc:  # best effort on the way out
                    log.warning("teardown failed: %s", exc)
            self.client.stop()
        if release is not None:
            release()
        self.deliverer.stop(flush=flush_outbox if not self._fenced else 0.0)
        self.hooks.stop()
        if self._packer is not None:
            self._packer.shutdown(wait=False, cancel_futures=True)
        if self.local_master is not None:
            self.local_master.stop()

    def _fail_waiting(self) -> None:
        """Answer the requests queued after the last step: this instance will not take them."""
        stopping = StaleEpoch("this instance is stopping: retry in a few seconds, with the next leader")
        while True:
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                return
            if req.reply is not None and not req.reply.done():
                req.reply.set_exception(stopping)

    @property
    def fenced(self) -> bool:
        """Whether this instance's leadership ended under it (another leader, a lost session or lease)."""
        return self._fenced

    # ------------------------------------------------------------------ input

    def submit_nowait(self, event: Event) -> None:
        """Queue an event for the engine (any thread)."""
        self._queue.put(_Request(event))

    def submit(self, event: Event, timeout: float = 10.0) -> list[Action]:
        """Queue an event and wait until its step is committed; return its actions.

        :raises StaleEpoch: this instance's leadership has ended.
        """
        if self._fenced:
            raise StaleEpoch("this instance is no longer the leader")
        if self._stop.is_set():
            raise StaleEpoch("this instance is stopping: retry in a few seconds, with the next leader")
        reply: Future[list[Action]] = Future()
        self._queue.put(_Request(event, reply))
        return reply.result(timeout=timeout)

    def job_changed(self, job: JobSpec) -> None:
        self.submit_nowait(JobPut(job))

    def job_removed(self, name: str) -> None:
        self.metrics.forget_job(name)
        self.submit_nowait(JobRemoved(name))

    def job_faulted(self, name: str, reason: str) -> None:
        """Something outside the engine could not be done for job ``name``: set it aside (any thread)."""
        self.submit_nowait(Quarantine(name, reason))

    def job_invalid(self, name: str, problem: str) -> None:
        """A stored job cannot be read (changed by hand in SQL, say): set it aside (any thread)."""
        if name not in self.engine.quarantined:
            self.submit_nowait(Quarantine(name, problem))

    # ------------------------------------------------------------------ the loop

    def _load(self) -> None:
        unreadable: dict[str, str] = {}
        jobs = tuple(self.store.all_jobs(invalid=unreadable))
        states = {name: last for name, (last, _nxt) in self.store.get_job_states().items() if last is not None}
        runs = tuple(self.store.unfinished_runs())
        last_final = self.store.last_final_runs()
        quarantined = {name: reason for name, (reason, _at) in self.store.job_errors().items()}
        loaded = Loaded(
            jobs,
            states,
            runs,
            last_final,
            self.store.get_dependency_progress(),
            self.store.consecutive_failures(),
            quarantined,
        )
        actions = self.engine.step(self.clock(), loaded)
        for name, problem in unreadable.items():
            if name not in quarantined:  # newly unreadable: recorded, and its owners told, once
                actions.extend(self.engine.step(self.clock(), Quarantine(name, problem)))
        self._execute(actions)
        self.snapshot = self.engine.snapshot(self.clock())
        # What was just loaded lives as long as the leadership: keep it out of the cyclic
        # collector's full passes, which at 10,000 jobs would otherwise take 0.1 s each,
        # at any moment, including the second thousands of runs are due.
        gc.freeze()
        # The load's scaffolding (decoded JSON, rows) is garbage now: give its pages back,
        # or the process keeps the size of the load's peak for the whole leadership.
        release_free_memory()
        log.info("loaded %d jobs, %d unfinished runs", len(jobs), len(runs))

    def _loop(self) -> None:
        while not self._stop.is_set():
            batch = self._next_batch()
            if batch is None:
                break
            try:
                if self._process(batch):
                    self._fault_pause = 0.0
                    self.last_step_at = time.monotonic()  # readiness: the loop does its job
                else:  # the engine reported a fault of its own: it may recur on the next step at once
                    self._pause_after_fault()
            except StaleEpoch as exc:
                self._fence(str(exc), batch)
                return
            except Conflict as exc:
                self._replay_after_conflict(batch, exc)
            except Exception as exc:  # the loop must survive anything a step throws
                self.faults += 1
                self._throttle.log(
                    ("step", type(exc).__name__), logging.ERROR, "scheduler step failed: %s", _short(exc), exc_info=True
                )
                self._fail(batch, exc)
                self._pause_after_fault()

    def _next_batch(self) -> list[_Request] | None:
        """Wait for the next request (or the engine's next wake-up: a Tick) and take what else
        is queued, up to BATCH_MAX; None once the instance is stopping (the request is refused)."""
        wake = self.engine.next_wakeup(self.clock())
        timeout = 60.0 if wake is None else min(60.0, max(0.0, (wake - self.clock()).total_seconds()))
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            first = _Request(Tick())
        if self._stop.is_set():
            self._fail([first], StaleEpoch("this instance is stopping: retry in a few seconds, with the next leader"))
            return None
        batch = [first]
        while len(batch) < BATCH_MAX:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _replay_after_conflict(self, batch: list[_Request], exc: Conflict) -> None:
        """The store disagrees with the engine (another writer got there first): the store is
        the truth; rebuild from it and reconcile. Nothing of the batch was written, so its
        events (a kill someone asked for, a status update) are stepped again, once, on the
        rebuilt state."""
        log.error("state conflict (%s); reloading from the database", exc)
        self._safely(self.reload)
        again = [req for req in batch if not req.replayed]
        self._fail([req for req in batch if req.replayed], exc)
        for req in again:
            req.replayed = True
            self._queue.put(req)

    def _pause_after_fault(self) -> None:
        """A fault that comes back at once must not turn the loop into a busy one."""
        self._fault_pause = min(FAULT_PAUSE_MAX, max(0.05, self._fault_pause * 2))
        self._stop.wait(self._fault_pause)

    def _safely(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except StaleEpoch:
            raise
        except Exception as exc:
            self._throttle.log(
                ("safely", fn.__name__), logging.ERROR, "%s failed: %s", fn.__name__, _short(exc), exc_info=True
            )

    @staticmethod
    def _fail(batch: Sequence[_Request], exc: BaseException) -> None:
        for req in batch:
            if req.reply is not None and not req.reply.done():
                req.reply.set_exception(exc)

    def _process(self, batch: Sequence[_Request]) -> bool:
        """Step the engine through ``batch`` and carry out what it decided; False if the
        engine reported a fault of its own (not one job's)."""
        actions: list[Action] = []
        failed = False
        replies: list[tuple[Future[list[Action]], list[Action]]] = []
        # No collector pause between the tick and the ACCEPTs: it resumes right after them.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for req in batch:
                try:
                    step = self.engine.step(self.clock(), req.event)
                except Exception as exc:
                    # The engine isolates each job's errors itself; this is a fault in the
                    # engine's own machinery. Only this event is dropped, not the batch.
                    self._engine_fault(
                        EngineFault(
                            f"event:{type(req.event).__name__}:{type(exc).__name__}",
                            f"handling {type(req.event).__name__} raised {_short(exc)}",
                            "".join(traceback.format_exception(exc)),
                        )
                    )
                    if req.reply is not None and not req.reply.done():
                        req.reply.set_exception(exc)
                    failed = True
                    continue
                actions.extend(step)
                if req.reply is not None:
                    replies.append((req.reply, step))
            self._execute(actions, after_accepts=gc.enable if collecting else None)
        finally:
            if collecting:
                gc.enable()
        self.snapshot = self.engine.snapshot(self.clock())
        for fut, step in replies:
            fut.set_result(step)
        return not (failed or any(isinstance(a, EngineFault) for a in actions))

    def _execute(self, actions: Sequence[Action], after_accepts: Callable[[], None] | None = None) -> None:
        """Commit the state changes, then make the Mesos calls, then log and call hooks
        (:func:`~moroccron.plan.plan_step` says which is which).

        The Mesos calls come before the bookkeeping so that the runs due in a second are
        launched as soon as they are recorded, not after thousands of log lines, metric
        updates and plugin calls. Launches prepared ahead of their second were recorded
        (QUEUED) when prepared; that they were launched (:class:`Launched`) is written just
        after the ACCEPTs, once this leader's epoch has been checked. ``after_accepts`` is
        called as soon as the ACCEPTs are out.

        A job whose records the database refuses is quarantined and its runs are left out
        of the launches: nothing is sent to Mesos that is not recorded.
        """
        if self._fenced:
            return
        plan = plan_step(actions)
        unrecorded = self._commit(plan.saves)
        if plan.recorded_after and not plan.saves:
            self._retry_db(lambda: self.store.check_epoch(self.epoch))
        connected = self.adapter is not None and self.client is not None  # None while loading
        if connected:
            self._send_launches(plan.launches, unrecorded)
        if after_accepts is not None:
            after_accepts()
        if connected and not self._perform(plan.calls):
            return  # leadership ended during this step
        self._commit(plan.recorded_after)
        self._report(plan.after)

    def _send_launches(self, launches: Sequence[Launch], unrecorded: set[str]) -> None:
        """All of a step's ACCEPTs at once, but for the runs of jobs that could not be recorded."""
        if unrecorded:
            launches, emptied = _without_jobs(launches, unrecorded)
            if emptied:
                self._safely(lambda: self.adapter.perform(Decline(tuple(emptied), 1.0)))
        if not launches or self._fenced or self._stop.is_set():
            return
        try:
            failed: list[tuple[Launch, BaseException]] = self.adapter.launch_all(launches)
        except Exception as exc:
            failed = [(launch, exc) for launch in launches]
        for launch, error in failed:
            # Whether the master got it is unknown: ask about its tasks at once (one it
            # never heard of is launched again, under a new task id).
            self._throttle.log(
                ("accept", type(error).__name__),
                logging.WARNING,
                "Mesos ACCEPT of offer %s (%d tasks) failed: %s; reconciling them",
                launch.offer_id,
                len(launch.runs),
                _short(error),
            )
            self.submit_nowait(ReconcileTasks(tuple(r.task_id for r in launch.runs)))
            # If the master never got it, the offer is still ours: give it back, or the
            # master keeps those resources for us until the offer times out (never, by
            # default). A decline of an offer the master did use is ignored by it.
            self._safely(
                lambda offer_id=launch.offer_id: self.adapter.perform(  # type: ignore[misc]
                    Decline((offer_id,), 1.0)
                )
            )

    def _perform(self, calls: Sequence[Action]) -> bool:
        """The step's other Mesos calls, in order; False if leadership ended meanwhile."""
        for action in calls:
            if self._fenced:
                return False  # leadership ended during this step: not one more call to Mesos
            if self._stop.is_set():
                break  # shutting down: the next leader (or this one, restarted) reconciles
            try:
                self.adapter.perform(action)
            except Exception as exc:
                # Whether it reached the master is unknown: ask about the task it was about.
                self._throttle.log(
                    ("call", type(action).__name__, type(exc).__name__),
                    logging.WARNING,
                    "Mesos call %s failed: %s",
                    type(action).__name__,
                    _short(exc),
                )
                if isinstance(action, Kill):
                    self.submit_nowait(ReconcileTasks((action.task_id,)))
        return True

    def _report(self, after: Sequence[Action]) -> None:
        """Log and count what the step recorded, and hand its domain events to the plugins."""
        for action in after:
            if isinstance(action, SaveRun):
                self.dispatcher.observe(action.run)
            elif isinstance(action, Launched):
                for run in action.runs:
                    self.dispatcher.observe(run)
            elif isinstance(action, DisableJob):
                log.warning("job %s %s", action.job, action.reason)
            elif isinstance(action, JobQuarantined):
                self.faults += 1
                log.error(
                    "job %s quarantined: %s. It is not scheduled until it is changed or enabled again.\n%s",
                    action.name,
                    action.reason,
                    action.detail.rstrip(),
                )
            elif isinstance(action, JobRestored):
                log.info("job %s was changed or enabled: its quarantine is lifted", action.name)
            elif isinstance(action, EngineFault):
                self._engine_fault(action)
            if isinstance(action, DOMAIN_EVENTS):
                self.dispatcher.dispatch(action)

    def _engine_fault(self, fault: EngineFault) -> None:
        self.faults += 1
        if (
            self._throttle.log(("engine", fault.key), logging.ERROR, "scheduler fault: %s", fault.reason)
            and fault.detail
        ):
            log.debug("%s", fault.detail.rstrip())

    def _commit(self, saves: Sequence[Action]) -> set[str]:
        """Write a step's state changes in one transaction; return the jobs whose changes
        could not be written (they are quarantined instead).

        When the transaction as a whole is refused for something other than an outage
        (a value the database will not store, a job deleted meanwhile), each job's
        changes are written apart, so one job's bad record costs that job only.
        """
        if not saves:
            return set()
        try:
            self._retry_db(lambda: self._write(saves))
            return set()
        except (StaleEpoch, Conflict):
            raise
        except Exception as exc:
            if self._stop.is_set():
                raise
            self._throttle.log(
                ("commit", type(exc).__name__),
                logging.WARNING,
                "recording a step failed (%s); recording each job's changes apart",
                _short(exc),
            )
        return self._commit_apart(saves)

    def _commit_apart(self, saves: Sequence[Action]) -> set[str]:
        """Write each job's changes in a transaction of its own; quarantine the jobs whose
        changes the database refuses, and return them."""
        by_job: dict[str, list[Action]] = {}
        for a in saves:
            by_job.setdefault(_job_of(a), []).append(a)
        unrecorded: set[str] = set()
        conflict: Conflict | None = None
        for name, group in by_job.items():
            try:
                self._retry_db(lambda group=group: self._write(group))  # type: ignore[misc]
            except StaleEpoch:
                raise
            except Conflict as exc:
                conflict = exc
            except NotFound:
                unrecorded.add(name)  # deleted meanwhile: nothing of it needs recording
            except Exception as exc:
                unrecorded.add(name)
                self._quarantine_now(name, f"the database refused its records: {_short(exc)}")
        if conflict is not None:
            raise conflict
        return unrecorded

    def _quarantine_now(self, name: str, reason: str) -> None:
        """Quarantine ``name`` within this step, and record it (once: no recursion on failure)."""
        actions = self.engine.step(self.clock(), Quarantine(name, reason))
        records = [a for a in actions if isinstance(a, STATE_ACTIONS)]
        # The runs' records may be what the database refuses: the quarantine itself, at least.
        for attempt in (records, [a for a in records if not isinstance(a, SaveRun)]):
            try:
                self._retry_db(lambda attempt=attempt: self._write(attempt))  # type: ignore[misc]
                break
            except StaleEpoch:
                raise
            except Exception as exc:
                log.error(
                    "job %s: could not record its quarantine%s (%s)",
                    name,
                    "" if attempt is records else " either",
                    _short(exc),
                )
        for a in actions:
            if isinstance(a, JobQuarantined):
                self.faults += 1
                log.error("job %s quarantined: %s", name, a.reason)
            elif (
                not isinstance(a, (*STATE_ACTIONS, *DOMAIN_EVENTS))
                and self.adapter is not None
                and self.client is not None
            ):
                self._safely(lambda a=a: self.adapter.perform(a))  # type: ignore[misc]

    def _write(self, saves: Sequence[Action]) -> None:
        w = _Writes.of(saves, self.clock())
        with self.store.unit_of_work() as uow:
            uow.save_runs(
                [r for r, new in w.runs.values() if new],
                [r for r, new in w.runs.values() if not new],
                epoch=self.epoch,
            )
            if w.states:
                uow.set_job_states(w.states, epoch=self.epoch)
            if w.errors:
                uow.set_job_errors(w.errors, epoch=self.epoch)
            for a in w.others:
                if isinstance(a, SaveDependency):
                    uow.set_dependency_progress(a.child, a.parent, a.task_id, a.at, epoch=self.epoch)
                elif isinstance(a, ClearDependency):
                    uow.clear_dependency_progress(a.child, epoch=self.epoch)
                elif isinstance(a, DisableJob):
                    uow.set_disabled(a.job, True)
                else:
                    self._queue_notice(uow, a)

    def _queue_notice(self, uow: NotificationQueue, action: Action) -> None:
        """Queue to the outbox, in the step's unit of work, what people are to hear of ``action``."""
        if isinstance(action, JobQuarantined):
            job = action.job  # as the engine knew it before setting it aside
        elif isinstance(action, NOTICES):
            job = self.engine.jobs.get(action.job.name)  # as it is now (a removed job is not told about)
        else:
            return
        note = notice(action, job, self._known_owners) if job is not None else None
        if job is None or note is None:
            return
        uow.enqueue_notification(
            note.event,
            job.name,
            note.run.task_id if note.run else None,
            payload_for(job, note.run, note.details),
            now=self.clock(),
            epoch=self.epoch,
        )
        self.deliverer.wake()

    def _retry_db(self, write: Callable[[], None]) -> None:
        """Run ``write`` until the database takes it, while the database is unreachable.

        Only an outage is waited out; anything else (fencing, a conflict, a value the
        database refuses) is raised at once, for the caller to isolate.
        """
        delay = 0.2
        while True:
            try:
                write()
                return
            except Exception as exc:
                if not _transient(exc) or self._stop.is_set():
                    raise
                log.error(
                    "database unavailable (%s); retrying in %.1fs, nothing is launched meanwhile", _short(exc), delay
                )
                time.sleep(delay)
                delay = min(delay * 2, DB_RETRY_MAX)

    def _known_owners(self) -> dict[str, Owner]:
        """The registered owners, read again at most every 30 s."""
        if time.monotonic() - self._owners_at > 30:
            self._owners = {o.id: o for o in self.store.list_owners()}
            self._owners_at = time.monotonic()
        return self._owners

    def _stderr_tail(self, run: Run, lines: int = 20) -> list[str]:
        from moroccron.mesos.sandbox import SandboxReader

        master = self.client.master if self.client else None
        framework_id = self.store.get_framework_id()
        if not master or not framework_id or not run.agent_id:
            return []
        piece = SandboxReader(master, timeout=3.0).read(
            run.agent_id, framework_id, run.task_id, "stderr", offset=-1, length=8192
        )
        return piece.data.splitlines()[-lines:]

    def fence(self, reason: str) -> None:
        """Stop launching now (leadership lost); callable from any thread, returns at once."""
        if self._fenced:
            return
        self._fenced = True
        log.critical("leadership lost (%s): this instance stops scheduling", reason)
        self._stop.set()
        self._queue.put(_Request(Tick()))
        if self.client is not None:
            threading.Thread(target=self.client.stop, daemon=True).start()

    def _fence(self, reason: str, batch: Sequence[_Request]) -> None:
        """Another leader has taken over: stop launching at once, keep nothing half done."""
        self._fenced = True
        log.critical("leadership lost (%s): this instance stops scheduling", reason)
        self._fail(batch, StaleEpoch(f"leadership lost: {reason}"))
        if self.client is not None:
            threading.Thread(target=self.client.stop, daemon=True).start()
        if self.on_fenced is not None:
            self.on_fenced(reason)

    def reload(self) -> None:
        """Rebuild the engine from the store (after a conflict) and reconcile again."""
        self._load()
        if self.client is not None and self.client.connected and self.client.framework_id:
            self.submit_nowait(Subscribed(self.client.framework_id))

    def _pack(self, runs: Any, offers: Any, jobs: Any) -> Any:
        """The configured strategy's plan; the built-in first-fit's if a plugin strategy fails or hangs."""
        from moroccron.packing import STRATEGIES, first_fit

        strategy = self.settings.packing
        if strategy in STRATEGIES:  # built in: no thread hop on the second
            return self.plugins.pack_offers(runs=runs, offers=offers, jobs=jobs, strategy=strategy)
        if time.monotonic() >= self._packer_suspended_until:
            from concurrent.futures import ThreadPoolExecutor
            from concurrent.futures import TimeoutError as FutureTimeout

            if self._packer is None:
                self._packer = ThreadPoolExecutor(1, thread_name_prefix="moroccron-packing")
            future = self._packer.submit(
                self.plugins.pack_offers, runs=runs, offers=offers, jobs=jobs, strategy=strategy
            )
            try:
                return future.result(timeout=PACKING_TIMEOUT)
            except FutureTimeout:
                # Its thread is stuck in the plugin: leave it there, and the plugin alone for a while.
                self._packer.shutdown(wait=False, cancel_futures=True)
                self._packer = None
                self._packer_suspended_until = time.monotonic() + PACKING_SUSPEND
                self.faults += 1
                log.error(
                    "packing strategy %r did not answer within %.0fs; using first-fit for the next %.0fs",
                    strategy,
                    PACKING_TIMEOUT,
                    PACKING_SUSPEND,
                )
            except (PluginError, ValidationError) as exc:
                self.faults += 1
                self._throttle.log(
                    ("packing", type(exc).__name__),
                    logging.ERROR,
                    "packing strategy %r failed (%s); these runs are placed by first-fit",
                    strategy,
                    exc,
                )
        return first_fit(runs, offers, jobs)

    # ------------------------------------------------------------------ introspection

    def readiness(self) -> list[str]:
        """Why this leader cannot do its job now (empty: it can); see moroccron.readiness."""
        if self._fenced:
            return ["this instance lost its leadership and is stopping"]
        if self._stop.is_set():
            return ["this instance is stopping"]
        reasons = self.framework_health.reasons()
        client = self.client
        if not reasons and not (client is not None and client.connected):
            reasons.append("not subscribed to a Mesos master")
        limit = self.settings.ready_step_seconds
        age = None if self.last_step_at is None else time.monotonic() - self.last_step_at
        if age is None:
            reasons.append("the scheduler has not loaded its jobs and runs yet")
        elif age > limit:
            reasons.append(
                f"the last successful scheduler step was {age:.0f}s ago (ready_step_seconds is "
                f"{limit:g}): steps fail or hang, see the log"
            )
        return reasons

    def status(self) -> dict[str, Any]:
        """For /api/v1/status and the gauges of /metrics: read from the last snapshot, on any thread."""
        client = self.client
        snap = self.snapshot
        return {
            "leader": not self._fenced,
            "instance": self.instance_id,
            "epoch": self.epoch,
            "framework_id": client.framework_id if client else None,
            "master": client.master if client else None,
            "connected": bool(client and client.connected),
            "queue": snap.queue,
            "prepared": snap.prepared,
            "offers_held": snap.offers_held,
            "tasks_running": snap.tasks_running,
            "jobs": snap.jobs,
            "reconciling": snap.reconciling,
            "quarantined": dict(sorted(snap.quarantined.items())[:QUARANTINED_SHOWN]),
            "quarantined_count": len(snap.quarantined),
            "faults": self.faults,
            "hooks_abandoned": self.hooks.abandoned,
            "plugins_disabled": dict(self.plugins.disabled),
            "local_master": self.local_master.url if self.local_master else None,
            **self.framework_health.status(),
            "last_step_seconds_ago": (
                round(time.monotonic() - self.last_step_at, 3) if self.last_step_at is not None else None
            ),
        }


QUARANTINED_SHOWN = 100
"""Quarantined jobs listed by name in the status (all are counted)."""


@dataclass
class _Writes:
    """A step's records grouped for one transaction: the last state of each run (and whether
    it is new), each job's schedule state and error, and the rest (dependency progress,
    disables and notices) in order."""

    runs: dict[str, tuple[Run, bool]] = field(default_factory=dict)
    states: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)
    errors: dict[str, tuple[str, datetime] | None] = field(default_factory=dict)
    others: list[Action] = field(default_factory=list)

    @classmethod
    def of(cls, saves: Sequence[Action], now: datetime) -> _Writes:
        w = cls()
        for a in saves:
            if isinstance(a, SaveRun):
                prev = w.runs.get(a.run.task_id)
                w.runs[a.run.task_id] = (a.run, a.new or (prev[1] if prev else False))
            elif isinstance(a, SaveJobState):
                w.states[a.job] = (a.last_scheduled_at, a.next_fire_at)
            elif isinstance(a, JobQuarantined):
                w.errors[a.name] = (a.reason, now)
                w.others.append(a)
            elif isinstance(a, JobRestored):
                w.errors[a.name] = None
            else:
                w.others.append(a)
        return w


def _job_of(action: Action) -> str:
    """The job a state-changing action is about."""
    if isinstance(action, SaveRun):
        return action.run.job
    if isinstance(action, (SaveDependency, ClearDependency)):
        return action.child
    if isinstance(action, (JobQuarantined, JobRestored)):
        return action.name
    if isinstance(action, NOTICES):
        return action.job.name
    return getattr(action, "job", "")  # SaveJobState, DisableJob


def _without_jobs(launches: Sequence[Launch], jobs: set[str]) -> tuple[list[Launch], list[str]]:
    """``launches`` without the runs of ``jobs``; and the offers left with no run at all."""
    kept: list[Launch] = []
    emptied: list[str] = []
    for launch in launches:
        runs = tuple(r for r in launch.runs if r.job not in jobs)
        if runs:
            kept.append(
                launch
                if len(runs) == len(launch.runs)
                else Launch(launch.offer_id, launch.agent_id, launch.hostname, runs)
            )
        else:
            emptied.append(launch.offer_id)
    return kept, emptied


def _transient(exc: BaseException) -> bool:
    """Whether a database error is an outage to wait out (as opposed to a refused record)."""
    from sqlalchemy import exc as sa

    if isinstance(exc, sa.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc, (sa.OperationalError, sa.InterfaceError))
    return isinstance(exc, (sa.TimeoutError, sa.DisconnectionError, ConnectionError, TimeoutError))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def check_exposure(settings: Settings, auth: Any) -> None:
    """Refuse to serve an unauthenticated API beyond this machine unless told to."""
    import ipaddress

    host = settings.bind_host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not auth.enabled and not settings.insecure:
        raise ValidationError.single(
            "bind",
            "refusing to listen beyond this machine without authentication: anyone who reaches it "
            "could run commands on your cluster. Configure auth_file (or MOROCCRON_AUTH_TOKENS / "
            "MOROCCRON_AUTH_USERS), or pass --insecure",
            settings.bind,
            "a loopback address, or auth configured",
        )
    if not loopback and not auth.enabled:
        log.warning("serving %s WITHOUT authentication (--insecure)", settings.bind)


def serve(settings: Settings, *, plugins: PluginManager | None = None, ready: threading.Event | None = None) -> int:
    """``moroccron serve``: the HTTP API on every instance, the scheduler on the leader.

    Instances elect a leader through ZooKeeper with ``--zk``, else through a lease in the
    database (moroccron/lease.py); a standby serves reads, sends writes to the leader, and
    takes over when the leader goes. Nothing claims leadership before everything that
    can fail at start-up has succeeded: the port is bound first, then the schema is
    migrated, job modules applied and plugins started. A leader that loses its
    leadership (ZooKeeper session, lease) stops launching at once and exits with status
    1 so its supervisor restarts it as a standby. SIGTERM or SIGINT stops cleanly, hands
    over and exits 0 (see moroccron/instance.py); a second signal exits at once.
    """
    from moroccron.api.server import bind_listener
    from moroccron.auth import Authenticator
    from moroccron.signals import StoppedDuringStart, StopSignals

    logging.getLogger().setLevel(settings.log_level.upper())
    auth = Authenticator.from_sources(settings.auth_file)
    try:
        check_exposure(settings, auth)
        # The port before anything else: a second instance started by mistake on the same
        # address fails here, before it has touched the database or anyone's leadership.
        listener = bind_listener(settings.bind)
        signals = StopSignals()
        signals.install()
        try:
            return _serve(settings, plugins, ready, auth, listener, signals)
        except StoppedDuringStart as stopped:
            log.info("%s received during start-up: stopped before contending for leadership", stopped)
            return 0
        finally:
            signals.restore()
            listener.close()
    finally:
        auth.close()  # queued credential checks are dropped, not finished


def _serve(
    settings: Settings,
    plugins: PluginManager | None,
    ready: threading.Event | None,
    auth: Any,
    listener: socket.socket,
    signals: StopSignals,
) -> int:
    import uvicorn

    from moroccron.api.app import create_app
    from moroccron.api.deps import AppContext
    from moroccron.api.server import GRACEFUL_SECONDS, HttpServer
    from moroccron.definitions import apply_definitions, load_definitions
    from moroccron.instance import Instance
    from moroccron.metrics import Metrics
    from moroccron.store import Store

    plugins = plugins or PluginManager(disabled=settings.disable_plugins)
    store = Store(settings.db, pool_size=settings.db_pool_size, max_overflow=settings.db_pool_size)
    try:
        store.ensure_schema()
        if auth.enabled:
            from moroccron.store.sessions import sync_principals

            revoked = sync_principals(store, auth.roles())  # removed users and changed roles: their sessions end
            if revoked:
                log.info("UI sessions revoked (removed from the auth config or role changed): %s", ", ".join(revoked))
        if settings.jobs:
            plan = apply_definitions(store, load_definitions(settings.jobs), plugins=plugins)
            for line in plan.lines():
                log.info("jobs: %s", line)
            log.info("jobs from %s: %s", ", ".join(settings.jobs), plan.summary())
        plugins.startup(config=settings, store=store)
        try:
            instance_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
            # A standby still answers /metrics (leader 0), so monitoring sees every instance up.
            context = AppContext(
                settings,
                store,
                plugins,
                None,
                auth=auth,
                metrics=Metrics(status=lambda: {"leader": False, "connected": False}),
            )
            config = uvicorn.Config(
                create_app(context),
                host=settings.bind_host,
                port=settings.bind_port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=GRACEFUL_SECONDS,
            )
            server = HttpServer(config)
            instance = Instance(settings, store, plugins, context, server, instance_id=instance_id)
            signals.on_stop(instance.stop)
            instance.start()
            log.info("API and UI on http://%s", settings.bind)
            if ready is not None:
                ready.set()
            try:
                server.run(sockets=[listener])
            finally:
                instance.stop("the HTTP server stopped")
            return instance.outcome
        finally:
            _shutdown_plugins(plugins, settings)
    finally:
        store.close()


def _shutdown_plugins(plugins: PluginManager, settings: Settings) -> None:
    """``moroccron_shutdown``, within ``hook_timeout_seconds``: a plugin must not keep the process from exiting."""
    from moroccron.hooks.runner import HookTimeout, call_within

    try:
        call_within(settings.hook_timeout_seconds, lambda: plugins.shutdown(config=settings), "shutdown")
    except HookTimeout as exc:
        log.error("plugins' shutdown hooks: %s; exiting without them", exc)
