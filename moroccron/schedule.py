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
* Parsing and matching are moroccron's own (:mod:`moroccron.cron`): ``*``, ``n``,
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
"""

from __future__ import annotations

import bisect
import calendar
import difflib
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from moroccron import bounds
from moroccron.cron import FIELD_SYNTAX, FIELDS, CronError, CronSpec, parse_fields
from moroccron.errors import FieldError, ScheduleError

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

SCHEDULE_ALLOWED: Final = (
    "5-field cron 'm h dom mon dow', 6-field cron with seconds first 's m h dom mon dow', "
    "a macro @yearly @annually @monthly @weekly @daily @midnight @hourly, "
    "or ISO 8601 'R[n]/<start>/<period>' such as 'R/2026-03-08T20:00:00Z/PT2H'"
)
TIMEZONE_ALLOWED: Final = (
    "an IANA time zone name such as UTC, Europe/London, America/New_York, "
    "Asia/Kolkata or Australia/Lord_Howe"
)
ISO_PERIOD_ALLOWED: Final = (
    "an ISO 8601 duration PnYnMnWnDTnHnMnS with whole numbers, greater than zero, "
    "such as PT30S, PT2H, P1D, P1W, P1M or P1Y2M3DT4H5M6S"
)

_US: Final = timedelta(microseconds=1)
_DAY: Final = timedelta(days=1)
# How far apart the offset is sampled when looking for a transition between two instants.
_TRANSITION_PROBE: Final = timedelta(days=1)
# Transitions crossed while looking for one fire time (cron itself gives up after 50 years).
_MAX_SEGMENTS: Final = 512


# --------------------------------------------------------------------------- instants


def utc(dt: datetime) -> datetime:
    """``dt`` converted to UTC. Naive datetimes are refused: an instant needs a zone."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: pass a tz-aware datetime")
    return dt.astimezone(UTC)


def to_epoch(dt: datetime) -> int:
    """Whole seconds since the Unix epoch (fractions are dropped, towards the past)."""
    return math.floor(utc(dt).timestamp())


def from_epoch(seconds: float) -> datetime:
    """The UTC datetime of an epoch timestamp."""
    return datetime.fromtimestamp(seconds, UTC)


def format_utc(dt: datetime) -> str:
    """``2026-03-08T07:00:00Z``: ISO 8601 in UTC, the way moroccron prints instants."""
    return utc(dt).isoformat().replace("+00:00", "Z")


def _naive_utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _offset_at_epoch(zone: ZoneInfo, seconds: int) -> timedelta:
    offset = datetime.fromtimestamp(seconds, zone).utcoffset()
    assert offset is not None
    return offset


