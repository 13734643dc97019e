"""plan_catchup: the listing keeps its promise at the cap, and the deadline narrows the
window before the policy and the cap apply (Kubernetes' order).

A brute-force reference lists every missed time and applies the written rules one by
one; plan_catchup, which counts without listing, must agree with it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moroccron.schedule import (
    SKIPPED_SAMPLE,
    CatchupPlan,
    Schedule,
    deadline_exceeded,
    parse_schedule,
    plan_catchup,
)

MINUTELY = parse_schedule("* * * * *")
START = datetime(2026, 1, 1, tzinfo=UTC)


def minutes(*ms: int) -> list[datetime]:
    return [START + timedelta(minutes=m) for m in ms]


def reference(
    schedule: Schedule, last: datetime, now: datetime, policy: str, cap: int, deadline: float | None
) -> tuple[list[datetime], list[datetime], int]:
    """(run, skipped, skipped_count) by listing every missed time: the rules as written."""
    missed = schedule.times_between(last, now, 100_000)
    assert len(missed) < 100_000
    candidates = [t for t in missed if deadline_exceeded(t, now, deadline) is None]
    expired = [t for t in missed if t not in candidates]
    if policy == "none" or not candidates:
        run: list[datetime] = []
    elif policy == "all" and len(candidates) <= cap:
        run = candidates
    else:
        run = [candidates[-1]]
    skipped = [t for t in missed if t not in run]
    assert len(skipped) == len(expired) + len(candidates) - len(run)
    return run, skipped, len(skipped)


def check_against_reference(
    plan: CatchupPlan, schedule: Schedule, last: datetime, now: datetime, policy: str, cap: int, deadline: float | None
) -> None:
    run, skipped, count = reference(schedule, last, now, policy, cap, deadline)
    assert plan.run == run
    assert plan.skipped_count == count
    listed = [t for t, _ in plan.skipped]
    if count <= cap:
        assert listed == skipped, "every skipped time is listed when there are at most cap of them"
    else:
        assert listed == sorted(set(skipped[:SKIPPED_SAMPLE]) | set(skipped[-SKIPPED_SAMPLE:]))
    for t, reason in plan.skipped:
        late = deadline_exceeded(t, now, deadline)
        assert (reason == late) if late else ("starting_deadline" not in reason)


# --------------------------------------------------------------------------- the list at the cap


@pytest.mark.parametrize("policy", ["none", "latest", "all"])
@pytest.mark.parametrize("missed", [99, 100, 101, 102])
def test_listing_is_complete_whenever_skipped_count_is_within_the_cap(policy: str, missed: int) -> None:
    now = START + timedelta(minutes=missed)
    plan = plan_catchup(MINUTELY, START, now, policy, cap=100)  # type: ignore[arg-type]
    check_against_reference(plan, MINUTELY, START, now, policy, 100, None)
    expected_run = {"none": 0, "latest": 1, "all": missed if missed <= 100 else 1}[policy]
    assert len(plan.run) == expected_run
    assert plan.skipped_count == missed - expected_run
    if plan.skipped_count <= 100:
        assert len(plan.skipped) == plan.skipped_count and plan.skipped_unlisted == 0
    else:
        assert len(plan.skipped) == 2 * SKIPPED_SAMPLE
        assert plan.skipped_unlisted == plan.skipped_count - 2 * SKIPPED_SAMPLE


def test_the_issue_example_101_missed_with_cap_100_lists_all_100_skipped() -> None:
    plan = plan_catchup(MINUTELY, START, START + timedelta(minutes=101), "latest", cap=100)
    assert plan.run == minutes(101)
    assert plan.skipped_count == 100
    assert [t for t, _ in plan.skipped] == minutes(*range(1, 101))
    plan = plan_catchup(MINUTELY, START, START + timedelta(minutes=101), "all", cap=100)
    assert plan.run == minutes(101) and [t for t, _ in plan.skipped] == minutes(*range(1, 101))


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_tiny_caps(cap: int) -> None:
    for missed in range(1, 8):
        now = START + timedelta(minutes=missed)
        for policy in ("none", "latest", "all"):
            plan = plan_catchup(MINUTELY, START, now, policy, cap=cap)  # type: ignore[arg-type]
            check_against_reference(plan, MINUTELY, START, now, policy, cap, None)


# --------------------------------------------------------------------------- deadline, then cap


def test_the_issue_example_50_missed_with_a_600s_deadline() -> None:
    # 50 per-minute fires missed; now is exactly on a fire time. Candidates are the fires
    # at most 600 s old: 11:50 ... 12:00 is eleven of them (11:50 is exactly 600 s old
    # and may still start, as deadline_exceeded says).
    last = datetime(2026, 1, 1, 11, 10, tzinfo=UTC)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    plan = plan_catchup(MINUTELY, last, now, "all", starting_deadline_seconds=600)
    assert plan.run == [datetime(2026, 1, 1, 11, 50, tzinfo=UTC) + timedelta(minutes=m) for m in range(11)]
    assert plan.skipped_count == 39
    assert [t for t, _ in plan.skipped] == [last + timedelta(minutes=m) for m in range(1, 40)]
    assert all("could not start within starting_deadline_seconds=600" in r for _, r in plan.skipped)
    latest = plan_catchup(MINUTELY, last, now, "latest", starting_deadline_seconds=600)
    assert latest.run == [now] and latest.skipped_count == 49
    # 30 s later the oldest candidate is 11:51: ten of them
    later = plan_catchup(MINUTELY, last, now + timedelta(seconds=30), "all", starting_deadline_seconds=600)
    assert later.run[0] == datetime(2026, 1, 1, 11, 51, tzinfo=UTC) and len(later.run) == 10


def test_the_deadline_narrows_the_window_before_the_cap() -> None:
    # 150 missed with cap 100: without a deadline, "all" runs only the latest; with a
    # 600 s deadline only 11 are candidates, within the cap, and all of them run.
    last = START
    now = START + timedelta(minutes=150)
    without = plan_catchup(MINUTELY, last, now, "all", cap=100)
    assert without.run == [now] and without.skipped_count == 149
    narrowed = plan_catchup(MINUTELY, last, now, "all", cap=100, starting_deadline_seconds=600)
    assert narrowed.run == minutes(*range(140, 151))
    assert narrowed.skipped_count == 139
    check_against_reference(narrowed, MINUTELY, last, now, "all", 100, 600)
    # and the cap still applies to the candidates: 20 candidates, cap 10
    capped = plan_catchup(MINUTELY, last, now, "all", cap=10, starting_deadline_seconds=1140)
    assert capped.run == [now] and capped.skipped_count == 149
    check_against_reference(capped, MINUTELY, last, now, "all", 10, 1140)


def test_deadline_edges() -> None:
    now = START + timedelta(minutes=10)
    # zero: only a fire time at exactly now may start
    zero = plan_catchup(MINUTELY, START, now, "all", starting_deadline_seconds=0)
    assert zero.run == [now] and zero.skipped_count == 9
    off = plan_catchup(MINUTELY, START, now + timedelta(seconds=1), "all", starting_deadline_seconds=0)
    assert off.run == [] and off.skipped_count == 10
    # a fractional deadline: 59.5 s does not reach back to the previous minute
    frac = plan_catchup(MINUTELY, START, now + timedelta(seconds=59), "all", starting_deadline_seconds=59.5)
    assert frac.run == [now]
    frac = plan_catchup(MINUTELY, START, now + timedelta(seconds=59.6), "all", starting_deadline_seconds=59.5)
    assert frac.run == [] and frac.skipped_count == 10
    # a deadline longer than the downtime changes nothing
    wide = plan_catchup(MINUTELY, START, now, "all", starting_deadline_seconds=86400)
    assert wide == plan_catchup(MINUTELY, START, now, "all")
    with pytest.raises(ValueError, match="starting_deadline_seconds"):
        plan_catchup(MINUTELY, START, now, "all", starting_deadline_seconds=-1)


def test_a_long_gap_with_a_deadline_stays_bounded() -> None:
    per_second = parse_schedule("* * * * * *")
    last, now = START, START + timedelta(days=30)
    plan = plan_catchup(per_second, last, now, "all", starting_deadline_seconds=30)
    assert plan.run == [now - timedelta(seconds=s) for s in range(30, -1, -1)]
    assert plan.skipped_count == 30 * 86400 - 31
    assert len(plan.skipped) == 2 * SKIPPED_SAMPLE
    assert plan.skipped[-1][0] == now - timedelta(seconds=31)
    assert plan.skipped[0][0] == last + timedelta(seconds=1)


@settings(max_examples=300, deadline=None)
@given(
    expr=st.sampled_from(["* * * * *", "*/7 * * * *", "0,20 * * * *", "*/13 * * * * *", "0 */2 * * *"]),
    gap=st.integers(min_value=0, max_value=6 * 3600),
    offset=st.integers(min_value=0, max_value=3599),
    policy=st.sampled_from(["none", "latest", "all"]),
    cap=st.integers(min_value=1, max_value=15),
    deadline=st.one_of(st.none(), st.integers(min_value=0, max_value=4000), st.floats(min_value=0, max_value=4000)),
)
def test_agrees_with_the_brute_force_reference(
    expr: str, gap: int, offset: int, policy: str, cap: int, deadline: float | None
) -> None:
    schedule = parse_schedule(expr)
    last = START + timedelta(seconds=offset)
    now = last + timedelta(seconds=gap, microseconds=offset * 173 % 1_000_000)
    plan = plan_catchup(
        schedule,
        last,
        now,
        policy,
        cap=cap,  # type: ignore[arg-type]
        starting_deadline_seconds=deadline,
    )
    check_against_reference(plan, schedule, last, now, policy, cap, deadline)
    assert plan.next_fire == schedule.next_after(now)
