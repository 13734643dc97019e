"""When a job fires: cron and ISO 8601 schedules, time zones, DST, missed runs, deadlines.

Everything here is pure: no I/O beyond loading time zone data, no clock reads (callers
pass ``now``), no threads. A schedule is parsed once into an immutable :class:`Schedule`
(``parse_schedule`` caches them), and computing a fire time never re-parses.

Instants in and out are tz-aware datetimes; every fire time returned is in UTC
(``datetime.UTC``) with ``microsecond == 0``, because a run's identity is
``(job, scheduled_at)`` and its task id carries the scheduled epoch in whole seconds.

The rules are stated in full in docs/schedules.md; this is the short form.

Cron
----
* 5 fields ``minute hour day-of-month month day-of-week``, or 6 with the **seconds
  first** (``*/2 * * * * *`` is every two seconds); 7 fields (years) are refused.
* Macros ``@yearly @annually @monthly @weekly @daily @midnight @hourly``.
* Parsing and matching are moroccron's own (:mod:`moroccron.schedule.cron`): ``*``, ``n``,
  ``a-b`` (``a-a`` is one value; ``a > b`` wraps around), ``*/s``, ``a-b/s``, ``n/s``,
  lists, month and weekday names, ``L``, ``a-L``, ``nW``, ``LW``, ``n#k``, ``nL``/``Ln``,
  ``?``. Day-of-month and day-of-week are OR'ed when both are restricted, where a field
  is restricted unless its text starts with ``*`` (Vixie cron, cronie); this applies to
  the ``#``, ``L`` and ``W`` forms too. Expressions that can never fire, ambiguous forms,
  and random (``R``) or hashed (``H``) values are refused with the field named: every
  leader must compute the same fire times, or failover would launch twice.

Cron expressions are matched against the wall clock of the job's time zone, and DST
follows cronie's split between "wildcard" and "fixed-time" jobs:

* **Wildcard (interval) jobs** -- the minute **or** the hour field starts with ``*``
  (``*/15 * * * *``, ``0 * * * *``, ``@hourly``, ``* 2 * * *``). They fire at every
  instant at which the wall clock *shows* a matching time, i.e. they follow real elapsed
  time. Wall times skipped in spring are never shown and do not fire; wall times
  repeated in autumn are shown twice and fire twice. ``*/15 * * * *`` in New York fires
  92 times on 2026-03-08 and 100 times on 2026-11-01; ``0 * * * *`` fires 25 times on
  2026-11-01.
* **Fixed-time jobs** -- any other (``30 2 * * *``, ``0 9-17 * * 1-5``, ``@daily``).
  Each matching wall time fires exactly once:

  - a wall time repeated in autumn fires at its first occurrence (``fold=0``):
    ``30 1 * * *`` in New York fires at 05:30Z on 2026-11-01 (01:30 EDT), not again at
    01:30 EST;
  - a wall time skipped in spring fires at the first valid instant after the gap, the
    moment the clock jumps: ``30 2 * * *`` in New York fires at 07:00Z on 2026-03-08
    (03:00 EDT). All matching wall times in one gap (and the wall time the clock jumps
    to) collapse into that single fire: ``0,30 2,3 * * *`` fires once at 03:00 EDT, then
    at 03:30 EDT.

* **Skipped days** -- a wall time on a calendar day that never exists (Pacific/Apia
  skipped 2011-12-30) does not fire. So a daily fixed-time job fires exactly once on
  every local day that exists.

This holds for any transition the tz database knows, including 30-minute shifts
(``Australia/Lord_Howe`` +10:30/+11:00 at 02:00 local) and changes of standard offset.
Offset changes are located to the second by sampling the offset once a day and bisecting,
so two changes less than a day apart that cancel out would go unseen by interval jobs;
the tz database has no such pair in any zone since 1970.

ISO 8601 (Chronos)
------------------
``R[n]/<start>/<period>``, e.g. ``R/2026-03-08T20:00:00Z/PT2H``:

* ``R`` repeats forever; ``Rn`` fires ``n`` times in total counting the start (``R1``
  fires once, at the start); ``R0`` never fires. A finite schedule has ``ends=True``, and
  once exhausted ``next_after`` returns ``None``.
* ``<start>`` is an ISO 8601 date-time with ``Z`` or an offset; without one it is wall
  time in the job's time zone (a skipped wall time maps forward to the end of the gap,
  a repeated one to its first occurrence, as for fixed-time cron jobs). It must be a
  whole second (``.000`` is fine). An empty start means "now" and is accepted only when
  the caller passes ``now`` to :func:`parse_schedule`; persist
  :attr:`IsoSchedule.canonical` afterwards so the start does not move on restart.
* ``<period>`` is ``PnYnMnWnDTnHnMnS`` (any subset; weeks may be combined). Years,
  months, weeks and days are calendar arithmetic on the wall clock of the job's time
  zone, so ``P1D`` keeps 09:00 local across DST; hours, minutes and seconds are absolute
  (``PT24H`` drifts by an hour across DST). Fire ``k`` is ``start + k * period`` computed
  from the start, never by repeated addition, so month ends do not drift: from January 31
  ``P1M`` gives February 28 (29 in leap years), March 31, April 30, ... Fractions are
  refused, except a seconds value whose fraction is zero (``PT2.000S``): fire times are
  whole seconds. A zero period is refused.
* Finding the next fire is O(1): the index is computed by division (with a small
  correction for calendar periods), never by iterating from the start.

Missed runs and deadlines
-------------------------
:func:`plan_catchup` decides what happens to fire times missed while no leader was
scheduling: first ``starting_deadline_seconds`` narrows them to those that may still
start, then ``catchup`` (``none`` | ``latest`` | ``all``) and the cap apply to those
(Kubernetes' order), with memory bounded however long the downtime;
:func:`deadline_exceeded` applies ``starting_deadline_seconds`` to one run. The rules
are written out in docs/schedules.md.

Modules
-------
* :mod:`~moroccron.schedule.tz`: instants in UTC, time zones, DST transitions.
* :mod:`~moroccron.schedule.base`: the :class:`Schedule` interface.
* :mod:`~moroccron.schedule.cron`: cron text parsed and matched on naive wall times.
* :mod:`~moroccron.schedule.cron_schedule`: :class:`CronSchedule`, cron on a zone's wall clock.
* :mod:`~moroccron.schedule.iso8601`: :class:`IsoSchedule`.
* :mod:`~moroccron.schedule.parse`: :func:`parse_schedule` and :func:`check_bounds`.
* :mod:`~moroccron.schedule.catchup`: :func:`plan_catchup` and :func:`deadline_exceeded`.

Import the public names from :mod:`moroccron.schedule` itself.
"""

