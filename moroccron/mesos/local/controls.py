"""Test controls: the failures of a real cluster, on demand, and a look inside.

Mixed into :class:`~moroccron.mesos.local.master.LocalMaster`. Each control does what
the real master does when that failure happens (master.cpp: agent removal, marking an
agent unreachable or gone, agent re-registration, master failover and recovery,
framework removal), including what it does *not* do: no answer to a reconciliation it
cannot answer yet, no update for a framework that is not connected.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from moroccron.mesos.local.agents import AgentSpec
from moroccron.mesos.local.containers import ImageConfig
from moroccron.mesos.local.state import (
    RECOVERED,
    REGISTERED,
    UNREACHABLE,
    _Agent,
    _id,
    _Task,
)
from moroccron.mesos.messages import event

log = logging.getLogger("moroccron.mesos.local")

#: How a control makes the next calls of a type fail at the HTTP level.
FAIL_MODES = ("before", "after", "status")


class _Controls:
    """Agents, failovers, framework removal, maintenance, failed calls; introspection."""

    # -- agents ---------------------------------------------------------------------------

    def add_agent(self, spec: AgentSpec) -> None:
        """Register a new agent; its resources are offered at once."""
        with self._lock:
            if spec.id in self._agents or spec.id in self._gone_agents:
                raise ValueError(f"agent '{spec.id}' is already registered or was removed")
            self._register_agent(spec)
            self._wake_allocation()

    def _register_agent(self, spec: AgentSpec) -> None:
        self._agents[spec.id] = _Agent(spec=spec, total=spec.role_resources(), registered_time=time.time())

    def kill_agent(self, agent_id: str, *, task_state: str | None = None) -> None:
        """The agent's host died and the operator marked it gone (``markAgentGone``).

        Its processes are killed; frameworks get RESCIND for its offers, an UPDATE per
        task (TASK_GONE_BY_OPERATOR, reason REASON_AGENT_REMOVED_BY_OPERATOR, for
        PARTITION_AWARE frameworks; TASK_LOST, REASON_AGENT_REMOVED, for the others; or
        ``task_state``), source master, no uuid (master-generated updates are not
        acknowledged), and FAILURE{agent_id}. Reconciling its tasks with its agent id
        answers TASK_GONE_BY_OPERATOR (TASK_LOST); without, TASK_UNKNOWN (TASK_LOST).
        """
        with self._lock:
            agent = self._agent(agent_id)
            self._gone_agents[agent_id] = time.time()
            log.warning("agent %s marked gone (killed by test control)", agent_id)
            for offer in [o for o in self._offers.values() if o.agent_id == agent_id]:
                self._rescind(offer)
            self._rescind_inverse(agent_id)
            for task in list(agent.tasks.values()):
                fw = self._frameworks.get(task.framework_id)
                known = fw is not None and fw.tasks.get(task.id) is task
                self._forget_task(task, kill=True)
                if fw is None:
                    continue
                remembered = fw.unreachable_tasks.pop(task.id, None) is not None
                if not (known or remembered):
                    continue  # a task the master never heard of (its agent was recovering)
                aware = fw.partition_aware
                state = task_state or ("TASK_GONE_BY_OPERATOR" if aware else "TASK_LOST")
                reason = "REASON_AGENT_REMOVED_BY_OPERATOR" if aware else "REASON_AGENT_REMOVED"
                self._master_update(fw, task.id, state, reason, "Agent has been marked gone", agent_id=agent_id)
            del self._agents[agent_id]
            for fw in self._frameworks.values():
                fw.filters = [f for f in fw.filters if f.agent_id != agent_id]
                self._send(fw, event("FAILURE", {"agent_id": _id(agent_id)}))

    def partition_agent(self, agent_id: str, message: str = "health check timed out") -> None:
        """The agent stops answering: the master marks it unreachable.

        Its tasks keep running and their updates wait on the agent. Frameworks get
        RESCIND for its offers, TASK_UNREACHABLE (PARTITION_AWARE) or TASK_LOST for each
        of its tasks (reason REASON_AGENT_REMOVED, with ``unreachable_time``), then
        FAILURE. The ids of those tasks cannot be reused while the master remembers
        them (``Task reuses the ID of an unreachable task``), which is until a failover.
        :meth:`reconnect_agent` brings it back.
        """
        with self._lock:
            agent = self._agent(agent_id)
            if agent.status != REGISTERED:
                raise ValueError(f"agent '{agent_id}' is {agent.status}, not registered")
            self._mark_unreachable(agent, message, during_failover=False)

    def reconnect_agent(self, agent_id: str) -> None:
        """A partitioned or recovering agent re-registers with the tasks it still runs."""
        with self._lock:
            agent = self._agent(agent_id)
            if agent.status == REGISTERED:
                raise ValueError(f"agent '{agent_id}' is already registered")
            self._reregister_agent(agent)

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise KeyError(f"no agent '{agent_id}'")
        return agent

    def _mark_unreachable(self, agent: _Agent, message: str, *, during_failover: bool) -> None:
        agent.status = UNREACHABLE
        agent.unreachable_time = time.time()
        agent.reregister_at = agent.recovery_deadline = None
        log.warning("agent %s marked unreachable: %s", agent.id, message)
        for offer in [o for o in self._offers.values() if o.agent_id == agent.id]:
            self._rescind(offer)
        self._rescind_inverse(agent.id)
        if not during_failover:
            # After a failover the master never knew the tasks: only FAILURE is sent.
            for task in list(agent.tasks.values()):
                fw = self._frameworks.get(task.framework_id)
                if fw is None or fw.tasks.get(task.id) is not task:
                    continue
                del fw.tasks[task.id]
                fw.unreachable_tasks[task.id] = agent.id
                state = "TASK_UNREACHABLE" if fw.partition_aware else "TASK_LOST"
                self._master_update(
                    fw,
                    task.id,
                    state,
                    "REASON_AGENT_REMOVED",
                    message,
                    agent_id=agent.id,
                    unreachable_time=agent.unreachable_time,
                )
        for fw in self._frameworks.values():
            self._send(fw, event("FAILURE", {"agent_id": _id(agent.id)}))
        self._wake_allocation()

    def _reregister_agent(self, agent: _Agent) -> None:
        """The agent is back, with every task it runs; master.cpp's ``__reregisterSlave``.

        After a failover (RECOVERED) its tasks simply become known again. After a
        partition (UNREACHABLE) each framework is also told the state each task is in
        now (reason REASON_AGENT_REREGISTERED), partition-aware or not. Tasks of removed
        frameworks are killed. A task whose id the framework has meanwhile reused for
        another task is recorded in :meth:`task_id_conflicts` (a real master would
        abort on it) and keeps running unknown to the master.
        """
        was_unreachable = agent.status == UNREACHABLE
        agent.status = REGISTERED
        agent.reregister_at = agent.recovery_deadline = agent.unreachable_time = None
        log.info("agent %s re-registered%s", agent.id, " after being unreachable" if was_unreachable else "")
        now = time.monotonic()
        for task in list(agent.tasks.values()):
            fw = self._frameworks.get(task.framework_id)
            if fw is None:
                log.info(
                    "shutting down task %s of removed framework %s on re-registered agent %s",
                    task.id,
                    task.framework_id,
                    agent.id,
                )
                self._forget_task(task, kill=True)
                continue
            fw.unreachable_tasks.pop(task.id, None)
            current = fw.tasks.get(task.id)
            if current is not None and current is not task:
                conflict = {
                    "framework_id": fw.id,
                    "task_id": task.id,
                    "agent_id": agent.id,
                    "known_on": current.agent_id,
                    "time": time.time(),
                }
                self._conflicts.append(conflict)
                log.error(
                    "task %s of framework %s came back on agent %s while its id runs on agent %s",
                    task.id,
                    fw.id,
                    agent.id,
                    current.agent_id,
                )
                if was_unreachable:
                    self._master_update(
                        fw,
                        task.id,
                        task.state,
                        "REASON_AGENT_REREGISTERED",
                        "Unreachable agent re-reregistered",
                        agent_id=agent.id,
                    )
                continue
            fw.tasks[task.id] = task
            if was_unreachable:
                self._master_update(
                    fw,
                    task.id,
                    task.state,
                    "REASON_AGENT_REREGISTERED",
                    "Unreachable agent re-reregistered",
                    agent_id=agent.id,
                )
            if task.pending:
                task.backoff = self.status_update_retry
                self._send_pending_head(fw, task, now)
        if agent.maintenance is not None:
            self._offer_inverse(agent)
        self._wake_allocation()

    # -- the master -----------------------------------------------------------------------

    def restart_master(
        self,
        *,
        agent_reregister_delay: float | None = 0.0,
        agent_reregister_timeout: float = 600.0,
        agent_delays: Mapping[str, float | None] | None = None,
    ) -> None:
        """A master failover: a new leader recovers the registry.

        Every event stream is dropped and every outstanding offer forgotten (offers do not
        survive a master); allocator state (filters, suppression) is lost; the master gets
        a new id. Frameworks are kept, and each one's failover timeout starts now: it has
        to re-subscribe with its FrameworkID. Tasks keep running on their agents.

        Agents re-register ``agent_reregister_delay`` seconds later (per agent in
        ``agent_delays``; None: never). Until an agent has, the master knows none of its
        tasks: implicit reconciliation leaves them out, and explicit reconciliation of a
        task it does not know gets *no answer* while the task's agent (or, without an
        agent id, any agent) has not re-registered. An agent that has not re-registered
        after ``agent_reregister_timeout`` is marked unreachable (FAILURE only).
        """
        with self._lock:
            self._master_id = str(uuid.uuid4())
            self._elected_time = time.time()
            self._offers.clear()
            self._inverse_offers.clear()
            self._heartbeats_paused_until = 0.0
            for fw in self._frameworks.values():
                fw.filters.clear()
                fw.suppressed_roles.clear()
                fw.unreachable_tasks.clear()  # a bounded in-memory cache in master.cpp
                if fw.stream is not None:
                    stream, fw.stream = fw.stream, None
                    stream.close(abrupt=True)
                self._start_failover(fw)
            now = time.monotonic()
            for agent in self._agents.values():
                if agent.status == UNREACHABLE:
                    continue  # the registry remembers unreachable agents
                delay = (agent_delays or {}).get(agent.id, agent_reregister_delay)
                agent.status = RECOVERED
                agent.reregister_at = None if delay is None else now + delay
                agent.recovery_deadline = now + agent_reregister_timeout
                for task in agent.tasks.values():
                    fw = self._frameworks.get(task.framework_id)
                    if fw is not None and fw.tasks.get(task.id) is task:
                        del fw.tasks[task.id]
            for agent in list(self._agents.values()):
                if agent.status == RECOVERED and agent.reregister_at is not None and agent.reregister_at <= now:
                    self._reregister_agent(agent)
            self._wake_allocation()
        log.warning("local master restarted as %s", self._master_id)

    def _recover_agents(self, now: float) -> None:
        """Scheduler-thread work after a failover: re-registrations and their timeout."""
        for agent in list(self._agents.values()):
            if agent.status != RECOVERED:
                continue
            if agent.reregister_at is not None and now >= agent.reregister_at:
                self._reregister_agent(agent)
            elif agent.recovery_deadline is not None and now >= agent.recovery_deadline:
                self._mark_unreachable(agent, "did not re-register after master failover", during_failover=True)

    def drop_streams(self) -> None:
        """Abruptly close every event stream; frameworks stay known (failover starts)."""
        with self._lock:
            streams = [fw.stream for fw in self._frameworks.values() if fw.stream is not None]
        for stream in streams:
            stream.close(abrupt=True)
            self._on_stream_end(stream)

    def pause_heartbeats(self, seconds: float) -> None:
        """Send no HEARTBEAT events for ``seconds`` (to trigger the client's watchdog)."""
        with self._lock:
            self._heartbeats_paused_until = time.monotonic() + seconds

    # -- frameworks -----------------------------------------------------------------------

    def send_error(self, framework_id: str, message: str, *, close: bool = True) -> None:
        """Send the framework an ERROR event (then end its stream, unless ``close`` is false)."""
        with self._lock:
            fw = self._frameworks.get(framework_id)
            if fw is None or fw.stream is None:
                raise KeyError(f"framework '{framework_id}' is not subscribed")
            stream = fw.stream
            stream.send(event("ERROR", {"message": message}))
            if close:
                stream.close()

    def remove_framework(self, framework_id: str, message: str | None = None) -> None:
        """What an operator's ``/master/teardown`` does: the framework is removed for good.

        Its tasks are killed (the master records them TASK_KILLED, reason
        REASON_FRAMEWORK_REMOVED, and tells nobody), its stream ends without an event, and
        its FrameworkID is refused from then on: a SUBSCRIBE with it gets ERROR "Framework
        has been removed", any other call 400 "Framework cannot be found". With
        ``message``, an ERROR carrying it is sent on the open stream first (a real master
        sends none here; a scheduler must cope with both).
        """
        with self._lock:
            fw = self._frameworks.get(framework_id)
            if fw is None:
                raise KeyError(f"No framework found with specified ID '{framework_id}'")
            if message is not None and fw.stream is not None:
                fw.stream.send(event("ERROR", {"message": message}))
            self._remove_framework(fw, "removed by the operator")

    # -- maintenance ----------------------------------------------------------------------

    def set_maintenance(self, agent_id: str, start: float, duration: float | None) -> None:
        """Schedule a maintenance window on an agent (``start`` in unix seconds).

        Its offers carry ``unavailability`` from now on, and frameworks running tasks
        there get an INVERSE_OFFERS event asking for the agent back.
        """
        with self._lock:
            agent = self._agent(agent_id)
            self._rescind_inverse(agent_id)
            agent.maintenance = (float(start), None if duration is None else float(duration))
            for offer in [o for o in self._offers.values() if o.agent_id == agent_id]:
                self._rescind(offer)  # re-offered with the window
            self._offer_inverse(agent)
            self._wake_allocation()

    def clear_maintenance(self, agent_id: str) -> None:
        with self._lock:
            agent = self._agent(agent_id)
            agent.maintenance = None
            self._rescind_inverse(agent_id)
            for offer in [o for o in self._offers.values() if o.agent_id == agent_id]:
                self._rescind(offer)
            self._wake_allocation()

    # -- images and failing calls ---------------------------------------------------------

    def add_image(self, name: str, config: ImageConfig | Mapping[str, Any] | None = None) -> None:
        """Make an image runnable (on the host, with this entrypoint/cmd/env)."""
        image = config if isinstance(config, ImageConfig) else ImageConfig.from_json(config)
        with self._lock:
            self.images[name] = image

    def fail_calls(self, call_type: str, count: int = 1, mode: str = "after") -> None:
        """Make the next ``count`` calls of ``call_type`` fail at the HTTP level.

        ``before``: the connection is cut before the call is handled, and nothing happens.
        ``after``: the call is taken and handled, then the connection is cut without an
        answer, so the framework cannot know that it was. ``status``: 503, not handled.
        """
        if mode not in FAIL_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAIL_MODES)}, not {mode!r}")
        with self._lock:
            self._failing_calls[call_type] = (max(0, int(count)), mode)

    def _take_failure(self, call_type: str) -> str | None:
        with self._lock:
            count, mode = self._failing_calls.get(call_type, (0, ""))
            if count <= 0:
                return None
            self._failing_calls[call_type] = (count - 1, mode)
            return mode

    # -- introspection --------------------------------------------------------------------

    def tasks(self) -> list[dict[str, Any]]:
        """Every task the agents run, then the recently completed ones, newest last."""
        with self._lock:
            active = [t for agent in self._agents.values() for t in agent.tasks.values()]
            return [self._task_summary(t, active=True) for t in active] + [
                self._task_summary(t, active=False) for t in self._completed
            ]

    def task_id_conflicts(self) -> list[dict[str, Any]]:
        """Tasks that came back with an agent while their id ran elsewhere: two tasks, one id."""
        with self._lock:
            return [dict(c) for c in self._conflicts]

    def frameworks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "id": fw.id,
                    "name": fw.info.get("name"),
                    "connected": fw.connected,
                    "stream_id": fw.stream.id if fw.stream is not None else None,
                    "suppressed": fw.suppressed,
                    "suppressed_roles": sorted(fw.suppressed_roles),
                    "roles": fw.roles,
                    "failover_timeout": fw.failover_timeout,
                    "capabilities": sorted(fw.capabilities),
                    "tasks": sorted(fw.tasks),
                    "unreachable_tasks": sorted(fw.unreachable_tasks),
                    "offers": [o.id for o in self._offers.values() if o.framework_id == fw.id],
                }
                for fw in self._frameworks.values()
            ]

    def removed_frameworks(self) -> list[str]:
        with self._lock:
            return list(self._removed_frameworks)

    def agents(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "id": agent.id,
                    "hostname": agent.spec.hostname,
                    "status": agent.status,
                    "resources": agent.total.summary(),
                    "reserved_resources": agent.total.reserved_summary(),
                    "used_resources": agent.used.summary(),
                    "attributes": dict(agent.spec.attributes),
                    "unavailability": agent.unavailability(),
                }
                for agent in self._agents.values()
            ]

    def offers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "id": o.id,
                    "framework_id": o.framework_id,
                    "agent_id": o.agent_id,
                    "role": o.role,
                    "resources": o.resources.summary(),
                }
                for o in self._offers.values()
            ]

    def inverse_offers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"id": i.id, "framework_id": i.framework_id, "agent_id": i.agent_id, "answer": i.answer}
                for i in self._inverse_offers.values()
            ]

    def _task_summary(self, task: _Task, *, active: bool) -> dict[str, Any]:
        fw = self._frameworks.get(task.framework_id)
        agent = self._agents.get(task.agent_id)
        return {
            "task_id": task.id,
            "name": task.name,
            "framework_id": task.framework_id,
            "agent_id": task.agent_id,
            "state": task.state,
            "active": active,
            "known": fw is not None and fw.tasks.get(task.id) is task,
            "agent_status": agent.status if agent is not None else "gone",
            "sandbox": str(task.sandbox.parent / "latest"),
            "directory": str(task.sandbox),
            "pid": task.process.pid if task.process is not None else None,
            "exit_code": task.exit_code,
            "unacknowledged": len(task.pending),
            "resources": task.resources.summary(),
            "allocation_role": task.allocation_role,
            "launch": task.plan.to_json() if task.plan is not None else None,
        }
