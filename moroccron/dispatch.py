"""The one place where the engine's domain events reach the world after a step.

Each event (:data:`moroccron.events.DomainEvent`) maps to:

- the typed :class:`~moroccron.hooks.manager.PluginManager` method of its hook, called
  on the hook thread (:class:`~moroccron.hooks.runner.HookRunner`), never on the
  scheduler's;
- the triggers a finished run starts (``triggers.on_success`` / ``on_failure`` and
  plugins' ``moroccron_triggered_jobs``);
- the notification outbox: what people are told is decided by
  :func:`moroccron.routing.notice` and queued in the step's transaction (see
  :mod:`moroccron.plan`), not here;
- metrics and the log: every run record a step writes is counted and logged once
  (:meth:`Dispatcher.observe`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from moroccron.events import (
    DependencyUnblocked,
    DomainEvent,
    JobDisabled,
    OfferMatched,
    RunFinished,
    RunLaunched,
    RunQueued,
    RunSkipped,
)
from moroccron.hooks.manager import PluginManager
from moroccron.hooks.runner import HookRunner
from moroccron.metrics import Metrics
from moroccron.model import JobSpec, Run, RunState

__all__ = ["Dispatcher", "hook_name", "log_run"]

log = logging.getLogger("moroccron.service")

_HOOKS: dict[type, str] = {
    RunQueued: "moroccron_job_scheduled",
    OfferMatched: "moroccron_offer_matched",
    RunLaunched: "moroccron_task_launched",
    DependencyUnblocked: "moroccron_dependency_unblocked",
}


def hook_name(event: object) -> str | None:
    """The hook a domain event calls; None for the others (and the events told to people only)."""
    if isinstance(event, RunFinished):
        return "moroccron_task_succeeded" if event.run.state == RunState.SUCCEEDED else "moroccron_task_failed"
    return _HOOKS.get(type(event))


class Dispatcher:
    """Carries the domain events of a committed step out to plugins, triggers and metrics.

    :param plugins: the plugin manager whose typed hook methods are called.
    :param hooks: the hook thread the calls are queued on.
    :param metrics: counts the runs recorded.
    :param is_job: whether a job of that name exists now (a trigger naming another is logged).
    :param request_run: starts a job for a trigger: ``(job name, caused by task id)``.
    """

    def __init__(
        self,
        plugins: PluginManager,
        hooks: HookRunner,
        metrics: Metrics,
        *,
        is_job: Callable[[str], bool],
        request_run: Callable[[str, str], None],
    ) -> None:
        self.plugins = plugins
        self.hooks = hooks
        self.metrics = metrics
        self.is_job = is_job
        self.request_run = request_run

    def observe(self, run: Run) -> None:
        """A run record written: one log line, and its metrics."""
        log_run(run)
        self.metrics.observe_run(run)

    def dispatch(self, event: DomainEvent) -> None:
        """Hand ``event``'s hook to the hook thread: plugins never hold up the scheduler."""
        name = hook_name(event)
        if name is None:
            return
        if isinstance(event, OfferMatched):
            what = f"offer {event.offer.id}"
        elif isinstance(event, (RunQueued, RunLaunched, RunFinished)):
            what = event.run.task_id
        else:
            what = event.job.name
        self.hooks.submit(f"{name} for {what}", lambda: self.call(event))

    def call(self, event: DomainEvent) -> None:
        """Call the plugins about ``event`` (on the hook thread), then start what it triggers."""
        if isinstance(event, RunQueued):
            self.plugins.job_scheduled(job=event.job, run=event.run)
        elif isinstance(event, OfferMatched):
            self.plugins.offer_matched(offer=event.offer, runs=event.runs)
        elif isinstance(event, RunLaunched):
            self.plugins.task_launched(job=event.job, run=event.run)
        elif isinstance(event, RunFinished):
            if event.run.state == RunState.SUCCEEDED:
                self.plugins.task_succeeded(job=event.job, run=event.run)
                self._trigger(event.job, event.run, succeeded=True)
            else:
                self.plugins.task_failed(
                    job=event.job, run=event.run, pending_subtree=event.pending_subtree, final=event.final
                )
                if event.final:
                    self._trigger(event.job, event.run, succeeded=False)
        elif isinstance(event, DependencyUnblocked):
            self.plugins.dependency_unblocked(job=event.job, parents=event.parents, caused_by=event.caused_by)
        elif isinstance(event, (RunSkipped, JobDisabled)):
            pass  # told to people only (the outbox)

    def _trigger(self, job: JobSpec, run: Run, *, succeeded: bool) -> None:
        """Start the jobs that triggers name (``triggers.on_success`` / ``on_failure`` and plugins)."""
        for name in self.plugins.triggered_jobs(job=job, run=run, succeeded=succeeded):
            if not self.is_job(name):
                log.error("%s names trigger target %r, which is not a job", run.task_id, name)
                continue
            log.info("%s %s: triggering %s", run.task_id, "succeeded" if succeeded else "failed", name)
            self.request_run(name, run.task_id)


def log_run(run: Run) -> None:
    """One line per thing an operator watching the log cares about."""
    state = run.state
    if state == RunState.LAUNCHED:
        log.info(
            "launched %s on %s (skew %.1f ms)", run.task_id, run.hostname or run.agent_id, (run.skew or 0.0) * 1000
        )
    elif state == RunState.SUCCEEDED:
        log.info("%s succeeded in %.1fs", run.task_id, run.duration or 0.0)
    elif state in (RunState.FAILED, RunState.LOST, RunState.KILLED):
        detail = run.reason or run.message or ""
        exit_text = f" exit {run.exit_status}" if run.exit_status is not None else ""
        log.warning("%s %s%s %s", run.task_id, state.value, exit_text, detail)
    elif state == RunState.SKIPPED:
        log.info("%s skipped: %s", run.task_id, run.reason)
