"""Chronos' reading of an ISO 8601 ``schedule``, turned into a native schedule.

The Chronos API reads ``R[n]/<start>/<period>`` as Chronos did, which differs from the
native rule (docs/schedules.md, "ISO 8601 schedules") in three ways:

- **``scheduleTimeZone`` wins** over a zone written in the start: Chronos kept the
  start's wall-clock fields and put them in that zone, so ``R/2030-01-01T02:00:00Z/P1D``
  with ``America/New_York`` runs at 02:00 New York. The native schedule stored is the
  start without its offset, which the native rule reads as wall time in the job's zone.
- **A start in the past runs now**: Chronos ran such a job at once and moved its start
  forward to the next time on the series (``Rn`` counting the run just made, so
  ``Rn/<past>/P`` runs now and then ``n - 1`` more times). The stored schedule is that
  advanced one, a fixed instant, so every leader computes the same fire times; the run
  "now" is a one-off start requested when the job is saved (:attr:`ChronosSchedule.run_now`).
  An empty start (``R//PT1H``) is Chronos' "now": a start in the past as well.
- **A start before 1970** is refused, as Chronos refused it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from moroccron.errors import ValidationError
from moroccron.schedule.iso8601 import IsoSchedule
from moroccron.schedule.parse import parse_schedule
from moroccron.schedule.tz import format_utc

__all__ = ["EPOCH_FLOOR", "ChronosSchedule", "chronos_schedule", "once_now"]

EPOCH_FLOOR = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
"""The earliest start Chronos accepted."""

_ISO = re.compile(r"^R(?P<repeats>\d*)/(?P<start>[^/]*)/(?P<period>P[^/]*)$", re.IGNORECASE)
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ChronosSchedule:
    """The native schedule for a Chronos one.

    :ivar schedule: what the job stores.
    :ivar run_now: Chronos would run the job at once (its start was in the past).
    :ivar advanced: the start was moved forward, so the stored schedule, not the one
        sent, is what the Chronos API shows (as Chronos showed its advanced start).
    """

    schedule: str
    run_now: bool = False
    advanced: bool = False


def once_now(now: datetime) -> str:
    """What Chronos scheduled for a job posted to ``/iso8601`` without a schedule."""
    return f"R1/{format_utc(now.replace(microsecond=0))}/PT24H"


def chronos_schedule(schedule: str, zone_sent: str, timezone: str, now: datetime) -> ChronosSchedule:
    """Read ``schedule`` as Chronos did.

    :param zone_sent: ``scheduleTimeZone`` as the client sent it (``""`` if not).
    :param timezone: the IANA zone the job stores (``zone_sent`` resolved, or UTC).
    :param now: the time of the request.
    :raises ValidationError: a start before 1970 (other errors are left to the native
        parser, which names them precisely).
    """
    match = _ISO.fullmatch(schedule.strip())
    if match is None:
        return ChronosSchedule(schedule)  # cron, or broken: the native parser decides
    repeats, start, period = match["repeats"], match["start"], match["period"]
    if start and zone_sent:
        start = _OFFSET.sub("", start)  # the wall-clock fields, in scheduleTimeZone
    if start == "":
        start_at = now.astimezone(UTC).replace(microsecond=0) - timedelta(seconds=1)
        start = format_utc(start_at)
    native = f"R{repeats}/{start}/{period}"
    try:
        parsed = parse_schedule(f"R/{start}/{period}", timezone)
    except ValidationError:
        return ChronosSchedule(native)  # the native parser reports it, with the job's field names
    assert isinstance(parsed, IsoSchedule)
    if parsed.start < EPOCH_FLOOR:
        raise ValidationError.single(
            "schedule", "starts before 1970", schedule, "a start on or after 1970-01-01T00:00:01Z"
        )
    if parsed.start >= now or repeats == "0":
        return ChronosSchedule(native)
    nxt = parsed.next_after(now)
    if nxt is None:  # beyond the calendar: leave it to the native parser
        return ChronosSchedule(native)
    left = "" if repeats == "" else str(int(repeats) - 1)
    # With a zone, the advanced start is wall time there, which this API reads back (sent
    # again by a sync tool) as the very same schedule; Chronos printed it with its offset.
    when = nxt.astimezone(parsed.tz).replace(tzinfo=None).isoformat() if zone_sent else format_utc(nxt)
    return ChronosSchedule(f"R{left}/{when}/{period}", run_now=True, advanced=True)
