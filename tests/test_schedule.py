"""moroccron.schedule: cron and ISO 8601 schedules, DST rules, catch-up and deadlines.

Expected instants are written out in UTC. Transitions used (2026):
America/New_York  spring 03-08 07:00Z (02:00 EST -> 03:00 EDT), autumn 11-01 06:00Z (02:00 EDT -> 01:00 EST)
Europe/London     spring 03-29 01:00Z (01:00 GMT -> 02:00 BST), autumn 10-25 01:00Z (02:00 BST -> 01:00 GMT)
Australia/Lord_Howe autumn 04-04 15:00Z (02:00 +11 -> 01:30 +10:30), spring 10-03 15:30Z (02:00 +10:30 -> 02:30 +11)
"""

from __future__ import annotations

import dataclasses
import tracemalloc
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moroccron.errors import ScheduleError, ValidationError
from moroccron.schedule import (
    SCHEDULE_ALLOWED,
    SKIPPED_SAMPLE,
    CatchupPlan,
    CronSchedule,
    IsoSchedule,
    Schedule,
    deadline_exceeded,
    format_utc,
    from_epoch,
    parse_schedule,
    plan_catchup,
    to_epoch,
    utc,
    validate_timezone,
)
from tests.oracle_cron import CronOracle

NY, LONDON, LORD_HOWE = "America/New_York", "Europe/London", "Australia/Lord_Howe"


def U(*args: int) -> datetime:  # noqa: N802 - reads like a literal
    return datetime(*args, tzinfo=UTC)


def fires(schedule: Schedule, start: datetime, end: datetime, limit: int = 10_000) -> list[datetime]:
    return schedule.times_between(start, end, limit)


