"""The scheduler calls, as a Mesos master handles them, and the status updates it sends.

Mixed into :class:`~moroccron.mesos.local.master.LocalMaster`; runs under its lock. The
HTTP layer checks a call's sender at once (:meth:`_Calls._admit`: unknown framework
400, not subscribed 403, stream id 400) and answers 202; the call itself is handled
afterwards, in arrival order, by the master's actor thread (:meth:`_Calls._process`),
so that what goes wrong in an ACCEPT shows up as status updates, never in the answer.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from moroccron.mesos import proto
from moroccron.mesos.local.resources import RoleResources
from moroccron.mesos.local.state import (
    RECOVERED,
    REGISTERED,
    TERMINAL_STATES,
    UNREACHABLE,
    _b64,
    _CallError,
    _Filter,
    _Framework,
    _id,
    _Offer,
    _Stream,
    _Task,
)
from moroccron.mesos.local.validation import (
    TaskInvalid,
    run_task_allowed,
    validate_framework,
    validate_task,
)
from moroccron.mesos.messages import event, subscribed_event

log = logging.getLogger("moroccron.mesos.local")


class _Calls:
    """SUBSCRIBE and every other scheduler call; status updates to frameworks."""

    # -- SUBSCRIBE ------------------------------------------------------------------------

    def _subscribe(self, call: dict[str, Any], principal: str | None) -> _Stream:
        """Handle SUBSCRIBE; returns the new stream with its first events queued.

        A refused subscription is a stream too: one ERROR event, then the end, as a
        master answers it (HTTP 200).
        """
        info = dict(call["subscribe"]["framework_info"])
        fid = (info.get("id") or {}).get("value")
        now = time.monotonic()

        def refuse(message: str) -> _Stream:
            log.info("refusing subscription of framework '%s': %s", info.get("name"), message)
            stream = _Stream(str(fid or ""))
            stream.refusal = message
            stream.send(event("ERROR", {"message": message}))
            stream.close()
            return stream

        if principal is not None and info.get("principal") not in (None, principal):
            raise _CallError(
                HTTPStatus.BAD_REQUEST,
                f"Failed to validate scheduler::Call: Authenticated principal '{principal}' does not match "
                f"principal '{info['principal']}' set in `FrameworkInfo`",
            )
        if principal is not None and info.get("principal") is None:
            info["principal"] = principal  # the master fills it in from the credentials
        error = validate_framework(info, root_submissions=self.root_submissions)
        if error is not None:
            return refuse(error)
        suppressed = set(call["subscribe"].get("suppressed_roles") or [])
        roles = set(_Framework(id="", info=info, registered_time=0).roles)
        if not suppressed <= roles:
            return refuse(
                f"Suppressed roles {{ {', '.join(sorted(suppressed - roles))} }} are not contained in the set of roles"
            )
        if fid is not None and fid in self._removed_frameworks:
            return refuse("Framework has been removed")
        fw = self._frameworks.get(fid) if fid is not None else None
        rescinded: list[_Offer] = []
        if fw is None:
            if fid is None:
                new_id = f"{self._master_id}-{self._framework_seq:04d}"
                self._framework_seq += 1
                log.info("framework %s (%s) registered", new_id, info.get("name"))
            else:
                # A FrameworkID we never assigned: after a master failover frameworks
                # re-register with their old id, so Mesos accepts it.
                new_id = str(fid)
                log.info("framework %s (%s) re-registered with an unknown id", new_id, info.get("name"))
            info["id"] = _id(new_id)
            fw = _Framework(id=new_id, info=info, registered_time=time.time())
            self._frameworks[new_id] = fw
        else:
            for immutable in ("principal", "user", "checkpoint"):
                old, new = fw.info.get(immutable), info.get(immutable)
                if immutable == "checkpoint":
                    old, new = bool(old), bool(new)
                if old != new:
                    what = (
                        "Changing framework's principal is not allowed."
                        if immutable == "principal"
                        else f"Updating 'FrameworkInfo.{immutable}' is unsupported; attempted to update "
                        f"from '{old}' to '{new}'"
                    )
                    return refuse(what)
            info["id"] = _id(fw.id)
            fw.info = info
            fw.failover_deadline = None
            fw.unregistered_time = None
            if fw.stream is not None:
                old_stream, fw.stream = fw.stream, None
                old_stream.send(event("ERROR", {"message": "Framework failed over"}))
                old_stream.close()
            rescinded = [o for o in self._offers.values() if o.framework_id == fid]
            log.info("framework %s (%s) re-subscribed (failover)", fid, info.get("name"))
        stream = _Stream(fw.id)
        fw.stream = stream
        fw.suppressed_roles = suppressed
        stream.send(subscribed_event(fw.id, self.heartbeat_interval, self.master_info()))
        fw.next_heartbeat = now
        self._heartbeat(fw, now)
        for offer in rescinded:
            self._rescind(offer)
        for task in fw.tasks.values():
            if task.pending:
                task.backoff = self.status_update_retry
                self._send_pending_head(fw, task, now)
        self._send_inverse_offers(fw)
        self._wake_allocation()
        return stream

    # -- admission and dispatch -----------------------------------------------------------

    def _admit(self, call: dict[str, Any], stream_id: str | None, principal: str | None) -> _Framework:
        """What the master checks before answering 202; raises _CallError otherwise."""
        fid = call["framework_id"]["value"]
        fw = self._frameworks.get(fid)
        if fw is None:
            raise _CallError(HTTPStatus.BAD_REQUEST, "Framework cannot be found")
        if principal is not None and principal != fw.info.get("principal"):
            raise _CallError(
                HTTPStatus.BAD_REQUEST,
                f"Authenticated principal '{principal}' does not match principal "
                f"'{fw.info.get('principal', '')}' set in `FrameworkInfo`",
            )
        if not fw.connected:
            raise _CallError(HTTPStatus.FORBIDDEN, "Framework is not subscribed")
        if stream_id is None:
            raise _CallError(
                HTTPStatus.BAD_REQUEST, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
            )
        assert fw.stream is not None
        if stream_id != fw.stream.id:
            raise _CallError(
                HTTPStatus.BAD_REQUEST,
                f"The stream ID '{stream_id}' included in this request didn't match the stream ID "
                f"currently associated with framework ID {fid}",
            )
        if call["type"] == "ACCEPT":
            for index, operation in enumerate(call["accept"].get("operations") or []):
                if operation["type"] != "LAUNCH":
                    raise _CallError(
                        HTTPStatus.BAD_REQUEST,
                        f"call.accept.operations[{index}].type: operation {operation['type']} is not "
                        "supported by the local master (only LAUNCH)",
                    )
        return fw

    def _process(self, call: dict[str, Any], stream_id: str, record: dict[str, Any] | None) -> None:
        """Handle an admitted call, in the actor thread, under the lock."""
        fw = self._frameworks.get(call["framework_id"]["value"])
        if fw is None or fw.stream is None or fw.stream.id != stream_id:
            # The stream it came on is gone (failover, removal) since it was admitted.
            log.info(
                "dropping %s call of framework %s: its stream is gone", call["type"], call["framework_id"]["value"]
            )
            return
        if call["type"] == "ACCEPT":
            self._accept(fw, call, record)
            return
        handler = {
            "TEARDOWN": self._teardown,
            "DECLINE": self._decline,
            "REVIVE": self._revive,
            "SUPPRESS": self._suppress,
            "KILL": self._kill,
            "SHUTDOWN": self._shutdown_executor,
            "ACKNOWLEDGE": self._acknowledge,
            "RECONCILE": self._reconcile,
            "UPDATE_FRAMEWORK": self._update_framework,
            "ACCEPT_INVERSE_OFFERS": self._accept_inverse_offers,
            "DECLINE_INVERSE_OFFERS": self._decline_inverse_offers,
        }.get(call["type"])
        if handler is None:
            # MESSAGE, REQUEST, operation feedback: accepted and ignored (no custom
            # executors and no operations but LAUNCH here).
            log.debug("framework %s: %s call accepted and ignored", fw.id, call["type"])
            return
        handler(fw, call)

    def _teardown(self, fw: _Framework, call: dict[str, Any]) -> None:
        log.info("framework %s torn down", fw.id)
        self._remove_framework(fw, "Framework torn down")

    def _update_framework(self, fw: _Framework, call: dict[str, Any]) -> None:
        update = call["update_framework"]
        info = dict(update["framework_info"])
        if (info.get("id") or {}).get("value") != fw.id:
            raise _CallError(
                HTTPStatus.BAD_REQUEST,
                "Failed to validate scheduler::Call: 'framework_id' differs from 'update_framework.framework_info.id'",
            )
        error = validate_framework(info, root_submissions=self.root_submissions)
        for immutable in ("principal", "user"):
            if error is None and fw.info.get(immutable) != info.get(immutable):
                error = f"Updating 'FrameworkInfo.{immutable}' is unsupported"
        if error is None and bool(fw.info.get("checkpoint")) != bool(info.get("checkpoint")):
            error = "Updating 'FrameworkInfo.checkpoint' is unsupported"
        if error is not None:
            raise _CallError(HTTPStatus.BAD_REQUEST, error)
        fw.info = info
        fw.suppressed_roles = set(update.get("suppressed_roles") or [])
        self._wake_allocation()

    # -- ACCEPT ---------------------------------------------------------------------------

    def _offer_error(self, fw: _Framework, offer_ids: list[str]) -> str | None:
        """The offer checks of validation.cpp (offer::validate), in their order."""
        if not offer_ids:
            return "No offers specified"
        seen: set[str] = set()
        for offer_id in offer_ids:
            if offer_id in seen:
                return f"Duplicate offer {offer_id} in offer list"
            seen.add(offer_id)
        for offer_id in offer_ids:
            if offer_id not in self._offers:
                return f"Offer {offer_id} is no longer valid"
        for offer_id in offer_ids:
            owner = self._offers[offer_id].framework_id
            if owner != fw.id:
                return f"Offer {offer_id} has invalid framework {owner} while framework {fw.id} is expected"
        first = self._offers[offer_ids[0]]
        for offer_id in offer_ids:
            offer = self._offers[offer_id]
            if offer.role != first.role:
                return (
                    f"Aggregated offers must be allocated to the same role. Offer {offer_id} uses role "
                    f"'{offer.role} but another is using role '{first.role}"
                )
        for offer_id in offer_ids:
            offer = self._offers[offer_id]
            if offer.agent_id != first.agent_id:
                return (
                    f"Aggregated offers must belong to one single agent. Offer {offer_id} uses agent "
                    f"{offer.agent_id} and agent {first.agent_id}"
                )
        return None

    def _accept(self, fw: _Framework, call: dict[str, Any], record: dict[str, Any] | None = None) -> None:
        accept = call["accept"]
        offer_ids = [o["value"] for o in accept.get("offer_ids") or []]
        operations = accept.get("operations") or []
        refuse = self._refuse_seconds(accept.get("filters"))
        error = self._offer_error(fw, offer_ids)
        if error is not None:
            for offer_id in offer_ids:
                if offer_id in self._offers and self._offers[offer_id].framework_id == fw.id:
                    del self._offers[offer_id]
            self._wake_allocation()
            state = "TASK_DROPPED" if fw.partition_aware else "TASK_LOST"
            for operation in operations:
                for ti in operation["launch"].get("task_infos") or []:
                    self._master_update(
                        fw,
                        ti["task_id"]["value"],
                        state,
                        "REASON_INVALID_OFFERS",
                        f"Task launched with invalid offers: {error}",
                        agent_id=ti["agent_id"]["value"],
                    )
            log.info("framework %s: ACCEPT with invalid offers: %s", fw.id, error)
            return

        offers = [self._offers.pop(offer_id) for offer_id in offer_ids]
        agent = self._agents[offers[0].agent_id]
        role = offers[0].role
        available = sum((o.resources for o in offers), RoleResources())
        for operation in operations:
            task_infos = operation["launch"].get("task_infos") or []
            if operation.get("id") is not None:
                for ti in task_infos:
                    self._master_update(
                        fw,
                        ti["task_id"]["value"],
                        "TASK_ERROR",
                        "REASON_TASK_INVALID",
                        "The `id` field cannot be set on LAUNCH operations",
                        agent_id=agent.id,
                    )
                continue
            for ti in task_infos:
                task_id = ti["task_id"]["value"]
                user = (ti.get("command") or {}).get("user") or fw.info.get("user")
                try:
                    if not run_task_allowed(self.acls, fw.info.get("principal"), str(user)):
                        raise TaskInvalid(
                            f"Principal '{fw.info.get('principal', '')}' is not authorized to run tasks as "
                            f"user '{user}'",
                            "REASON_TASK_UNAUTHORIZED",
                        )
                    resources = validate_task(
                        ti,
                        known_tasks=fw.tasks,
                        unreachable_tasks=fw.unreachable_tasks,
                        agent_id=agent.id,
                        available=available,
                        offered_role=role,
                    )
                except TaskInvalid as exc:
                    self._master_update(fw, task_id, "TASK_ERROR", exc.reason, exc.message, agent_id=agent.id)
                    continue
                available = available - resources
                self._launch(fw, agent, ti, resources, role)
                if record is not None:
                    record["launched"].append(task_id)
        if not available.empty and refuse > 0:
            fw.filters.append(_Filter(agent.id, role, available, time.monotonic() + refuse))
        self._wake_allocation()

    # -- offers ---------------------------------------------------------------------------

    def _decline(self, fw: _Framework, call: dict[str, Any]) -> None:
        decline = call["decline"]
        refuse = self._refuse_seconds(decline.get("filters"))
        for offer_id in (o["value"] for o in decline.get("offer_ids") or []):
            offer = self._offers.get(offer_id)
            if offer is None or offer.framework_id != fw.id:
                continue
            del self._offers[offer_id]
            if refuse > 0:
                fw.filters.append(_Filter(offer.agent_id, offer.role, offer.resources, time.monotonic() + refuse))
        self._wake_allocation()

    def _refuse_seconds(self, filters: Mapping[str, Any] | None) -> float:
        value = (filters or {}).get("refuse_seconds")
        if value is None:
            return float(self.offer_refuse_default)
        value = float(value)
        # Mesos caps absurd values at 365 days and treats negatives as the default.
        if not math.isfinite(value) or value < 0:
            return float(self.offer_refuse_default)
        return min(value, 365 * 24 * 3600.0)

    def _call_roles(self, fw: _Framework, call: dict[str, Any], field: str) -> set[str]:
        """REVIVE/SUPPRESS roles: those named (of the framework's), or all of them."""
        named = set((call.get(field) or {}).get("roles") or [])
        return named & set(fw.roles) if named else set(fw.roles)

    def _revive(self, fw: _Framework, call: dict[str, Any]) -> None:
        roles = self._call_roles(fw, call, "revive")
        fw.filters = [f for f in fw.filters if f.role not in roles]
        fw.suppressed_roles -= roles
        self.revive_count += 1
        self._wake_allocation()

    def _suppress(self, fw: _Framework, call: dict[str, Any]) -> None:
        # Outstanding offers stay valid (Mesos does not rescind them on SUPPRESS).
        fw.suppressed_roles |= self._call_roles(fw, call, "suppress")
        self.suppress_count += 1

    def _accept_inverse_offers(self, fw: _Framework, call: dict[str, Any]) -> None:
        self._answer_inverse_offers(fw, call["accept_inverse_offers"], "ACCEPTED")

    def _decline_inverse_offers(self, fw: _Framework, call: dict[str, Any]) -> None:
        self._answer_inverse_offers(fw, call["decline_inverse_offers"], "DECLINED")

    def _answer_inverse_offers(self, fw: _Framework, body: Mapping[str, Any], answer: str) -> None:
        for offer_id in (o["value"] for o in body.get("inverse_offer_ids") or []):
            inverse = self._inverse_offers.get(offer_id)
            if inverse is not None and inverse.framework_id == fw.id:
                inverse.answer = answer

    # -- tasks ----------------------------------------------------------------------------

    def _kill(self, fw: _Framework, call: dict[str, Any]) -> None:
        kill = call["kill"]
        task_id = kill["task_id"]["value"]
        task = fw.tasks.get(task_id)
        if task is None:
            # Mesos: an unknown task is reconciled, so the scheduler learns its fate.
            agent_id = (kill.get("agent_id") or {}).get("value")
            log.info("cannot kill task %s of framework %s: unknown; reconciling it", task_id, fw.id)
            self._reconcile_one(fw, task_id, agent_id)
            return
        override = kill.get("kill_policy")
        self._kill_task(task, self._grace_period(override) if override is not None else None)

    def _shutdown_executor(self, fw: _Framework, call: dict[str, Any]) -> None:
        # A command task's executor id is its task id: shutting it down kills the task.
        task = fw.tasks.get(call["shutdown"]["executor_id"]["value"])
        if task is not None:
            self._kill_task(task, None)

    def _grace_period(self, kill_policy: Mapping[str, Any] | None) -> float:
        grace = ((kill_policy or {}).get("grace_period") or {}).get("nanoseconds")
        if grace is None:
            return float(self.kill_grace_default)
        return max(0.0, int(grace) / 1e9)

    def _acknowledge(self, fw: _Framework, call: dict[str, Any]) -> None:
        ack = call["acknowledge"]
        task = fw.tasks.get(ack["task_id"]["value"])
        uuid_bytes = proto.decode_bytes(ack["uuid"])
        if task is None or not task.pending or not self._deliverable(task):
            return  # unknown task, or its agent is not connected: the ack goes nowhere
        head = task.pending[0]
        if proto.decode_bytes(head["uuid"]) != uuid_bytes:
            log.debug("framework %s: ignoring acknowledgement of unknown update for %s", fw.id, task.id)
            return
        task.pending.popleft()
        if task.pending:
            task.backoff = self.status_update_retry
            self._send_pending_head(fw, task, time.monotonic())
        else:
            self._unacked.discard(task)
            if task.terminal:
                self._complete(fw, task)

    # -- reconciliation -------------------------------------------------------------------

    def _reconcile(self, fw: _Framework, call: dict[str, Any]) -> None:
        tasks = call["reconcile"].get("tasks") or []
        if not tasks:
            # Implicit: every task the master knows; nothing about the others.
            for task in fw.tasks.values():
                self._send_reconciliation(fw, task.id, task.state, task.agent_id, "Reconciliation: Latest task state")
            return
        for entry in tasks:
            self._reconcile_one(fw, entry["task_id"]["value"], (entry.get("agent_id") or {}).get("value"))

    def _reconcile_one(self, fw: _Framework, task_id: str, agent_id: str | None) -> None:
        """Explicit reconciliation of one task, case by case as master.cpp answers it."""
        task = fw.tasks.get(task_id)
        if task is not None:
            self._send_reconciliation(fw, task_id, task.state, task.agent_id, "Reconciliation: Latest task state")
            return
        agent = self._agents.get(agent_id) if agent_id is not None else None
        recovering = any(a.status == RECOVERED for a in self._agents.values())
        if (agent is not None and agent.status == RECOVERED) or (agent_id is None and recovering):
            # The agent may still re-register with the task: no answer at all. The
            # framework has to ask again (with backoff) until there is one.
            log.info(
                "dropping reconciliation of task %s of framework %s: %s not yet re-registered",
                task_id,
                fw.id,
                f"agent {agent_id} has" if agent_id else "some agents have",
            )
            self.dropped_reconciliations += 1
            return
        aware = fw.partition_aware
        if agent is not None and agent.status == REGISTERED:
            state, message = ("TASK_GONE" if aware else "TASK_LOST"), "Reconciliation: Task is unknown to the agent"
            self._send_reconciliation(fw, task_id, state, agent_id, message)
        elif agent is not None and agent.status == UNREACHABLE:
            state = "TASK_UNREACHABLE" if aware else "TASK_LOST"
            self._send_reconciliation(
                fw,
                task_id,
                state,
                agent_id,
                "Reconciliation: Task is unreachable",
                unreachable_time=agent.unreachable_time,
            )
        elif agent_id is not None and agent_id in self._gone_agents:
            state = "TASK_GONE_BY_OPERATOR" if aware else "TASK_LOST"
            self._send_reconciliation(fw, task_id, state, agent_id, "Reconciliation: Task is gone")
        else:
            state = "TASK_UNKNOWN" if aware else "TASK_LOST"
            self._send_reconciliation(fw, task_id, state, agent_id, "Reconciliation: Task is unknown")

    def _send_reconciliation(
        self,
        fw: _Framework,
        task_id: str,
        state: str,
        agent_id: str | None,
        message: str,
        *,
        unreachable_time: float | None = None,
    ) -> None:
        status = self._status(
            task_id,
            state,
            source="SOURCE_MASTER",
            reason="REASON_RECONCILIATION",
            message=message,
            agent_id=agent_id,
            unreachable_time=unreachable_time,
        )
        self._send(fw, event("UPDATE", {"status": status}))

    # -- status updates -------------------------------------------------------------------

    @staticmethod
    def _status(
        task_id: str,
        state: str,
        *,
        source: str,
        reason: str | None = None,
        message: str | None = None,
        agent_id: str | None = None,
        executor_id: str | None = None,
        uuid_bytes: bytes | None = None,
        container_id: str | None = None,
        executor_pid: int | None = None,
        unreachable_time: float | None = None,
    ) -> dict[str, Any]:
        status: dict[str, Any] = {"task_id": _id(task_id), "state": state, "source": source}
        if reason is not None:
            status["reason"] = reason
        if message is not None:
            status["message"] = message
        if agent_id is not None:
            status["agent_id"] = _id(agent_id)
        if executor_id is not None:
            status["executor_id"] = _id(executor_id)
        status["timestamp"] = time.time()
        if uuid_bytes is not None:
            status["uuid"] = _b64(uuid_bytes)
        if container_id is not None:
            container: dict[str, Any] = {"container_id": _id(container_id)}
            if executor_pid is not None:
                container["executor_pid"] = executor_pid
            status["container_status"] = container
        if unreachable_time is not None:
            status["unreachable_time"] = {"nanoseconds": int(unreachable_time * 1e9)}
        return status

    def _master_update(
        self,
        fw: _Framework,
        task_id: str,
        state: str,
        reason: str,
        message: str,
        *,
        agent_id: str | None,
        unreachable_time: float | None = None,
    ) -> None:
        """An update the master makes up itself: no uuid, no acknowledgement, no retry.

        Sent only if the framework is connected: the master drops it otherwise.
        """
        status = self._status(
            task_id,
            state,
            source="SOURCE_MASTER",
            reason=reason,
            message=message,
            agent_id=agent_id,
            unreachable_time=unreachable_time,
        )
        log.info("task %s of framework %s: %s (%s)", task_id, fw.id, state, message)
        self._send(fw, event("UPDATE", {"status": status}))

    def _agent_update(
        self,
        task: _Task,
        state: str,
        *,
        source: str = "SOURCE_EXECUTOR",
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        """A reliable update from the agent: carries a uuid, retried until acknowledged.

        Updates of one task are delivered in order: a new one waits in ``task.pending``
        until every earlier one is acknowledged, as the agent's status update manager does.
        While its agent is not connected to the master, they wait on the agent.
        """
        with self._lock:
            fw = self._frameworks.get(task.framework_id)
            if task.removed or task.terminal:
                return
            task.state = state
            pid = task.process.pid if task.process is not None else None
            status = self._status(
                task.id,
                state,
                source=source,
                reason=reason,
                message=message,
                agent_id=task.agent_id,
                executor_id=task.id,
                uuid_bytes=uuid.uuid4().bytes,
                container_id=task.container_id,
                executor_pid=pid,
            )
            task.statuses.append(status)
            task.pending.append(status)
            log.log(
                logging.INFO if state in TERMINAL_STATES else logging.DEBUG,
                "task %s of framework %s: %s%s",
                task.id,
                task.framework_id,
                state,
                f" ({message})" if message else "",
            )
            if len(task.pending) == 1 and fw is not None:
                task.backoff = self.status_update_retry
                self._send_pending_head(fw, task, time.monotonic())
            self._unacked.add(task)
            if task.terminal:
                self._release(task)
                self._wake_allocation()

    def _deliverable(self, task: _Task) -> bool:
        """The master knows the task: its agent is connected and it is the framework's task
        of that id (not one that came back under an id reused meanwhile)."""
        agent = self._agents.get(task.agent_id)
        fw = self._frameworks.get(task.framework_id)
        return agent is not None and agent.registered and fw is not None and fw.tasks.get(task.id) is task

    def _send_pending_head(self, fw: _Framework, task: _Task, now: float) -> None:
        task.next_retry = now + task.backoff
        if fw.connected and task.pending and self._deliverable(task):
            self._send(fw, event("UPDATE", {"status": task.pending[0]}))

    def _complete(self, fw: _Framework, task: _Task) -> None:
        """A terminal task whose updates were all acknowledged leaves the active set."""
        fw.tasks.pop(task.id, None)
        agent = self._agents.get(task.agent_id)
        if agent is not None and agent.tasks.get(task.key) is task:
            del agent.tasks[task.key]
        self._completed.append(task)
