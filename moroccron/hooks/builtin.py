"""Built-in hook implementations: checks and triggers that need more than one job, and
moroccron's own notification channels (``email``, ``webhook``).

Registered as the plugin ``builtin`` (see :data:`moroccron.hooks.manager.BUILTIN_PLUGINS`),
so it can be blocked like any other plugin, and it is an example of one.
"""

from __future__ import annotations

from collections.abc import Mapping

from moroccron.channels import EMAIL, WEBHOOK, NotifyChannel
from moroccron.errors import FieldError
from moroccron.hooks import hookimpl
from moroccron.model import JobSpec

__all__ = ["moroccron_notify_channels", "moroccron_triggered_jobs", "moroccron_validate_job"]

_EXISTING = "names of existing jobs (or jobs in the same apply)"


@hookimpl
def moroccron_validate_job(job: JobSpec, existing: Mapping[str, JobSpec]) -> list[FieldError] | None:
    """Every parent and every trigger target must be a job; a job must not trigger itself."""
    errors: list[FieldError] = []
    for i, parent in enumerate(job.parents):
        # A job naming itself as parent is caught by JobSpec itself.
        if parent != job.name and parent not in existing:
            errors.append(FieldError(f"parents[{i}]", f"parent job {parent!r} does not exist", parent, _EXISTING))
    for when in ("on_success", "on_failure"):
        for i, target in enumerate(getattr(job.triggers, when)):
            field = f"triggers.{when}[{i}]"
            if target == job.name:
                # on_success would run the job forever; on_failure is an unbounded retry.
                errors.append(
                    FieldError(
                        field,
                        "a job cannot trigger itself",
                        target,
                        "names of other jobs; use retries to run a failed job again",
                    )
                )
            elif target not in existing:
                errors.append(FieldError(field, f"triggered job {target!r} does not exist", target, _EXISTING))
    return errors or None


@hookimpl
def moroccron_triggered_jobs(job: JobSpec, succeeded: bool) -> list[str] | None:
    """The job's own ``triggers``: ``on_success`` after a success, ``on_failure`` after a final failure."""
    names = job.triggers.on_success if succeeded else job.triggers.on_failure
    return list(names) or None


@hookimpl
def moroccron_notify_channels() -> list[NotifyChannel]:
    """``email`` (the owner's ``email``; the email plugin delivers) and ``webhook`` (a name in
    the ``[webhooks]`` setting; :mod:`moroccron.notifiers.webhook` delivers)."""
    return [EMAIL, WEBHOOK]
