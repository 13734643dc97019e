"""Who gets told what: from a domain event to the notification queued for it.

:func:`notice` is pure: it says which notification (failure, recovery, success,
skipped, disabled) an engine event is, with the facts the message needs, and whether
it is worth queueing at all (successes are most runs: they are queued only when the job
or one of its owners asked to hear about them). The shell queues what it returns to
the outbox in the step's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moroccron.events import DomainEvent, JobDisabled, RunFinished, RunSkipped
from moroccron.model import JobSpec, Owner, Run, RunState

__all__ = ["Notice", "notice"]


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification to queue: ``event`` (failure | recovery | success | skipped | disabled)
    about ``job`` and ``run``, with the JSON-compatible facts the engine knows."""

    event: str
    job: str
    run: Run | None
    details: Mapping[str, Any] = field(default_factory=dict)


def notice(event: DomainEvent, job: JobSpec, owners: Callable[[], Mapping[str, Owner]]) -> Notice | None:
    """The notification ``event`` is, if anyone is to hear of it.

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
        return Notice("failure", job.name, run, {
            "failure_count": event.failure_count,
            "pending_subtree": [node.to_dict() for node in event.pending_subtree],
        })
    if isinstance(event, RunSkipped):
        return Notice("skipped", job.name, event.run, {"reason": event.reason}) if event.announce else None
    if isinstance(event, JobDisabled):
        return Notice("disabled", job.name, None, {"reason": event.reason, "failure_count": event.failure_count})
    return None


def _wants_success(job: JobSpec, owners: Callable[[], Mapping[str, Owner]]) -> bool:
    """Successes are most runs: only queue them when someone asked to hear about them."""
    if job.notify.on_success:
        return True
    known = owners()
    return any(known[o].preferences.get("success") for o in job.owners if o in known)
