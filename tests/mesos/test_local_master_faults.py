"""The local master's failures, as a real master has them.

Failover with agents that re-register late (and reconciliation requests answered by
silence meanwhile), ERROR events and framework removal, agents partitioned and coming
back with their tasks, ACCEPTs answered before they are handled or failing at the HTTP
level, maintenance windows and inverse offers. Everything is driven over HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from moroccron.mesos import recordio
from moroccron.mesos.local import AgentSpec, LocalMaster
from tests.mesos.conftest import (
    API,
    DEFAULT_AGENT,
    MasterFactory,
    Scheduler,
    process_alive,
    task_info,
    wait_until,
)

Schedulers = Callable[..., Scheduler]

SECOND_AGENT = AgentSpec(id="agent-2", hostname="host-2", cpus=2.0, mem=1024.0, ports=[(31010, 31019)])


def post(master: LocalMaster, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    response = requests.post(master.url + path, json=body or {}, timeout=5)
    assert response.status_code == 200, response.text
    return response


def running(sched: Scheduler, task_id: str, command: str = "sleep 60", agent_id: str | None = None) -> int:
    """Launch ``task_id`` and acknowledge it up to TASK_RUNNING; its pid."""
    offer = sched.offer(agent_id=agent_id)
    sched.accept([offer], [task_info(task_id, offer, command)], refuse_seconds=0)
    return int(sched.follow(task_id, "TASK_RUNNING")[-1]["container_status"]["executor_pid"])


def offer_where(sched: Scheduler, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The next offer that matches, skipping those made before (e.g. before a change)."""
    deadline = time.monotonic() + 10
    while True:
        offer = sched.offer(timeout=max(0.1, deadline - time.monotonic()))
        if predicate(offer):
            return offer


def reconcile_update(sched: Scheduler, task_id: str, within: float) -> dict[str, Any] | None:
    """The reconciliation answer for ``task_id`` within ``within`` seconds, or None."""
    try:
        return sched.update(task_id, timeout=within)
    except AssertionError:
        return None


# ---------------------------------------------------------------------------------------
# Master failover with agents re-registering late
# ---------------------------------------------------------------------------------------


def test_failover_with_late_agents_drops_reconciliation_until_they_are_back(
    make_master: MasterFactory, schedulers: Schedulers
) -> None:
    master = make_master(agents=[DEFAULT_AGENT, SECOND_AGENT])
    sched = schedulers(master, failover_timeout=60.0)
    sched.subscribe()
    pid = running(sched, "survivor", agent_id="agent-1")
    post(master, "/__local__/restart", {"agent_reregister_delay": 4.0, "agent_delays": {"agent-2": 0}})
    sched.wait_closed()
    sched.subscribe(framework_id=sched.framework_id)
    assert {a["id"]: a["status"] for a in master.agents()} == {"agent-1": "recovered", "agent-2": "registered"}

    # The master does not know the task yet: explicit reconciliation gets no answer at
    # all (with its agent id, or without one while any agent is recovering), implicit
    # reconciliation leaves it out. Only the re-registered agent is offered.
    sched.reconcile([{"task_id": {"value": "survivor"}, "agent_id": {"value": "agent-1"}}])
    sched.reconcile([{"task_id": {"value": "survivor"}}])
    sched.reconcile([])
    assert reconcile_update(sched, "survivor", within=1.0) is None
    offers = {o["agent_id"]["value"] for e in sched.events if e["type"] == "OFFERS" for o in e["offers"]["offers"]}
    assert offers <= {"agent-2"}
    counters = requests.get(master.url + "/__local__/counters", timeout=5).json()
    assert counters["dropped_reconciliations"] >= 2
    # A task on a registered agent is answered meanwhile.
    sched.reconcile([{"task_id": {"value": "other"}, "agent_id": {"value": "agent-2"}}])
    assert sched.update("other")["state"] == "TASK_GONE"

    # Once the agent is back its task is known again, silently, and still running.
    wait_until(lambda: master.agents()[0]["status"] == "registered", timeout=10)
    assert process_alive(pid)
    sched.reconcile([{"task_id": {"value": "survivor"}, "agent_id": {"value": "agent-1"}}])
    answer = sched.update("survivor")
    assert (answer["state"], answer["reason"]) == ("TASK_RUNNING", "REASON_RECONCILIATION")
    sched.offer(agent_id="agent-1")


