"""Launch skew is measured from when an attempt was due: the scheduled time for a first
attempt, the moment its backoff expired for a retry, the request for a manual run. A retry
delay is not skew."""

from datetime import timedelta

import pytest

from moroccron import Job
from moroccron.events import RunRequested
from moroccron.model import Run, RunState, RunTrigger
from tests.engine.helpers import T0, Sim


def test_a_retry_is_due_when_its_backoff_expires_not_at_the_fire_time():
    sim = Sim([Job(name="a", command="x", schedule="* * * * *", retries=2, retry_delay_seconds=5)])
    sim.advance(60)  # T0 + 1 min fires
    sim.advance(0.25)
    sim.give_offers()
    first = sim.saved[sim.launched[0]]
    assert first.due_at == T0 + timedelta(minutes=1) and first.skew == pytest.approx(0.25)
    sim.advance(1)
    sim.finish(first.task_id, ok=False)  # fails at T0 + 61.25 s: the retry is due 5 s later
    sim.advance(5)
    sim.advance(0.1)
    sim.give_offers()
    retry = sim.saved[sim.launched[1]]
    assert retry.trigger == RunTrigger.RETRY and retry.scheduled_at == first.scheduled_at
    assert retry.due_at == T0 + timedelta(seconds=66.25)
    assert retry.skew == pytest.approx(0.1), "the 5 s retry delay is not skew"
    assert (retry.launched_at - retry.scheduled_at).total_seconds() > 5  # what used to be counted


def test_a_manual_run_is_due_when_it_was_asked_for():
    sim = Sim([Job(name="a", command="x")], now=T0 + timedelta(milliseconds=700))
    sim.step(RunRequested("a"))
    sim.advance(0.2)
    sim.give_offers()
    run = sim.saved[sim.launched[0]]
    assert run.trigger == RunTrigger.MANUAL
    assert run.due_at == T0 + timedelta(milliseconds=700)
    assert run.skew == pytest.approx(0.2)


def test_a_caught_up_run_is_due_at_its_scheduled_time():
    job = Job(name="c", command="x", schedule="* * * * *", catchup="latest")
    sim = Sim([job], last_scheduled={"c": T0 - timedelta(minutes=3)}, now=T0 + timedelta(seconds=30))
    sim.give_offers()
    run = sim.saved[sim.launched[0]]
    assert run.trigger == RunTrigger.CATCHUP and run.due_at == T0 and run.skew == pytest.approx(30)


@pytest.mark.parametrize("trigger", [RunTrigger.SCHEDULE, RunTrigger.CATCHUP])
def test_scheduled_runs_prepared_ahead_are_still_due_at_their_second(trigger):
    run = Run(
        job="a",
        scheduled_at=T0,
        trigger=trigger,
        queued_at=T0 - timedelta(seconds=1),
        state=RunState.LAUNCHED,
        launched_at=T0 + timedelta(milliseconds=3),
    )
    assert run.due_at == T0 and run.skew == pytest.approx(0.003)


def test_a_run_stored_without_queued_at_falls_back_to_its_scheduled_time():
    run = Run(
        job="a",
        scheduled_at=T0,
        attempt=1,
        trigger=RunTrigger.RETRY,
        state=RunState.LAUNCHED,
        launched_at=T0 + timedelta(seconds=2),
    )
    assert run.due_at == T0 and run.skew == 2