def _first_change(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first whole second in ``(lo, hi]`` whose UTC offset differs from ``lo``'s.

    The caller guarantees that the offsets at ``lo`` and ``hi`` differ. Transitions in
    the tz database fall on whole seconds, so bisecting whole seconds is exact.
    """
    lo_s, hi_s = math.floor(lo.timestamp()), math.floor(hi.timestamp())
    before = _offset_at_epoch(zone, lo_s)
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _offset_at_epoch(zone, mid) == before:
            lo_s = mid
        else:
            hi_s = mid
    return from_epoch(hi_s)


def _transition_between(zone: ZoneInfo, start: datetime, end: datetime) -> datetime | None:
    """The first instant in ``(start, end]`` at which the UTC offset changes, if any."""
    before = _offset(zone, start)
    probe_from = start
    while True:
        probe = min(probe_from + _TRANSITION_PROBE, end)
        if _offset(zone, probe) != before:
            return _first_change(zone, probe_from, probe)
        if probe >= end:
            return None
        probe_from = probe


def _resolve_wall(zone: ZoneInfo, wall: datetime) -> datetime:
    """The instant of a naive wall time: a repeated wall time maps to its first occurrence,
    a skipped one to the first valid instant after the gap."""
    first = wall.replace(tzinfo=zone)
    second = first.replace(fold=1)
    offset_first, offset_second = first.utcoffset(), second.utcoffset()
    assert offset_first is not None and offset_second is not None
    if offset_first >= offset_second:  # unique, or the first of two occurrences
        return (wall - offset_first).replace(tzinfo=UTC)
    # In a gap: fold=1 reads the wall with the offset after the jump (an instant before
    # it), fold=0 with the offset before (an instant after it); the jump lies between.
    return _first_change(
        zone,
        (wall - offset_second).replace(tzinfo=UTC),
        (wall - offset_first).replace(tzinfo=UTC),
    )


def _repeat_end(zone: ZoneInfo, instant: datetime) -> datetime | None:
    """For an instant in the second pass through a repeated wall-clock interval, the wall
    time at which the repetition ends (e.g. 02:00 on a US autumn night); else ``None``."""
    local = instant.astimezone(zone)
    if not local.fold:
        return None
    offset_second = local.utcoffset()
    offset_first = local.replace(fold=0).utcoffset()
    assert offset_first is not None and offset_second is not None
    if offset_first <= offset_second:
        return None
    jump = _first_change(zone, instant - (offset_first - offset_second), instant)
    return jump.replace(tzinfo=None) + offset_first


def _day_skipped(zone: ZoneInfo, day: date) -> bool:
    """True when no instant shows calendar ``day`` on the wall clock of ``zone`` (a
    transition skipped it whole, as Pacific/Apia skipped 2011-12-30)."""
    first = _resolve_wall(zone, datetime.combine(day, time()))
    return first.astimezone(zone).date() != day


# --------------------------------------------------------------------------- time zones


@lru_cache(maxsize=1)
def _known_zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones() - {"localtime", "posixrules"}))


_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")  # fullmatch: no final newline


def validate_timezone(name: str) -> ZoneInfo:
    """The :class:`ZoneInfo` of an IANA time zone name, or a :class:`ScheduleError` on
    field ``timezone`` that lists example names (and close matches, when there are some).
    ``localtime`` is refused: it means something different on every host."""
    if not isinstance(name, str) or not name:
        raise ScheduleError(
            FieldError("timezone", "a time zone name is required", name, TIMEZONE_ALLOWED)
        )
    if name in ("localtime", "posixrules") or not _ZONE_NAME.fullmatch(name):
        zone = None
    else:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            zone = None
    if zone is not None:
        return zone
    message = "unknown time zone"
    close = difflib.get_close_matches(name, _known_zones(), n=3, cutoff=0.6)
    close += [z for z in _known_zones() if z.lower() == name.strip().lower() and z not in close]
    if close:
        message += "; did you mean " + " or ".join(close) + "?"
    raise ScheduleError(FieldError("timezone", message, name, TIMEZONE_ALLOWED))


# --------------------------------------------------------------------------- schedules


class Schedule(ABC):
    """A parsed, immutable schedule: when a job fires, in its time zone.

    ``expr`` is the expression as given (stripped), ``timezone`` the IANA name and ``tz``
    its :class:`ZoneInfo`.
    """

    expr: str
    timezone: str
    tz: ZoneInfo

    @property
    @abstractmethod
    def ends(self) -> bool:
        """True when the schedule fires a finite number of times (``Rn``)."""

    @abstractmethod
    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after`` (UTC), or ``None`` once ended."""

    @abstractmethod
    def describe(self) -> str:
        """The schedule in words, for people."""

    @property
    def canonical(self) -> str:
        """The expression to store: parsing it again gives the same schedule."""
        return self.expr

    def times_between(self, start: datetime, end: datetime, limit: int) -> list[datetime]:
        """Fire times in ``(start, end]``, oldest first, at most ``limit`` of them."""
        end = utc(end)
        times: list[datetime] = []
        current = utc(start)
        while len(times) < limit:
            following = self.next_after(current)
            if following is None or following > end:
                break
            times.append(following)
            current = following
        return times

    def count_between(self, start: datetime, end: datetime) -> int:
        """How many fire times fall in ``(start, end]``, without listing them."""
        count = 0
        current = utc(start)
        end = utc(end)
        while (following := self.next_after(current)) is not None and following <= end:
            count += 1
            current = following
        return count

    def last_at_or_before(self, at: datetime, floor: datetime) -> datetime | None:
        """The latest fire time in ``(floor, at]``, or ``None`` when there is none.

        Bisects whole seconds with :meth:`next_after` (fire times are whole seconds and
        ``next_after`` is monotonic): about log2(at - floor) calls.
        """
        at, floor = utc(at), utc(floor)
        first = self.next_after(floor)
        if first is None or first > at:
            return None
        lo, hi = to_epoch(first) - 1, to_epoch(at)  # next_after(lo) <= at < next_after(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            upcoming = self.next_after(from_epoch(mid))
            if upcoming is None or upcoming > at:
                hi = mid
            else:
                lo = mid
        return from_epoch(hi)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.expr!r}, timezone={self.timezone!r})"


def parse_schedule(expr: str, timezone: str = "UTC", *, now: datetime | None = None) -> Schedule:
    """Parse a schedule once; the result is immutable and cached by ``(expr, timezone)``.

    :param expr: cron (5 fields, or 6 with seconds first), a macro, or ISO 8601
        ``R[n]/<start>/<period>``.
    :param timezone: IANA name of the zone whose wall clock the schedule follows.
    :param now: only for ISO schedules with an empty start, which then starts at ``now``.
    :raises ScheduleError: naming the field (``schedule`` or ``timezone``), the bad value
        and what is allowed.
    """
    if not isinstance(expr, str):
        raise _schedule_error("a schedule must be a string", expr)
    if not isinstance(timezone, str):
        validate_timezone(timezone)
    if now is not None and _is_iso(expr.strip()) and _iso_parts(expr.strip())[1] == "":
        return _parse_iso(expr.strip(), timezone, validate_timezone(timezone), now)
    return _parse_cached(expr, timezone)


@lru_cache(maxsize=16384)
def _parse_cached(expr: str, timezone: str) -> Schedule:
    zone = validate_timezone(timezone)
    text = expr.strip()
    if not text:
        raise _schedule_error("a schedule is required", expr)
    if _is_iso(text):
        return _parse_iso(text, timezone, zone, None)
    return _parse_cron(text, timezone, zone)


def _schedule_error(message: str, value: object, allowed: str = SCHEDULE_ALLOWED) -> ScheduleError:
    return ScheduleError(FieldError("schedule", message, value, allowed))


# Values per cron field (seconds first): a step larger than this fires only at the
# field's first value, so it is a mistake, and a 20-digit one is an attack on the parser.
_FIELD_SIZES: Final = (60, 60, 24, 31, 12, 7)


