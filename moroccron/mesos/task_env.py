"""The environment every task is given: the job's own, moroccron's, and Chronos's.

Chronos gave each task a fixed set of variables (its ``MesosTaskBuilder``), and scripts
written for it read them: ``CHRONOS_JOB_NAME``, ``CHRONOS_JOB_OWNER``,
``CHRONOS_JOB_RUN_TIME``, ``CHRONOS_JOB_RUN_ATTEMPT``, ``CHRONOS_RESOURCE_CPU``,
``CHRONOS_RESOURCE_MEM``, ``CHRONOS_RESOURCE_DISK``, ``mesos_task_id``,
``MESOS_TASK_ID`` and ``HOST``. moroccron sets them on every task, whichever API
defined the job, with the values Chronos gave them:

- the owner is the owners joined by ``,`` (Chronos's ``owner`` field as stored);
- the run time is the run's scheduled time in epoch milliseconds (the due time Chronos
  wrote in its task ids), the attempt counts from 0;
- resources are Java's ``Double.toString`` of the amounts the task asks for
  (``128.0``, ``0.5``, ``1.0E7``).

Precedence follows Chronos, where the job's own variables never replaced these: a job
that sets ``CHRONOS_JOB_NAME`` still sees the real name. ``HOST`` is the exception: it is
a common name for a job's own setting (a database host), so a job's ``HOST`` wins and
the agent's host name is given only when the job sets none. The ``MOROCCRON_*``
variables also yield to the job's own, as they always have.
"""

from __future__ import annotations

from decimal import Decimal

from moroccron.model import JobSpec, Run

__all__ = ["CHRONOS_VARIABLES", "java_double", "task_environment"]

CHRONOS_VARIABLES: tuple[str, ...] = (
    "mesos_task_id",
    "MESOS_TASK_ID",
    "CHRONOS_JOB_OWNER",
    "CHRONOS_JOB_NAME",
    "CHRONOS_RESOURCE_MEM",
    "CHRONOS_RESOURCE_CPU",
    "CHRONOS_RESOURCE_DISK",
    "CHRONOS_JOB_RUN_TIME",
    "CHRONOS_JOB_RUN_ATTEMPT",
)
"""The variables that win over a job's own of the same name."""


def java_double(value: float) -> str:
    """``value`` as Java's ``Double.toString`` writes it, which is what Chronos put in
    ``CHRONOS_RESOURCE_*``: ``128.0``, ``0.25``, and powers of ten outside [1e-3, 1e7)
    in Java's scientific form (``1.0E-4``, ``1.25E7``)."""
    value = float(value)
    if value == 0:
        return "0.0"
    text = repr(value)  # the shortest text that reads back as the same double, as Java's (mostly) is
    if 1e-3 <= abs(value) < 1e7:
        return text if "." in text else f"{int(value)}.0"
    sign, digits, exponent = Decimal(text).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite: resources are validated finite numbers
    mantissa = f"{digits[0]}." + ("".join(map(str, digits[1:])) or "0")
    return f"{'-' if sign else ''}{mantissa}E{len(digits) - 1 + exponent}"


def _epoch_millis(run: Run) -> int:
    when = run.scheduled_at
    return int(when.timestamp()) * 1000 + when.microsecond // 1000


def task_environment(job: JobSpec, run: Run) -> dict[str, str]:
    """Every variable the task of ``run`` is given, by name."""
    env = dict(job.env)
    env.setdefault("MOROCCRON_JOB", job.name)
    env.setdefault("MOROCCRON_SCHEDULED_AT", run.scheduled_at.isoformat())
    env.setdefault("MOROCCRON_ATTEMPT", str(run.attempt))
    if run.hostname:
        env.setdefault("HOST", run.hostname)
    env.update(
        {
            "mesos_task_id": run.task_id,
            "MESOS_TASK_ID": run.task_id,
            "CHRONOS_JOB_OWNER": ",".join(job.owners),
            "CHRONOS_JOB_NAME": job.name,
            "CHRONOS_RESOURCE_MEM": java_double(job.resources.mem),
            "CHRONOS_RESOURCE_CPU": java_double(job.resources.cpus),
            "CHRONOS_RESOURCE_DISK": java_double(job.resources.disk),
            "CHRONOS_JOB_RUN_TIME": str(_epoch_millis(run)),
            "CHRONOS_JOB_RUN_ATTEMPT": str(run.attempt),
        }
    )
    return env