def test_an_agent_that_never_comes_back_is_unreachable_then_returns(
    make_master: MasterFactory, schedulers: Schedulers
) -> None:
    master = make_master()
    sched = schedulers(master, failover_timeout=60.0)
    sched.subscribe()
    pid = running(sched, "stranded")
    post(master, "/__local__/restart", {"agent_reregister_delay": None, "agent_reregister_timeout": 3.0})
    sched.wait_closed()
    sched.subscribe(framework_id=sched.framework_id)
    # After agent_reregister_timeout: only FAILURE (the master never knew the tasks).
    assert sched.wait(type="FAILURE", timeout=5)["failure"]["agent_id"] == {"value": "agent-1"}
    assert master.agents()[0]["status"] == "unreachable"
    sched.reconcile([{"task_id": {"value": "stranded"}, "agent_id": {"value": "agent-1"}}])
    answer = sched.update("stranded")
    assert answer["state"] == "TASK_UNREACHABLE" and "unreachable_time" in answer
    sched.reconcile([{"task_id": {"value": "stranded"}}])
    assert sched.update("stranded")["state"] == "TASK_UNKNOWN"
    assert process_alive(pid)
    # When it does come back, its tasks come with it, reported in their current state.
    post(master, "/__local__/agents/agent-1/reconnect")
    back = sched.update("stranded")
    assert (back["state"], back["reason"], back["message"]) == (
        "TASK_RUNNING",
        "REASON_AGENT_REREGISTERED",
        "Unreachable agent re-reregistered",
    )
    assert "uuid" not in back


# ---------------------------------------------------------------------------------------
# ERROR and framework removal
# ---------------------------------------------------------------------------------------


def test_error_event_ends_the_stream_and_the_framework_can_resubscribe(
    master: LocalMaster, scheduler: Scheduler
) -> None:
    post(master, f"/__local__/frameworks/{scheduler.framework_id}/error", {"message": "Framework failed over"})
    assert scheduler.wait(type="ERROR")["error"]["message"] == "Framework failed over"
    scheduler.wait_closed()
    scheduler.subscribe(framework_id=scheduler.framework_id)
    assert requests.post(master.url + "/__local__/frameworks/nobody/error", json={}, timeout=5).status_code == 404


def test_framework_removed_by_the_operator_is_gone_for_good(master: LocalMaster, scheduler: Scheduler) -> None:
    pid = running(scheduler, "orphan")
    old_stream = scheduler.stream_id
    response = requests.post(master.url + "/master/teardown", data={"frameworkId": scheduler.framework_id}, timeout=5)
    assert response.status_code == 200
    # The stream just ends: no event says why.
    scheduler.wait_closed()
    assert [e["type"] for e in scheduler.events if e["type"] == "ERROR"] == []
    wait_until(lambda: not process_alive(pid))
    state = requests.get(master.url + "/master/state", timeout=5).json()
    assert state["frameworks"] == []
    assert [f["id"] for f in state["completed_frameworks"]] == [scheduler.framework_id]
    assert master.removed_frameworks() == [scheduler.framework_id]
    # Its calls are refused, and so is its FrameworkID.
    revive = scheduler.call({"type": "REVIVE"}, stream_id=old_stream)
    assert revive.status_code == 400 and "Framework cannot be found" in revive.text
    info = {**scheduler.framework_info, "id": {"value": scheduler.framework_id}}
    refused = requests.post(
        master.url + API,
        json={"type": "SUBSCRIBE", "framework_id": info["id"], "subscribe": {"framework_info": info}},
        timeout=5,
    )
    events = [json.loads(r) for r in recordio.Decoder().feed(refused.content)]
    assert events == [{"type": "ERROR", "error": {"message": "Framework has been removed"}}]
    again = requests.post(master.url + "/master/teardown", data={"frameworkId": scheduler.framework_id}, timeout=5)
    assert again.status_code == 400


# ---------------------------------------------------------------------------------------
# Partitions
# ---------------------------------------------------------------------------------------


