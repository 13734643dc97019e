"""The every-day fast path of cron schedules agrees with croniter, field by field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from moroccron.schedule import parse_schedule


def field(top: int) -> st.SearchStrategy[str]:
    single = st.integers(0, top).map(str)
    step = st.tuples(st.sampled_from(["*", "0"]), st.integers(1, top)).map(lambda t: f"{t[0]}/{t[1]}")
    span = st.tuples(st.integers(0, top), st.integers(0, top)).map(lambda t: f"{min(t)}-{max(t)}")
    listed = st.lists(st.integers(0, top), min_size=1, max_size=4, unique=True).map(
        lambda xs: ",".join(map(str, sorted(xs))))
    return st.one_of(st.just("*"), single, step, span, listed)


@settings(max_examples=300, deadline=None)
@given(sec=field(59), minute=field(59), hour=field(23),
       when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31)))
def test_every_day_expressions_match_croniter(sec, minute, hour, when):
    expr = f"{sec} {minute} {hour} * * *"
    sched = parse_schedule(expr, "UTC")
    assert sched._every_day  # noqa: SLF001 - the path under test
    start = when.replace(tzinfo=UTC)
    # croniter, with seconds first as moroccron writes 6-field lines
    cron = croniter(f"{minute} {hour} * * * {sec}", start)
    for _ in range(3):
        expected = copy.copy(cron).get_next(datetime)
        cron = croniter(f"{minute} {hour} * * * {sec}", expected)
        got = sched.next_after(start)
        assert got == expected, (expr, start)
        start = got


def test_the_memo_gives_the_same_answer_twice_and_stays_bounded():
    sched = parse_schedule("*/10 * * * * *", "UTC")
    t = datetime(2026, 1, 1, tzinfo=UTC)
    first = sched.next_after(t)
    assert sched.next_after(t) == first == t + timedelta(seconds=10)
    for i in range(2000):
        sched.next_after(t + timedelta(seconds=i))
    assert len(sched._memo) <= 512  # noqa: SLF001
