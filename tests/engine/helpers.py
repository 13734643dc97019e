"""A small simulated cluster around the pure Engine, for tests without sockets or sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from moroccron.dispatch import hook_name
from moroccron.engine import Engine
from moroccron.events import (
    NOTICES,
    Acknowledge,
    Decline,
    EngineFault,
    JobQuarantined,
    Kill,
    Launch,
    Loaded,
    OffersReceived,
    Reconcile,
    Revive,
    SaveRun,
    StatusUpdate,
    Subscribed,
    Suppress,
    Tick,
)
from moroccron.hooks.types import Offer
from moroccron.model import Resources, RunState
from moroccron.packing import first_fit
from moroccron.plan import plan_step
from moroccron.routing import Notice, notice

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def offer(n: int, agent: str = "a1", cpus: float = 8.0, mem: float = 8192.0) -> Offer:
    return Offer(
        id=f"offer-{n}",
        agent_id=agent,
        hostname=f"{agent}.local",
        resources=Resources.unchecked(cpus, mem, 10000.0, 0.0),
    )


class Sim:
    """Feeds an Engine; keeps every action; plays a master that offers on demand."""

    def __init__(
        self,
        jobs,
        *,
        now=T0,
        last_scheduled=None,
        runs=(),
        horizon=2.0,
        connect=True,
        prepare=0.0,
        faults_expected=False,
    ):
        # An error the engine isolates (JobQuarantined, EngineFault) is a bug in a test that
        # does not inject one on purpose: fail loudly instead of letting the guard hide it.
        self.faults_expected = faults_expected
        self.engine = Engine(lambda t, o, j: first_fit(t, o, j), offer_horizon=horizon, prepare_horizon=prepare)
        self.now = now
        self.actions: list = []
        self.saved: dict[str, object] = {}
        self.launched: list[str] = []
        self.killed: list[str] = []
        self.offer_seq = 0
        self.step(Loaded(tuple(jobs), dict(last_scheduled or {}), tuple(runs)))
        if connect:
            self.step(Subscribed("fw-1"))

    def step(self, event):
        acts = self.engine.step(self.now, event)
        if not self.faults_expected:
            faults = [a for a in acts if isinstance(a, (JobQuarantined, EngineFault))]
            assert not faults, f"unexpected fault: {faults[0].reason}\n{faults[0].detail}"
        self.actions.extend(acts)
        plan = plan_step(acts)  # carried out in the shell's order
        for a in plan.saves:
            if isinstance(a, SaveRun):
                if a.new:
                    assert a.run.task_id not in self.saved or self.saved[a.run.task_id].state == RunState.SKIPPED, (
                        f"run {a.run.task_id} created twice"
                    )
                self.saved[a.run.task_id] = a.run
        after = {a.run.task_id for a in plan.recorded_after}
        for launch in plan.launches:
            for r in launch.runs:
                assert r.task_id in after or self.saved[r.task_id].state == RunState.LAUNCHED, (
                    "launched before it was saved"
                )
                self.launched.append(r.task_id)
        for a in plan.calls:
            if isinstance(a, Kill):
                self.killed.append(a.task_id)
        for a in plan.recorded_after:  # prepared launches, recorded after the ACCEPT
            self.saved[a.run.task_id] = a.run
        return acts

    def advance(self, seconds: float):
        self.now += timedelta(seconds=seconds)
        return self.step(Tick())

    def give_offers(self, n: int = 1, **kw):
        offers = []
        for _ in range(n):
            self.offer_seq += 1
            offers.append(offer(self.offer_seq, **kw))
        return self.step(OffersReceived(tuple(offers)))

    def status(self, task_id: str, state: str, **kw):
        kw.setdefault("agent_id", "a1")
        return self.step(StatusUpdate(task_id=task_id, state=state, **kw))

    def finish(self, task_id: str, ok: bool = True):
        self.status(task_id, "TASK_RUNNING")
        return self.status(
            task_id,
            "TASK_FINISHED" if ok else "TASK_FAILED",
            exit_status=0 if ok else 1,
            message=None if ok else "Command exited with status 1",
        )

    def of(self, kind):
        return [a for a in self.actions if isinstance(a, kind)]

    def hooks(self, name: str) -> list:
        """The domain events that call hook ``name`` (e.g. ``moroccron_task_failed``)."""
        return [a for a in self.actions if hook_name(a) == name]

    def notices(self) -> list[Notice]:
        """The notifications the shell would queue (no registered owners)."""
        found = (notice(a, a.job, dict) for a in self.actions if isinstance(a, NOTICES))
        return [n for n in found if n is not None]

    def runs(self, job: str):
        return sorted((r for r in self.saved.values() if r.job == job), key=lambda r: (r.scheduled_at, r.attempt))


__all__ = ["Acknowledge", "Decline", "Kill", "Launch", "Reconcile", "Revive", "Sim", "Suppress", "T0", "offer"]
