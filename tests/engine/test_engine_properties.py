"""Property tests: whatever happens, no run is launched twice and no due run is dropped.

A fake master answers the engine's calls; the "store" is what the engine asked to
save. Restarts rebuild a fresh Engine from that store alone, as a new leader would.
Each property runs twice: with runs created on their second, and with launches
prepared ahead of it (``prepare_horizon``), where a crash may also lose the records of
the last step's launches that are written after their ACCEPT.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moroccron import Job
from moroccron.engine import Engine
from moroccron.events import (
    ClearDependency,
    Disconnected,
    EngineFault,
    JobQuarantined,
    Kill,
    Launch,
    Loaded,
    MarkSuccess,
    OffersReceived,
    Reconcile,
    RunRequested,
    SaveDependency,
    SaveJobState,
    SaveRun,
    StatusUpdate,
    Subscribed,
    Tick,
)
from moroccron.model import RunState, RunTrigger
from moroccron.packing import first_fit
from moroccron.plan import plan_step
from moroccron.schedule import parse_schedule
from tests.engine.helpers import T0, offer

JOBS = [
    Job(name="fast", command="x", schedule="*/3 * * * * *", catchup="all", retries=1, retry_delay_seconds=2),
    Job(name="minute", command="x", schedule="*/20 * * * * *", catchup="latest", concurrency="allow"),
    Job(name="skippy", command="x", schedule="*/5 * * * * *", catchup="none", concurrency="replace", timeout_seconds=4),
    Job(name="manual", command="x", retries=2, retry_delay_seconds=1),
    Job(name="child", command="x", parents=["manual", "fast"], concurrency="allow"),
]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.floats(min_value=0.05, max_value=7.0)),
        st.tuples(st.just("offers"), st.integers(min_value=1, max_value=3)),
        st.tuples(st.just("finish"), st.sampled_from(["TASK_FINISHED", "TASK_FAILED", "TASK_LOST", "TASK_RUNNING"])),
        st.tuples(st.just("run"), st.sampled_from([j.name for j in JOBS])),
        st.tuples(st.just("mark"), st.sampled_from(["manual", "fast"])),
        st.tuples(st.just("disconnect"), st.none()),
        st.tuples(st.just("restart"), st.floats(min_value=0.0, max_value=15.0)),
        st.tuples(st.just("crash_after_accept"), st.floats(min_value=0.05, max_value=3.0)),
    ),
    min_size=5,
    max_size=60,
)


class World:
    def __init__(self, prepare: float = 0.0):
        self.prepare = prepare
        self.recorded_after: list[tuple[str, object]] = []  # (task id, its record before) of the last step
        self.now = T0
        self.store: dict[str, object] = {}
        self.job_state: dict[str, object] = {}
        self.progress: dict[str, dict[str, tuple]] = {}
        self.master: dict[str, str] = {}  # task id -> Mesos state
        self.launches: list[str] = []
        self.pending_status: list[StatusUpdate] = []
        self.offer_n = 0
        self.engine = self._new_engine()

    def _new_engine(self) -> Engine:
        engine = Engine(lambda t, o, j: first_fit(t, o, j), prepare_horizon=self.prepare)
        runs = tuple(r for r in self.store.values() if not r.state.final)
        last_final = {}
        for r in self.store.values():
            if r.state.final:
                cur = last_final.get(r.job)
                if cur is None or (r.scheduled_at, r.attempt) > (cur.scheduled_at, cur.attempt):
                    last_final[r.job] = r
        self.engine = engine
        self.feed(
            Loaded(tuple(JOBS), dict(self.job_state), runs, last_final, {k: dict(v) for k, v in self.progress.items()})
        )
        self.feed(Subscribed("fw"))
        return engine

    def feed(self, event):
        self.recorded_after = []
        actions = self.engine.step(self.now, event)
        for action in actions:
            assert not isinstance(action, (JobQuarantined, EngineFault)), f"{action.reason}\n{action.detail}"
        plan = plan_step(actions)  # carried out as the shell does: saves, ACCEPTs, calls, then the rest
        for action in (*plan.saves, *plan.launches, *plan.calls):
            if isinstance(action, SaveRun):
                run = action.run
                if action.new:
                    assert run.task_id not in self.store, f"{run.task_id} created twice"
                self.store[run.task_id] = run
            elif isinstance(action, SaveDependency):
                self.progress.setdefault(action.child, {})[action.parent] = (action.task_id, action.at)
            elif isinstance(action, ClearDependency):
                self.progress.pop(action.child, None)
            elif isinstance(action, SaveJobState):
                if action.last_scheduled_at is not None:
                    self.job_state[action.job] = action.last_scheduled_at
            elif isinstance(action, Launch):
                for run in action.runs:
                    assert self.store[run.task_id].state in (RunState.LAUNCHED, RunState.QUEUED)
                    assert run.task_id not in self.launches, f"{run.task_id} launched twice"
                    self.launches.append(run.task_id)
                    self.master[run.task_id] = "TASK_STAGING"
            elif isinstance(action, Kill):
                if self.master.get(action.task_id) in ("TASK_STAGING", "TASK_RUNNING"):
                    self.master[action.task_id] = "TASK_KILLED"
                    self.pending_status.append(StatusUpdate(action.task_id, "TASK_KILLED", "a1"))
            elif isinstance(action, Reconcile):
                asked = [t for t, _ in action.tasks] if action.tasks else list(self.master)
                for task_id in asked:
                    state = self.master.get(task_id, "TASK_UNKNOWN")
                    self.pending_status.append(StatusUpdate(task_id, state, "a1", reason="REASON_RECONCILIATION"))
        for action in plan.recorded_after:  # written after the ACCEPT: a crash may lose it
            run = action.run
            if all(task_id != run.task_id for task_id, _ in self.recorded_after):
                self.recorded_after.append((run.task_id, self.store[run.task_id]))
            self.store[run.task_id] = run

    def lose_records_after_accept(self):
        """The leader died after the last step's ACCEPT, before writing that it launched."""
        for task_id, before in self.recorded_after:
            self.store[task_id] = before

    def deliver(self):
        while self.pending_status:
            self.feed(self.pending_status.pop(0))


