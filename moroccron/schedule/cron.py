"""Cron expressions: the text parsed into per-field value sets and day rules, and the
next matching wall-clock time after a given one.

Pure and time-zone free: everything here works on naive wall times. The time zone and
daylight saving rules are applied by :class:`moroccron.schedule.CronSchedule`. The
rules themselves (which forms are accepted, how day-of-month and day-of-week combine,
what is refused) are stated in docs/schedules.md; this module implements them.

A parsed :class:`CronSpec` is immutable apart from a bounded cache of matching days per
month, which is safe to share between threads (a lost race only recomputes a month).
"""

from __future__ import annotations

import bisect
import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from typing import Final

__all__ = ["FIELDS", "FIELD_SYNTAX", "CronError", "CronSpec", "parse_fields"]

# (name, allowed values) in 6-field order: second first.
FIELDS: Final = (
    ("second", "0-59"),
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31, L (last day), nW (weekday nearest day n), LW (last weekday) or ?"),
    ("month", "1-12 or JAN-DEC"),
    (
        "day-of-week",
        "0-7 or SUN-SAT (0 and 7 are Sunday), nL or Ln (last weekday n of the month), n#k (k-th weekday n, k 1-5) or ?",
    ),
)
FIELD_SYNTAX: Final = (
    "each field is *, n, a-b, */s, a-b/s, n/s or a comma-separated list of these; "
    "a-b with a > b wraps around (22-2 is 22,23,0,1,2)"
)
_SECOND, _MINUTE, _HOUR, _DOM, _MONTH, _DOW = range(6)
# Inclusive bounds of each field's values; day-of-week accepts 7 as Sunday, and its
# cycle (for */s, n/s and wrap-around ranges) is 0-6.
_BOUNDS: Final = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CYCLE_HIGH: Final = (59, 59, 23, 31, 12, 6)
_MONTH_NAMES: Final = {
    n: i + 1 for i, n in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
}
_DOW_NAMES: Final = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_NAMES: Final = {_MONTH: _MONTH_NAMES, _DOW: _DOW_NAMES}
# How many months the day search looks at before giving up: the Gregorian calendar
# repeats its weekdays every 400 years, so a day rule that matches no date in 400
# years matches none ever.
_CYCLE_MONTHS: Final = 400 * 12 + 1
_MONTH_CACHE_SIZE: Final = 2048
_ALL_DAYS: Final = frozenset(range(1, 32))
_ALL_DOW: Final = frozenset(range(7))
_ALL_MONTHS: Final = frozenset(range(1, 13))


