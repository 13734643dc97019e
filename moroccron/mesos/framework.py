"""Adapter between the Mesos client and the Engine.

Inbound, it turns the client's callbacks (pymesos vocabulary) into Engine events and
hands them to the shell's event queue; outbound, it turns Engine actions into Mesos
calls, building FrameworkInfo and TaskInfo JSON in the shapes of mesos.proto.

It holds no scheduling state of its own: the Engine decides, the store remembers. What
it keeps is a cache: the ACCEPT bodies of launches the Engine planned ahead of their
second (PrepareLaunch), so that sending them is all that is left on the second.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from moroccron.events import (
    Acknowledge,
    AgentLost,
    Decline,
    Disconnected,
    Event,
    FrameworkLost,
    Kill,
    Launch,
    OfferRescinded,
    OffersReceived,
    PrepareLaunch,
    Reconcile,
    Revive,
    StatusUpdate,
    Subscribed,
    Suppress,
)
from moroccron.hooks.types import Offer
from moroccron.mesos.client import encode_accept
from moroccron.model import JobSpec, Resources, Run

__all__ = ["FrameworkAdapter", "framework_info", "offer_from_json", "status_from_json", "task_info"]

log = logging.getLogger("moroccron.mesos.framework")

DEFAULT_FAILOVER_TIMEOUT = 604800.0
LAUNCH_FILTERS = {"refuse_seconds": 1.0}  # what an ACCEPT leaves unused comes back soon
PREPARED_TTL = 60.0  # seconds a prepared ACCEPT body is kept if its Launch never comes


def framework_info(*, name: str = "moroccron", role: str = "*", principal: str | None = None,
                   failover_timeout: float = DEFAULT_FAILOVER_TIMEOUT, framework_id: str | None = None,
                   hostname: str | None = None, webui_url: str | None = None) -> dict[str, Any]:
    """FrameworkInfo: checkpointed, with a failover timeout so tasks outlive a scheduler restart."""
    info: dict[str, Any] = {
        "user": "root",
        "name": name,
        "failover_timeout": float(failover_timeout),
        "checkpoint": True,
        "roles": [role],
        # PARTITION_AWARE: a partitioned agent's tasks are TASK_UNREACHABLE (they may come
        # back) and a removed one's TASK_GONE, instead of one ambiguous TASK_LOST.
        "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}],
    }
    if principal:
        info["principal"] = principal
    if framework_id:
        info["id"] = {"value": framework_id}
    if hostname:
        info["hostname"] = hostname
    if webui_url:
        info["webui_url"] = webui_url
    return info


def _scalar(name: str, value: float, role: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {"name": name, "type": "SCALAR", "scalar": {"value": round(float(value), 6)}}
    if role and role != "*":
        res["role"] = role
    return res


def _resources(r: Resources) -> list[dict[str, Any]]:
    out = [_scalar("cpus", r.cpus), _scalar("mem", r.mem)]
    if r.disk:
        out.append(_scalar("disk", r.disk))
    if r.gpus:
        out.append(_scalar("gpus", r.gpus))
    return out


def _command(job: JobSpec, run: Run) -> dict[str, Any]:
    args = list(run.arguments) if run.arguments is not None else list(job.arguments)
    cmd: dict[str, Any] = {"shell": job.shell}
    if job.command:
        if job.shell:
            # A shell command gets its arguments appended, quoted, as Chronos did.
            cmd["value"] = job.command + ("".join(" " + shlex.quote(a) for a in args) if args else "")
        else:
            cmd["value"] = job.command
            cmd["arguments"] = [job.command, *args]
    elif args:
        cmd["arguments"] = args
    env = dict(job.env)
    env.setdefault("MOROCCRON_JOB", job.name)
    env.setdefault("MOROCCRON_SCHEDULED_AT", run.scheduled_at.isoformat())
    env.setdefault("MOROCCRON_ATTEMPT", str(run.attempt))
    cmd["environment"] = {"variables": [{"name": k, "type": "VALUE", "value": v} for k, v in sorted(env.items())]}
    if job.uris:
        cmd["uris"] = [{"value": u, "extract": u.endswith((".tgz", ".tar.gz", ".zip", ".tar")),
                        "executable": False, "cache": False} for u in job.uris]
    if job.user:
        cmd["user"] = job.user
    return cmd


def _container(job: JobSpec) -> dict[str, Any] | None:
    c = job.container
    if c is None:
        return None
    volumes = [{"container_path": v.container_path, "mode": v.mode, **({"host_path": v.host_path} if v.host_path else {})}
               for v in c.volumes]
    if c.type == "docker":
        docker: dict[str, Any] = {"image": c.image, "force_pull_image": c.force_pull}
        if c.network:
            docker["network"] = c.network.upper()
        if c.parameters:
            docker["parameters"] = [{"key": k, "value": v} for k, v in c.parameters.items()]
        return {"type": "DOCKER", "docker": docker, "volumes": volumes}
    info: dict[str, Any] = {"type": "MESOS", "volumes": volumes}
    if c.image:
        info["mesos"] = {"image": {"type": "DOCKER", "docker": {"name": c.image}, "cached": not c.force_pull}}
    return info


def task_info(job: JobSpec, run: Run, agent_id: str) -> dict[str, Any]:
    """The TaskInfo that runs ``run`` of ``job`` on ``agent_id``."""
    info: dict[str, Any] = {
        "name": f"moroccron:{job.name}",
        "task_id": {"value": run.task_id},
        "agent_id": {"value": agent_id},
        "resources": _resources(job.resources),
        "command": _command(job, run),
        "labels": {"labels": [{"key": "moroccron.job", "value": job.name},
                              {"key": "moroccron.scheduled_at", "value": run.scheduled_at.isoformat()},
                              {"key": "moroccron.attempt", "value": str(run.attempt)},
                              *({"key": k, "value": v} for k, v in sorted(job.labels.items()))]},
    }
    container = _container(job)
    if container is not None:
        info["container"] = container
    return info


def offer_from_json(offer: Mapping[str, Any]) -> Offer:
    """Reduce a Mesos Offer to what packing needs: unreserved scalars and attributes."""
    totals = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
    for res in offer.get("resources", ()):
        name = res.get("name")
        if name in totals and res.get("type", "SCALAR") == "SCALAR":
            totals[name] += float(res.get("scalar", {}).get("value", 0.0))
    attributes: dict[str, str | float] = {}
    for attr in offer.get("attributes", ()):
        kind = attr.get("type")
        if kind == "TEXT":
            attributes[attr["name"]] = attr.get("text", {}).get("value", "")
        elif kind == "SCALAR":
            attributes[attr["name"]] = float(attr.get("scalar", {}).get("value", 0.0))
        elif kind == "SET":
            attributes[attr["name"]] = ",".join(attr.get("set", {}).get("item", []))
    return Offer(id=offer["id"]["value"], agent_id=offer["agent_id"]["value"],
                 hostname=_text(offer.get("hostname", "")) or "",
                 resources=Resources.unchecked(**totals), attributes=attributes,
                 framework_id=offer.get("framework_id", {}).get("value"))


MESSAGE_MAX = 4096
"""Characters of a status update's message kept: it is free text from an agent or executor."""


