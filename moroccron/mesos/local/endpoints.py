"""The read-only endpoints: ``/master/state``, an agent's ``/state``, the maintenance schedule.

Mixed into :class:`~moroccron.mesos.local.master.LocalMaster`. Subsets of the real
JSON, in its shape and with its field names: enough for a UI and for tests.
"""

from __future__ import annotations

from typing import Any

from moroccron.mesos.local.resources import RoleResources
from moroccron.mesos.local.state import MESOS_VERSION, RECOVERED, UNREACHABLE, _Task


class _Endpoints:
    """State JSON of the master and of each agent."""

    def state(self) -> dict[str, Any]:
        """``/master/state``: a subset of the real master's state JSON, enough for a UI."""
        with self._lock:
            offered: dict[str, RoleResources] = {}
            for offer in self._offers.values():
                offered[offer.agent_id] = offered.get(offer.agent_id, RoleResources()) + offer.resources
            slaves = [
                {
                    "id": agent.id,
                    "pid": f"slave({agent.id})@{self.advertised_ip}:{self.port}",
                    "hostname": agent.spec.hostname,
                    "port": self.port,
                    "registered_time": agent.registered_time,
                    "active": True,
                    "version": MESOS_VERSION,
                    "resources": agent.total.summary(),
                    "used_resources": agent.used.summary(),
                    "offered_resources": offered.get(agent.id, RoleResources()).summary(),
                    "reserved_resources": agent.total.reserved_summary(),
                    "unreserved_resources": agent.total.pool("*").summary(),
                    "attributes": dict(agent.spec.attributes),
                }
                for agent in self._agents.values()
                if agent.registered
            ]
            elsewhere = {
                status: [{"id": a.id, "hostname": a.spec.hostname} for a in self._agents.values() if a.status == status]
                for status in (RECOVERED, UNREACHABLE)
            }
            frameworks = []
            for fw in self._frameworks.values():
                used = RoleResources()
                for task in fw.tasks.values():
                    if task.holds_resources:
                        used = used + task.resources
                fw_offers = [o for o in self._offers.values() if o.framework_id == fw.id]
                frameworks.append(
                    {
                        "id": fw.id,
                        "name": fw.info.get("name"),
                        "user": fw.info.get("user"),
                        "hostname": fw.info.get("hostname", ""),
                        "webui_url": fw.info.get("webui_url", ""),
                        "principal": fw.info.get("principal"),
                        "role": fw.role,
                        "roles": list(fw.info.get("roles") or [fw.role]),
                        "failover_timeout": fw.failover_timeout,
                        "checkpoint": bool(fw.info.get("checkpoint", False)),
                        "capabilities": sorted(fw.capabilities),
                        "registered_time": fw.registered_time,
                        "unregistered_time": fw.unregistered_time or 0,
                        "active": fw.connected and not fw.suppressed,
                        "connected": fw.connected,
                        "recovered": False,
                        "used_resources": used.summary(),
                        "offered_resources": sum((o.resources for o in fw_offers), RoleResources()).summary(),
                        "tasks": [self._state_task(t) for t in fw.tasks.values()],
                        "unreachable_tasks": [
                            {"id": tid, "slave_id": aid} for tid, aid in fw.unreachable_tasks.items()
                        ],
                        "completed_tasks": [self._state_task(t) for t in self._completed if t.framework_id == fw.id],
                        "offers": [
                            {
                                "id": o.id,
                                "framework_id": fw.id,
                                "slave_id": o.agent_id,
                                "resources": o.resources.summary(),
                            }
                            for o in fw_offers
                        ],
                    }
                )
            return {
                "version": MESOS_VERSION,
                "id": self._master_id,
                "pid": f"master@{self.advertised_ip}:{self.port}",
                "hostname": self.advertised_host,
                "start_time": self._start_time,
                "elected_time": self._elected_time,
                "leader": f"master@{self.leader}" if self.leader else f"master@{self.advertised_ip}:{self.port}",
                "leader_info": self.master_info(),
                "activated_slaves": len(slaves),
                "deactivated_slaves": 0,
                "unreachable_slaves": elsewhere[UNREACHABLE],
                "slaves": slaves,
                "recovered_slaves": elsewhere[RECOVERED],
                "frameworks": frameworks,
                "completed_frameworks": [{"id": fid, "removed_time": t} for fid, t in self._removed_frameworks.items()],
                "orphan_tasks": [],
                "unregistered_frameworks": [],
            }

    def _state_task(self, task: _Task) -> dict[str, Any]:
        return {
            "id": task.id,
            "name": task.name,
            "framework_id": task.framework_id,
            "executor_id": "",
            "slave_id": task.agent_id,
            "state": task.state,
            "resources": task.resources.summary(),
            "statuses": [
                {
                    "state": s["state"],
                    "timestamp": s["timestamp"],
                    **({"message": s["message"]} if "message" in s else {}),
                }
                for s in task.statuses
            ],
            "sandbox": str(task.sandbox.parent / "latest"),
        }

    def agent_state(self, agent_id: str) -> dict[str, Any] | None:
        """The agent ``/state`` shape for one agent, with each executor's sandbox directory."""
        with self._lock:
            agent = self._agents.get(agent_id)
            if agent is None or not agent.registered:
                return None
            by_fw: dict[str, dict[str, Any]] = {}

            def entry(task: _Task) -> dict[str, Any]:
                fw_entry = by_fw.setdefault(
                    task.framework_id,
                    {"id": task.framework_id, "executors": [], "completed_executors": []},
                )
                fw = self._frameworks.get(task.framework_id)
                fw_entry["name"] = fw.info.get("name") if fw is not None else ""
                return fw_entry

            def executor(task: _Task) -> dict[str, Any]:
                return {
                    "id": task.id,
                    "name": f"Command Executor (Task: {task.id})",
                    "source": task.id,
                    "container": task.container_id,
                    "directory": str(task.sandbox),
                    "resources": task.resources.summary(),
                    "tasks": [] if task.terminal else [self._state_task(task)],
                    "completed_tasks": [self._state_task(task)] if task.terminal else [],
                }

            for task in agent.tasks.values():
                key = "completed_executors" if task.terminal else "executors"
                entry(task)[key].append(executor(task))
            for task in self._completed:
                if task.agent_id == agent_id:
                    entry(task)["completed_executors"].append(executor(task))
            return {
                "id": agent.id,
                "pid": f"slave({agent.id})@{self.advertised_ip}:{self.port}",
                "hostname": agent.spec.hostname,
                "version": MESOS_VERSION,
                "resources": agent.total.summary(),
                "attributes": dict(agent.spec.attributes),
                "master_hostname": self.advertised_host,
                "frameworks": list(by_fw.values()),
                "completed_frameworks": [],
            }

    def maintenance_schedule(self) -> dict[str, Any]:
        """``/master/maintenance/schedule``: one window per agent under maintenance."""
        with self._lock:
            windows = []
            for agent in self._agents.values():
                unavailability = agent.unavailability()
                if unavailability is not None:
                    windows.append(
                        {
                            "machine_ids": [{"hostname": agent.spec.hostname, "ip": self.advertised_ip}],
                            "unavailability": unavailability,
                        }
                    )
            return {"windows": windows}