@pytest.mark.parametrize("prepare", [0.0, 1.5], ids=["on-the-second", "prepared-ahead"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=ops)
def test_never_launched_twice_and_no_due_run_dropped(prepare, operations):
    w = World(prepare)
    for op, arg in operations:
        if op == "tick":
            w.now += timedelta(seconds=arg)
            w.feed(Tick())
        elif op == "offers":
            offers = []
            for _ in range(arg):
                w.offer_n += 1
                offers.append(offer(w.offer_n, cpus=0.25))
            w.feed(OffersReceived(tuple(offers)))
        elif op == "finish":
            live = [t for t, s in w.master.items() if s in ("TASK_STAGING", "TASK_RUNNING")]
            if live:
                task_id = live[0]
                w.master[task_id] = arg
                w.feed(StatusUpdate(task_id, arg, "a1", uuid="u"))
        elif op == "run":
            w.feed(RunRequested(arg))
        elif op == "mark":
            w.feed(MarkSuccess(arg))
        elif op == "disconnect":
            w.feed(Disconnected())
            w.feed(Subscribed("fw"))
        elif op == "restart":
            w.now += timedelta(seconds=arg)
            w._new_engine()
        elif op == "crash_after_accept":  # a tick's launches reach the master, their records do not
            w.now += timedelta(seconds=arg)
            w.feed(Tick())
            w.lose_records_after_accept()
            w.now += timedelta(seconds=1)
            w._new_engine()
        w.deliver()
        # 0. concurrency=forbid: never two tasks of the job alive at once (catch-up
        # runs of catchup=all wait for their turn)
        for job in JOBS:
            if job.concurrency == "forbid":
                alive = [
                    t
                    for t, s in w.master.items()
                    if t.split(".")[0] == job.name and s in ("TASK_STAGING", "TASK_RUNNING")
                ]
                assert len(alive) <= 1, f"{job.name}: {alive} alive together"

    # 1. launched at most once: asserted as actions arrived.
    # 2. every fire time up to the last one the engine materialised has a record.
    for job in JOBS:
        if not job.schedule:
            continue
        sched = parse_schedule(job.schedule, job.timezone)
        last = w.job_state.get(job.name)
        if last is None:
            continue
        due = sched.times_between(T0, last, 10_000)
        recorded = {r.scheduled_at for r in w.store.values() if r.job == job.name}
        missing = [t for t in due if t not in recorded]
        assert not missing, f"{job.name}: fire times with no run recorded: {missing[:5]}"
    # 3. a dependent run exists only after all its parents succeeded since the previous one
    child_runs = [r for r in w.store.values() if r.job == "child" and r.trigger == RunTrigger.DEPENDENCY]
    assert all(r.caused_by and r.caused_by.split(".")[0] in ("manual", "fast") for r in child_runs)
    # 4. every final run of a launched task agrees with what the master said.
    for task_id, state in w.master.items():
        run = w.store[task_id]
        if state == "TASK_FINISHED":
            assert run.state == RunState.SUCCEEDED
