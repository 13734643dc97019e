"""Cron schedules against a brute-force oracle (tests/oracle_cron.py): generated
expressions using every feature, in zones with DST, 30-minute shifts, half-hour offsets
and a skipped day, from starts around transitions; the next 50 fire times must agree.

``make test`` runs a bounded number of examples (well under a minute on a busy machine);
the ``exhaustive`` variant, run by ``make test PYTEST_ARGS=--exhaustive``, many more
(``MOROCCRON_ORACLE_EXAMPLES`` sets how many).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moroccron.errors import ScheduleError
from moroccron.schedule import CronSchedule, parse_schedule
from tests.oracle_cron import CronOracle, transitions, year_span

ZONES = [
    "America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago", "Europe/Dublin",
    "America/St_Johns", "Asia/Tehran", "Pacific/Apia", "UTC",
]  # fmt: skip
FIRES = 50
HORIZON_YEARS = 12  # fire times compared: the first 50, or those within 12 years


@cache
def _transitions(zone: str) -> tuple[datetime, ...]:
    found = transitions(zone, 2008, 2030)
    return tuple(found) or (datetime(2026, 1, 1, tzinfo=UTC),)


# --------------------------------------------------------------------------- expressions


def _item(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None) -> str:
    def value(v: int) -> str:
        if names and draw(st.booleans()):
            return names[v - low] if v - low < len(names) else str(v)
        return str(v)

    a = draw(st.integers(low, high))
    b = draw(st.integers(low, high))
    step = draw(st.integers(1, max(2, (high - low) // 2)))
    kind = draw(st.sampled_from(["*", "*/s", "n", "a-b", "a-a", "a-b/s", "n/s", "wrap"]))
    if kind == "*":
        return "*"
    if kind == "*/s":
        return f"*/{step}"
    if kind == "n":
        return value(a)
    if kind == "a-a":
        return f"{value(a)}-{value(a)}"
    lo, hi = min(a, b), max(a, b)
    if kind == "a-b":
        return f"{value(lo)}-{value(hi)}"
    if kind == "a-b/s":
        return f"{value(lo)}-{value(hi)}/{step}"
    if kind == "n/s":
        return f"{value(a)}/{step}"
    return f"{value(hi)}-{value(lo)}" + (f"/{step}" if draw(st.booleans()) else "")  # wrap-around


def _field(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None) -> str:
    items = [_item(draw, low, high, names) for _ in range(draw(st.integers(1, 3)))]
    if "*" in items[1:]:
        items = [i for i in items if i != "*"] or ["*"]
    return ",".join(items)


MONTH_NAMES = ["JAN", "feb", "Mar", "apr", "MAY", "jun", "jul", "Aug", "sep", "oct", "nov", "DEC"]
DAY_NAMES = ["sun", "MON", "tue", "Wed", "thu", "FRI", "sat"]


@st.composite
def day_of_month(draw: st.DrawFn) -> str:
    special = draw(st.sampled_from(["plain", "plain", "plain", "?", "L", "nW", "LW", "a-L", "Wn"]))
    if special == "plain":
        return _field(draw, 1, 31)
    if special == "nW":
        return f"{draw(st.integers(1, 31))}W" + (",L" if draw(st.booleans()) else "")
    if special == "Wn":
        return f"W{draw(st.integers(1, 28))}"
    if special == "a-L":
        return f"{draw(st.integers(1, 31))}-L"
    return special


@st.composite
def day_of_week(draw: st.DrawFn) -> str:
    special = draw(st.sampled_from(["plain", "plain", "plain", "?", "#", "nL", "Ln", "7"]))
    if special == "plain":
        return _field(draw, 0, 6, DAY_NAMES)
    if special == "#":
        day = draw(st.integers(0, 7))
        return f"{DAY_NAMES[day % 7] if draw(st.booleans()) else day}#{draw(st.integers(1, 5))}"
    if special == "nL":
        return f"{draw(st.integers(0, 7))}L"
    if special == "Ln":
        return f"L{draw(st.integers(0, 6))}"
    return f"{draw(st.integers(1, 6))}-7"


@st.composite
def cron_exprs(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 15)) == 0:
        return draw(
            st.sampled_from(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "@DAILY"])
        )
    minute = _field(draw, 0, 59)
    hour = _field(draw, 0, 23)
    dom = draw(day_of_month())
    month = "*" if draw(st.booleans()) else _field(draw, 1, 12, MONTH_NAMES)
    dow = draw(day_of_week())
    fields = [minute, hour, dom, month, dow]
    if draw(st.integers(0, 3)) == 0:
        fields.insert(0, _field(draw, 0, 59))
    return " ".join(fields)


@st.composite
def starts(draw: st.DrawFn, zone: str) -> datetime:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.datetimes(datetime(2005, 1, 1), datetime(2030, 1, 1))).replace(tzinfo=UTC)
    transition = draw(st.sampled_from(_transitions(zone)))
    return transition + timedelta(seconds=draw(st.integers(-3 * 86400, 3 * 86400)))


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, str, datetime]:
    zone = draw(st.sampled_from(ZONES))
    return draw(cron_exprs()), zone, draw(starts(zone))


# --------------------------------------------------------------------------- the property


def check_against_oracle(expr: str, zone: str, start: datetime) -> None:
    oracle = CronOracle(expr)
    try:
        schedule = parse_schedule(expr, zone)
    except ScheduleError as exc:
        # refused only when it can never fire, and then the oracle agrees
        assert "never match" in str(exc), str(exc)
        assert oracle.never_matches(), expr
        return
    assert isinstance(schedule, CronSchedule)
    assert schedule.interval == oracle.interval, expr
    until = year_span(start, HORIZON_YEARS)
    got: list[datetime] = []
    current: datetime | None = start
    while len(got) < FIRES:
        current = schedule.next_after(current)
        if current is None or current > until:
            break
        got.append(current)
    assert got == oracle.fires(zone, start, FIRES, until), (expr, zone, start)
    if got:  # listing and counting agree with stepping
        assert schedule.times_between(start, got[-1], FIRES) == got
        assert schedule.count_between(start, got[-1]) == len(got)


@settings(
    max_examples=int(os.environ.get("MOROCCRON_ORACLE_QUICK", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_next_fifty_fire_times_equal_the_oracle(case: tuple[str, str, datetime]) -> None:
    check_against_oracle(*case)


@pytest.mark.exhaustive
@settings(
    max_examples=int(os.environ.get("MOROCCRON_ORACLE_EXAMPLES", "1500")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_next_fifty_fire_times_equal_the_oracle_many_examples(case: tuple[str, str, datetime]) -> None:
    check_against_oracle(*case)
