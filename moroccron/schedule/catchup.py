"""Fire times missed while no leader was scheduling (:func:`plan_catchup`), and the
starting deadline of one run (:func:`deadline_exceeded`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from moroccron.schedule.base import Schedule
from moroccron.schedule.tz import _US, format_utc, utc

# --------------------------------------------------------------------------- missed runs

CatchupPolicy = Literal["none", "latest", "all"]
CATCHUP_POLICIES: Final = ("none", "latest", "all")
# When more fire times are skipped than the cap, ``CatchupPlan.skipped`` lists only the
# first and the last SKIPPED_SAMPLE of them; ``skipped_count`` has the total.
SKIPPED_SAMPLE: Final = 5


@dataclass(frozen=True, slots=True)
class CatchupPlan:
    """What to do with fire times missed while nobody was scheduling.

    ``run``: scheduled times to launch now, oldest first. ``skipped``: scheduled times to
    record as skipped, with the reason, oldest first; complete whenever ``skipped_count <=
    cap``, otherwise only the first and last :data:`SKIPPED_SAMPLE`. ``skipped_count``:
    how many were skipped in total, listed or not. ``next_fire``: the first fire time
    strictly after ``now``.
    """

    run: list[datetime]
    skipped: list[tuple[datetime, str]]
    next_fire: datetime | None
    skipped_count: int = 0

    @property
    def skipped_unlisted(self) -> int:
        """Skipped times not listed in ``skipped`` (0 unless more than the cap were skipped)."""
        return self.skipped_count - len(self.skipped)


def plan_catchup(
    schedule: Schedule,
    last_scheduled: datetime | None,
    now: datetime,
    policy: CatchupPolicy,
    cap: int = 100,
    starting_deadline_seconds: float | None = None,
) -> CatchupPlan:
    """Plan the fire times missed in ``(last_scheduled, now]``.

    First the deadline narrows the window, as Kubernetes' CronJob controller does: with
    ``starting_deadline_seconds`` = ``d``, a missed time ``t`` is a *candidate* only if it
    could still start, ``now - t <= d`` (the rule of :func:`deadline_exceeded`); older
    ones are skipped for the deadline whatever the policy. Then the policy and the cap
    apply to the candidates alone:

    * ``none``: run none of them, record them all as skipped.
    * ``latest``: run the most recent once, record the others as skipped.
    * ``all``: run every one, oldest first, when there are at most ``cap``; when there
      are more, run only the most recent and record the others as skipped.

    ``skipped`` lists every skipped time when there are at most ``cap`` of them, and a
    sample (the first and last :data:`SKIPPED_SAMPLE`) otherwise; ``skipped_count`` is
    always the total. A job never scheduled before (``last_scheduled is None``) has
    missed nothing. Memory and time are bounded whatever the downtime: at most about
    ``2 * cap + 1`` missed times are materialised, and totals are counted without listing
    (a month of a per-second schedule is 2.6 million times, counted in milliseconds).
    """
    if policy not in CATCHUP_POLICIES:
        raise ValueError(f"catchup policy {policy!r} is not one of {', '.join(CATCHUP_POLICIES)}")
    if cap < 1:
        raise ValueError(f"catch-up cap must be at least 1, got {cap}")
    if starting_deadline_seconds is not None and starting_deadline_seconds < 0:
        raise ValueError(f"starting_deadline_seconds must be >= 0, got {starting_deadline_seconds}")
    now = utc(now)
    next_fire = schedule.next_after(now)
    if last_scheduled is None or utc(last_scheduled) >= now:
        return CatchupPlan([], [], next_fire, 0)
    last = utc(last_scheduled)
    # Fire times are whole seconds: t >= now - d  <=>  t > ceil(now - d) - 1 s.
    expired_end = last
    if starting_deadline_seconds is not None:
        oldest = now - timedelta(seconds=starting_deadline_seconds)
        oldest_second = oldest.replace(microsecond=0)
        if oldest_second < oldest:
            oldest_second += timedelta(seconds=1)
        expired_end = max(last, oldest_second - timedelta(seconds=1))
    expired = schedule.count_between(last, expired_end) if expired_end > last else 0
    candidates = schedule.count_between(expired_end, now)
    if policy == "none" or candidates == 0:
        run: list[datetime] = []
    elif policy == "all" and candidates <= cap:
        run = schedule.times_between(expired_end, now, candidates)
    else:
        latest = schedule.last_at_or_before(now, expired_end)
        run = [] if latest is None else [latest]
    skipped_count = expired + candidates - len(run)
    reasons = _Reasons(policy, cap, expired_end, now, starting_deadline_seconds)
    if skipped_count <= cap:
        listed = [t for t in schedule.times_between(last, now, skipped_count + len(run)) if t not in run]
    else:
        listed = _sample(schedule, last, now, expired_end, run, policy)
    return CatchupPlan(run, [(t, reasons.of(t)) for t in listed], next_fire, skipped_count)


@dataclass(frozen=True, slots=True)
class _Reasons:
    """Why a missed time is skipped: past the deadline, or the catch-up policy."""

    policy: CatchupPolicy
    cap: int
    expired_end: datetime
    now: datetime
    deadline: float | None

    def of(self, at: datetime) -> str:
        if self.deadline is not None and at <= self.expired_end:
            return deadline_exceeded(at, self.now, self.deadline) or _REASONS["deadline"]
        return _REASONS[self.policy].format(cap=self.cap)


def _sample(
    schedule: Schedule,
    last: datetime,
    now: datetime,
    expired_end: datetime,
    run: list[datetime],
    policy: CatchupPolicy,
) -> list[datetime]:
    """The first and last SKIPPED_SAMPLE skipped times of a long gap, oldest first."""
    runs = set(run)
    head = [t for t in schedule.times_between(last, now, SKIPPED_SAMPLE + len(run)) if t not in runs]
    head = head[:SKIPPED_SAMPLE]
    # The newest skipped time: just below what runs. Run times are the newest candidates
    # (all of them with ``all`` within the cap, else the latest one).
    if policy == "all" and len(run) > 1:
        cursor: datetime | None = expired_end
    elif run:
        cursor = run[0] - _US
    else:
        cursor = now
    tail: list[datetime] = []
    while cursor is not None and len(tail) < SKIPPED_SAMPLE:
        cursor = schedule.last_at_or_before(cursor, last)
        if cursor is not None:
            tail.append(cursor)
            cursor -= _US
    return sorted(set(head) | set(tail))


_REASONS: Final = {
    "none": "missed during downtime; catchup=none",
    "latest": "missed during downtime; catchup=latest runs only the most recent",
    "all": "missed; beyond catch-up cap of {cap}",
    "deadline": "missed; older than starting_deadline_seconds",
}

POLICY_SKIPS: Final = frozenset({_REASONS["none"], _REASONS["latest"]})
"""Reasons of missed times skipped because the job's ``catchup`` policy asks for it
(``none``; ``latest``'s older times). The owner chose that, so nobody is told about
them; the skipped run is still recorded, logged and counted. Times skipped past the
starting deadline or beyond the catch-up cap are not in this set."""


# --------------------------------------------------------------------------- deadline


def deadline_exceeded(scheduled_at: datetime, now: datetime, starting_deadline_seconds: float | None) -> str | None:
    """The reason to skip a run that could not start in time, or ``None`` if it still may.

    A run may start while ``now - scheduled_at <= starting_deadline_seconds``; ``None``
    as the deadline means no deadline.
    """
    if starting_deadline_seconds is None:
        return None
    if starting_deadline_seconds < 0:
        raise ValueError(f"starting_deadline_seconds must be >= 0, got {starting_deadline_seconds}")
    late = (utc(now) - utc(scheduled_at)).total_seconds()
    if late <= starting_deadline_seconds:
        return None
    limit = (
        str(int(starting_deadline_seconds))
        if float(starting_deadline_seconds).is_integer()
        else str(starting_deadline_seconds)
    )
    return (
        f"could not start within starting_deadline_seconds={limit} "
        f"(scheduled {format_utc(scheduled_at)}, now {format_utc(now)}, late by {late:.1f}s)"
    )