@lru_cache(maxsize=16384)  # pure, and called for every job validated: as parse_schedule is
def check_bounds(expr: str) -> None:
    """Refuse a schedule past :mod:`moroccron.bounds`: too long, control characters, a
    cron step larger than its field, an ISO repetition count past a billion.

    Separate from :func:`parse_schedule`, which must still read schedules stored before
    these bounds existed; the job model applies both to input.

    :raises ScheduleError: on field ``schedule``.
    """
    problem = bounds.text_problem(expr, bounds.SCHEDULE_MAX)
    if problem is not None:
        raise _schedule_error(problem, expr, f"at most {bounds.SCHEDULE_MAX} characters; " + SCHEDULE_ALLOWED)
    text = expr.strip()
    if _is_iso(text):
        repeats = _iso_parts(text)[0]
        if repeats.isascii() and repeats.isdigit() and int(repeats) > bounds.MAX_ISO_REPEATS:
            raise _schedule_error(f"the repetition count {repeats} is more than {bounds.MAX_ISO_REPEATS:,}", expr,
                                  f"R (forever) or Rn with n at most {bounds.MAX_ISO_REPEATS:,}")
        return
    if text.startswith("@"):
        return
    fields = _CRON_TOKEN.findall(text)
    if len(fields) not in (5, 6):
        return  # the parser says what is wrong
    names = _FIELDS if len(fields) == 6 else _FIELDS[1:]
    sizes = _FIELD_SIZES if len(fields) == 6 else _FIELD_SIZES[1:]
    for (name, allowed), size, value in zip(names, sizes, fields, strict=True):
        for item in value.split(","):
            _, slash, step = item.partition("/")
            if slash and step.isascii() and step.isdigit() and int(step) > size:
                raise _schedule_error(f"the step {step} in the {name} field is more than its {size} values",
                                      expr, f"{name} {allowed}; a step of at most {size}")


# --------------------------------------------------------------------------- cron

_MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS: Final = FIELDS  # (name, allowed values) in 6-field order: second first
_FIELD_SYNTAX: Final = FIELD_SYNTAX
_RANDOM_OR_HASH = re.compile(r"^[hr](\(|/|$)", re.IGNORECASE)
_CRON_TOKEN = re.compile(r"\S+", re.ASCII)


def _parse_cron(text: str, timezone: str, zone: ZoneInfo) -> CronSchedule:
    if text.startswith("@"):
        macro = text.lower()
        if macro == "@reboot":
            raise _schedule_error(
                "@reboot is not supported: jobs run on a schedule, not at boot", text
            )
        if macro not in _MACROS:
            raise _schedule_error("unknown macro", text)
        fields = _MACROS[macro].split()
    else:
        fields = _CRON_TOKEN.findall(text)
    if len(fields) not in (5, 6):
        raise _schedule_error(
            f"a cron expression has 5 fields 'm h dom mon dow' or 6 fields 's m h dom mon dow' "
            f"(seconds first), got {len(fields)}",
            text,
        )
    with_seconds = len(fields) == 6
    names = _FIELDS if with_seconds else _FIELDS[1:]
    for (name, allowed), value in zip(names, fields, strict=True):
        if any(_RANDOM_OR_HASH.match(item) for item in value.split(",")):
            raise _schedule_error(
                f"random (R) and hashed (H) values are not supported in the {name} field: "
                "fire times must be the same on every scheduler instance",
                text,
                f"{name} {allowed}; {_FIELD_SYNTAX}",
            )
    cron_fields = tuple(fields) if with_seconds else ("0", *fields)
    try:
        spec = parse_fields(cron_fields)
    except CronError as exc:
        raise _cron_field_error(text, cron_fields, exc) from None
    _, minute, hour, _, _, _ = cron_fields
    return CronSchedule(
        expr=text,
        timezone=timezone,
        tz=zone,
        fields=cron_fields,
        with_seconds=with_seconds,
        # cronie's split: a job whose minute or hour field starts with "*" is a
        # wildcard (interval) job; any other is a fixed-time job (docs/schedules.md)
        interval=minute.startswith("*") or hour.startswith("*"),
        _spec=spec,
    )


def _cron_field_error(text: str, fields: tuple[str, ...], exc: CronError) -> ScheduleError:
    if exc.field is None:
        _, _, _, dom, month, dow = fields
        return _schedule_error(
            f"the day-of-month {dom!r}, month {month!r} and day-of-week {dow!r} fields never "
            "match a date (February 30? the 31st of a 30-day month?)",
            text,
        )
    name, allowed = _FIELDS[exc.field]
    value = fields[exc.field]
    return _schedule_error(
        f"the {name} field {value!r} is not valid: {exc.message}",
        text,
        f"{name} {allowed}; {_FIELD_SYNTAX}",
    )


_MISSING = object()
_MEMO_SIZE = 512


