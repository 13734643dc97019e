"""ISO 8601 schedules: how the job's time zone (Chronos ``scheduleTimeZone``) relates to a
zone written in the start, as docs/schedules.md states it."""

from __future__ import annotations

from datetime import UTC, datetime

from moroccron.api.chronos_schema import from_chronos
from moroccron.schedule import parse_schedule


def U(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def fires(expr: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    return parse_schedule(expr, zone).times_between(start, end, 100)


def test_an_offset_in_the_start_fixes_the_first_instant_and_the_job_zone_the_calendar():
    expr = "R/2026-03-06T09:00:00-05:00/P1D"  # 14:00Z, 09:00 in New York before DST
    # in New York: 09:00 local every day, across the DST change of 2026-03-08
    assert fires(expr, "America/New_York", U(2026, 3, 6), U(2026, 3, 10)) == [
        U(2026, 3, 6, 14),
        U(2026, 3, 7, 14),
        U(2026, 3, 8, 13),
        U(2026, 3, 9, 13),
    ]
    # in UTC (the default): the same first instant, then 14:00Z every day
    assert fires(expr, "UTC", U(2026, 3, 6), U(2026, 3, 10)) == [
        U(2026, 3, 6, 14),
        U(2026, 3, 7, 14),
        U(2026, 3, 8, 14),
        U(2026, 3, 9, 14),
    ]


def test_a_start_without_offset_is_wall_time_in_the_job_zone():
    assert parse_schedule("R/2026-03-06T09:00:00/P1D", "Europe/Paris").start == U(2026, 3, 6, 8)
    assert parse_schedule("R/2026-03-06T09:00:00/P1D", "UTC").start == U(2026, 3, 6, 9)


def test_a_start_in_the_future_is_the_first_fire_and_one_in_the_past_counts_from_it():
    later = parse_schedule("R/2040-01-01T00:00:00Z/P1D")
    assert later.next_after(U(2026, 1, 1)) == U(2040, 1, 1)
    past = parse_schedule("R/2020-01-01T00:00:00Z/PT7H")
    assert past.next_after(U(2026, 1, 1)) == U(2026, 1, 1, 4)  # 2020-01-01 + 7516 * 7 h


def test_chronos_schedule_time_zone_is_the_job_zone():
    # Before the start: a start already past would run now and be moved forward (docs/schedules.md).
    job = from_chronos(
        {
            "name": "z",
            "command": "x",
            "schedule": "R/2026-03-06T09:00:00-05:00/P1D",
            "scheduleTimeZone": "America/New_York",
        },
        now=U(2026, 3, 1),
    ).job
    assert job.timezone == "America/New_York"
    sched = parse_schedule(job.schedule, job.timezone)
    assert sched.times_between(U(2026, 3, 7), U(2026, 3, 9), 5) == [U(2026, 3, 7, 14), U(2026, 3, 8, 13)]
    naive = from_chronos(
        {"name": "z", "command": "x", "schedule": "R/2026-03-06T09:00:00/P1D", "scheduleTimeZone": "PST"},
        now=U(2026, 3, 1),
    ).job
    assert naive.timezone == "America/Los_Angeles"
    assert parse_schedule(naive.schedule, naive.timezone).start == U(2026, 3, 6, 17)