class CronError(ValueError):
    """A cron expression that cannot be used. ``field`` is the index of the field at
    fault in 6-field order (second first), or ``None`` when no single field is."""

    def __init__(self, message: str, field: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# --------------------------------------------------------------------------- parsing


def _number(text: str, index: int) -> int:
    """One value of field ``index``: digits or, for months and weekdays, a 3-letter name."""
    if text.isascii() and text.isdigit():
        value = int(text)
    else:
        named = _NAMES.get(index, {}).get(text)
        if named is None:
            raise CronError(f"{text!r} is not a number" + (" or a name" if index in _NAMES else ""), index)
        value = named
    low, high = _BOUNDS[index]
    if not low <= value <= high:
        raise CronError(f"{text!r} is out of range", index)
    return value


def _step(text: str, index: int) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise CronError(f"the step {text!r} is not a whole number of at least 1", index)
    return int(text)


def _span(item: str, index: int) -> list[int]:
    """The values of one list item without day extensions: ``*``, ``n``, ``a-b``, with an
    optional ``/s``. ``n/s`` is ``n`` to the end of the field every ``s``; ``a-b`` with
    ``a > b`` wraps around the field's cycle."""
    body, slash, step_text = item.partition("/")
    step = _step(step_text, index) if slash else 1
    low, top = _BOUNDS[index][0], _CYCLE_HIGH[index]
    if body == "*":
        return list(range(low, top + 1, step))
    first_text, dash, last_text = body.partition("-")
    first = _number(first_text, index)
    if not dash:
        if not slash:
            return [first]
        return list(range(first, max(top, first) + 1, step))
    last = _number(last_text, index)
    if index == _DOW and first == 7 and last < 7:
        first = 0  # 7-1 is Sunday to Monday
    if first <= last:
        return list(range(first, last + 1, step))
    size = top - low + 1  # wrap around: 22-2 in hours is 22, 23, 0, 1, 2
    return [low + (v - low) % size for v in range(first, last + size + 1, step)]


@lru_cache(maxsize=4096)
def _plain_field(index: int, text: str) -> frozenset[int]:
    """Seconds, minutes, hours or months: the set of values."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError("an empty list item", index)
        if index != _MONTH and item[0].isalpha():
            raise CronError(f"{item!r} is not a number", index)
        values.update(_span(item, index))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class _DomRule:
    days: frozenset[int]
    last: bool  # L
    nearest: frozenset[int]  # nW
    last_weekday: bool  # LW


@dataclass(frozen=True, slots=True)
class _DowRule:
    days: frozenset[int]  # 0-6
    nth: frozenset[tuple[int, int]]  # (weekday, k) for n#k
    last: frozenset[int]  # nL: the last such weekday of the month


@lru_cache(maxsize=4096)
def _dom_field(text: str) -> _DomRule:
    if text == "?":
        return _DomRule(_ALL_DAYS, False, frozenset(), False)
    days: set[int] = set()
    nearest: set[int] = set()
    last = last_weekday = False
    for item in text.split(","):
        if not item:
            raise CronError("an empty list item", _DOM)
        if item == "l":
            last = True
        elif item == "lw":
            last_weekday = True
        elif item.endswith("w") or (item.startswith("w") and item[1:].isdigit()):
            number = item[:-1] if item.endswith("w") else item[1:]
            if not (number.isascii() and number.isdigit()):
                raise CronError(f"{item!r}: W takes a single day, as in 15W (a range or step is ambiguous)", _DOM)
            nearest.add(_number(number, _DOM))
        elif "-l" in item:
            # a-L: from day a to the last day of each month (days past a month's end
            # do not exist in it, so 31 stands for the last day here)
            head, _, tail = item.partition("-l")
            if tail and not tail.startswith("/"):
                raise CronError(f"{item!r} is not a day-of-month range", _DOM)
            days.update(_span(f"{head}-31{tail}", _DOM))
        elif "l" in item or "w" in item or "#" in item:
            raise CronError(f"{item!r} is not a day-of-month value", _DOM)
        else:
            days.update(_span(item, _DOM))
    return _DomRule(frozenset(days), last, frozenset(nearest), last_weekday)


@lru_cache(maxsize=4096)
def _dow_field(text: str) -> _DowRule:
    if text == "?":
        return _DowRule(_ALL_DOW, frozenset(), frozenset())
    days: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError("an empty list item", _DOW)
        if "#" in item:
            head, _, k_text = item.partition("#")
            if not (k_text.isascii() and k_text.isdigit() and 1 <= int(k_text) <= 5):
                raise CronError(f"{item!r}: the k in n#k is 1 to 5", _DOW)
            if "/" in head or "*" in head:
                raise CronError(f"{item!r}: n#k takes a weekday or a range of weekdays", _DOW)
            nth.update((d % 7, int(k_text)) for d in _span(head, _DOW))
        elif item == "l":
            raise CronError(
                "'L' alone is ambiguous in day-of-week (Saturday? last day?): write 6L or L in day-of-month", _DOW
            )
        elif item.endswith("l") or item.startswith("l"):
            number = item[:-1] if item.endswith("l") else item[1:]
            if "-" in number or "/" in number or "*" in number or not number:
                raise CronError(f"{item!r}: nL takes a single weekday, as in 5L", _DOW)
            last.add(_number(number, _DOW) % 7)
        else:
            days.update(d % 7 for d in _span(item, _DOW))
    return _DowRule(frozenset(days), frozenset(nth), frozenset(last))


def _restricted(text: str) -> bool:
    """Vixie/cronie: a day field is unrestricted when its text starts with ``*`` (``?``
    is ``*``), even ``*/2``; when both day fields are restricted they are OR'ed."""
    return not text.startswith(("*", "?"))


def parse_fields(fields: tuple[str, ...]) -> CronSpec:
    """A :class:`CronSpec` from six fields (second first; lower-case or not).

    :raises CronError: naming the field at fault, or no field when the day fields
        together never match a date.
    """
    return _parse(tuple(f.lower() for f in fields))


@lru_cache(maxsize=16384)
def _parse(fields: tuple[str, ...]) -> CronSpec:
    second, minute, hour, dom, month, dow = fields
    for index, text in enumerate(fields):
        if "?" in text and (index not in (_DOM, _DOW) or text != "?"):
            raise CronError("'?' is allowed only as the whole day-of-month or day-of-week field", index)
    spec = CronSpec(
        seconds=tuple(sorted(_plain_field(_SECOND, second))),
        minutes=tuple(sorted(_plain_field(_MINUTE, minute))),
        hours=tuple(sorted(_plain_field(_HOUR, hour))),
        months=_plain_field(_MONTH, month),
        dom=_dom_field(dom),
        dow=_dow_field(dow),
        dom_restricted=_restricted(dom),
        dow_restricted=_restricted(dow),
    )
    if not spec.surely_matches() and spec.next_day(date(2000, 1, 1)) is None:
        raise CronError("never match a date")
    return spec


# --------------------------------------------------------------------------- matching


def _nearest_weekday(day: int, first_weekday: int, length: int) -> int:
    """The weekday (Monday-Friday) nearest ``day`` in its month, never leaving it.
    ``first_weekday`` is the weekday of day 1, 0 = Monday as in :mod:`calendar`."""
    weekday = (first_weekday + day - 1) % 7
    if weekday == 5:  # Saturday: the Friday before, or Monday the 3rd from the 1st
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before from the last day
        return day + 1 if day < length else day - 2
    return day


@dataclass(frozen=True, eq=False, slots=True)
class CronSpec:
    """A parsed cron expression: sorted seconds, minutes and hours, the months, the
    day-of-month and day-of-week rules and whether each day field is restricted."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    dom: _DomRule
    dow: _DowRule
    dom_restricted: bool
    dow_restricted: bool
    _month_days: dict[int, tuple[int, ...]] = field(default_factory=dict, repr=False)
    _hour_set: frozenset[int] = field(init=False, repr=False)
    _minute_set: frozenset[int] = field(init=False, repr=False)
    every_day: bool = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "_hour_set", frozenset(self.hours))
        set_(self, "_minute_set", frozenset(self.minutes))
        dom, dow = self.dom, self.dow
        set_(
            self,
            "every_day",
            self.months == _ALL_MONTHS
            and (
                dom.days == _ALL_DAYS and dow.days == _ALL_DOW and not self.dom_restricted and not self.dow_restricted
            ),
        )

    # -- days

    def month_days(self, year: int, month: int) -> tuple[int, ...]:
        """The matching days of a month, sorted (empty when the month is not matched)."""
        key = year * 12 + month
        found = self._month_days.get(key)
        if found is None:
            found = self._compute_month(year, month) if month in self.months else ()
            if len(self._month_days) >= _MONTH_CACHE_SIZE:
                self._month_days.clear()
            self._month_days[key] = found
        return found

    def _compute_month(self, year: int, month: int) -> tuple[int, ...]:
        first_weekday, length = calendar.monthrange(year, month)  # 0 = Monday
        dom, dow = self.dom, self.dow
        by_dom = {d for d in dom.days if d <= length}
        if dom.last:
            by_dom.add(length)
        by_dom.update(_nearest_weekday(d, first_weekday, length) for d in dom.nearest if d <= length)
        if dom.last_weekday:
            by_dom.add(_nearest_weekday(length, first_weekday, length))
        # cron weekday (0 = Sunday) of day 1
        sunday_first = (first_weekday + 1) % 7
        if dow.days == _ALL_DOW:
            by_dow = set(range(1, length + 1))
        else:
            by_dow = {d for d in range(1, length + 1) if (sunday_first + d - 1) % 7 in dow.days}
        for weekday, k in dow.nth:
            day = 1 + (weekday - sunday_first) % 7 + 7 * (k - 1)
            if day <= length:
                by_dow.add(day)
        for weekday in dow.last:
            last_weekday = (sunday_first + length - 1) % 7
            by_dow.add(length - (last_weekday - weekday) % 7)
        days = by_dom | by_dow if self.dom_restricted and self.dow_restricted else by_dom & by_dow
        return tuple(sorted(days))

    def surely_matches(self) -> bool:
        """True when the day rules match some date in every month, without looking at a
        calendar: the search that proves the rest is skipped (parsing many schedules)."""
        dom, dow = self.dom, self.dow
        # every month has days 1-28, every weekday, each one's 1st-4th and last occurrence
        by_dom = (
            (bool(dom.days) and min(dom.days) <= 28)
            or dom.last
            or dom.last_weekday
            or (bool(dom.nearest) and min(dom.nearest) <= 28)
        )
        by_dow = bool(dow.days) or bool(dow.last) or any(k <= 4 for _, k in dow.nth)
        if self.dom_restricted and self.dow_restricted:
            return by_dom or by_dow
        return (dow.days == _ALL_DOW and by_dom) or (dom.days == _ALL_DAYS and by_dow)

    def day_matches(self, day: date) -> bool:
        return self.every_day or day.day in self.month_days(day.year, day.month)

    def next_day(self, day: date) -> date | None:
        """The first matching date on or after ``day``; ``None`` past year 9999, or when no
        date in 400 years (a full cycle of the calendar) matches."""
        if self.every_day:
            return day
        year, month, first = day.year, day.month, day.day
        for _ in range(_CYCLE_MONTHS):
            if month in self.months:
                days = self.month_days(year, month)
                i = bisect.bisect_left(days, first)
                if i < len(days):
                    return date(year, month, days[i])
            first, month = 1, month + 1
            if month > 12:
                month, year = 1, year + 1
                if year > 9999:
                    return None
        return None

    def count_days(self, first: date, last: date) -> int:
        """How many dates in ``[first, last]`` match."""
        if last < first:
            return 0
        if self.every_day:
            return (last - first).days + 1
        count = 0
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            days = self.month_days(year, month)
            if days:
                low = first.day if (year, month) == (first.year, first.month) else 1
                high = last.day if (year, month) == (last.year, last.month) else 31
                count += bisect.bisect_right(days, high) - bisect.bisect_left(days, low)
            month += 1
            if month > 12:
                month, year = 1, year + 1
        return count

    # -- times

    def next_wall(self, wall: datetime) -> datetime | None:
        """The first matching wall time strictly after ``wall`` (naive; microseconds are
        fine), or ``None`` past year 9999."""
        day = wall.date()
        if self.day_matches(day):
            found = self._time_after(wall.hour, wall.minute, wall.second)
            if found is not None:
                return datetime.combine(day, found)
        if day.year == 9999 and day.month == 12 and day.day == 31:
            return None
        following = self.next_day(date.fromordinal(day.toordinal() + 1))
        if following is None:
            return None
        return datetime.combine(following, time(self.hours[0], self.minutes[0], self.seconds[0]))

    def _time_after(self, hour: int, minute: int, second: int) -> time | None:
        """The first matching time of day strictly after ``hour:minute:second``."""
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        if hour in self._hour_set:
            if minute in self._minute_set:
                i = bisect.bisect_right(seconds, second)
                if i < len(seconds):
                    return time(hour, minute, seconds[i])
            i = bisect.bisect_right(minutes, minute)
            if i < len(minutes):
                return time(hour, minutes[i], seconds[0])
        i = bisect.bisect_right(hours, hour)
        if i < len(hours):
            return time(hours[i], minutes[0], seconds[0])
        return None
