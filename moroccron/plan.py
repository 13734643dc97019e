"""What the shell does with one step's actions, decided before any of it is done.

:func:`plan_step` is pure. It sorts the engine's actions (:mod:`moroccron.events`) into
the order the shell carries them out, which is what makes "launch only what is
recorded" and "acknowledge only what is committed" hold:

1. ``saves``: every state change, committed in one transaction (the notifications
   among them are queued to the outbox in it);
2. ``launches``: all the ACCEPTs at once, as soon as that transaction is committed;
3. ``calls``: the other Mesos calls, in the engine's order (a kill of a task launched
   in the same step follows its launch);
4. ``recorded_after``: that prepared runs were launched (:class:`~moroccron.events.Launched`),
   and any later change of those runs in the step, written after the ACCEPTs;
5. ``after``: what is reported once it is all done, in the engine's order: the runs
   recorded (log, metrics), the jobs disabled, quarantined or restored, the engine's
   faults, and the domain events for the plugins (:mod:`moroccron.dispatch`).

The shell (:class:`moroccron.service.Scheduler`) has one small executor for each part
and then publishes its status snapshot; the engine's test doubles use the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from moroccron.events import (
    DOMAIN_EVENTS,
    STATE_ACTIONS,
    Action,
    DisableJob,
    EngineFault,
    JobQuarantined,
    JobRestored,
    Launch,
    Launched,
    SaveRun,
)

__all__ = ["MESOS_CALLS", "REPORTED", "StepPlan", "plan_step"]

REPORTED = (SaveRun, Launched, DisableJob, JobQuarantined, JobRestored, EngineFault, *DOMAIN_EVENTS)
"""Actions reported (logged, counted, dispatched) after the step is carried out."""

MESOS_CALLS = (*STATE_ACTIONS, *DOMAIN_EVENTS, Launch, Launched, EngineFault)
"""Not Mesos calls: every action of another kind is handed to the Mesos adapter as is."""


@dataclass(frozen=True, slots=True)
class StepPlan:
    """One step's actions, in the order and groups the shell carries them out."""

    saves: tuple[Action, ...] = ()
    launches: tuple[Launch, ...] = ()
    calls: tuple[Action, ...] = ()
    recorded_after: tuple[SaveRun, ...] = ()
    after: tuple[Action, ...] = ()


def plan_step(actions: Iterable[Action]) -> StepPlan:
    """Sort ``actions`` (one step's, or one batch's, in the engine's order) into a :class:`StepPlan`."""
    saves: list[Action] = []
    launches: list[Launch] = []
    calls: list[Action] = []
    recorded_after: list[SaveRun] = []
    after_ids: set[str] = set()
    after: list[Action] = []
    for a in actions:
        if isinstance(a, Launched):
            recorded_after.extend(SaveRun(run) for run in a.runs)
            after_ids.update(run.task_id for run in a.runs)
        elif isinstance(a, SaveRun) and a.run.task_id in after_ids:
            recorded_after.append(a)  # a later change of a run recorded after its launch: keep the order
        elif isinstance(a, STATE_ACTIONS):
            saves.append(a)
        elif isinstance(a, Launch):
            launches.append(a)
        elif not isinstance(a, MESOS_CALLS):
            calls.append(a)
        if isinstance(a, REPORTED):
            after.append(a)
    return StepPlan(tuple(saves), tuple(launches), tuple(calls), tuple(recorded_after), tuple(after))
