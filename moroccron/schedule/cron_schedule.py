"""Cron expressions on a time zone's wall clock: :class:`CronSchedule` applies the DST
rules (see :mod:`moroccron.schedule`) on top of the time-zone-free :mod:`moroccron.schedule.cron`,
and says in words when it fires."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Final
from zoneinfo import ZoneInfo

from moroccron.errors import ScheduleError
from moroccron.schedule.base import Schedule, _schedule_error
from moroccron.schedule.cron import FIELD_SYNTAX, FIELDS, CronError, CronSpec, parse_fields
from moroccron.schedule.tz import (
    _DAY,
    _MAX_SEGMENTS,
    _US,
    _day_skipped,
    _naive_utc,
    _offset,
    _repeat_end,
    _resolve_wall,
    _transition_between,
    utc,
)

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
            raise _schedule_error("@reboot is not supported: jobs run on a schedule, not at boot", text)
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
    # The parsed expression (moroccron.schedule.cron), shared by every schedule with these fields.
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
        return self.timezone in (
            "UTC",
            "Etc/UTC",
            "Etc/GMT",
            "GMT",
            "Universal",
            "Zulu",
            "Etc/Universal",
            "Etc/Zulu",
            "Etc/UCT",
            "UCT",
        )

    def _next_fixed(self, after: datetime) -> datetime | None:
        # The wall -> instant map (first occurrence / end of gap) is monotonic, so the first
        # matching wall time after the one shown at ``after`` gives the next fire...
        repeat_end = _repeat_end(self.tz, after)
        if repeat_end is None:  # noqa: SIM108 (the comment below belongs to the else branch)
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
                if instant.astimezone(self.tz).date() == wall.date() or not _day_skipped(self.tz, wall.date()):
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
        return self._count_walls(datetime.combine(first, time()) - _US, datetime.combine(last + _DAY, time()) - _US)

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