@dataclass(frozen=True, eq=False, repr=False)
class CronSchedule(Schedule):
    """A cron expression evaluated on the wall clock of ``zone`` (see the module docstring
    and docs/schedules.md for the DST rule). ``fields`` always holds six fields, seconds
    first (``"0"`` for a 5-field expression); ``interval`` is True for wildcard jobs,
    whose minute or hour field starts with ``*``: they follow elapsed time through DST
    transitions."""

    expr: str
    timezone: str
    tz: ZoneInfo
    fields: tuple[str, ...]
    with_seconds: bool
    interval: bool
    # The parsed expression (moroccron.cron), shared by every schedule with these fields.
    _spec: CronSpec = field(repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronSchedule):
            return NotImplemented
        return (self.expr, self.timezone) == (other.expr, other.timezone)

    def __hash__(self) -> int:
        return hash((CronSchedule, self.expr, self.timezone))

    @property
    def ends(self) -> bool:
        return False

    # -- matching, on naive wall times

    def _wall_next(self, wall: datetime) -> datetime | None:
        """The first matching naive wall time strictly after ``wall``."""
        try:
            return self._spec.next_wall(wall)
        except (OverflowError, ValueError):
            return None

    @property
    def _hours(self) -> tuple[int, ...]:
        return self._spec.hours

    @property
    def _minutes(self) -> tuple[int, ...]:
        return self._spec.minutes

    @property
    def _seconds(self) -> tuple[int, ...]:
        return self._spec.seconds

    # -- next fire

    def next_after(self, after: datetime) -> datetime | None:
        after = utc(after)
        # Jobs share parsed schedules (parse_schedule caches them) and are due together,
        # so the same question comes many times in a row: remember the latest answers.
        memo = self._memo
        found = memo.get(after, _MISSING)
        if found is _MISSING:
            found = self._next_after(after)
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[after] = found
        return found  # type: ignore[return-value]

    @cached_property
    def _memo(self) -> dict[datetime, datetime | None]:
        return {}

    def _next_after(self, after: datetime) -> datetime | None:
        if self._utc:
            # no offsets, no transitions: the wall clock is UTC itself
            wall = self._wall_next(after.replace(tzinfo=None))
            return None if wall is None else wall.replace(tzinfo=UTC)
        if self.interval:
            return self._next_interval(after)
        return self._next_fixed(after)

    @cached_property
    def _utc(self) -> bool:
        return self.timezone in ("UTC", "Etc/UTC", "Etc/GMT", "GMT", "Universal", "Zulu", "Etc/Universal",
                                 "Etc/Zulu", "Etc/UCT", "UCT")

    def _next_fixed(self, after: datetime) -> datetime | None:
        # The wall -> instant map (first occurrence / end of gap) is monotonic, so the first
        # matching wall time after the one shown at ``after`` gives the next fire...
        repeat_end = _repeat_end(self.tz, after)
        if repeat_end is None:
            cursor = after.astimezone(self.tz).replace(tzinfo=None)
        else:
            # ...except in the second pass through a repeated hour, whose wall times all
            # fired in the first pass: resume at the wall time where the repetition ends.
            cursor = repeat_end - _US
        while True:
            wall = self._wall_next(cursor)
            if wall is None:
                return None
            try:
                instant = _resolve_wall(self.tz, wall)
                if instant.astimezone(self.tz).date() == wall.date() or not _day_skipped(
                    self.tz, wall.date()
                ):
                    return instant
                # A calendar day that never exists here (Pacific/Apia, 2011-12-30) has no
                # fire: a daily job fires once on every local day that exists.
                cursor = datetime.combine(wall.date() + _DAY, time()) - _US
            except (OverflowError, ValueError):
                return None

    def _next_interval(self, after: datetime) -> datetime | None:
        # Walk stretches of constant UTC offset: within one, instant = wall - offset.
        start, inclusive = after, False
        for _ in range(_MAX_SEGMENTS):
            offset = _offset(self.tz, start)
            wall_from = _naive_utc(start) + offset
            wall = self._wall_next(wall_from - _US if inclusive else wall_from)
            if wall is None:
                return None
            try:
                candidate = (wall - offset).replace(tzinfo=UTC)
            except OverflowError:
                return None
            jump = _transition_between(self.tz, start, candidate)
            if jump is None:
                return candidate
            start, inclusive = jump, True
        return None

    # -- counting without listing

    def _time_count_le(self, t: time) -> int:
        """How many matching times of day are at or before ``t``."""
        ns, nm = len(self._seconds), len(self._minutes)
        count = bisect.bisect_left(self._hours, t.hour) * nm * ns
        if t.hour in self._hours:
            count += bisect.bisect_left(self._minutes, t.minute) * ns
            if t.minute in self._minutes:
                count += bisect.bisect_right(self._seconds, t.second)
        return count

    def _day_matches(self, day: date) -> bool:
        return self._spec.day_matches(day)

    def _matching_days(self, first: date, last: date) -> int:
        return self._spec.count_days(first, last)

    def _count_walls(self, lo: datetime, hi: datetime) -> int:
        """Matching naive wall times ``w`` with ``lo < w <= hi``."""
        if hi <= lo:
            return 0
        per_day = len(self._hours) * len(self._minutes) * len(self._seconds)
        if lo.date() == hi.date():
            if not self._day_matches(lo.date()):
                return 0
            return self._time_count_le(hi.time()) - self._time_count_le(lo.time())
        count = self._matching_days(lo.date() + _DAY, hi.date() - _DAY) * per_day
        if self._day_matches(lo.date()):
            count += per_day - self._time_count_le(lo.time())
        if self._day_matches(hi.date()):
            count += self._time_count_le(hi.time())
        return count

    def count_between(self, start: datetime, end: datetime) -> int:
        """Fire times in ``(start, end]``, counted day by day (not one by one), so a
        month of a per-second schedule costs about as much as a month of a daily one."""
        start, end = utc(start), utc(end)
        if end <= start:
            return 0
        if self.interval:
            return self._count_interval(start, end)
        return self._count_fixed(start, end)

    def _count_interval(self, start: datetime, end: datetime) -> int:
        count, inclusive = 0, False
        while True:
            offset = _offset(self.tz, start)
            wall_from = _naive_utc(start) + offset - (_US if inclusive else timedelta(0))
            jump = _transition_between(self.tz, start, end)
            if jump is None:
                return count + self._count_walls(wall_from, _naive_utc(end) + offset)
            count += self._count_walls(wall_from, _naive_utc(jump) + offset - _US)
            start, inclusive = jump, True

    def _fixed_wall_bound(self, instant: datetime) -> datetime:
        """The latest wall time whose fire is at or before ``instant`` (fixed-time jobs)."""
        repeat_end = _repeat_end(self.tz, instant)
        if repeat_end is not None:
            return repeat_end - _US
        return instant.astimezone(self.tz).replace(tzinfo=None)

    def _count_fixed(self, start: datetime, end: datetime) -> int:
        count = self._count_walls(self._fixed_wall_bound(start), self._fixed_wall_bound(end))
        # The matching wall times in a spring gap, and the one the clock jumps to, all fire
        # once at the jump: count them once. Those on a calendar day skipped entirely do
        # not fire at all.
        cursor = start
        while (jump := _transition_between(self.tz, cursor, end)) is not None:
            before, after = _offset(self.tz, cursor), _offset(self.tz, jump)
            if after > before:
                gap_start = _naive_utc(jump) + before
                gap_end = _naive_utc(jump) + after
                collapsed = self._count_walls(gap_start - _US, gap_end)
                lost = self._count_walls_on_skipped_days(gap_start, gap_end)
                count -= collapsed - min(collapsed - lost, 1)
            cursor = jump
        return count

    def _count_walls_on_skipped_days(self, gap_start: datetime, gap_end: datetime) -> int:
        """Matching wall times in ``[gap_start, gap_end)`` on calendar days lying wholly
        inside that gap."""
        first = gap_start.date() if gap_start.time() == time() else gap_start.date() + _DAY
        last = gap_end.date() - _DAY  # whole days end before gap_end's day starts
        if last < first:
            return 0
        return self._count_walls(datetime.combine(first, time()) - _US,
                                 datetime.combine(last + _DAY, time()) - _US)

    # -- words

    def describe(self) -> str:
        words = _describe_cron(self.fields)
        if words is None:
            return f"cron '{self.expr}' ({self.timezone})"
        text, wall_clock = words
        return f"{text} ({self.timezone})" if wall_clock else text


