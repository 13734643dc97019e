"""Chronos's ISO 8601 repeating intervals ``R[n]/<start>/<period>``: :class:`IsoSchedule`."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from moroccron.schedule.base import Schedule, _schedule_error
from moroccron.schedule.cron_schedule import _every
from moroccron.schedule.tz import _resolve_wall, format_utc, utc

ISO_PERIOD_ALLOWED: Final = (
    "an ISO 8601 duration PnYnMnWnDTnHnMnS with whole numbers, greater than zero, "
    "such as PT30S, PT2H, P1D, P1W, P1M or P1Y2M3DT4H5M6S"
)

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
        raise _schedule_error(f"the start {start_text!r} is not an ISO 8601 date-time", text, allowed) from None
    if start.microsecond:
        raise _schedule_error(f"the start {start_text!r} has a fraction of a second", text, allowed)
    if start.tzinfo is None:
        try:
            return _resolve_wall(zone, start)
        except (OverflowError, ValueError):
            raise _schedule_error(f"the start {start_text!r} is out of range", text, allowed) from None
    try:
        return utc(start)
    except (OverflowError, ValueError):
        raise _schedule_error(f"the start {start_text!r} is out of range", text, allowed) from None


def _parse_period(text: str, period_text: str) -> tuple[int, int, int, int, int, int, int]:
    match = _PERIOD.fullmatch(period_text)
    if match is None or not any(match.groups()) or period_text.upper().endswith("T"):
        raise _schedule_error(f"the period {period_text!r} is not an ISO 8601 duration", text, ISO_PERIOD_ALLOWED)
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
