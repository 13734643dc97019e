"""Launches prepared ahead of their second (``prepare_horizon``).

A run due within the horizon is created (QUEUED) and placed on a held offer before its
second; on the second only the Launch is left, and its record follows the ACCEPT. These
tests pin what may and may not change between the two, and what a new leader does with
a prepared run the old one may or may not have launched.
"""

from datetime import timedelta

from moroccron import Job
from moroccron.events import (
    JobPut,
    KillRequested,
    Launched,
    OfferRescinded,
    PrepareLaunch,
    SaveJobState,
    SaveRun,
    StatusUpdate,
    Subscribed,
)
from moroccron.model import Run, RunState, RunTrigger, task_id_for
from tests.engine.helpers import T0, Decline, Launch, Reconcile, Sim

DUE = T0 + timedelta(seconds=10)
TASK = task_id_for("a", DUE, 0)


def every(seconds: int) -> str:
    return f"*/{seconds} * * * * *"


def prepared_sim(**job_fields) -> Sim:
    sim = Sim([Job(name="a", command="x", schedule=every(10), **job_fields)], prepare=1.5)
    sim.advance(8)  # 12:00:08: revive for :10
    sim.give_offers()
    sim.advance(0.6)  # 12:00:08.6: :10 is within 1.5 s
    return sim


def test_run_is_created_and_placed_ahead_then_launched_on_its_second():
    sim = prepared_sim()
    run = sim.saved[TASK]
    assert run.state == RunState.QUEUED and run.scheduled_at == DUE and run.queued_at == T0 + timedelta(seconds=8.6)
    plans = sim.of(PrepareLaunch)
    assert [(p.offer_id, [r.task_id for r in p.runs], p.at) for p in plans] == [("offer-1", [TASK], DUE)]
    assert sim.of(SaveJobState)[-1].last_scheduled_at == DUE
    assert not sim.launched, "nothing goes to Mesos before the second"
    assert sim.engine.next_wakeup(sim.now) == DUE

    acts = sim.advance(1.4)  # 12:00:10
    launches = [a for a in acts if isinstance(a, Launch)]
    assert [(a.offer_id, [r.task_id for r in a.runs]) for a in launches] == [("offer-1", [TASK])]
    assert not [a for a in acts if isinstance(a, SaveRun)], "recorded after the ACCEPT, not before"
    records = [r for a in acts if isinstance(a, Launched) for r in a.runs]
    assert [(r.task_id, r.state) for r in records] == [(TASK, RunState.LAUNCHED)]
    assert records[0].launched_at == DUE and records[0].skew == 0.0
    assert records[0].agent_id == "a1"


def test_offer_rescinded_before_the_second_launches_from_the_queue_on_another_offer():
    sim = prepared_sim()
    sim.step(OfferRescinded("offer-1"))
    sim.give_offers()  # offer-2: the run is planned again
    assert [p.offer_id for p in sim.of(PrepareLaunch)] == ["offer-1", "offer-2"]
    sim.advance(1.4)
    assert [(a.offer_id, [r.task_id for r in a.runs]) for a in sim.of(Launch)] == [("offer-2", [TASK])]


def test_no_offer_by_the_second_launches_when_one_comes():
    sim = prepared_sim()
    sim.step(OfferRescinded("offer-1"))
    sim.advance(1.4)
    assert not sim.launched
    sim.give_offers()
    assert sim.launched == [TASK]
    assert sim.saved[TASK].launched_at == DUE


def test_job_changed_before_the_second_is_launched_with_the_new_spec():
    sim = prepared_sim()
    sim.step(JobPut(Job(name="a", command="y", schedule=every(10))))
    plans = sim.of(PrepareLaunch)
    assert [p.offer_id for p in plans] == ["offer-1", "offer-1"], "the plan is dropped and made again"
    sim.advance(1.4)
    assert sim.launched == [TASK]
    assert sim.engine.jobs["a"].command == "y"


def test_killed_before_the_second_is_never_launched():
    sim = prepared_sim()
    sim.step(KillRequested("a", TASK))
    assert sim.saved[TASK].state == RunState.KILLED
    sim.advance(1.4)
    assert not sim.launched
    # the offer went back to the pool, and nothing else is due: declined
    assert any("offer-1" in a.offer_ids for a in sim.of(Decline))