def local_day(zone: str, day: date) -> tuple[datetime, datetime]:
    """UTC bounds [start, end) of a local calendar day."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
    return start, end


def fires_on_local_day(schedule: Schedule, day: date) -> list[datetime]:
    start, end = local_day(schedule.timezone, day)
    return fires(schedule, start - timedelta(seconds=1), end - timedelta(seconds=1))


def error_of(expr: str, timezone: str = "UTC", **kwargs: datetime) -> ScheduleError:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(expr, timezone, **kwargs)
    assert isinstance(info.value, ValidationError)
    assert len(info.value.errors) == 1
    return info.value


# --------------------------------------------------------------------------- helpers


def test_utc_helpers() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert utc(datetime(2026, 1, 1, 7, tzinfo=eastern)) == U(2026, 1, 1, 12)
    assert utc(datetime(2026, 1, 1, 7, tzinfo=eastern)).tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        utc(datetime(2026, 1, 1))
    assert to_epoch(U(2026, 1, 1)) == 1767225600
    assert to_epoch(U(2026, 1, 1) + timedelta(microseconds=999_999)) == 1767225600
    assert from_epoch(1767225600) == U(2026, 1, 1)
    assert format_utc(datetime(2026, 3, 8, 3, tzinfo=ZoneInfo(NY))) == "2026-03-08T07:00:00Z"


def test_next_after_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        parse_schedule("* * * * *").next_after(datetime(2026, 1, 1))


# --------------------------------------------------------------------------- cron


def test_five_field_cron() -> None:
    s = parse_schedule("*/15 * * * *")
    assert isinstance(s, CronSchedule)
    assert (s.expr, s.timezone, s.ends, s.interval, s.with_seconds) == (
        "*/15 * * * *",
        "UTC",
        False,
        True,
        False,
    )
    assert s.next_after(U(2026, 1, 1, 10, 7, 30)) == U(2026, 1, 1, 10, 15)
    assert s.next_after(U(2026, 1, 1, 10, 15)) == U(2026, 1, 1, 10, 30)  # strictly after
    assert s.next_after(U(2026, 1, 1, 10, 14, 59, 999999)) == U(2026, 1, 1, 10, 15)
    assert fires(s, U(2026, 1, 1, 23, 30), U(2026, 1, 2, 0, 30)) == [
        U(2026, 1, 1, 23, 45), U(2026, 1, 2), U(2026, 1, 2, 0, 15), U(2026, 1, 2, 0, 30)
    ]  # fmt: skip


def test_cron_accepts_instants_in_any_zone_and_returns_utc() -> None:
    s = parse_schedule("0 9 * * *", NY)
    after = datetime(2026, 6, 1, 10, tzinfo=ZoneInfo("Asia/Tokyo"))  # 01:00Z
    result = s.next_after(after)
    assert result == U(2026, 6, 1, 13) and result is not None and result.tzinfo is UTC
    assert result.microsecond == 0


def test_cron_weekdays_and_day_or_semantics() -> None:
    weekdays = parse_schedule("0 9 * * 1-5")
    # 2026-01-02 is a Friday.
    assert weekdays.next_after(U(2026, 1, 2, 9)) == U(2026, 1, 5, 9)
    # Vixie cron: restricted day-of-month and day-of-week match either.
    either = parse_schedule("0 0 13 * 5")
    assert fires(either, U(2026, 2, 1), U(2026, 2, 28)) == [
        U(2026, 2, 6), U(2026, 2, 13), U(2026, 2, 20), U(2026, 2, 27)
    ]  # fmt: skip
    assert parse_schedule("0 0 1 * *").next_after(U(2026, 1, 31)) == U(2026, 2, 1)
    assert parse_schedule("0 12 L * *").next_after(U(2026, 2, 1)) == U(2026, 2, 28, 12)
    assert parse_schedule("0 12 * JAN-MAR SUN").next_after(U(2026, 3, 30)) == U(2027, 1, 3, 12)


def test_six_field_cron_has_seconds_first() -> None:
    every_two = parse_schedule("*/2 * * * * *")
    assert isinstance(every_two, CronSchedule) and every_two.with_seconds
    assert fires(every_two, U(2026, 1, 1, 0, 0, 59), U(2026, 1, 1, 0, 1, 5)) == [
        U(2026, 1, 1, 0, 1, 0), U(2026, 1, 1, 0, 1, 2), U(2026, 1, 1, 0, 1, 4)
    ]  # fmt: skip
    # 30 seconds past 09:00, not "minute 30 of hour 0 on day 9".
    half = parse_schedule("30 0 9 * * *")
    assert half.next_after(U(2026, 1, 1)) == U(2026, 1, 1, 9, 0, 30)
    assert half.next_after(U(2026, 1, 1, 9, 0, 30)) == U(2026, 1, 2, 9, 0, 30)
    assert parse_schedule("0 0 0 * * *").next_after(U(2026, 1, 1, 0, 0, 1)) == U(2026, 1, 2)


@pytest.mark.parametrize(
    ("macro", "after", "expected"),
    [
        ("@yearly", U(2026, 5, 5), U(2027, 1, 1)),
        ("@annually", U(2026, 5, 5), U(2027, 1, 1)),
        ("@monthly", U(2026, 5, 5), U(2026, 6, 1)),
        ("@weekly", U(2026, 5, 5), U(2026, 5, 10)),  # Sunday
        ("@daily", U(2026, 5, 5, 12), U(2026, 5, 6)),
        ("@midnight", U(2026, 5, 5, 12), U(2026, 5, 6)),
        ("@hourly", U(2026, 5, 5, 12, 1), U(2026, 5, 5, 13)),
        ("@DAILY", U(2026, 5, 5, 12), U(2026, 5, 6)),
    ],
)
def test_macros(macro: str, after: datetime, expected: datetime) -> None:
    s = parse_schedule(macro)
    assert s.next_after(after) == expected
    assert s.expr == macro


def test_macros_follow_the_job_time_zone() -> None:
    assert parse_schedule("@daily", NY).next_after(U(2026, 1, 1, 12)) == U(2026, 1, 2, 5)
    hourly = parse_schedule("@hourly", NY)
    assert isinstance(hourly, CronSchedule) and hourly.interval
    daily = parse_schedule("@daily", NY)
    assert isinstance(daily, CronSchedule) and not daily.interval


@pytest.mark.parametrize(
    ("expr", "message", "allowed"),
    [
        ("* * * *", "got 4", "5-field cron"),
        ("* * * * * * *", "got 7", "6-field cron with seconds first"),
        ("garbage", "got 1", "ISO 8601"),
        ("61 * * * *", "minute field '61'", "minute 0-59"),
        ("* 24 * * *", "hour field '24'", "hour 0-23"),
        ("* * 32 * *", "day-of-month field '32'", "day-of-month 1-31"),
        ("* * 0 * *", "day-of-month field '0'", "day-of-month 1-31"),
        ("* * * 13 *", "month field '13'", "month 1-12 or JAN-DEC"),
        ("* * * * 8", "day-of-week field '8'", "day-of-week 0-7 or SUN-SAT"),
        ("* * * * FUNDAY", "day-of-week field 'FUNDAY'", "day-of-week"),
        ("60 * * * * *", "second field '60'", "second 0-59"),
        ("*/0 * * * *", "minute field '*/0'", "minute 0-59"),
        ("a b c d e", "minute field 'a'", "minute 0-59"),
        ("@reboot", "@reboot is not supported", "@hourly"),
        ("@fortnightly", "unknown macro", "@yearly"),
        ("H * * * *", "hashed (H)", "minute 0-59"),
        ("0 R * * *", "random (R)", "hour 0-23"),
        ("0 0 30 2 *", "never match", "5-field cron"),
        ("", "a schedule is required", "5-field cron"),
        ("   ", "a schedule is required", "5-field cron"),
    ],
)
def test_invalid_cron(expr: str, message: str, allowed: str) -> None:
    error = error_of(expr)
    problem = error.errors[0]
    assert problem.field == "schedule"
    assert message in problem.message
    assert problem.value == expr.strip() or problem.value == expr
    assert problem.allowed is not None and allowed in problem.allowed
    assert str(error).startswith("schedule: ")


def test_schedule_error_allowed_text_names_every_form() -> None:
    problem = error_of("* * *").errors[0]
    assert problem.allowed == SCHEDULE_ALLOWED
    for form in ("'m h dom mon dow'", "'s m h dom mon dow'", "@yearly", "@annually", "@monthly",
                 "@weekly", "@daily", "@midnight", "@hourly", "'R[n]/<start>/<period>'"):  # fmt: skip
        assert form in SCHEDULE_ALLOWED
    assert problem.as_dict()["field"] == "schedule"


def test_parse_is_cached_and_schedules_are_immutable() -> None:
    first = parse_schedule("*/5 * * * *", NY)
    assert parse_schedule("*/5 * * * *", NY) is first
    assert parse_schedule(" */5 * * * * ", NY) == first
    assert parse_schedule("*/5 * * * *", "UTC") != first
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.expr = "* * * * *"  # type: ignore[misc]
    assert hash(first) == hash(parse_schedule("*/5 * * * *", NY))


def test_schedule_is_safe_to_share_between_callers() -> None:
    # A parsed schedule keeps no cursor: asking about the far future does not
    # change the answer for an earlier instant.
    s = parse_schedule("0 0 1 * *")
    assert s.next_after(U(2030, 1, 5)) == U(2030, 2, 1)
    assert s.next_after(U(2026, 1, 5)) == U(2026, 2, 1)


# --------------------------------------------------------------------------- time zones


def test_validate_timezone() -> None:
    assert validate_timezone("America/New_York") == ZoneInfo("America/New_York")
    assert validate_timezone("UTC") == ZoneInfo("UTC")


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("Mars/Olympus_Mons", None),
        ("America/New York", "America/New_York"),
        ("america/new_york", "America/New_York"),
        ("Europe/Londn", "Europe/London"),
        ("", None),
        ("../../etc/passwd", None),
        ("/usr/share/zoneinfo/UTC", None),
        ("localtime", None),
    ],
)
def test_unknown_time_zone(name: str, hint: str | None) -> None:
    with pytest.raises(ScheduleError) as info:
        validate_timezone(name)
    problem = info.value.errors[0]
    assert problem.field == "timezone"
    assert problem.value == name
    assert problem.allowed is not None and "IANA" in problem.allowed and "Europe/London" in problem.allowed
    if hint:
        assert hint in problem.message


def test_parse_schedule_reports_the_timezone_field() -> None:
    error = error_of("* * * * *", "Nowhere/Special")
    assert error.errors[0].field == "timezone"
    assert error.errors[0].value == "Nowhere/Special"


# --------------------------------------------------------------------------- DST: fixed-time jobs


def test_new_york_spring_skipped_wall_time_fires_at_end_of_gap() -> None:
    s = parse_schedule("30 2 * * *", NY)
    assert isinstance(s, CronSchedule) and not s.interval
    assert fires(s, U(2026, 3, 6), U(2026, 3, 10)) == [
        U(2026, 3, 6, 7, 30),  # 02:30 EST
        U(2026, 3, 7, 7, 30),  # 02:30 EST
        U(2026, 3, 8, 7, 0),  # 02:30 does not exist: 03:00 EDT, the end of the gap
        U(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]
    for day in (date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)):
        assert len(fires_on_local_day(s, day)) == 1


def test_new_york_autumn_repeated_wall_time_fires_once_at_first_occurrence() -> None:
    s = parse_schedule("30 1 * * *", NY)
    assert fires(s, U(2026, 10, 30), U(2026, 11, 3)) == [
        U(2026, 10, 30, 5, 30),  # 01:30 EDT
        U(2026, 10, 31, 5, 30),
        U(2026, 11, 1, 5, 30),  # 01:30 EDT, the first occurrence; not again at 06:30Z (EST)
        U(2026, 11, 2, 6, 30),  # 01:30 EST
    ]
    # Asked during the second pass through 01:xx, the next fire is the next day.
    assert s.next_after(U(2026, 11, 1, 6, 0)) == U(2026, 11, 2, 6, 30)
    assert s.next_after(U(2026, 11, 1, 6, 29)) == U(2026, 11, 2, 6, 30)
    assert s.next_after(U(2026, 11, 1, 5, 29)) == U(2026, 11, 1, 5, 30)
    assert len(fires_on_local_day(s, date(2026, 11, 1))) == 1


@pytest.mark.parametrize("day", [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9),
                                 date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)])  # fmt: skip
@pytest.mark.parametrize("expr", ["0 2 * * *", "30 2 * * *", "59 1 * * *", "0 1 * * *", "0 3 * * *", "@daily"])
def test_new_york_daily_fixed_jobs_fire_exactly_once_per_local_day(day: date, expr: str) -> None:
    assert len(fires_on_local_day(parse_schedule(expr, NY), day)) == 1


def test_new_york_other_daily_times_across_transitions() -> None:
    nine = parse_schedule("0 9 * * *", NY)
    assert fires(nine, U(2026, 3, 7), U(2026, 3, 10)) == [
        U(2026, 3, 7, 14),
        U(2026, 3, 8, 13),
        U(2026, 3, 9, 13),
    ]
    assert fires(nine, U(2026, 10, 31), U(2026, 11, 3)) == [
        U(2026, 10, 31, 13),
        U(2026, 11, 1, 14),
        U(2026, 11, 2, 14),
    ]
    # 02:00 is the first wall time inside the gap and maps to the same instant.
    assert parse_schedule("0 2 * * *", NY).next_after(U(2026, 3, 8)) == U(2026, 3, 8, 7)
    # 03:00 EDT is the first valid instant after the gap.
    assert parse_schedule("0 3 * * *", NY).next_after(U(2026, 3, 8)) == U(2026, 3, 8, 7)


def test_fixed_wall_times_in_a_gap_collapse_into_one_fire() -> None:
    s = parse_schedule("0,30 2,3 * * *", NY)
    assert fires(s, U(2026, 3, 8, 6), U(2026, 3, 8, 9)) == [U(2026, 3, 8, 7), U(2026, 3, 8, 7, 30)]
    every_minute_of_two = parse_schedule("0-59 2 * * *", NY)  # fixed hour: every wall minute once
    assert fires_on_local_day(every_minute_of_two, date(2026, 3, 8)) == [U(2026, 3, 8, 7)]
    assert len(fires_on_local_day(every_minute_of_two, date(2026, 3, 9))) == 60
    every_minute_of_one = parse_schedule("0-59 1 * * *", NY)
    on_autumn_day = fires_on_local_day(every_minute_of_one, date(2026, 11, 1))
    assert len(on_autumn_day) == 60
    assert (on_autumn_day[0], on_autumn_day[-1]) == (U(2026, 11, 1, 5), U(2026, 11, 1, 5, 59))


def test_a_minute_field_starting_with_a_star_makes_a_wildcard_job() -> None:
    # cronie: a job is "wildcard" when its minute OR hour field starts with "*" (MIN_STAR |
    # HR_STAR); it follows the clock the wall shows, through both passes of a repeated hour.
    every_minute_of_two = parse_schedule("* 2 * * *", NY)
    assert isinstance(every_minute_of_two, CronSchedule) and every_minute_of_two.interval
    assert fires_on_local_day(every_minute_of_two, date(2026, 3, 8)) == []  # 02:xx never shown
    every_minute_of_one = parse_schedule("* 1 * * *", NY)
    on_autumn_day = fires_on_local_day(every_minute_of_one, date(2026, 11, 1))
    assert len(on_autumn_day) == 120  # 01:00-01:59 EDT, then 01:00-01:59 EST
    assert (on_autumn_day[0], on_autumn_day[-1]) == (U(2026, 11, 1, 5), U(2026, 11, 1, 6, 59))
    for expr, interval in (("*/5 3 * * *", True), ("0 */2 * * *", True), ("0 * * * *", True),
                           ("@hourly", True), ("30 1 * * *", False), ("0 9-17 * * 1-5", False),
                           ("0-59 1 * * *", False), ("@daily", False), ("* 30 1 * * *", False)):  # fmt: skip
        schedule = parse_schedule(expr, NY)
        assert isinstance(schedule, CronSchedule) and schedule.interval is interval, expr


def test_london_fixed_daily_jobs() -> None:
    s = parse_schedule("30 1 * * *", LONDON)
    assert fires(s, U(2026, 3, 27), U(2026, 3, 31)) == [
        U(2026, 3, 27, 1, 30),  # GMT
        U(2026, 3, 28, 1, 30),
        U(2026, 3, 29, 1, 0),  # 01:30 skipped: 02:00 BST
        U(2026, 3, 30, 0, 30),  # 01:30 BST
    ]
    assert fires(s, U(2026, 10, 23), U(2026, 10, 27)) == [
        U(2026, 10, 23, 0, 30),  # BST
        U(2026, 10, 24, 0, 30),
        U(2026, 10, 25, 0, 30),  # first 01:30 (BST) only
        U(2026, 10, 26, 1, 30),  # GMT
    ]
    nine = parse_schedule("0 9 * * *", LONDON)
    assert fires(nine, U(2026, 3, 28), U(2026, 3, 30)) == [U(2026, 3, 28, 9), U(2026, 3, 29, 8)]
    for day in (date(2026, 3, 29), date(2026, 10, 25)):
        assert len(fires_on_local_day(s, day)) == 1
        assert len(fires_on_local_day(nine, day)) == 1


def test_lord_howe_thirty_minute_shift_fixed_jobs() -> None:
    spring = parse_schedule("15 2 * * *", LORD_HOWE)
    assert fires(spring, U(2026, 10, 2), U(2026, 10, 5)) == [
        U(2026, 10, 2, 15, 45),  # 02:15 +10:30 on Oct 3
        U(2026, 10, 3, 15, 30),  # Oct 4: 02:15 skipped, fires at 02:30 +11
        U(2026, 10, 4, 15, 15),  # 02:15 +11 on Oct 5
    ]
    autumn = parse_schedule("45 1 * * *", LORD_HOWE)
    assert fires(autumn, U(2026, 4, 3), U(2026, 4, 6)) == [
        U(2026, 4, 3, 14, 45),  # 01:45 +11 on Apr 4
        U(2026, 4, 4, 14, 45),  # Apr 5: first 01:45 (+11) only, not 15:15Z (+10:30)
        U(2026, 4, 5, 15, 15),  # 01:45 +10:30 on Apr 6
    ]
    # 02:00 is not repeated (the clock goes 01:59:59 +11 -> 01:30 +10:30) nor skipped in April.
    assert fires(parse_schedule("0 2 * * *", LORD_HOWE), U(2026, 4, 4), U(2026, 4, 5)) == [U(2026, 4, 4, 15, 30)]
    for day in (date(2026, 4, 5), date(2026, 10, 4)):
        assert len(fires_on_local_day(spring, day)) == 1
        assert len(fires_on_local_day(autumn, day)) == 1


# --------------------------------------------------------------------------- DST: interval jobs


def test_new_york_every_fifteen_minutes_follows_elapsed_time() -> None:
    s = parse_schedule("*/15 * * * *", NY)
    assert isinstance(s, CronSchedule) and s.interval
    assert fires(s, U(2026, 3, 8, 6, 30), U(2026, 3, 8, 7, 30)) == [
        U(2026, 3, 8, 6, 45),  # 01:45 EST
        U(2026, 3, 8, 7, 0),  # 03:00 EDT: 15 real minutes later, 02:xx never shown
        U(2026, 3, 8, 7, 15),
        U(2026, 3, 8, 7, 30),
    ]
    assert fires(s, U(2026, 11, 1, 5, 30), U(2026, 11, 1, 7, 15)) == [
        U(2026, 11, 1, 5, 45),  # 01:45 EDT
        U(2026, 11, 1, 6, 0),  # 01:00 EST, the repeated hour
        U(2026, 11, 1, 6, 15),
        U(2026, 11, 1, 6, 30),
        U(2026, 11, 1, 6, 45),
        U(2026, 11, 1, 7, 0),  # 02:00 EST
        U(2026, 11, 1, 7, 15),
    ]
    assert len(fires_on_local_day(s, date(2026, 3, 8))) == 92  # 23-hour day
    assert len(fires_on_local_day(s, date(2026, 11, 1))) == 100  # 25-hour day
    assert len(fires_on_local_day(s, date(2026, 11, 2))) == 96
    for day in (date(2026, 3, 8), date(2026, 11, 1)):
        times = fires_on_local_day(s, day)
        assert all(b - a == timedelta(minutes=15) for a, b in zip(times, times[1:], strict=False))


def test_new_york_hourly_follows_elapsed_time() -> None:
    s = parse_schedule("0 * * * *", NY)
    assert fires(s, U(2026, 3, 8, 5, 30), U(2026, 3, 8, 8)) == [
        U(2026, 3, 8, 6),
        U(2026, 3, 8, 7),
        U(2026, 3, 8, 8),
    ]
    assert fires(s, U(2026, 11, 1, 4, 30), U(2026, 11, 1, 7)) == [
        U(2026, 11, 1, 5),
        U(2026, 11, 1, 6),
        U(2026, 11, 1, 7),
    ]
    assert len(fires_on_local_day(s, date(2026, 3, 8))) == 23
    assert len(fires_on_local_day(s, date(2026, 11, 1))) == 25
    every_two = parse_schedule("0 */2 * * *", NY)  # wall 02:00 is never shown in spring
    assert fires(every_two, U(2026, 3, 8, 4), U(2026, 3, 8, 9)) == [
        U(2026, 3, 8, 5),
        U(2026, 3, 8, 8),
    ]


def test_london_every_fifteen_minutes() -> None:
    s = parse_schedule("*/15 * * * *", LONDON)
    assert fires(s, U(2026, 3, 29, 0, 30), U(2026, 3, 29, 1, 15)) == [
        U(2026, 3, 29, 0, 45), U(2026, 3, 29, 1, 0), U(2026, 3, 29, 1, 15)
    ]  # fmt: skip
    assert len(fires_on_local_day(s, date(2026, 3, 29))) == 92
    assert len(fires_on_local_day(s, date(2026, 10, 25))) == 100


def test_lord_howe_every_fifteen_minutes() -> None:
    s = parse_schedule("*/15 * * * *", LORD_HOWE)
    assert fires(s, U(2026, 4, 4, 14, 30), U(2026, 4, 4, 15, 30)) == [
        U(2026, 4, 4, 14, 45),  # 01:45 +11
        U(2026, 4, 4, 15, 0),  # 01:30 +10:30, repeated half hour
        U(2026, 4, 4, 15, 15),  # 01:45 +10:30
        U(2026, 4, 4, 15, 30),  # 02:00 +10:30
    ]
    assert fires(s, U(2026, 10, 3, 15), U(2026, 10, 3, 16)) == [
        U(2026, 10, 3, 15, 15),  # 01:45 +10:30
        U(2026, 10, 3, 15, 30),  # 02:30 +11 (02:00 and 02:15 are never shown)
        U(2026, 10, 3, 15, 45),
        U(2026, 10, 3, 16, 0),
    ]
    assert len(fires_on_local_day(s, date(2026, 4, 5))) == 98  # 24.5-hour day
    assert len(fires_on_local_day(s, date(2026, 10, 4))) == 94  # 23.5-hour day


def test_every_second_across_autumn_fires_every_real_second() -> None:
    s = parse_schedule("* * * * * *", NY)
    got = fires(s, U(2026, 11, 1, 5, 59, 58), U(2026, 11, 1, 6, 0, 2))
    assert got == [
        U(2026, 11, 1, 5, 59, 59),
        U(2026, 11, 1, 6),
        U(2026, 11, 1, 6, 0, 1),
        U(2026, 11, 1, 6, 0, 2),
    ]


# --------------------------------------------------------------------------- ISO 8601


def test_iso_r5_fires_five_times_then_ends() -> None:
    s = parse_schedule("R5/2026-01-01T00:00:00Z/PT2S")
    assert isinstance(s, IsoSchedule)
    assert s.ends and s.repeats == 5
    got = fires(s, U(2025, 12, 31), U(2027, 1, 1))
    assert got == [U(2026, 1, 1, 0, 0, s) for s in (0, 2, 4, 6, 8)]
    assert s.next_after(U(2026, 1, 1, 0, 0, 8)) is None
    assert s.next_after(U(2030, 1, 1)) is None
    assert s.next_after(U(2026, 1, 1, 0, 0, 7)) == U(2026, 1, 1, 0, 0, 8)
    assert s.next_after(U(2020, 1, 1)) == U(2026, 1, 1)


def test_iso_r0_never_fires_and_r1_fires_once() -> None:
    never = parse_schedule("R0/2026-01-01T00:00:00Z/PT1H")
    assert never.ends and never.next_after(U(2000, 1, 1)) is None
    assert never.describe() == "never (R0)"
    once = parse_schedule("R1/2026-01-01T00:00:00Z/PT1H")
    assert fires(once, U(2000, 1, 1), U(2030, 1, 1)) == [U(2026, 1, 1)]


def test_iso_infinite_repeats() -> None:
    s = parse_schedule("R/2026-01-01T00:00:00Z/PT1H")
    assert not s.ends
    assert s.next_after(U(2099, 12, 31, 23, 30)) == U(2100, 1, 1)
    assert s.next_after(U(2026, 1, 1)) == U(2026, 1, 1, 1)


def test_iso_is_constant_time_from_a_start_long_ago() -> None:
    # 36 years of seconds: iterating would take minutes; the answer is immediate.
    s = parse_schedule("R/1990-01-01T00:00:00Z/PT1S")
    assert s.next_after(U(2026, 5, 5, 12, 34, 56) + timedelta(microseconds=500_000)) == U(2026, 5, 5, 12, 34, 57)
    assert s.next_after(U(2026, 5, 5, 12, 34, 56)) == U(2026, 5, 5, 12, 34, 57)
    assert s.count_between(U(2026, 1, 1), U(2026, 1, 2)) == 86_400
    bounded = parse_schedule("R1000000000/1990-01-01T00:00:00Z/PT1S")
    last = U(1990, 1, 1) + timedelta(seconds=999_999_999)
    assert last == U(2021, 9, 9, 1, 46, 39)
    assert bounded.next_after(last - timedelta(seconds=1)) == last
    assert bounded.next_after(last) is None
    assert bounded.last_at_or_before(U(2026, 1, 1), U(2000, 1, 1)) == last
    monthly = parse_schedule("R/1900-01-31T12:00:00/P1M", NY)
    assert monthly.next_after(U(2026, 2, 10)) == U(2026, 2, 28, 17)


def test_iso_month_end_is_anchored_to_the_start() -> None:
    s = parse_schedule("R/2026-01-31T10:00:00Z/P1M")
    assert fires(s, U(2026, 1, 1), U(2026, 7, 1)) == [
        U(2026, 1, 31, 10), U(2026, 2, 28, 10), U(2026, 3, 31, 10),
        U(2026, 4, 30, 10), U(2026, 5, 31, 10), U(2026, 6, 30, 10),
    ]  # fmt: skip
    leap = parse_schedule("R/2028-01-31T00:00:00Z/P1M")
    assert leap.next_after(U(2028, 2, 1)) == U(2028, 2, 29)
    yearly = parse_schedule("R/2028-02-29T00:00:00Z/P1Y")
    assert fires(yearly, U(2028, 3, 1), U(2032, 12, 31)) == [
        U(2029, 2, 28), U(2030, 2, 28), U(2031, 2, 28), U(2032, 2, 29)
    ]  # fmt: skip


def test_iso_daily_period_keeps_wall_time_across_dst() -> None:
    nine = parse_schedule("R/2026-03-07T09:00:00/P1D", NY)  # naive start: New York wall time
    assert nine.start == U(2026, 3, 7, 14)
    assert fires(nine, U(2026, 3, 7), U(2026, 3, 10)) == [
        U(2026, 3, 7, 14),
        U(2026, 3, 8, 13),
        U(2026, 3, 9, 13),
    ]
    skipped = parse_schedule("R/2026-03-07T02:30:00/P1D", NY)
    assert fires(skipped, U(2026, 3, 7), U(2026, 3, 10)) == [
        U(2026, 3, 7, 7, 30),
        U(2026, 3, 8, 7),
        U(2026, 3, 9, 6, 30),
    ]
    repeated = parse_schedule("R/2026-10-31T01:30:00/P1D", NY)
    assert fires(repeated, U(2026, 10, 31), U(2026, 11, 3)) == [
        U(2026, 10, 31, 5, 30), U(2026, 11, 1, 5, 30), U(2026, 11, 2, 6, 30)
    ]  # fmt: skip
    weekly = parse_schedule("R/2026-03-01T09:00:00-05:00/P1W", NY)
    assert fires(weekly, U(2026, 3, 1), U(2026, 3, 9)) == [U(2026, 3, 1, 14), U(2026, 3, 8, 13)]
    # Hours are absolute: PT24H moves from 09:00 EST to 10:00 EDT.
    absolute = parse_schedule("R/2026-03-07T14:00:00Z/PT24H", NY)
    assert fires(absolute, U(2026, 3, 7), U(2026, 3, 9)) == [U(2026, 3, 7, 14), U(2026, 3, 8, 14)]


def test_iso_mixed_period_and_offsets() -> None:
    s = parse_schedule("R3/2026-01-01T00:00:00+01:00/P1DT12H")
    assert s.start == U(2025, 12, 31, 23)
    assert fires(s, U(2025, 1, 1), U(2027, 1, 1)) == [
        U(2025, 12, 31, 23),
        U(2026, 1, 2, 11),
        U(2026, 1, 3, 23),
    ]
    chronos = parse_schedule("R/2014-03-08T20:00:00.000Z/PT2H")  # Chronos writes milliseconds
    assert chronos.next_after(U(2014, 3, 8, 21)) == U(2014, 3, 8, 22)
    assert parse_schedule("R/2026-01-01T00:00:00Z/PT2.000S").next_after(U(2026, 1, 1)) == U(2026, 1, 1, 0, 0, 2)
    assert parse_schedule("R/2026-01-01T00:00:00Z/PT90M").next_after(U(2026, 1, 1)) == U(2026, 1, 1, 1, 30)


def test_iso_empty_start_needs_now() -> None:
    error = error_of("R//PT1H")
    assert "empty start" in error.errors[0].message
    now = U(2026, 5, 5, 12, 0, 0) + timedelta(microseconds=250)
    s = parse_schedule("R//PT1H", now=now)
    assert isinstance(s, IsoSchedule)
    assert s.start == U(2026, 5, 5, 12)
    assert s.canonical == "R/2026-05-05T12:00:00Z/PT1H"
    assert parse_schedule(s.canonical) == s
    assert s.next_after(now) == U(2026, 5, 5, 13)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("R/2026-01-01T00:00:00Z/PT0S", "is zero"),
        ("R/2026-01-01T00:00:00Z/P0Y0M0D", "is zero"),
        ("R/2026-01-01T00:00:00Z/PT1.5S", "fraction of a second"),
        ("R/2026-01-01T00:00:00Z/P1.5D", "fractional number of days"),
        ("R/2026-01-01T00:00:00Z/PT0,5H", "fractional number of hours"),
        ("R/2026-01-01T00:00:00Z/P", "not an ISO 8601 duration"),
        ("R/2026-01-01T00:00:00Z/PT", "not an ISO 8601 duration"),
        ("R/2026-01-01T00:00:00Z/P1DT", "not an ISO 8601 duration"),
        ("R/2026-01-01T00:00:00Z/1D", "not an ISO 8601 duration"),
        ("R/2026-01-01T00:00:00Z/PT-1S", "not an ISO 8601 duration"),
        ("R/2026-01-01T00:00:00Z/P99999999999Y", "too long"),
        ("R-1/2026-01-01T00:00:00Z/PT1H", "repetition count"),
        ("Rx/2026-01-01T00:00:00Z/PT1H", "repetition count"),
        ("R/yesterday/PT1H", "not an ISO 8601 date-time"),
        ("R/2026-01-01T00:00:00.5Z/PT1H", "fraction of a second"),
        ("R/2026-01-01T00:00:00Z/PT1H/PT2H", "three parts"),
    ],
)
def test_invalid_iso(expr: str, message: str) -> None:
    problem = error_of(expr).errors[0]
    assert problem.field == "schedule"
    assert message in problem.message
    assert problem.value == expr
    assert problem.allowed


# --------------------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("expr", "zone", "words"),
    [
        ("*/2 * * * * *", "UTC", "every 2 seconds"),
        ("* * * * * *", "UTC", "every second"),
        ("* * * * *", "UTC", "every minute"),
        ("*/15 * * * *", NY, "every 15 minutes"),
        ("5 * * * *", "UTC", "every hour at minute 5 (UTC)"),
        ("0 */6 * * *", "UTC", "every 6 hours at minute 0 (UTC)"),
        ("30 2 * * *", NY, "at 02:30 every day (America/New_York)"),
        ("@daily", "UTC", "at 00:00 every day (UTC)"),
        ("15 30 2 * * *", "UTC", "at 02:30:15 every day (UTC)"),
        ("0 9 * * 1-5", LONDON, "at 09:00 on Monday to Friday (Europe/London)"),
        ("0 9 * * MON,FRI", "UTC", "at 09:00 on Monday and Friday (UTC)"),
        ("0 0 1 * *", "UTC", "at 00:00 on day 1 of every month (UTC)"),
        ("0 18 L * *", "UTC", "at 18:00 on the last day of every month (UTC)"),
        ("@yearly", "UTC", "at 00:00 on January 1 every year (UTC)"),
        ("*/7 * * * *", "UTC", "cron '*/7 * * * *' (UTC)"),  # not every 7 minutes: :56 -> :00
        ("0 9 13 * 5", "UTC", "cron '0 9 13 * 5' (UTC)"),
        (
            "R5/2026-01-01T00:00:00Z/PT2S",
            "UTC",
            "every 2 seconds from 2026-01-01T00:00:00Z, 5 times",
        ),
        (
            "R/2026-01-01T14:00:00Z/P1D",
            NY,
            "every day from 2026-01-01T14:00:00Z (America/New_York)",
        ),
        (
            "R/2026-01-01T00:00:00Z/P1DT12H",
            "UTC",
            "every 1 day 12 hours from 2026-01-01T00:00:00Z (UTC)",
        ),
        ("R1/2026-01-01T00:00:00Z/P1D", "UTC", "once at 2026-01-01T00:00:00Z"),
    ],
)
def test_describe(expr: str, zone: str, words: str) -> None:
    assert parse_schedule(expr, zone).describe() == words


# --------------------------------------------------------------------------- catch-up

HOURLY = parse_schedule("0 * * * *")


def test_catchup_new_job_misses_nothing() -> None:
    plan = plan_catchup(HOURLY, None, U(2026, 1, 1, 5, 30), "all")
    assert plan == CatchupPlan(run=[], skipped=[], next_fire=U(2026, 1, 1, 6), skipped_count=0)
    assert plan_catchup(HOURLY, U(2026, 1, 1, 6), U(2026, 1, 1, 5, 30), "all").run == []


def test_catchup_nothing_missed() -> None:
    plan = plan_catchup(HOURLY, U(2026, 1, 1, 5), U(2026, 1, 1, 5, 30), "all")
    assert (plan.run, plan.skipped, plan.skipped_count, plan.next_fire) == (
        [],
        [],
        0,
        U(2026, 1, 1, 6),
    )


def test_catchup_none() -> None:
    plan = plan_catchup(HOURLY, U(2026, 1, 1), U(2026, 1, 1, 5, 30), "none")
    assert plan.run == []
    reason = "missed during downtime; catchup=none"
    assert plan.skipped == [(U(2026, 1, 1, h), reason) for h in range(1, 6)]
    assert plan.skipped_count == 5 and plan.skipped_unlisted == 0
    assert plan.next_fire == U(2026, 1, 1, 6)


def test_catchup_latest() -> None:
    plan = plan_catchup(HOURLY, U(2026, 1, 1), U(2026, 1, 1, 5, 30), "latest")
    assert plan.run == [U(2026, 1, 1, 5)]
    assert [t for t, _ in plan.skipped] == [U(2026, 1, 1, h) for h in range(1, 5)]
    assert all("catchup=latest" in reason for _, reason in plan.skipped)
    assert plan.skipped_count == 4


def test_catchup_all_within_cap() -> None:
    plan = plan_catchup(HOURLY, U(2026, 1, 1), U(2026, 1, 1, 5), "all")  # now is a fire time: missed
    assert plan.run == [U(2026, 1, 1, h) for h in range(1, 6)]
    assert (plan.skipped, plan.skipped_count, plan.next_fire) == ([], 0, U(2026, 1, 1, 6))


def test_catchup_all_at_and_beyond_cap() -> None:
    minutely = parse_schedule("* * * * *")
    exactly = plan_catchup(minutely, U(2026, 1, 1), U(2026, 1, 1, 1, 40), "all")
    assert len(exactly.run) == 100 and exactly.skipped == []
    assert (exactly.run[0], exactly.run[-1]) == (U(2026, 1, 1, 0, 1), U(2026, 1, 1, 1, 40))
    beyond = plan_catchup(minutely, U(2026, 1, 1), U(2026, 1, 1, 1, 41), "all")
    assert beyond.run == [U(2026, 1, 1, 1, 41)]
    assert beyond.skipped_count == 100
    reason = "missed; beyond catch-up cap of 100"
    # 100 skipped is not more than the cap: every one is listed
    assert beyond.skipped == [(U(2026, 1, 1) + timedelta(minutes=m), reason) for m in range(1, 101)]
    assert beyond.skipped_unlisted == 0
    small = plan_catchup(minutely, U(2026, 1, 1), U(2026, 1, 1, 0, 4), "all", cap=3)
    assert small.run == [U(2026, 1, 1, 0, 4)]
    assert [t for t, _ in small.skipped] == [U(2026, 1, 1, 0, m) for m in (1, 2, 3)]
    assert small.skipped[0][1] == "missed; beyond catch-up cap of 3"


def test_catchup_none_and_latest_beyond_cap_are_bounded() -> None:
    minutely = parse_schedule("* * * * *")
    none = plan_catchup(minutely, U(2026, 1, 1), U(2026, 1, 1, 10), "none")
    assert none.run == [] and none.skipped_count == 600
    assert [t for t, _ in none.skipped] == [U(2026, 1, 1, 0, m) for m in range(1, 6)] + [
        U(2026, 1, 1, 9, m) for m in range(56, 60)
    ] + [U(2026, 1, 1, 10)]
    latest = plan_catchup(minutely, U(2026, 1, 1), U(2026, 1, 1, 10), "latest")
    assert latest.run == [U(2026, 1, 1, 10)] and latest.skipped_count == 599
    assert [t for t, _ in latest.skipped][-1] == U(2026, 1, 1, 9, 59)
    assert len(latest.skipped) == 2 * SKIPPED_SAMPLE


def test_catchup_finite_iso_schedule_that_ended_during_downtime() -> None:
    s = parse_schedule("R5/2026-01-01T00:00:00Z/PT1H")
    plan = plan_catchup(s, U(2026, 1, 1), U(2026, 2, 1), "all")
    assert plan.run == [U(2026, 1, 1, h) for h in range(1, 5)]
    assert plan.next_fire is None


def test_catchup_month_of_per_second_schedule_has_bounded_memory() -> None:
    iso = parse_schedule("R/2026-01-01T00:00:00Z/PT1S")
    cron = parse_schedule("* * * * * *", NY)  # crosses the autumn transition: every real second fires
    tracemalloc.start()
    try:
        plans = {
            (name, policy): plan_catchup(s, start, start + timedelta(days=30), policy)
            for name, s, start in (("iso", iso, U(2026, 1, 1)), ("cron", cron, U(2026, 10, 15)))
            for policy in ("none", "latest", "all")
        }
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000
    for (name, policy), plan in plans.items():
        start = U(2026, 1, 1) if name == "iso" else U(2026, 10, 15)
        end = start + timedelta(days=30)
        assert len(plan.skipped) <= 2 * SKIPPED_SAMPLE
        assert plan.skipped[0][0] == start + timedelta(seconds=1)
        assert plan.next_fire == end + timedelta(seconds=1)
        if policy == "none":
            assert plan.run == [] and plan.skipped_count == 2_592_000
            assert plan.skipped[-1][0] == end
        else:
            assert plan.run == [end] and plan.skipped_count == 2_591_999
            assert plan.skipped[-1][0] == end - timedelta(seconds=1)


def test_catchup_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="catchup policy"):
        plan_catchup(HOURLY, U(2026, 1, 1), U(2026, 1, 2), "some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cap"):
        plan_catchup(HOURLY, U(2026, 1, 1), U(2026, 1, 2), "all", cap=0)


# --------------------------------------------------------------------------- deadline


def test_deadline_exceeded() -> None:
    scheduled = U(2026, 3, 8, 7)
    late = scheduled + timedelta(seconds=42, microseconds=100_000)
    assert deadline_exceeded(scheduled, late, 30) == (
        "could not start within starting_deadline_seconds=30 "
        "(scheduled 2026-03-08T07:00:00Z, now 2026-03-08T07:00:42.100000Z, late by 42.1s)"
    )
    assert deadline_exceeded(scheduled, scheduled + timedelta(seconds=30), 30) is None
    assert deadline_exceeded(scheduled, scheduled + timedelta(seconds=31), 30.5) is not None
    assert "starting_deadline_seconds=30.5 " in (deadline_exceeded(scheduled, late, 30.5) or "")
    assert deadline_exceeded(scheduled, scheduled - timedelta(seconds=5), 0) is None
    assert deadline_exceeded(scheduled, scheduled + timedelta(days=9), None) is None
    assert deadline_exceeded(scheduled, scheduled + timedelta(seconds=1), 0) is not None
    with pytest.raises(ValueError):
        deadline_exceeded(scheduled, late, -1)


# --------------------------------------------------------------------------- properties

ZONES = [
    "UTC",
    NY,
    LONDON,
    LORD_HOWE,
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "Europe/Dublin",
]
TRANSITIONS = [
    U(2026, 3, 8, 7), U(2026, 11, 1, 6), U(2026, 3, 29, 1), U(2026, 10, 25, 1),
    U(2026, 4, 4, 15), U(2026, 10, 3, 15, 30), U(2026, 4, 4, 14), U(2026, 9, 26, 14),
    U(2018, 11, 4, 2), U(2019, 2, 17, 2),  # Sao Paulo's last DST: gap and repeat at midnight
]  # fmt: skip

minute_fields = st.sampled_from(["*", "*/15", "0", "30", "0,30", "*/7", "5-10", "59"])
hour_fields = st.sampled_from(["*", "*/2", "0", "1", "2", "3", "1,2", "0-3", "*/5", "23"])
dom_fields = st.sampled_from(["*", "*", "1", "15", "L", "1-7"])
month_fields = st.sampled_from(["*", "*", "*", "3", "10,11", "4"])
dow_fields = st.sampled_from(["*", "*", "*", "0", "1-5", "6"])
second_fields = st.sampled_from(["0", "30", "*/20"])


@st.composite
def cron_exprs(draw: st.DrawFn) -> str:
    fields = [draw(f) for f in (minute_fields, hour_fields, dom_fields, month_fields, dow_fields)]
    if draw(st.booleans()):
        fields.insert(0, draw(second_fields))
    return " ".join(fields)


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    if draw(st.booleans()):
        base = draw(st.sampled_from(TRANSITIONS))
        return base + timedelta(seconds=draw(st.integers(-4 * 3600, 4 * 3600)))
    moment = draw(st.datetimes(datetime(2015, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC)))
    return moment


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(cron_exprs(), st.sampled_from(ZONES), instants(), st.integers(0, 3 * 86400))
def test_next_after_is_later_and_monotonic(expr: str, zone: str, t: datetime, step: int) -> None:
    s = parse_schedule(expr, zone)
    n1 = s.next_after(t)
    assert n1 is not None and n1 > t
    assert n1.tzinfo is UTC and n1.microsecond == 0
    n2 = s.next_after(t + timedelta(seconds=step, microseconds=1))
    assert n2 is not None and n2 >= n1
    if t < n1 - timedelta(seconds=1):
        assert s.next_after(n1 - timedelta(seconds=1)) == n1


@PROPERTY
@given(cron_exprs(), st.sampled_from(ZONES), instants(), st.integers(1, 40))
def test_times_between_agrees_with_iterating_next_after(expr: str, zone: str, t: datetime, limit: int) -> None:
    s = parse_schedule(expr, zone)
    expected: list[datetime] = []
    current = t
    for _ in range(limit):
        following = s.next_after(current)
        assert following is not None
        expected.append(following)
        current = following
    assert s.times_between(t, expected[-1], 10_000) == expected
    assert s.times_between(t, expected[-1], limit // 2) == expected[: limit // 2]
    assert s.times_between(t, expected[-1] - timedelta(seconds=1), 10_000) == expected[:-1]
    assert s.count_between(t, expected[-1]) == limit
    assert s.last_at_or_before(expected[-1], t) == expected[-1]
    if limit > 1:
        assert s.last_at_or_before(expected[-1] - timedelta(microseconds=1), t) == expected[-2]


@PROPERTY
@given(cron_exprs(), st.sampled_from(ZONES), instants(), st.integers(0, 2 * 86400))
def test_count_between_agrees_with_listing(expr: str, zone: str, t: datetime, span: int) -> None:
    s = parse_schedule(expr, zone)
    end = t + timedelta(seconds=span)
    assert s.count_between(t, end) == len(s.times_between(t, end, 10**6))


def _oracle(expr: str, zone_name: str, start: datetime, end: datetime, interval: bool) -> list[datetime]:
    """Fire times in (start, end] by brute force (tests/oracle_cron.py)."""
    oracle = CronOracle(expr)
    assert oracle.interval == interval
    return oracle.fires(zone_name, start, 10**6, end)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cron_exprs().filter(lambda e: len(e.split()) == 5),
    st.sampled_from([NY, LONDON, LORD_HOWE, "Pacific/Chatham", "America/Sao_Paulo"]),
    st.sampled_from(TRANSITIONS),
    st.integers(-3 * 3600, 3 * 3600),
)
def test_dst_rule_matches_brute_force(expr: str, zone: str, transition: datetime, shift: int) -> None:
    s = parse_schedule(expr, zone)
    assert isinstance(s, CronSchedule)
    start = transition + timedelta(seconds=shift) - timedelta(hours=3)
    end = start + timedelta(hours=6)
    assert s.times_between(start, end, 10_000) == _oracle(expr, zone, start, end, s.interval)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["*/20 * * * * *", "30 * 1 * * *", "0,30 */15 * * * *", "*/20 30 1-3 * * *"]),
    st.sampled_from([NY, LORD_HOWE]),
    st.sampled_from(TRANSITIONS[:2] + TRANSITIONS[4:6]),
    st.integers(-3600, 3600),
)
def test_dst_rule_with_seconds_matches_brute_force(expr: str, zone: str, transition: datetime, shift: int) -> None:
    s = parse_schedule(expr, zone)
    assert isinstance(s, CronSchedule)
    start = transition + timedelta(seconds=shift) - timedelta(minutes=70)
    end = start + timedelta(minutes=140)
    assert s.times_between(start, end, 100_000) == _oracle(expr, zone, start, end, s.interval)


iso_periods = st.sampled_from(["PT1S", "PT7S", "PT90M", "PT1H", "P1D", "P1W", "P1M", "P3M", "P1Y", "P1DT1H", "P1MT30M"])


@PROPERTY
@given(
    st.sampled_from([None, 0, 1, 3, 50]),
    st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)).map(lambda d: d.replace(microsecond=0)),
    iso_periods,
    st.sampled_from(["UTC", NY, LORD_HOWE]),
    instants(),
)
def test_iso_next_after_agrees_with_enumeration(
    repeats: int | None, start: datetime, period: str, zone: str, t: datetime
) -> None:
    expr = f"R{'' if repeats is None else repeats}/{start.isoformat()}/{period}"
    s = parse_schedule(expr, zone)
    assert isinstance(s, IsoSchedule)
    listed = s.times_between(t - timedelta(days=40), t + timedelta(days=40), 200)
    assert listed == sorted(set(listed))
    if listed:
        assert s.next_after(t - timedelta(days=40)) == listed[0]
        after_t = [f for f in listed if f > t]
        if after_t:
            assert s.next_after(t) == after_t[0]
        assert s.count_between(t - timedelta(days=40), listed[-1]) == len(listed)
        assert s.last_at_or_before(listed[-1], t - timedelta(days=40)) == listed[-1]
    if repeats is not None:
        assert len(s.times_between(U(1999, 1, 1), U(2200, 1, 1), 100)) == min(repeats, 100)
