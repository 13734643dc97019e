"""Who gets told what: every decision about notifications, in one module.

A notification goes through three moments; each asks one function here:

1. the step that caused it (the shell, in the step's transaction): :func:`notice` says
   which notification (failure, recovery, success, skipped, disabled) an engine event
   is, with the facts the message needs, and whether it is worth queueing at all
   (successes are most runs: they are queued only when the job or one of its owners
   asked to hear about them);
2. the outbox, before delivering it: :func:`covered_by` says whether an earlier message
   already covers it (no mail storm: while a job keeps failing, only the first failure
   is sent; repeated ``skipped`` messages are collapsed for an hour);
3. rendering it: :func:`recipients` says where it goes.

An event reaches:

- each owner of the job who wants that event on a channel and is not muted, at the
  owner's address for the channel (:func:`_address`);
- the job's own ``notify`` targets for the event (``email:ADDR``, ``slack:#channel``,
  ``pagerduty:SERVICE``, ``webhook:NAME``); ``skipped`` and ``disabled`` go where
  failures go;

each target once. A recovery also reaches every failure target on a channel that keeps
incident state (PagerDuty), so the incident the failure opened is resolved where it was
opened. Each notifier plugin then delivers the targets on its own channels
(:meth:`moroccron.hooks.types.Notification.targets_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from moroccron.events import DomainEvent, JobDisabled, JobQuarantined, RunFinished, RunSkipped
from moroccron.hooks.types import NotifyTarget
from moroccron.model import JobSpec, Owner, Run, RunState

__all__ = ["INCIDENT_CHANNELS", "SKIP_COLLAPSE", "Notice", "Queued", "covered_by", "notice", "recipients"]

_JOB_TARGETS = {
    "failure": "on_failure",
    "skipped": "on_failure",
    "disabled": "on_failure",
    "recovery": "on_recovery",
    "success": "on_success",
}
INCIDENT_CHANNELS = frozenset({"pagerduty"})
"""Channels that keep incident state: a failure opens an incident there, and the recovery
must reach the same targets to resolve it (:func:`recipients`)."""
SKIP_COLLAPSE = timedelta(hours=1)
"""A ``skipped`` message within this long of the previous one for the job is collapsed into it."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification to queue: ``event`` (failure | recovery | success | skipped | disabled)
    about ``job`` and ``run``, with the JSON-compatible facts the engine knows."""

    event: str
    job: str
    run: Run | None
    details: Mapping[str, Any] = field(default_factory=dict)


def notice(
    event: DomainEvent | JobQuarantined, job: JobSpec, owners: Callable[[], Mapping[str, Owner]]
) -> Notice | None:
    """The notification ``event`` is, if anyone is to hear of it (a quarantine is told as ``disabled``).

    :param job: the job as the scheduler knows it now.
    :param owners: the registered owners by id, asked for only when a success needs them.
    """
    if isinstance(event, RunFinished):
        run = event.run
        if run.state == RunState.SUCCEEDED:
            if event.failure_count:
                return Notice("recovery", job.name, run, {"failure_count": event.failure_count})
            if not _wants_success(job, owners):
                return None
            return Notice("success", job.name, run, {})
        if not event.final or run.state not in (RunState.FAILED, RunState.LOST):
            return None  # a retry follows, or it was killed on request
        return Notice(
            "failure",
            job.name,
            run,
            {
                "failure_count": event.failure_count,
                "pending_subtree": [node.to_dict() for node in event.pending_subtree],
            },
        )
    if isinstance(event, RunSkipped):
        return Notice("skipped", job.name, event.run, {"reason": event.reason}) if event.announce else None
    if isinstance(event, JobDisabled):
        return Notice("disabled", job.name, None, {"reason": event.reason, "failure_count": event.failure_count})
    if isinstance(event, JobQuarantined):
        return Notice(
            "disabled",
            job.name,
            None,
            {
                "reason": f"set aside after an internal error ({event.reason}); it runs again once it is changed or "
                "enabled"
            },
        )
    return None


def _wants_success(job: JobSpec, owners: Callable[[], Mapping[str, Owner]]) -> bool:
    """Successes are most runs: only queue them when someone asked to hear about them."""
    if job.notify.on_success:
        return True
    known = owners()
    return any(known[o].preferences.get("success") for o in job.owners if o in known)


class Queued(Protocol):
    """An earlier message of the outbox, as :func:`covered_by` reads it."""

    @property
    def id(self) -> int: ...

    @property
    def event(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...


Lookup = Callable[[tuple[str, ...], tuple[str, ...]], Queued | None]
"""``(events, states) -> the job's newest earlier message of those events in those states``."""


def covered_by(event: str, now: datetime, last: Lookup) -> Queued | None:
    """The earlier message that already covers a new ``event`` message, if one does.

    A failure is covered by an earlier failure still open (no recovery since, whatever
    became of its delivery); a skip by a skip sent or pending within :data:`SKIP_COLLAPSE`.
    """
    if event == "failure":
        prev = last(("failure", "recovery"), ("pending", "delivered", "failed", "collapsed"))
        return prev if prev is not None and prev.event == "failure" else None
    if event == "skipped":
        prev = last(("skipped",), ("pending", "delivered"))
        return prev if prev is not None and now - prev.created_at < SKIP_COLLAPSE else None
    return None


def recipients(event: str, job: JobSpec, owners: Mapping[str, Owner], now: datetime) -> tuple[NotifyTarget, ...]:
    """The targets for ``event`` about ``job``, de-duplicated, in a stable order.

    A ``recovery`` also goes to every target a ``failure`` goes to on a channel that
    keeps incident state (:data:`INCIDENT_CHANNELS`): an incident opened there is
    resolved there, whatever the recovery preferences say and even while the owner is
    muted (resolving an incident wakes nobody).
    """
    targets = _targets(event, job, owners, now, respect_mute=True)
    if event != "recovery":
        return targets
    seen = {str(t): t for t in targets}
    for target in _targets("failure", job, owners, now, respect_mute=False):
        if target.channel in INCIDENT_CHANNELS:
            seen.setdefault(str(target), target)
    return tuple(seen.values())


def _targets(
    event: str, job: JobSpec, owners: Mapping[str, Owner], now: datetime, *, respect_mute: bool
) -> tuple[NotifyTarget, ...]:
    """Owners' preferred channels for ``event``, then the job's own targets, each once."""
    seen: dict[str, NotifyTarget] = {}
    for owner_id in job.owners:
        owner = owners.get(owner_id) or _implicit_owner(owner_id)
        if owner is None:
            continue
        for channel in owner.preferences.get(event, ()):
            address = _address(owner, channel)
            wanted = owner.wants(event, channel, now) if respect_mute else True
            if address and wanted:
                target = NotifyTarget(channel, address)
                seen.setdefault(str(target), target)
    for text in getattr(job.notify, _JOB_TARGETS.get(event, "on_failure"), ()):
        target = NotifyTarget.parse(text)
        seen.setdefault(str(target), target)
    return tuple(seen.values())


def _address(owner: Owner, channel: str) -> str | None:
    """Where ``owner`` is reached on ``channel``; None if they gave no address there."""
    return owner.address(channel)


def _implicit_owner(owner_id: str) -> Owner | None:
    """An owner named by a job but never registered: an email address gets the defaults."""
    if "@" not in owner_id:
        return None
    try:
        return Owner(id=owner_id)
    except ValueError:
        return None