def test_job_with_a_run_in_flight_is_decided_on_its_second():
    sim = Sim([Job(name="a", command="x", schedule=every(10), concurrency="forbid")], prepare=1.5)
    sim.advance(10)
    sim.give_offers()
    first = sim.launched[0]
    sim.advance(8.6)  # :18.6; :20 is within the horizon but :10 still runs
    assert task_id_for("a", T0 + timedelta(seconds=20), 0) not in sim.saved
    sim.finish(first)
    sim.advance(1.4)  # :20: decided now, and free to run
    sim.give_offers()
    assert sim.launched[-1] == task_id_for("a", T0 + timedelta(seconds=20), 0)


def _loaded_queued(now_offset: float) -> Sim:
    run = Run(
        job="a",
        scheduled_at=DUE,
        state=RunState.QUEUED,
        trigger=RunTrigger.SCHEDULE,
        queued_at=T0 + timedelta(seconds=8.6),
    )
    return Sim(
        [Job(name="a", command="x", schedule=every(10))],
        now=T0 + timedelta(seconds=now_offset),
        last_scheduled={"a": DUE},
        runs=(run,),
        prepare=1.5,
    )


def test_new_leader_asks_the_master_about_a_past_due_queued_run_before_launching_it():
    sim = _loaded_queued(11)
    asked = [t for a in sim.of(Reconcile) for t in a.tasks]
    assert (TASK, None) in asked
    sim.give_offers()
    assert not sim.launched, "no launch until the master has answered"
    # The old leader's ACCEPT went out: the master knows the task. It is not launched again.
    sim.step(StatusUpdate(TASK, "TASK_RUNNING", "a1", reason="REASON_RECONCILIATION"))
    assert not sim.launched
    assert sim.saved[TASK].state == RunState.RUNNING and sim.saved[TASK].agent_id == "a1"


def test_new_leader_launches_a_past_due_queued_run_the_master_never_saw():
    sim = _loaded_queued(11)
    sim.give_offers()
    sim.step(StatusUpdate(TASK, "TASK_UNKNOWN", None, reason="REASON_RECONCILIATION"))
    assert sim.saved[TASK].state == RunState.LOST and "relaunched as" in sim.saved[TASK].reason
    sim.give_offers()
    (relaunched,) = sim.launched
    assert relaunched != TASK and sim.saved[relaunched].state == RunState.LAUNCHED


def test_new_leader_keeps_a_prepared_run_until_its_second():
    sim = _loaded_queued(9)
    assert not [t for a in sim.of(Reconcile) for t in a.tasks], "not due yet: nobody can have launched it"
    sim.give_offers()
    assert not sim.launched
    sim.advance(1)
    assert sim.launched == [TASK] and sim.saved[TASK].launched_at == DUE


def test_resubscription_between_prepare_and_second_still_launches_once():
    sim = prepared_sim()
    sim.step(Subscribed("fw-1"))  # offers and plans are gone with the old connection
    sim.advance(1.4)
    assert not sim.launched
    sim.give_offers()
    assert sim.launched == [TASK]


def test_job_disabled_before_the_second_does_not_run():
    sim = prepared_sim()
    sim.step(JobPut(Job(name="a", command="x", schedule=every(10), disabled=True)))
    assert sim.saved[TASK].state == RunState.SKIPPED
    assert "disabled or rescheduled" in sim.saved[TASK].reason
    sim.advance(1.4)
    sim.give_offers()
    assert not sim.launched


def test_job_rescheduled_off_the_prepared_second_does_not_run_then():
    sim = prepared_sim()
    sim.step(JobPut(Job(name="a", command="x", schedule=every(15))))
    assert sim.saved[TASK].state == RunState.SKIPPED
    sim.advance(1.4)
    sim.give_offers()
    assert not sim.launched
    sim.advance(5)  # :15
    sim.give_offers()
    assert sim.launched == [task_id_for("a", T0 + timedelta(seconds=15), 0)]


def test_job_with_a_retry_pending_is_decided_on_its_second():
    sim = Sim([Job(name="a", command="x", schedule=every(10), retries=1, retry_delay_seconds=9.5)], prepare=1.5)
    sim.advance(0.5)
    sim.advance(9.5)  # :10
    sim.give_offers()
    first = sim.launched[0]
    sim.status(first, "TASK_FAILED", exit_status=1)  # retry due at :19.5
    sim.advance(8.6)  # :18.6: the :20 run is within the horizon, but a retry is pending
    assert task_id_for("a", T0 + timedelta(seconds=20), 0) not in sim.saved
    assert not sim.of(PrepareLaunch)
