"""Reading a schedule: :func:`parse_schedule` (cached) and the input bounds of :func:`check_bounds`."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Final

from moroccron import bounds
from moroccron.schedule.base import SCHEDULE_ALLOWED, Schedule, _schedule_error
from moroccron.schedule.cron_schedule import _CRON_TOKEN, _FIELDS, _parse_cron
from moroccron.schedule.iso8601 import _is_iso, _iso_parts, _parse_iso
from moroccron.schedule.tz import validate_timezone


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
            raise _schedule_error(
                f"the repetition count {repeats} is more than {bounds.MAX_ISO_REPEATS:,}",
                expr,
                f"R (forever) or Rn with n at most {bounds.MAX_ISO_REPEATS:,}",
            )
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
                raise _schedule_error(
                    f"the step {step} in the {name} field is more than its {size} values",
                    expr,
                    f"{name} {allowed}; a step of at most {size}",
                )
