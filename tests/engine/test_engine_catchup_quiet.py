"""Missed times skipped because the job's ``catchup`` policy says so are recorded but not
notified: ``catchup="none"`` is what the owner asked for, not news after every restart.
Skips the owner did not ask for (past the starting deadline, beyond the cap) are notified.
"""

from datetime import timedelta

from moroccron import Job
from moroccron.events import SaveRun
from moroccron.model import RunState, RunTrigger
from tests.engine.helpers import T0, Sim


def restarted(**kw) -> Sim:
    """The leader scheduled T0 - 5 min last and starts again at T0 + 30 s: five missed fires."""
    job = Job(name="c", command="x", schedule="* * * * *", owners=["o@example.com"], **kw)
    return Sim([job], last_scheduled={"c": T0 - timedelta(minutes=5)}, now=T0 + timedelta(seconds=30))


def skipped(sim: Sim):
    return [r for r in sim.runs("c") if r.trigger == RunTrigger.CATCHUP and r.state == RunState.SKIPPED]


def skip_notices(sim: Sim):
    return [n for n in sim.notices() if n.event == "skipped"]


def test_catchup_none_records_every_missed_time_and_notifies_nobody():
    sim = restarted(catchup="none")
    runs = skipped(sim)
    assert [r.scheduled_at for r in runs] == [T0 - timedelta(minutes=m) for m in (4, 3, 2, 1, 0)]
    assert all(r.reason == "missed during downtime; catchup=none" for r in runs)
    assert len([a for a in sim.of(SaveRun) if a.run.state == RunState.SKIPPED]) == 5, "still stored"
    assert skip_notices(sim) == []


def test_catchup_none_stays_quiet_after_every_restart():
    sim = restarted(catchup="none")
    sim.advance(60)  # T0 + 1 min: an ordinary fire runs
    assert [r.trigger for r in sim.runs("c") if r.state == RunState.QUEUED] == [RunTrigger.SCHEDULE]
    again = Sim(
        [sim.engine.jobs["c"]],
        last_scheduled={"c": T0 + timedelta(minutes=1)},
        now=T0 + timedelta(minutes=4, seconds=10),
    )  # another restart, three more missed
    assert len(skipped(again)) == 3 and skip_notices(again) == []


def test_catchup_latest_runs_the_newest_and_skips_the_older_ones_quietly():
    sim = restarted(catchup="latest")
    queued = [r for r in sim.runs("c") if r.state == RunState.QUEUED]
    assert [r.scheduled_at for r in queued] == [T0], "latest runs the most recent, as documented"
    assert len(skipped(sim)) == 4
    assert skip_notices(sim) == []


def test_catchup_all_runs_every_missed_time():
    sim = restarted(catchup="all")
    runs = [r for r in sim.runs("c") if r.trigger == RunTrigger.CATCHUP]
    assert [r.state for r in runs] == [RunState.QUEUED] * 5, "all runs them, as documented"
    assert skip_notices(sim) == []


def test_times_past_the_starting_deadline_are_still_notified():
    sim = restarted(catchup="none", starting_deadline_seconds=90)
    runs = skipped(sim)
    by_deadline = [r for r in runs if "starting_deadline_seconds=90" in r.reason]
    assert len(runs) == 5 and len(by_deadline) == 3
    assert sorted(n.run.task_id for n in skip_notices(sim)) == sorted(r.task_id for r in by_deadline)


def test_times_beyond_the_cap_of_all_are_still_notified():
    job = Job(name="c", command="x", schedule="* * * * *", catchup="all", concurrency="allow")
    sim = Sim([job], last_scheduled={"c": T0 - timedelta(minutes=150)}, now=T0 + timedelta(seconds=30))
    runs = skipped(sim)
    assert runs and all("beyond catch-up cap" in r.reason for r in runs)
    assert len(skip_notices(sim)) == len(runs)


def test_a_skip_by_concurrency_is_still_notified():
    sim = Sim([Job(name="c", command="x", schedule="* * * * *", catchup="none")])
    sim.advance(60)
    sim.give_offers()
    sim.advance(60)  # the first run is still running: forbid skips this one
    assert [n.run.reason for n in skip_notices(sim)] == [f"concurrency=forbid: run {sim.launched[0]} is still launched"]