def test_partitioned_agent_comes_back_with_its_task_still_running(master: LocalMaster, scheduler: Scheduler) -> None:
    pid = running(scheduler, "partitioned")
    master.settle()  # the acknowledgements reached the agent before it went away
    post(master, "/__local__/agents/agent-1/partition")
    lost = scheduler.update("partitioned")
    assert (lost["state"], lost["reason"], lost["source"]) == (
        "TASK_UNREACHABLE",
        "REASON_AGENT_REMOVED",
        "SOURCE_MASTER",
    )
    assert "unreachable_time" in lost and "uuid" not in lost
    assert scheduler.wait(type="FAILURE")["failure"]["agent_id"] == {"value": "agent-1"}
    assert process_alive(pid)
    # While the master remembers it, the id of an unreachable task cannot be reused.
    master.add_agent(SECOND_AGENT)
    offer = scheduler.offer(agent_id="agent-2")
    scheduler.accept([offer], [task_info("partitioned", offer, "true")], refuse_seconds=0)
    reused = scheduler.update("partitioned", "TASK_ERROR")
    assert reused["message"] == "Task reuses the ID of an unreachable task: partitioned"
    scheduler.reconcile([{"task_id": {"value": "partitioned"}, "agent_id": {"value": "agent-1"}}])
    assert scheduler.update("partitioned")["state"] == "TASK_UNREACHABLE"

    post(master, "/__local__/agents/agent-1/reconnect")
    back = scheduler.update("partitioned")
    assert (back["state"], back["reason"]) == ("TASK_RUNNING", "REASON_AGENT_REREGISTERED")
    scheduler.kill("partitioned")
    scheduler.follow("partitioned", "TASK_KILLED")
    assert master.task_id_conflicts() == []


def test_without_partition_awareness_lost_then_running_again(master: LocalMaster, schedulers: Schedulers) -> None:
    """master.cpp no longer kills such tasks on re-registration: they are reported again."""
    sched = schedulers(master, capabilities=[], failover_timeout=60.0)
    sched.subscribe()
    pid = running(sched, "legacy")
    master.settle()
    master.partition_agent("agent-1")
    lost = sched.update("legacy")
    assert (lost["state"], lost["reason"]) == ("TASK_LOST", "REASON_AGENT_REMOVED")
    master.reconnect_agent("agent-1")
    back = sched.update("legacy")
    assert (back["state"], back["reason"]) == ("TASK_RUNNING", "REASON_AGENT_REREGISTERED")
    assert process_alive(pid)


def test_updates_wait_on_a_partitioned_agent_and_come_after_it(master: LocalMaster, scheduler: Scheduler) -> None:
    running(scheduler, "quiet", command="sleep 0.5")
    master.settle()  # else the acknowledgement of RUNNING may find the agent gone, and RUNNING comes again
    master.partition_agent("agent-1")
    assert scheduler.update("quiet")["state"] == "TASK_UNREACHABLE"
    wait_until(lambda: master.tasks()[0]["state"] == "TASK_FINISHED")
    scheduler.expect_none(lambda e: e["update"]["status"]["task_id"]["value"] == "quiet", type="UPDATE", within=0.8)
    master.reconnect_agent("agent-1")
    back = scheduler.update("quiet")
    assert (back["state"], back["reason"]) == ("TASK_FINISHED", "REASON_AGENT_REREGISTERED")
    finished = scheduler.update("quiet")
    assert finished["state"] == "TASK_FINISHED" and "uuid" in finished  # the agent's own, reliable
    scheduler.ack(finished)
    wait_until(lambda: not master.tasks()[0]["active"])


def test_an_id_reused_after_a_failover_runs_twice_when_the_agent_returns(
    make_master: MasterFactory, schedulers: Schedulers
) -> None:
    """After a failover the master no longer remembers unreachable tasks: a relaunch
    under the same id is accepted, and the returning agent brings a second task with it."""
    master = make_master(agents=[DEFAULT_AGENT, SECOND_AGENT])
    sched = schedulers(master, failover_timeout=60.0)
    sched.subscribe()
    first = running(sched, "twin", agent_id="agent-1")
    master.settle()
    master.partition_agent("agent-1")
    assert sched.update("twin")["state"] == "TASK_UNREACHABLE"
    master.restart_master()
    sched.wait_closed()
    sched.subscribe(framework_id=sched.framework_id)
    second = running(sched, "twin", agent_id="agent-2")
    master.reconnect_agent("agent-1")
    back = sched.update("twin", "TASK_RUNNING")
    assert back["reason"] == "REASON_AGENT_REREGISTERED" and back["agent_id"] == {"value": "agent-1"}
    (conflict,) = master.task_id_conflicts()
    assert (conflict["task_id"], conflict["agent_id"], conflict["known_on"]) == ("twin", "agent-1", "agent-2")
    assert process_alive(first) and process_alive(second)
    assert requests.get(master.url + "/__local__/conflicts", timeout=5).json()[0]["task_id"] == "twin"


# ---------------------------------------------------------------------------------------
# ACCEPT: answered before it is handled; failing at the HTTP level
# ---------------------------------------------------------------------------------------


