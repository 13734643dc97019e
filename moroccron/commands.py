"""What the API, the UI and the CLI ask of the leader's scheduler, with typed answers.

Routes call these methods instead of reading the engine's actions: the requests go to
the scheduler's loop as engine events (:meth:`SchedulerCommands.submit`), and what the
engine decided is read back here, once, into a plain result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from moroccron.events import (
    Action,
    AsyncCompleted,
    Event,
    KillRequested,
    MarkSuccess,
    RunRequested,
    SaveRun,
)
from moroccron.model import Run

__all__ = ["Marked", "SchedulerCommands", "marked", "started_run"]


@dataclass(frozen=True, slots=True)
class Marked:
    """The answer to :meth:`SchedulerCommands.mark_success`.

    :ivar run: the run recorded as succeeded, None if the scheduler does not know the job.
    :ivar started: the jobs that started because of it (children now unblocked), by name.
    """

    run: Run | None
    started: tuple[str, ...] = ()


class SchedulerCommands:
    """Typed requests over :meth:`submit`, which a scheduler (or a stand-in for one) provides."""

    def submit(self, event: Event, timeout: float = 10.0) -> list[Action]:
        raise NotImplementedError

    def run_now(
        self,
        job: str,
        arguments: tuple[str, ...] | None = None,
        *,
        by: str | None = None,
        argument_line: str | None = None,
    ) -> Run | None:
        """Start ``job`` now, outside its schedule: the run created (it may be SKIPPED, with
        the reason, e.g. ``concurrency=forbid``), or None if none was."""
        return started_run(self.submit(RunRequested(job, arguments, argument_line=argument_line, by=by)), job)

    def kill(self, job: str, task_id: str | None = None, *, by: str | None = None) -> None:
        """Kill ``job``'s live runs, or its task ``task_id``; ``by`` is recorded with the run."""
        self.submit(KillRequested(job, task_id, by=by))

    def mark_success(self, job: str) -> Marked:
        """Record ``job`` as succeeded without running it, so the jobs waiting on it run."""
        return marked(self.submit(MarkSuccess(job)), job)

    def complete_async(self, task_id: str, status_code: int) -> None:
        """An async job's task reports its work done (0 succeeds it, anything else fails it)."""
        self.submit(AsyncCompleted(task_id, status_code))


def started_run(actions: Sequence[Action], job: str) -> Run | None:
    """The run of ``job`` that ``actions`` created, if any."""
    return next((a.run for a in actions if isinstance(a, SaveRun) and a.new and a.run.job == job), None)


def marked(actions: Sequence[Action], job: str) -> Marked:
    """What marking ``job`` as succeeded did, read from the engine's ``actions``."""
    runs = [a.run for a in actions if isinstance(a, SaveRun) and a.run.job == job]
    started = sorted({a.run.job for a in actions if isinstance(a, SaveRun) and a.new and a.run.job != job})
    return Marked(runs[0] if runs else None, tuple(started))
