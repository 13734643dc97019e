"""The :class:`Schedule` every kind of schedule implements, and the error its parsers raise."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from moroccron.errors import FieldError, ScheduleError
from moroccron.schedule.tz import from_epoch, to_epoch, utc

SCHEDULE_ALLOWED: Final = (
    "5-field cron 'm h dom mon dow', 6-field cron with seconds first 's m h dom mon dow', "
    "a macro @yearly @annually @monthly @weekly @daily @midnight @hourly, "
    "or ISO 8601 'R[n]/<start>/<period>' such as 'R/2026-03-08T20:00:00Z/PT2H'"
)
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


def _schedule_error(message: str, value: object, allowed: str = SCHEDULE_ALLOWED) -> ScheduleError:
    return ScheduleError(FieldError("schedule", message, value, allowed))


# Values per cron field (seconds first): a step larger than this fires only at the
