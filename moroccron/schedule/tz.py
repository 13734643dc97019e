"""Instants in UTC and time zones: epoch conversions, UTC offsets and their transitions,
wall times skipped or repeated by DST, and checking a zone name."""

from __future__ import annotations

import difflib
import math
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from moroccron.errors import FieldError, ScheduleError

TIMEZONE_ALLOWED: Final = (
    "an IANA time zone name such as UTC, Europe/London, America/New_York, Asia/Kolkata or Australia/Lord_Howe"
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
        raise ScheduleError(FieldError("timezone", "a time zone name is required", name, TIMEZONE_ALLOWED))
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