def _text(value: Any) -> str | None:
    """Free text from the cluster, as a database can store it: no NUL, bounded."""
    if value is None:
        return None
    text = str(value).replace("\x00", "")
    return text if len(text) <= MESSAGE_MAX else text[:MESSAGE_MAX] + "..."


def status_from_json(status: Mapping[str, Any]) -> StatusUpdate:
    from moroccron.mesos.client import parse_exit_status

    return StatusUpdate(
        task_id=status["task_id"]["value"],
        state=status["state"],
        agent_id=(status.get("agent_id") or {}).get("value"),
        uuid=status.get("uuid"),
        reason=status.get("reason"),
        message=_text(status.get("message")),
        source=status.get("source"),
        exit_status=parse_exit_status(dict(status)),
    )


class FrameworkAdapter:
    """The client's callbacks on one side, the shell's event queue on the other.

    :param emit: puts an Engine event on the shell's queue. Called from the client's
        event-stream thread; must not block.
    :param on_framework_id: persists a FrameworkID the master assigned.
    :param on_fault: told ``(job, reason)`` when a run's TaskInfo cannot be built; that
        task is left out of its ACCEPT (the others on the offer still go) and the job is
        set aside by the caller.
    :param on_removed: told ``(framework_id, message)`` when the master removed the
        framework for good, before a new one is registered: forget the stored FrameworkID.
    :param on_error: told the master's message when the client stopped for good on an
        error that is not a removal (failed over to another scheduler, not authorised).
    """

    def __init__(self, emit: Callable[[Event], None], on_framework_id: Callable[[str], None],
                 jobs: Callable[[str], JobSpec | None],
                 on_fault: Callable[[str, str], None] | None = None,
                 on_removed: Callable[[str, str], None] | None = None,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.emit = emit
        self.on_framework_id = on_framework_id
        self.jobs = jobs
        self.on_fault = on_fault
        self.on_removed = on_removed
        self.on_error = on_error
        self.client: Any = None
        self.framework_id: str | None = None
        self.replacing: tuple[str, str] | None = None  # (removed FrameworkID, why) until a new one registers
        # offer id -> (task ids, ACCEPT body, when built): launches prepared ahead of their second
        self._prepared: dict[str, tuple[tuple[str, ...], bytes, float]] = {}

    # -- callbacks (pymesos vocabulary) ---------------------------------------

    def registered(self, client: Any, framework_id: str, master_info: Mapping[str, Any]) -> None:
        log.info("registered with master %s as framework %s", _master(master_info), framework_id)
        if self.replacing is not None:
            removed, message = self.replacing
            self.replacing = None
            # The decision, once, where operators look: both ids, and what became of the runs.
            log.error("the Mesos master removed framework %s (%s); registered framework %s in its place and "
                      "scheduling goes on: the runs %s had launched were recorded LOST and are retried as their "
                      "jobs allow", removed, message, framework_id, removed)
        self._subscribed(framework_id)

    def reregistered(self, client: Any, master_info: Mapping[str, Any]) -> None:
        log.info("re-registered with master %s", _master(master_info))
        self._subscribed(client.framework_id)

    def _subscribed(self, framework_id: str) -> None:
        if framework_id and framework_id != self.framework_id:
            self.framework_id = framework_id
            self.on_framework_id(framework_id)
        self.emit(Subscribed(framework_id))

    def disconnected(self, client: Any) -> None:
        log.warning("disconnected from the Mesos master; re-subscribing")
        self.emit(Disconnected())

    def resourceOffers(self, client: Any, offers: Sequence[Mapping[str, Any]]) -> None:  # noqa: N802
        parsed = []
        for o in offers:
            try:
                parsed.append(offer_from_json(o))
            except (KeyError, TypeError, ValueError) as exc:
                log.error("ignoring malformed offer %r: %s", o.get("id"), exc)
        if parsed:
            self.emit(OffersReceived(tuple(parsed)))

    def offerRescinded(self, client: Any, offer_id: str) -> None:  # noqa: N802
        self.emit(OfferRescinded(offer_id))

    def statusUpdate(self, client: Any, status: Mapping[str, Any]) -> None:  # noqa: N802
        try:
            self.emit(status_from_json(status))
        except (KeyError, TypeError) as exc:
            log.error("ignoring malformed status update %r: %s", status, exc)

    def agentLost(self, client: Any, agent_id: str) -> None:  # noqa: N802
        log.warning("agent %s lost", agent_id)
        self.emit(AgentLost(agent_id))

    def executorLost(self, client: Any, executor_id: str, agent_id: str, status: Any) -> None:  # noqa: N802
        log.warning("executor %s on agent %s lost (status %s)", executor_id, agent_id, status)

    def frameworkMessage(self, *args: Any) -> None:  # noqa: N802
        pass

    def heartbeat(self, client: Any) -> None:
        pass

    def error(self, client: Any, message: str) -> None:
        log.error("Mesos master reported an error: %s", message)
        if self.on_error is not None:
            self.on_error(message)

    def frameworkRemoved(self, client: Any, framework_id: str, message: str) -> None:  # noqa: N802
        """The master removed the framework: its runs end LOST, and the client registers anew."""
        self.replacing = (framework_id, message)
        self.framework_id = None
        # First into the engine's queue, so it is stepped before the new framework's Subscribed.
        self.emit(FrameworkLost(f"the Mesos master removed framework {framework_id} ({message}): its tasks are gone"))
        if self.on_removed is not None:
            try:
                self.on_removed(framework_id, message)
            except Exception:  # the new registration must go ahead whatever happened here
                log.exception("forgetting the removed FrameworkID %s failed", framework_id)

    # -- actions -> calls -----------------------------------------------------

    def perform(self, action: Any) -> None:
        """Carry out one Mesos action on the client. Raises what the client raises."""
        c = self.client
        if isinstance(action, Launch):
            for _, exc in self.launch_all([action]):
                raise exc
        elif isinstance(action, PrepareLaunch):
            now = time.monotonic()
            for offer_id in [o for o, (_, _, built) in self._prepared.items() if now - built > PREPARED_TTL]:
                del self._prepared[offer_id]  # planned, then dropped (offer rescinded, job changed)
            self._prepared[action.offer_id] = (tuple(r.task_id for r in action.runs),
                                               encode_accept([action.offer_id], self._task_infos(action),
                                                             LAUNCH_FILTERS), now)
        elif isinstance(action, Decline):
            for offer_id in action.offer_ids:
                self._prepared.pop(offer_id, None)
            c.decline(list(action.offer_ids), refuse_seconds=action.refuse_seconds)
        elif isinstance(action, Kill):
            log.info("killing task %s: %s", action.task_id, action.reason)
            c.kill(action.task_id, action.agent_id)
        elif isinstance(action, Acknowledge):
            c.acknowledge(action.agent_id, action.task_id, action.uuid)
        elif isinstance(action, Reconcile):
            c.reconcile(list(action.tasks))
        elif isinstance(action, Revive):
            c.revive()
        elif isinstance(action, Suppress):
            c.suppress()
        else:  # pragma: no cover - the shell only routes Mesos actions here
            raise TypeError(f"not a Mesos action: {action!r}")

    def launch_all(self, launches: Sequence[Launch]) -> list[tuple[Launch, BaseException]]:
        """ACCEPT every offer of ``launches`` at once; return the launches whose call failed.

        A launch prepared ahead (PrepareLaunch, same runs) sends the body built then.
        """
        bodies = []
        for action in launches:
            prepared = self._prepared.pop(action.offer_id, None)
            if prepared is not None and prepared[0] == tuple(r.task_id for r in action.runs):
                bodies.append(prepared[1])
            else:  # not prepared, or planned with other runs: build it now
                bodies.append(encode_accept([action.offer_id], self._task_infos(action), LAUNCH_FILTERS))
        errors = self.client.accept_encoded_many(bodies)
        return [(action, exc) for action, exc in zip(launches, errors, strict=True) if exc is not None]

    def _task_infos(self, action: Launch | PrepareLaunch) -> list[dict[str, Any]]:
        infos = []
        for run in action.runs:
            job = self.jobs(run.job)
            if job is None:
                continue
            try:
                infos.append(task_info(job, run, action.agent_id))
            except Exception as exc:  # one job's task must not stop the offer's others
                log.error("cannot describe task %s to Mesos: %r; left out of the launch", run.task_id, exc)
                if self.on_fault is not None:
                    self.on_fault(run.job, f"its task could not be described to Mesos: {type(exc).__name__}: {exc}")
        return infos


def _master(info: Mapping[str, Any]) -> str:
    addr = info.get("address") or {}
    host = addr.get("hostname") or addr.get("ip") or info.get("hostname") or "?"
    return f"{host}:{addr.get('port') or info.get('port') or '?'}"
