"""Cron semantics owned by moroccron (moroccron/schedule/cron.py, docs/schedules.md): each form,
the day-of-month/day-of-week rule, what is refused, and regressions for expressions
that an earlier matcher got wrong, with their expected times written out."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from moroccron.errors import ScheduleError
from moroccron.schedule import CronSchedule, parse_schedule
from moroccron.schedule.cron import parse_fields

NY = "America/New_York"
START = datetime(2025, 12, 31, 12, tzinfo=UTC)


def U(*args: int) -> datetime:  # noqa: N802 - reads like a literal
    return datetime(*args, tzinfo=UTC)


def first(expr: str, n: int = 3, zone: str = "UTC", after: datetime = START) -> list[datetime]:
    schedule = parse_schedule(expr, zone)
    found: list[datetime] = []
    current: datetime | None = after
    for _ in range(n):
        current = schedule.next_after(current)
        assert current is not None
        found.append(current)
    return found


def days(*dates: tuple[int, int, int], hour: int = 0, minute: int = 0) -> list[datetime]:
    return [U(y, m, d, hour, minute) for y, m, d in dates]


def local_day(zone: str, day: date) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    return (
        datetime.combine(day, time(), tz).astimezone(UTC),
        datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC),
    )


# --------------------------------------------------------------------------- a-a ranges


def test_a_range_from_a_value_to_itself_is_that_value() -> None:
    assert first("0 9-9 * * *") == days((2026, 1, 1), (2026, 1, 2), (2026, 1, 3), hour=9)
    # Monday and Wednesday, not every day (2026-01-05 is a Monday)
    assert first("30 4 * * 1-1,3", 4) == days(
        (2026, 1, 5), (2026, 1, 7), (2026, 1, 12), (2026, 1, 14), hour=4, minute=30
    )
    # December only, not the odd months
    assert first("0 0 * 12-12/2 *") == days((2026, 12, 1), (2026, 12, 2), (2026, 12, 3))
    assert first("0 0 * * sun-SUN") == days((2026, 1, 4), (2026, 1, 11), (2026, 1, 18))


# --------------------------------------------------------------------------- the day rule


def test_a_day_field_starting_with_a_star_is_unrestricted_so_the_days_are_anded() -> None:
    # Mondays on odd dates, as Vixie cron and cronie read it
    assert first("0 0 */2 * 1") == days((2026, 1, 5), (2026, 1, 19), (2026, 2, 9))
    assert first("0 0 ? * 1") == days((2026, 1, 5), (2026, 1, 12), (2026, 1, 19))
    assert first("0 0 13 * *") == days((2026, 1, 13), (2026, 2, 13), (2026, 3, 13))


def test_both_day_fields_restricted_are_ored() -> None:
    assert first("0 0 13 * 5", 4, after=U(2026, 2, 1)) == days(
        (2026, 2, 6), (2026, 2, 13), (2026, 2, 20), (2026, 2, 27)
    )


def test_nth_weekday_with_a_restricted_day_of_month_is_ored() -> None:
    # days 14-23, or the second Saturday (2026-01-10)
    assert first("0 0 14-23 * 6#2") == days((2026, 1, 10), (2026, 1, 14), (2026, 1, 15))
    # once refused as "never match": the 15th, or the second Saturday
    assert first("0 0 15 * 6#2") == days((2026, 1, 10), (2026, 1, 15), (2026, 2, 14))
    # the 1st, or a fifth Saturday (2026-01-31)
    assert first("0 0 1 * 6#5") == days((2026, 1, 1), (2026, 1, 31), (2026, 2, 1))
    # last Friday, OR'ed with the 1st
    assert first("0 0 1 * 5L") == days((2026, 1, 1), (2026, 1, 30), (2026, 2, 1))


def test_nearest_weekday_with_a_restricted_day_of_week_is_ored() -> None:
    # the weekday nearest the 15th (a Thursday), or any Wednesday
    assert first("0 0 15W * 3") == days((2026, 1, 7), (2026, 1, 14), (2026, 1, 15))


def test_unrestricted_day_of_week_keeps_nth_and_last_forms_alone() -> None:
    assert first("0 0 * * 6#2") == days((2026, 1, 10), (2026, 2, 14), (2026, 3, 14))
    assert first("0 0 ? * FRI#5") == days((2026, 1, 30), (2026, 5, 29), (2026, 7, 31))


# --------------------------------------------------------------------------- forms


@pytest.mark.parametrize(("expr", "expected"), [
    ("0 0 L * *", days((2026, 1, 31), (2026, 2, 28), (2026, 3, 31))),
    ("0 0 LW * *", days((2026, 1, 30), (2026, 2, 27), (2026, 3, 31))),  # 01-31 and 02-28 are Saturdays
    ("0 0 1W * *", days((2026, 1, 1), (2026, 2, 2), (2026, 3, 2))),  # 02-01 Sunday -> Monday 2nd
    ("0 0 W1 * *", days((2026, 1, 1), (2026, 2, 2), (2026, 3, 2))),
    ("0 0 31W * *", days((2026, 1, 30), (2026, 3, 31), (2026, 5, 29))),  # months with a 31st only
    ("0 0 1W,15W * *", days((2026, 1, 1), (2026, 1, 15), (2026, 2, 2))),
    ("0 0 28-L 2 *", days((2026, 2, 28), (2027, 2, 28), (2028, 2, 28))),
    ("0 0 * * 5L", days((2026, 1, 30), (2026, 2, 27), (2026, 3, 27))),
    ("0 0 * * L5", days((2026, 1, 30), (2026, 2, 27), (2026, 3, 27))),
    ("0 0 * * 7", days((2026, 1, 4), (2026, 1, 11), (2026, 1, 18))),
    ("0 0 * * 7#1", days((2026, 1, 4), (2026, 2, 1), (2026, 3, 1))),
    ("0 0 * * fri-mon", days((2026, 1, 2), (2026, 1, 3), (2026, 1, 4))),
    ("0 0 * * 5-0", days((2026, 1, 2), (2026, 1, 3), (2026, 1, 4))),
    ("0 22-1 31 12 *", [U(2025, 12, 31, 22), U(2025, 12, 31, 23), U(2026, 12, 31, 0)]),
    ("0 22-3/2 * * *", [U(2025, 12, 31, 22), U(2026, 1, 1, 0), U(2026, 1, 1, 2)]),
    ("5/15 12 * * *", [U(2025, 12, 31, 12, 5), U(2025, 12, 31, 12, 20), U(2025, 12, 31, 12, 35)]),
    ("0 0 1 nov-feb/2 *", days((2026, 1, 1), (2026, 11, 1), (2027, 1, 1))),
    ("0 0 1 Jan,JUL *", days((2026, 1, 1), (2026, 7, 1), (2027, 1, 1))),
    ("0 0 29 2 *", days((2028, 2, 29), (2032, 2, 29), (2036, 2, 29))),
    ("@weekly", days((2026, 1, 4), (2026, 1, 11), (2026, 1, 18))),
    ("15 0 0 1 * *", [U(2026, 1, 1, 0, 0, 15), U(2026, 2, 1, 0, 0, 15), U(2026, 3, 1, 0, 0, 15)]),
])  # fmt: skip
def test_accepted_forms(expr: str, expected: list[datetime]) -> None:
    assert first(expr) == expected


def test_parsed_fields_are_shared_between_schedules() -> None:
    assert parse_fields(("0", "0", "9", "*", "*", "MON-FRI")) is parse_fields(("0", "0", "9", "*", "*", "mon-fri"))
    a, b = parse_schedule("0 9 * * 1-5", "UTC"), parse_schedule("0 9 * * 1-5", NY)
    assert isinstance(a, CronSchedule) and isinstance(b, CronSchedule)
    assert a._spec is b._spec  # noqa: SLF001


@pytest.mark.parametrize(("expr", "message"), [
    ("0 0 30 2 *", "never match a date"),
    ("0 0 31 4,6,9,11 *", "never match a date"),
    ("0 0 31W 4 *", "never match a date"),
    ("0 0 30,31 2 ?", "never match a date"),
    ("0 0 * * L", "day-of-week field 'L' is not valid: 'L' alone is ambiguous"),
    ("0 0 1-15W * *", "day-of-month field '1-15W' is not valid"),
    ("0 0 */2W * *", "day-of-month field '*/2W' is not valid"),
    ("0 0 L-2 * *", "day-of-month field 'L-2' is not valid"),
    ("0 ? * * *", "hour field '?' is not valid: '?' is allowed only"),
    ("0 0 * ? *", "month field '?' is not valid"),
    ("0 0 * * 1#6", "day-of-week field '1#6' is not valid: '1#6': the k in n#k is 1 to 5"),
    ("0 0 * * 1#0", "the k in n#k is 1 to 5"),
    ("0 0 * * */2#1", "n#k takes a weekday"),
    ("0 0 * * 1-2L", "nL takes a single weekday"),
    ("1,,2 * * * *", "minute field '1,,2' is not valid: an empty list item"),
    ("* mon * * *", "hour field 'mon' is not valid"),
    ("0 0 * * 8", "day-of-week field '8' is not valid"),
    ("0 0 * * 1/0", "the step '0'"),
    ("0 0 32 * *", "day-of-month field '32' is not valid"),
    ("0 0 * * monday", "day-of-week field 'monday' is not valid"),
])  # fmt: skip
def test_refused_with_the_field_named(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(expr)
    problem = info.value.errors[0]
    assert problem.field == "schedule" and problem.value == expr
    assert message in problem.message


def test_a_day_that_can_match_only_in_leap_years_or_rare_months_is_accepted() -> None:
    assert first("0 0 * 2 1#5", 2) == days((2044, 2, 29), (2072, 2, 29))  # Feb with five Mondays


# --------------------------------------------------------------------------- DST and skipped days


def test_wildcard_job_fires_in_both_passes_of_a_repeated_hour() -> None:
    s = parse_schedule("0 * * * *", NY)
    start, end = local_day(NY, date(2026, 11, 1))
    listed = s.times_between(start - timedelta(seconds=1), end - timedelta(seconds=1), 100)
    assert len(listed) == 25
    assert U(2026, 11, 1, 5) in listed and U(2026, 11, 1, 6) in listed  # 01:00 EDT and 01:00 EST


def test_fixed_time_job_fires_once_in_a_repeated_hour() -> None:
    s = parse_schedule("30 1 * * *", NY)
    start, end = local_day(NY, date(2026, 11, 1))
    assert s.times_between(start, end, 10) == [U(2026, 11, 1, 5, 30)]  # 01:30 EDT only


def test_spring_gap_fixed_time_fires_after_the_gap_and_interval_times_do_not_exist() -> None:
    start, end = local_day(NY, date(2026, 3, 8))
    assert parse_schedule("30 2 * * *", NY).times_between(start, end, 10) == [U(2026, 3, 8, 7)]
    every_half_hour = parse_schedule("*/30 * * * *", NY).times_between(start, end, 100)
    assert len(every_half_hour) == 46 and U(2026, 3, 8, 7) in every_half_hour
    assert parse_schedule("*/30 2 * * *", NY).times_between(start, end, 10) == []


def test_a_calendar_day_skipped_whole_has_no_fire() -> None:
    # Pacific/Apia went from 2011-12-29 23:59:59 -10:00 to 2011-12-31 00:00:00 +14:00.
    s = parse_schedule("30 1 * * *", "Pacific/Apia")
    listed = s.times_between(U(2011, 12, 27), U(2012, 1, 2), 10)
    assert listed == [
        U(2011, 12, 27, 11, 30),
        U(2011, 12, 28, 11, 30),
        U(2011, 12, 29, 11, 30),  # 01:30 -10
        U(2011, 12, 30, 11, 30),
        U(2011, 12, 31, 11, 30),
        U(2012, 1, 1, 11, 30),
    ]  # 01:30 +14
    assert s.count_between(U(2011, 12, 27), U(2012, 1, 2)) == len(listed)
    zone = ZoneInfo("Pacific/Apia")
    shown = [t.astimezone(zone).date() for t in listed]
    assert date(2011, 12, 30) not in shown and len(set(shown)) == len(shown)  # once per day that exists
    assert s.next_after(U(2011, 12, 29, 11, 30)) == U(2011, 12, 30, 11, 30)
    # a fixed time on the skipped day itself, and a wildcard job, alike
    assert parse_schedule("0 0 30 12 *", "Pacific/Apia").next_after(U(2011, 12, 1)) == U(2012, 12, 29, 10)
    hourly = parse_schedule("0 * * * *", "Pacific/Apia")
    assert hourly.next_after(U(2011, 12, 30, 9, 0)) == U(2011, 12, 30, 10)  # 00:00 +14 on the 31st