_DAY_NAMES: Final = (
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
_MONTH_NAMES: Final = (
    "", "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DOW_ALIASES: Final = {name[:3].lower(): i for i, name in enumerate(_DAY_NAMES[:7])}
_MONTH_ALIASES: Final = {name[:3].lower(): i for i, name in enumerate(_MONTH_NAMES) if name}


def _number(value: str, low: int, high: int, aliases: dict[str, int] | None = None) -> int | None:
    if value.isdigit() and low <= int(value) <= high:
        return int(value)
    if aliases is not None:
        return aliases.get(value.lower())
    return None


def _even_step(value: str, whole: int) -> int | None:
    """``n`` for ``*/n`` when n divides the field evenly (so "every n" is true), 1 for ``*``."""
    if value == "*":
        return 1
    match = re.fullmatch(r"\*/(\d+)", value)
    if match and 0 < int(match[1]) < whole and whole % int(match[1]) == 0:
        return int(match[1])
    return None


def _every(n: int, unit: str) -> str:
    return f"every {unit}" if n == 1 else f"every {n} {unit}s"


def _describe_days(dow: str) -> str | None:
    parts: list[str] = []
    for item in dow.split(","):
        if "-" in item:
            low, _, high = item.partition("-")
            a, b = _number(low, 0, 7, _DOW_ALIASES), _number(high, 0, 7, _DOW_ALIASES)
            if a is None or b is None or a >= b:
                return None
            parts.append(f"{_DAY_NAMES[a]} to {_DAY_NAMES[b]}")
        else:
            day = _number(item, 0, 7, _DOW_ALIASES)
            if day is None:
                return None
            parts.append(_DAY_NAMES[day])
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _describe_cron(fields: tuple[str, ...]) -> tuple[str, bool] | None:
    """``(words, depends_on_wall_clock)`` for the common shapes, else ``None``."""
    second, minute, hour, dom, month, dow = (f.lower() for f in fields)
    every_day = all(f in ("*", "?") for f in (dom, month, dow))
    sec, mins, hrs = _number(second, 0, 59), _number(minute, 0, 59), _number(hour, 0, 23)
    if every_day and minute == "*" and hour == "*" and (step := _even_step(second, 60)):
        return _every(step, "second"), False
    if sec is None:
        return None
    at_second = f":{sec:02d}" if sec else ""
    if every_day and hour == "*" and sec == 0 and (step := _even_step(minute, 60)):
        return _every(step, "minute"), False
    if every_day and mins is not None and (step := _even_step(hour, 24)):
        return (
            f"{_every(step, 'hour')} at minute {mins}{' second ' + str(sec) if sec else ''}",
            True,
        )
    if mins is None or hrs is None:
        return None
    at = f"at {hrs:02d}:{mins:02d}{at_second}"
    if every_day:
        return f"{at} every day", True
    if dom in ("*", "?") and month in ("*", "?"):
        days = _describe_days(dow)
        return (f"{at} on {days}", True) if days else None
    if dow not in ("*", "?"):
        return None
    if dom == "l" and month in ("*", "?"):
        return f"{at} on the last day of every month", True
    day = _number(dom, 1, 31)
    if day is None:
        return None
    if month in ("*", "?"):
        return f"{at} on day {day} of every month", True
    mon = _number(month, 1, 12, _MONTH_ALIASES)
    return (f"{at} on {_MONTH_NAMES[mon]} {day} every year", True) if mon else None


# --------------------------------------------------------------------------- ISO 8601

_ISO = re.compile(r"^R(?P<repeats>[^/]*)/(?P<start>[^/]*)/(?P<period>.*)$", re.IGNORECASE)
_NUM = r"(\d+(?:[.,]\d+)?)"
_PERIOD = re.compile(
    rf"^P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?$",
    re.IGNORECASE,
)
_PERIOD_UNITS: Final = ("year", "month", "week", "day", "hour", "minute", "second")
# Mean lengths, used only to guess an index that is then corrected exactly.
_MEAN_MONTH_SECONDS: Final = 365.2425 * 86400 / 12


def _is_iso(text: str) -> bool:
    # "R/5 * * * *" (a random value, as some crons write it) is cron, and refused as such.
    return text[:1] in ("R", "r") and text.count("/") >= 2


def _iso_parts(text: str) -> tuple[str, str, str]:
    match = _ISO.fullmatch(text)  # fullmatch: "$" alone would allow a final newline
    if match is None:
        return "", "", ""
    return match["repeats"], match["start"], match["period"]


def _parse_iso(text: str, timezone: str, zone: ZoneInfo, now: datetime | None) -> IsoSchedule:
    if _ISO.fullmatch(text) is None or text.count("/") != 2:
        raise _schedule_error("an ISO 8601 schedule has three parts 'R[n]/<start>/<period>'", text)
    repeats_text, start_text, period_text = _iso_parts(text)
    # ASCII digits: str.isdigit() is also true of '²', which int() refuses.
    if repeats_text and not (repeats_text.isascii() and repeats_text.isdigit()):
        raise _schedule_error(
            f"the repetition count {repeats_text!r} is not a whole number",
            text,
            "R (forever), R0 (never) or Rn: n fires in total, counting the start",
        )
    repeats = int(repeats_text) if repeats_text else None
    start = _parse_iso_start(text, start_text, zone, now)
    period = _parse_period(text, period_text)
    years, months, weeks, days, hours, minutes, seconds = period
    schedule = IsoSchedule(
        expr=text,
        timezone=timezone,
        tz=zone,
        repeats=repeats,
        start=start,
        period=period,
        _months=12 * years + months,
        _days=7 * weeks + days,
        _seconds=3600 * hours + 60 * minutes + seconds,
        _start_wall=start.astimezone(zone).replace(tzinfo=None),
    )
    try:
        schedule._fire(1)
    except (OverflowError, ValueError):
        raise _schedule_error("the period is too long", text, ISO_PERIOD_ALLOWED) from None
    return schedule


def _parse_iso_start(text: str, start_text: str, zone: ZoneInfo, now: datetime | None) -> datetime:
    allowed = (
        "an ISO 8601 date-time such as 2026-03-08T20:00:00Z or 2026-03-08T20:00:00+01:00 "
        "(without an offset: wall time in the job's time zone), whole seconds"
    )
    if not start_text:
        if now is None:
            raise _schedule_error(
                "an empty start means 'now', which needs the current time: give a start",
                text,
                allowed,
            )
        return utc(now).replace(microsecond=0)
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError:
        raise _schedule_error(
            f"the start {start_text!r} is not an ISO 8601 date-time", text, allowed
        ) from None
    if start.microsecond:
        raise _schedule_error(f"the start {start_text!r} has a fraction of a second", text, allowed)
    if start.tzinfo is None:
        try:
            return _resolve_wall(zone, start)
        except (OverflowError, ValueError):
            raise _schedule_error(
                f"the start {start_text!r} is out of range", text, allowed
            ) from None
    try:
        return utc(start)
    except (OverflowError, ValueError):
        raise _schedule_error(f"the start {start_text!r} is out of range", text, allowed) from None


def _parse_period(text: str, period_text: str) -> tuple[int, int, int, int, int, int, int]:
    match = _PERIOD.fullmatch(period_text)
    if match is None or not any(match.groups()) or period_text.upper().endswith("T"):
        raise _schedule_error(
            f"the period {period_text!r} is not an ISO 8601 duration", text, ISO_PERIOD_ALLOWED
        )
    values: list[int] = []
    for unit, raw in zip(_PERIOD_UNITS, match.groups(), strict=True):
        number = Decimal((raw or "0").replace(",", "."))
        if number != number.to_integral_value():
            if unit == "second":
                raise _schedule_error(
                    f"the period {period_text!r} has a fraction of a second: fire times are whole seconds",
                    text,
                    ISO_PERIOD_ALLOWED,
                )
            raise _schedule_error(
                f"the period {period_text!r} has a fractional number of {unit}s: use whole numbers "
                f"(e.g. PT36H rather than P1.5D)",
                text,
                ISO_PERIOD_ALLOWED,
            )
        values.append(int(number))
    if not any(values):
        raise _schedule_error(f"the period {period_text!r} is zero", text, ISO_PERIOD_ALLOWED)
    years, months, weeks, days, hours, minutes, seconds = values
    return years, months, weeks, days, hours, minutes, seconds


def _add_months(wall: datetime, months: int) -> datetime:
    """``wall`` plus whole months, clipped to the last day of a shorter month."""
    year, month0 = divmod(wall.month - 1 + months, 12)
    year += wall.year
    if not 1 <= year <= 9999:
        raise OverflowError("date out of range")
    day = min(wall.day, calendar.monthrange(year, month0 + 1)[1])
    return wall.replace(year=year, month=month0 + 1, day=day)


@dataclass(frozen=True, eq=False, repr=False)
class IsoSchedule(Schedule):
    """A Chronos ISO 8601 repeating interval ``R[n]/<start>/<period>`` (see the module
    docstring). ``period`` holds (years, months, weeks, days, hours, minutes, seconds)."""

    expr: str
    timezone: str
    tz: ZoneInfo
    repeats: int | None
    start: datetime
    period: tuple[int, int, int, int, int, int, int]
    _months: int = field(repr=False)
    _days: int = field(repr=False)
    _seconds: int = field(repr=False)
    _start_wall: datetime = field(repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IsoSchedule):
            return NotImplemented
        return (self.canonical, self.timezone) == (other.canonical, other.timezone)

    def __hash__(self) -> int:
        return hash((IsoSchedule, self.canonical, self.timezone))

    @property
    def ends(self) -> bool:
        return self.repeats is not None

    @property
    def canonical(self) -> str:
        """``R[n]/<start in UTC>/<period>``: the start resolved (also an empty one)."""
        repeats = "" if self.repeats is None else str(self.repeats)
        return f"R{repeats}/{format_utc(self.start)}/{self.expr.rsplit('/', 1)[1].upper()}"

    def _fire(self, k: int) -> datetime:
        """Fire ``k`` (from 0), ignoring the repetition count. O(1)."""
        if k == 0:
            return self.start
        instant = self.start
        if self._months or self._days:
            wall = self._start_wall
            if self._months:
                wall = _add_months(wall, k * self._months)
            wall += timedelta(days=k * self._days)
            instant = _resolve_wall(self.tz, wall)
        if self._seconds:
            instant += timedelta(seconds=k * self._seconds)
        return instant

    def _last_index(self, at: datetime) -> int | None:
        """The largest ``k`` with ``fire(k) <= at`` (ignoring the count), None before start."""
        if at < self.start:
            return None
        if not (self._months or self._days):
            return (at - self.start) // timedelta(seconds=self._seconds)
        mean = self._months * _MEAN_MONTH_SECONDS + self._days * 86400 + self._seconds
        k = int((at - self.start).total_seconds() // mean)
        while k > 0 and self._fire_or_max(k) > at:
            k -= 1
        while self._fire_or_max(k + 1) <= at:
            k += 1
        return k

    def _fire_or_max(self, k: int) -> datetime:
        try:
            return self._fire(k)
        except (OverflowError, ValueError):
            return datetime.max.replace(tzinfo=UTC)

    def _fires_at_or_before(self, at: datetime) -> int:
        last = self._last_index(at)
        count = 0 if last is None else last + 1
        return count if self.repeats is None else min(count, self.repeats)

    def next_after(self, after: datetime) -> datetime | None:
        after = utc(after)
        if self.repeats == 0:
            return None
        if after < self.start:
            return self.start
        try:
            k = self._fires_at_or_before(after)
            while self.repeats is None or k < self.repeats:
                fire = self._fire(k)
                if fire > after:
                    return fire
                k += 1
        except (OverflowError, ValueError):
            pass
        return None

    def count_between(self, start: datetime, end: datetime) -> int:
        start, end = utc(start), utc(end)
        if end <= start:
            return 0
        return self._fires_at_or_before(end) - self._fires_at_or_before(start)

    def last_at_or_before(self, at: datetime, floor: datetime) -> datetime | None:
        at, floor = utc(at), utc(floor)
        count = self._fires_at_or_before(at)
        if count == 0:
            return None
        fire = self._fire(count - 1)
        return fire if fire > floor else None

    def describe(self) -> str:
        if self.repeats == 0:
            return "never (R0)"
        start = format_utc(self.start)
        if self.repeats == 1:
            return f"once at {start}"
        parts = [(n, unit) for n, unit in zip(self.period, _PERIOD_UNITS, strict=True) if n]
        if len(parts) == 1:
            text = _every(*parts[0])
        else:
            text = "every " + " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts)
        text += f" from {start}"
        if self.repeats is not None:
            text += f", {self.repeats} times"
        if self._months or self._days:
            text += f" ({self.timezone})"
        return text


# --------------------------------------------------------------------------- missed runs

CatchupPolicy = Literal["none", "latest", "all"]
CATCHUP_POLICIES: Final = ("none", "latest", "all")
# When more fire times are skipped than the cap, ``CatchupPlan.skipped`` lists only the
# first and the last SKIPPED_SAMPLE of them; ``skipped_count`` has the total.
SKIPPED_SAMPLE: Final = 5


@dataclass(frozen=True, slots=True)
class CatchupPlan:
    """What to do with fire times missed while nobody was scheduling.

    ``run``: scheduled times to launch now, oldest first. ``skipped``: scheduled times to
    record as skipped, with the reason, oldest first; complete whenever ``skipped_count <=
    cap``, otherwise only the first and last :data:`SKIPPED_SAMPLE`. ``skipped_count``:
    how many were skipped in total, listed or not. ``next_fire``: the first fire time
    strictly after ``now``.
    """

    run: list[datetime]
    skipped: list[tuple[datetime, str]]
    next_fire: datetime | None
    skipped_count: int = 0

    @property
    def skipped_unlisted(self) -> int:
        """Skipped times not listed in ``skipped`` (0 unless more than the cap were skipped)."""
        return self.skipped_count - len(self.skipped)


def plan_catchup(
    schedule: Schedule,
    last_scheduled: datetime | None,
    now: datetime,
    policy: CatchupPolicy,
    cap: int = 100,
    starting_deadline_seconds: float | None = None,
) -> CatchupPlan:
    """Plan the fire times missed in ``(last_scheduled, now]``.

    First the deadline narrows the window, as Kubernetes' CronJob controller does: with
    ``starting_deadline_seconds`` = ``d``, a missed time ``t`` is a *candidate* only if it
    could still start, ``now - t <= d`` (the rule of :func:`deadline_exceeded`); older
    ones are skipped for the deadline whatever the policy. Then the policy and the cap
    apply to the candidates alone:

    * ``none``: run none of them, record them all as skipped.
    * ``latest``: run the most recent once, record the others as skipped.
    * ``all``: run every one, oldest first, when there are at most ``cap``; when there
      are more, run only the most recent and record the others as skipped.

    ``skipped`` lists every skipped time when there are at most ``cap`` of them, and a
    sample (the first and last :data:`SKIPPED_SAMPLE`) otherwise; ``skipped_count`` is
    always the total. A job never scheduled before (``last_scheduled is None``) has
    missed nothing. Memory and time are bounded whatever the downtime: at most about
    ``2 * cap + 1`` missed times are materialised, and totals are counted without listing
    (a month of a per-second schedule is 2.6 million times, counted in milliseconds).
    """
    if policy not in CATCHUP_POLICIES:
        raise ValueError(f"catchup policy {policy!r} is not one of {', '.join(CATCHUP_POLICIES)}")
    if cap < 1:
        raise ValueError(f"catch-up cap must be at least 1, got {cap}")
    if starting_deadline_seconds is not None and starting_deadline_seconds < 0:
        raise ValueError(f"starting_deadline_seconds must be >= 0, got {starting_deadline_seconds}")
    now = utc(now)
    next_fire = schedule.next_after(now)
    if last_scheduled is None or utc(last_scheduled) >= now:
        return CatchupPlan([], [], next_fire, 0)
    last = utc(last_scheduled)
    # Fire times are whole seconds: t >= now - d  <=>  t > ceil(now - d) - 1 s.
    expired_end = last
    if starting_deadline_seconds is not None:
        oldest = now - timedelta(seconds=starting_deadline_seconds)
        oldest_second = oldest.replace(microsecond=0)
        if oldest_second < oldest:
            oldest_second += timedelta(seconds=1)
        expired_end = max(last, oldest_second - timedelta(seconds=1))
    expired = schedule.count_between(last, expired_end) if expired_end > last else 0
    candidates = schedule.count_between(expired_end, now)
    if policy == "none" or candidates == 0:
        run: list[datetime] = []
    elif policy == "all" and candidates <= cap:
        run = schedule.times_between(expired_end, now, candidates)
    else:
        latest = schedule.last_at_or_before(now, expired_end)
        run = [] if latest is None else [latest]
    skipped_count = expired + candidates - len(run)
    reasons = _Reasons(policy, cap, expired_end, now, starting_deadline_seconds)
    if skipped_count <= cap:
        listed = [t for t in schedule.times_between(last, now, skipped_count + len(run)) if t not in run]
    else:
        listed = _sample(schedule, last, now, expired_end, run, policy)
    return CatchupPlan(run, [(t, reasons.of(t)) for t in listed], next_fire, skipped_count)


@dataclass(frozen=True, slots=True)
class _Reasons:
    """Why a missed time is skipped: past the deadline, or the catch-up policy."""

    policy: CatchupPolicy
    cap: int
    expired_end: datetime
    now: datetime
    deadline: float | None

    def of(self, at: datetime) -> str:
        if self.deadline is not None and at <= self.expired_end:
            return deadline_exceeded(at, self.now, self.deadline) or _REASONS["deadline"]
        return _REASONS[self.policy].format(cap=self.cap)


def _sample(
    schedule: Schedule,
    last: datetime,
    now: datetime,
    expired_end: datetime,
    run: list[datetime],
    policy: CatchupPolicy,
) -> list[datetime]:
    """The first and last SKIPPED_SAMPLE skipped times of a long gap, oldest first."""
    runs = set(run)
    head = [t for t in schedule.times_between(last, now, SKIPPED_SAMPLE + len(run)) if t not in runs]
    head = head[:SKIPPED_SAMPLE]
    # The newest skipped time: just below what runs. Run times are the newest candidates
    # (all of them with ``all`` within the cap, else the latest one).
    if policy == "all" and len(run) > 1:
        cursor: datetime | None = expired_end
    elif run:
        cursor = run[0] - _US
    else:
        cursor = now
    tail: list[datetime] = []
    while cursor is not None and len(tail) < SKIPPED_SAMPLE:
        cursor = schedule.last_at_or_before(cursor, last)
        if cursor is not None:
            tail.append(cursor)
            cursor -= _US
    return sorted(set(head) | set(tail))


_REASONS: Final = {
    "none": "missed during downtime; catchup=none",
    "latest": "missed during downtime; catchup=latest runs only the most recent",
    "all": "missed; beyond catch-up cap of {cap}",
    "deadline": "missed; older than starting_deadline_seconds",
}

POLICY_SKIPS: Final = frozenset({_REASONS["none"], _REASONS["latest"]})
"""Reasons of missed times skipped because the job's ``catchup`` policy asks for it
(``none``; ``latest``'s older times). The owner chose that, so nobody is told about
them; the skipped run is still recorded, logged and counted. Times skipped past the
starting deadline or beyond the catch-up cap are not in this set."""


# --------------------------------------------------------------------------- deadline


def deadline_exceeded(
    scheduled_at: datetime, now: datetime, starting_deadline_seconds: float | None
) -> str | None:
    """The reason to skip a run that could not start in time, or ``None`` if it still may.

    A run may start while ``now - scheduled_at <= starting_deadline_seconds``; ``None``
    as the deadline means no deadline.
    """
    if starting_deadline_seconds is None:
        return None
    if starting_deadline_seconds < 0:
        raise ValueError(f"starting_deadline_seconds must be >= 0, got {starting_deadline_seconds}")
    late = (utc(now) - utc(scheduled_at)).total_seconds()
    if late <= starting_deadline_seconds:
        return None
    limit = (
        str(int(starting_deadline_seconds))
        if float(starting_deadline_seconds).is_integer()
        else str(starting_deadline_seconds)
    )
    return (
        f"could not start within starting_deadline_seconds={limit} "
        f"(scheduled {format_utc(scheduled_at)}, now {format_utc(now)}, late by {late:.1f}s)"
    )
