"""A brute-force reference for cron schedules, written from the rules in docs/schedules.md
and sharing no code with moroccron's parser or matcher.

It tests every candidate the slow way: every local date is checked against the day
rules, and every minute (every second for 6-field expressions) of a matching date is
checked against the time fields. Wall times become instants by asking zoneinfo about
each one, and the DST rules are applied literally:

* wildcard jobs (minute or hour field starting with ``*``) fire at every instant whose
  wall clock shows a matching time: walk the instants, read the wall clock;
* fixed-time jobs fire once per matching wall time, at its first occurrence, or, when
  the wall time is skipped, at the first instant after the gap; nothing fires for a
  calendar day that is skipped entirely.

The only shortcuts are skipping dates whose day rule fails and, within a matching
date, minutes whose hour and minute fail (offsets are whole minutes, asserted).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}  # fmt: skip
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def _value(text: str, names: list[str], first: int) -> int:
    text = text.lower()
    if text in names:
        return names.index(text) + first
    return int(text)


def _cycle_walk(start: int, stop: int, step: int, low: int, high: int) -> set[int]:
    """Values from ``start`` to ``stop`` walking up one at a time, wrapping from ``high``
    to ``low``, keeping every ``step``-th."""
    found, value, i = set(), start, 0
    while True:
        if i % step == 0:
            found.add(value)
        if value == stop:
            return found
        value = low if value == high else value + 1
        i += 1


def _plain(text: str, low: int, high: int, names: list[str] | None = None, first: int = 0) -> set[int]:
    """``*``, ``n``, ``a-b`` (wrapping when a > b), each with an optional ``/s``; lists."""
    values: set[int] = set()
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            values |= _cycle_walk(low, high, step, low, high)
        elif "-" in body:
            a, b = (_value(x, names or [], first) for x in body.split("-"))
            values |= _cycle_walk(a, b, step, low, high)
        else:
            a = _value(body, names or [], first)
            values |= _cycle_walk(a, high, step, low, high) if step_text else {a}
    return values


def _weekdays(text: str) -> set[int]:
    """Day-of-week values, 0 = Sunday; 7 is Sunday too. Ranges up to 7 are plain; a
    range that wraps (a > b) and ``*`` and ``n/s`` go round the week 0-6."""
    values: set[int] = set()
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            values |= _cycle_walk(0, 6, step, 0, 6)
        elif "-" in body:
            a, b = (_value(x, WEEKDAYS, 0) for x in body.split("-"))
            if a <= b:
                values |= set(range(a, b + 1)[::step])
            else:
                values |= _cycle_walk(a % 7, b, step, 0, 6)
        else:
            a = _value(body, WEEKDAYS, 0)
            values |= _cycle_walk(a, 6, step, 0, 6) if step_text and a < 7 else {a}
    return {v % 7 for v in values}


class CronOracle:
    def __init__(self, expr: str) -> None:
        expr = MACROS.get(expr.strip().lower(), expr)
        fields = expr.split()
        self.with_seconds = len(fields) == 6
        if not self.with_seconds:
            fields = ["0", *fields]
        second, minute, hour, dom, month, dow = (f.lower() for f in fields)
        self.interval = minute.startswith("*") or hour.startswith("*")
        self.seconds = _plain(second, 0, 59)
        self.minutes = _plain(minute, 0, 59)
        self.hours = _plain(hour, 0, 23)
        self.months = _plain(month, 1, 12, MONTHS, 1)
        self.dom_star = dom.startswith(("*", "?"))
        self.dow_star = dow.startswith(("*", "?"))
        self.dom_items = ["*"] if dom == "?" else dom.split(",")
        self.dow_items = ["*"] if dow == "?" else dow.split(",")

    # -- dates

    def _dom_item(self, item: str, d: date) -> bool:
        last = calendar.monthrange(d.year, d.month)[1]
        if item == "l":
            return d.day == last
        if item.endswith("w"):
            target = last if item == "lw" else int(item[:-1])
            if target > last:
                return False
            weekdays = [x for x in range(1, last + 1) if date(d.year, d.month, x).weekday() < 5]
            return d.day == min(weekdays, key=lambda x: abs(x - target))
        if item.startswith("w"):
            return self._dom_item(item[1:] + "w", d)
        if "-l" in item:
            item = item.replace("-l", "-31")
        return d.day in _plain(item, 1, 31)

    def _dow_item(self, item: str, d: date) -> bool:
        weekday = (d.weekday() + 1) % 7  # 0 = Sunday
        last = calendar.monthrange(d.year, d.month)[1]
        if "#" in item:
            days, k = item.split("#")
            return weekday in _weekdays(days) and (d.day - 1) // 7 + 1 == int(k)
        if item.endswith("l") or item.startswith("l"):
            n = _value(item.strip("l"), WEEKDAYS, 0) % 7
            return weekday == n and d.day + 7 > last
        return weekday in _weekdays(item)

    def day_matches(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        by_dom = any(self._dom_item(i, d) for i in self.dom_items)
        by_dow = any(self._dow_item(i, d) for i in self.dow_items)
        if self.dom_star or self.dow_star:
            return by_dom and by_dow
        return by_dom or by_dow

    def never_matches(self) -> bool:
        """No date in a full 400-year cycle of the calendar matches."""
        d = date(2000, 1, 1)
        while d < date(2400, 1, 1):
            if self.day_matches(d):
                return False
            d += timedelta(days=1)
        return True

    # -- instants

    def fires(self, zone_name: str, start: datetime, count: int, until: datetime) -> list[datetime]:
        """The first ``count`` fire times in ``(start, until]``."""
        zone = ZoneInfo(zone_name)
        if self.interval:
            return self._interval(zone, start, count, until)
        return self._fixed(zone, start, count, until)

    def _interval(self, zone: ZoneInfo, start: datetime, count: int, until: datetime) -> list[datetime]:
        found: set[datetime] = set()
        d = start.astimezone(zone).date() - timedelta(days=1)
        extra_days = None
        while d <= until.astimezone(zone).date() + timedelta(days=1):
            if self.day_matches(d):
                u = first_instant(zone, datetime.combine(d, time()))
                stop = first_instant(zone, datetime.combine(d + timedelta(days=1), time())) + timedelta(hours=3)
                while u < stop:
                    wall = local(zone, u)
                    if wall.date() == d and wall.hour in self.hours and wall.minute in self.minutes:
                        for s in range(60) if self.with_seconds else (0,):
                            t = u + timedelta(seconds=s)
                            shown = local(zone, t)
                            if (
                                shown.date() == d
                                and shown.hour in self.hours
                                and shown.minute in self.minutes
                                and shown.second in self.seconds
                                and start < t <= until
                            ):
                                found.add(t)
                    u += MINUTE
            # instants of one date can follow those of the next after a backward jump
            # across midnight: look two more dates past the one that completed the count
            if extra_days is None and len(found) >= count:
                extra_days = 2
            elif extra_days is not None:
                extra_days -= 1
                if extra_days == 0:
                    break
            d += timedelta(days=1)
        return sorted(found)[:count]

    def _fixed(self, zone: ZoneInfo, start: datetime, count: int, until: datetime) -> list[datetime]:
        fires: list[datetime] = []
        d = start.astimezone(zone).date() - timedelta(days=1)
        while d <= until.astimezone(zone).date() + timedelta(days=1) and len(fires) < count:
            if self.day_matches(d) and day_exists(zone, d):
                for h in sorted(self.hours):
                    for m in sorted(self.minutes):
                        for s in sorted(self.seconds):
                            t = first_instant(zone, datetime.combine(d, time(h, m, s)))
                            # wall -> instant is monotonic; equal instants are one fire
                            if start < t <= until and (not fires or t > fires[-1]):
                                fires.append(t)
                            if len(fires) >= count:
                                return fires
            d += timedelta(days=1)
        return fires


def local(zone: ZoneInfo, instant: datetime) -> datetime:
    shown = instant.astimezone(zone)
    offset = shown.utcoffset()
    assert offset is not None and offset.total_seconds() % 60 == 0, "the oracle assumes whole-minute offsets"
    return shown.replace(tzinfo=None)


def first_instant(zone: ZoneInfo, wall: datetime) -> datetime:
    """The first instant whose wall clock shows ``wall``; for a wall time that is never
    shown, the first instant whose wall clock shows a later time."""
    candidate = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # fold=0: the earlier one
    if local(zone, candidate) == wall:
        return candidate
    # In a gap: walk real time forward from well before, a minute then a second at a time.
    u = (wall - timedelta(hours=30)).replace(tzinfo=UTC)
    while local(zone, u) <= wall:
        u += MINUTE
    while local(zone, u - SECOND) > wall:
        u -= SECOND
    return u


def day_exists(zone: ZoneInfo, d: date) -> bool:
    """Some instant's wall clock shows date ``d``."""
    return local(zone, first_instant(zone, datetime.combine(d, time()))).date() == d


def transitions(zone_name: str, first_year: int, last_year: int) -> list[datetime]:
    """The instants (to the minute) at which the UTC offset of a zone changes."""
    zone = ZoneInfo(zone_name)
    found = []
    u = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    before = u.astimezone(zone).utcoffset()
    while u < end:
        probe = u + timedelta(hours=6)
        after = probe.astimezone(zone).utcoffset()
        if after != before:
            lo = u
            while lo.astimezone(zone).utcoffset() == before:
                lo += MINUTE
            found.append(lo)
            before = after
        u = probe
    return found


def year_span(start: datetime, years: int) -> datetime:
    return start + timedelta(days=365 * years + years // 4)
