"""The moroccron hooks: what a plugin can implement, when each is called, what it may return.

These docstrings are the plugin documentation.

Writing a plugin
----------------
Mark functions with :data:`moroccron.hooks.hookimpl` and name them after a hook below.
An implementation takes any subset of the hook's parameters, by name; a parameter the
hook does not have is an error at registration (``pluggy.PluginValidationError``), and
so is a ``moroccron_*`` function that matches no hook (a typo).

Hooks are always called with keyword arguments. Jobs, runs, offers and the other
arguments are frozen values: read them, do not try to change them. To influence the scheduler, return a value from a hook
that takes one.

Event hooks (``moroccron_job_scheduled``, ``moroccron_offer_matched``,
``moroccron_task_*``, ``moroccron_dependency_unblocked``) are called synchronously
from the scheduler loop, after the state change is committed: they report what
happened, they cannot veto it, and a slow implementation delays every launch. Hand
slow work (network calls) to a queue or thread of your own.

When an implementation raises
-----------------------------
- ``moroccron_startup`` and ``moroccron_validate_job``: the error propagates as a
  :class:`~moroccron.hooks.manager.PluginError` naming the plugin: start-up stops, and the
  job change is refused. A policy that cannot run must not let jobs through unchecked.
- ``moroccron_notify_channels``: propagates as a ``PluginError``: start-up stops (so
  does a result that is not a list of ``NotifyChannel``, or a channel name two plugins
  register).
- ``moroccron_pack_offers``: propagates as a ``PluginError``; the scheduler declines
  the offers of that round and tries again with the next ones. A plan that names
  unknown offers or tasks, places a task twice or overfills an offer is refused the
  same way. ``moroccron_packing_strategies`` and ``moroccron_ui_template_dirs``: a
  ``PluginError`` stops start-up.
- every other hook: the error is logged with the plugin's name and the remaining
  plugins are still called. A broken notifier or listener never stops the scheduler.

Call order: plugins loaded from entry points are registered before the built-in ones,
and pluggy calls the most recently registered first, so built-ins answer first. Mark an
implementation ``@hookimpl(tryfirst=True)`` to run before them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from moroccron.hooks import hookspec

if TYPE_CHECKING:
    from moroccron.config import Settings
    from moroccron.errors import FieldError
    from moroccron.hooks.types import (
        DeliveryResult,
        Notification,
        NotifyChannel,
        Offer,
        PackingPlan,
        PendingTask,
        SubtreeNode,
    )
    from moroccron.model import JobSpec, Run
    from moroccron.store import Store

__all__ = [
    "moroccron_dependency_unblocked",
    "moroccron_job_scheduled",
    "moroccron_notify",
    "moroccron_notify_channels",
    "moroccron_offer_matched",
    "moroccron_pack_offers",
    "moroccron_packing_strategies",
    "moroccron_shutdown",
    "moroccron_startup",
    "moroccron_task_failed",
    "moroccron_task_launched",
    "moroccron_task_succeeded",
    "moroccron_triggered_jobs",
    "moroccron_ui_template_dirs",
    "moroccron_validate_job",
]


# -------------------------------------------------------------------------
# Lifecycle
# -------------------------------------------------------------------------


@hookspec
def moroccron_startup(config: Settings, store: Store) -> None:
    """Called once per process, after settings are loaded and the database is reachable,
    before the scheduler subscribes to Mesos or serves the API.

    Check your own configuration here and fail early: raise, and start-up stops with
    the plugin's name in the message, rather than failing at the first event.
    Every instance calls it, leader or not.

    Must not block for long: connect lazily, with timeouts.

    :param config: the effective settings (flags > environment > config file > defaults).
    :param store: the repository of jobs, runs and owners.
    """


@hookspec
def moroccron_shutdown(config: Settings) -> None:
    """Called once when the process stops cleanly, after the scheduler has stopped
    launching and before the database connection is closed.

    Flush buffers and close connections. Must not block for long: the process is on
    its way out and may be killed. If it raises, the error is logged and the other
    plugins still shut down. Not called when the process is killed or crashes.

    :param config: the same settings :func:`moroccron_startup` received.
    """


# -------------------------------------------------------------------------
# Jobs
# -------------------------------------------------------------------------


@hookspec
def moroccron_validate_job(job: JobSpec, existing: Mapping[str, JobSpec]) -> list[FieldError] | None:
    """Add policy checks to a job definition: called whenever a job is created or
    changed (API, Chronos API, ``moroccron jobs apply``), after the job itself has been
    validated and before anything is stored.

    Every plugin is called and all their errors are reported together with the
    built-in ones, so a user fixes a definition in one pass. Name the field, the
    value and what is allowed, as :class:`~moroccron.errors.FieldError` does.

    Must not block: no I/O. Do not raise for a problem the user can fix; return it.
    An implementation that raises refuses the change, naming the plugin as the cause.

    :param job: the job as it would be stored.
    :param existing: every job by name as it will stand once the change is applied:
        stored jobs, updated with the rest of the same apply batch. It may hold the
        previous version of ``job`` under the same name.
    :return: the problems found, or None (or an empty list) when there are none.
    """


@hookspec
def moroccron_job_scheduled(job: JobSpec, run: Run) -> None:
    """A run was materialised: due by the schedule, a catch-up, a retry, a trigger,
    a dependency or a manual start. ``run.state`` is ``queued`` (it waits for an
    offer); ``run.trigger`` says why it exists.

    Not called for runs skipped before they were queued (missed with ``catchup``
    ``none``, past ``starting_deadline_seconds``, forbidden by ``concurrency``).

    Must not block or raise: an exception is logged and ignored.

    :param job: the job the run belongs to.
    :param run: the new run.
    """


# -------------------------------------------------------------------------
# Offers and placement
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def moroccron_pack_offers(
    runs: Sequence[PendingTask],
    offers: Sequence[Offer],
    jobs: Mapping[str, JobSpec],
    strategy: str,
) -> PackingPlan | None:
    """Decide which pending tasks to launch on which offers: the packing strategy.

    Called for each batch of offers while work is queued. A plugin answers only
    for the strategy names it provides and returns None for any other name, so the
    next plugin gets its turn; the built-in strategies are ``first-fit`` and
    ``best-fit-decreasing``. Stops at first non-None result.

    A plan must place each task at most once, on an offer of this batch, within the
    offer's resources and the job's constraints (``jobs[task.job].constraints``).
    Tasks left out stay queued for the next offers; offers left out are declined.

    Must not block (no I/O): it runs on every offer round. If it raises, or returns a
    plan that breaks the rules above, the error names the plugin and the offers of
    this round are declined.

    :param runs: the queued tasks, most urgent first (earliest ``scheduled_at``).
    :param offers: the offers to place them on.
    :param jobs: the jobs of ``runs`` by name, for constraints and container settings.
    :param strategy: the configured strategy name (setting ``packing``).
    :return: the plan, or None when ``strategy`` is not one of this plugin's.
    """


@hookspec
def moroccron_packing_strategies() -> list[str] | None:
    """Name the packing strategies this plugin answers for in
    :func:`moroccron_pack_offers`.

    Called at start-up to check the configured ``packing`` setting, and to list the
    known strategies when no plugin answers. Every plugin's names are merged.

    Must not block. If it raises, start-up stops with the plugin named.

    :return: the strategy names, or None.
    """


@hookspec
def moroccron_offer_matched(offer: Offer, runs: Sequence[Run]) -> None:
    """Tasks were placed on an offer, just before the ACCEPT is sent to the master.

    Called once per offer that received at least one task, never for declined offers.
    The launch may still fail (the master can refuse an ACCEPT for a rescinded offer);
    :func:`moroccron_task_launched` follows for each run that was handed to Mesos.

    Must not block or raise: an exception is logged and ignored.

    :param offer: the offer used.
    :param runs: the runs placed on it, in launch order.
    """


# -------------------------------------------------------------------------
# Tasks
# -------------------------------------------------------------------------


@hookspec
def moroccron_task_launched(job: JobSpec, run: Run) -> None:
    """A run was handed to Mesos: the ACCEPT with its task was sent and recorded.
    ``run.state`` is ``launched``; ``run.agent_id``, ``run.hostname``,
    ``run.launched_at`` and ``run.skew`` are set.

    Not called again when the task moves on to ``starting`` or ``running``.

    Must not block or raise: an exception is logged and ignored.

    :param job: the job the run belongs to.
    :param run: the launched run.
    """


@hookspec
def moroccron_task_succeeded(job: JobSpec, run: Run) -> None:
    """A run ended successfully: ``run.state`` is ``succeeded`` (also when a run was
    marked successful by hand: ``run.trigger`` is then ``mark_success``).

    Dependent jobs are unblocked after this hook
    (:func:`moroccron_dependency_unblocked`); triggers are asked next
    (:func:`moroccron_triggered_jobs`).

    Must not block or raise: an exception is logged and ignored.

    :param job: the job the run belongs to.
    :param run: the finished run, with ``finished_at`` and ``exit_status``.
    """


@hookspec
def moroccron_task_failed(
    job: JobSpec,
    run: Run,
    pending_subtree: Sequence[SubtreeNode],
    final: bool,
) -> None:
    """A run ended without success: ``run.state`` is ``failed``, ``killed`` or
    ``lost``; ``run.reason`` and ``run.message`` say why (Mesos reason and message,
    or moroccron's, such as a timeout), ``run.exit_status`` when the command exited.

    Called for every failed attempt, retried or not; ``final`` tells them apart.
    Not called for skipped runs (they never reached Mesos).

    Must not block or raise: an exception is logged and ignored.

    :param job: the job the run belongs to.
    :param run: the failed run.
    :param pending_subtree: every transitive child of ``job`` that now waits on it,
        as trees (one per direct child), with each job's owners. A job reachable
        through two parents appears under each. Empty when nothing depends on ``job``.
    :param final: True when no retry follows (retries exhausted, or none allowed);
        False when another attempt is scheduled. Dependants stay blocked either way.
    """


@hookspec
def moroccron_dependency_unblocked(job: JobSpec, parents: Sequence[str], caused_by: Run | None) -> None:
    """Every parent of a dependent job has succeeded since its last run, so a run of
    it is about to be queued (:func:`moroccron_job_scheduled` follows).

    Must not block or raise: an exception is logged and ignored.

    :param job: the dependent job that can now run.
    :param parents: the names of its parents, all satisfied.
    :param caused_by: the parent run whose success completed the set; None when
        the job was unblocked otherwise (a parent was removed from its definition).
    """


# -------------------------------------------------------------------------
# Triggers
# -------------------------------------------------------------------------


@hookspec
def moroccron_triggered_jobs(job: JobSpec, run: Run, succeeded: bool) -> list[str] | None:
    """Name jobs to start once, as ad-hoc runs, after a run of ``job`` ended.

    Called after :func:`moroccron_task_succeeded`, or after a final
    :func:`moroccron_task_failed`. The built-in plugin answers with the job's own
    ``triggers.on_success`` / ``triggers.on_failure``. Names from every plugin are
    merged and started once each; names of jobs that do not exist are logged and
    ignored. Triggered runs do not wait for the triggered job's parents.

    Must not block or raise: an exception is logged and the other plugins'
    triggers still start.

    :param job: the job whose run ended.
    :param run: the run that ended.
    :param succeeded: True when the run succeeded, False after its final failure.
    :return: the names of jobs to start, or None.
    """


# -------------------------------------------------------------------------
# Notifications
# -------------------------------------------------------------------------


@hookspec
def moroccron_notify(notification: Notification) -> list[DeliveryResult] | None:
    """Deliver a notification: every notifier plugin is called and delivers to the
    targets on the channels it handles (``notification.targets_for("slack")``; a
    plugin with a channel of its own registers it with :func:`moroccron_notify_channels`),
    ignoring the others.

    Called from the notification worker, not the scheduler loop, once per rendered
    notification; owners' preferences, mutes and de-duplication have been applied.
    It may block on network I/O, but only with a timeout: a delivery that hangs holds
    up the notifications behind it. Do not raise for a failed delivery; return a
    result with ``ok=False``. An exception is logged, and the targets no plugin
    reported on are recorded as undelivered.

    :param notification: the message and where it goes.
    :return: one result per target this plugin handled, or None when it handled none.
    """


@hookspec
def moroccron_notify_channels() -> list[NotifyChannel] | None:
    """Register notification channels: the names that targets (``name:address``), owners'
    ``contacts`` and ``preferences`` may use, each with a validator for its addresses.

    Called once, when the plugin manager is built; every plugin's channels are merged.
    moroccron registers ``email`` and ``webhook`` itself (the ``builtin`` plugin); a
    plugin that delivers on a channel of its own (``slack``, ``pagerduty``, ``opsgenie``)
    registers it here and delivers it in :func:`moroccron_notify`
    (``notification.targets_for(name)``). A channel registered by no installed plugin is
    refused in new job definitions, owners and settings (the error lists the registered
    ones); jobs and owners already stored that use it still load, and their messages on it
    are recorded as undelivered.

    ``validate`` must not block or do I/O: it runs whenever a job or an owner is built.
    It returns the address normalised (or as given), or raises ``ValueError`` with a
    message that says what is allowed (the message is shown with the field).

    Must not block. If it raises, returns something other than ``NotifyChannel`` values,
    or registers a name another plugin registered, start-up stops with the plugin named.

    :return: the channels this plugin delivers to, or None.
    """


# -------------------------------------------------------------------------
# Web UI
# -------------------------------------------------------------------------


@hookspec
def moroccron_ui_template_dirs() -> list[str | Path] | None:
    """Name folders of Jinja templates for the web UI.

    Called once when the UI is mounted. The folders come before the built-in templates,
    in the order pluggy calls the plugins: a template with the name of a built-in one
    (``job.html``, ``error.html``, ...) replaces it, and a new one can extend
    ``base.html`` for the page layout. The built-in templates stay reachable as
    ``moroccron/NAME``, so a replacement can extend the one it replaces
    (``{% extends "moroccron/job.html" %}``). Templates are autoescaped.

    Must not block. If it raises, or names something that is not a folder, the UI is not
    mounted and start-up stops with the plugin named.

    :return: the folders, or None.
    """