def test_accept_is_answered_before_it_is_handled(
    master: LocalMaster, scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = scheduler.offer()
    release = threading.Event()
    handling = threading.Event()
    original = LocalMaster._accept

    def slow_accept(self: LocalMaster, *args: Any) -> None:
        handling.set()
        assert release.wait(10)
        original(self, *args)

    monkeypatch.setattr(LocalMaster, "_accept", slow_accept)
    bad = task_info("bad/id", offer, "true")
    good = task_info("good", offer, "true")
    scheduler.accept([offer], [bad, good])  # asserts 202 and an empty body
    assert handling.wait(5)
    scheduler.expect_none(lambda e: True, type="UPDATE", within=0.3)
    assert master.accepted_calls[-1]["launched"] == []
    release.set()
    assert "contains invalid characters" in scheduler.update("bad/id", "TASK_ERROR")["message"]
    scheduler.follow("good", "TASK_FINISHED")
    assert master.accepted_calls[-1]["launched"] == ["good"]


@pytest.mark.parametrize("mode", ["after", "before", "status"])
def test_accept_calls_can_be_made_to_fail(master: LocalMaster, scheduler: Scheduler, mode: str) -> None:
    post(master, "/__local__/fail-calls", {"type": "ACCEPT", "count": 1, "mode": mode})
    offer = scheduler.offer()
    accept = {
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task_info("maybe", offer, "true")]}}],
        },
    }
    if mode == "status":
        assert scheduler.call(accept).status_code == 503
    else:
        with pytest.raises(requests.ConnectionError):
            scheduler.call(accept)
    master.settle()
    if mode == "after":
        # Taken and handled, though the framework never heard back.
        assert master.accepted_calls[-1]["launched"] == ["maybe"]
        scheduler.follow("maybe", "TASK_FINISHED")
    else:
        assert all(c["task_ids"] != ["maybe"] for c in master.accepted_calls)
        assert [o["id"] for o in master.offers()] == [offer["id"]["value"]]
    scheduler.accept([offer] if mode != "after" else [scheduler.offer()], [])  # the next one goes through
    bad = requests.post(master.url + "/__local__/fail-calls", json={"type": "ACCEPT", "mode": "sometimes"}, timeout=5)
    assert bad.status_code == 400 and "mode must be one of" in bad.text


# ---------------------------------------------------------------------------------------
# Maintenance: unavailability in offers, inverse offers
# ---------------------------------------------------------------------------------------


def test_maintenance_window_in_offers_and_inverse_offers(master: LocalMaster, scheduler: Scheduler) -> None:
    running(scheduler, "busy")
    start = time.time() + 3600
    post(master, "/__local__/agents/agent-1/maintenance", {"start": start, "duration": 600})
    inverse = scheduler.wait(type="INVERSE_OFFERS")["inverse_offers"]["inverse_offers"][0]
    window = {"start": {"nanoseconds": int(start * 1e9)}, "duration": {"nanoseconds": 600 * 10**9}}
    assert inverse["agent_id"] == {"value": "agent-1"}
    assert inverse["unavailability"] == window
    offer = offer_where(scheduler, lambda o: "unavailability" in o)
    assert offer["unavailability"] == window
    scheduler.must({"type": "ACCEPT_INVERSE_OFFERS", "accept_inverse_offers": {"inverse_offer_ids": [inverse["id"]]}})
    master.settle()
    assert [i["answer"] for i in master.inverse_offers()] == ["ACCEPTED"]
    schedule = requests.get(master.url + "/master/maintenance/schedule", timeout=5).json()
    assert schedule["windows"][0]["unavailability"] == window

    # The operator endpoint replaces the schedule: an empty one ends the window.
    empty = requests.post(master.url + "/master/maintenance/schedule", json={"windows": []}, timeout=5)
    assert empty.status_code == 200
    rescinded = scheduler.wait(type="RESCIND_INVERSE_OFFER")
    assert rescinded["rescind_inverse_offer"]["inverse_offer_id"] == inverse["id"]
    offer_where(scheduler, lambda o: "unavailability" not in o)
    by_host = {"windows": [{"machine_ids": [{"hostname": "host-1"}], "unavailability": {"start": window["start"]}}]}
    assert requests.post(master.url + "/master/maintenance/schedule", json=by_host, timeout=5).status_code == 200
    assert offer_where(scheduler, lambda o: "unavailability" in o)["unavailability"] == {"start": window["start"]}
    bad = requests.post(master.url + "/master/maintenance/schedule", json={"windows": [{}]}, timeout=5)
    assert bad.status_code == 400