from __future__ import annotations

from moroccron.schedule.base import SCHEDULE_ALLOWED, Schedule
from moroccron.schedule.catchup import (
    CATCHUP_POLICIES,
    POLICY_SKIPS,
    SKIPPED_SAMPLE,
    CatchupPlan,
    CatchupPolicy,
    deadline_exceeded,
    plan_catchup,
)
from moroccron.schedule.cron_schedule import CronSchedule
from moroccron.schedule.iso8601 import ISO_PERIOD_ALLOWED, IsoSchedule
from moroccron.schedule.parse import check_bounds, parse_schedule
from moroccron.schedule.tz import (
    TIMEZONE_ALLOWED,
    format_utc,
    from_epoch,
    to_epoch,
    utc,
    validate_timezone,
)

__all__ = [
    "CATCHUP_POLICIES",
    "ISO_PERIOD_ALLOWED",
    "POLICY_SKIPS",
    "SCHEDULE_ALLOWED",
    "SKIPPED_SAMPLE",
    "TIMEZONE_ALLOWED",
    "CatchupPlan",
    "CatchupPolicy",
    "CronSchedule",
    "IsoSchedule",
    "Schedule",
    "check_bounds",
    "deadline_exceeded",
    "format_utc",
    "from_epoch",
    "parse_schedule",
    "plan_catchup",
    "to_epoch",
    "utc",
    "validate_timezone",
]
