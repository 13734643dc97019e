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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
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
from moroccron.mesos.messages import encode_accept
from moroccron.mesos.resources import PoolLedger, offer_pools, unreserved_resources
from moroccron.mesos.task_env import task_environment
from moroccron.model import JobSpec, Resources, Run, Volume, parse_task_id

__all__ = ["FrameworkAdapter", "framework_info", "kill_policy", "offer_from_json", "status_from_json", "task_info"]

log = logging.getLogger("moroccron.mesos.framework")

DEFAULT_FAILOVER_TIMEOUT = 604800.0
LAUNCH_FILTERS = {"refuse_seconds": 1.0}  # what an ACCEPT leaves unused comes back soon
PREPARED_TTL = 60.0  # seconds a prepared ACCEPT body is kept if its Launch never comes
OFFER_TTL = 900.0  # seconds an offer's pools are kept if it is never launched on, declined or rescinded
CAPABILITY_CHECK_SECONDS = 10.0  # how often the jobs are looked at for a capability they need (GPUs)
# PARTITION_AWARE: a partitioned agent's tasks are TASK_UNREACHABLE (they may come back)
# and a removed one's TASK_GONE, instead of one ambiguous TASK_LOST.
BASE_CAPABILITIES: tuple[str, ...] = ("MULTI_ROLE", "PARTITION_AWARE")
"""Registered always. MULTI_ROLE: offers say which role they are for, and ``roles`` is a list."""


def framework_info(
    *,
    name: str = "moroccron",
    role: str = "*",
    roles: Sequence[str] | None = None,
    user: str = "root",
    principal: str | None = None,
    failover_timeout: float = DEFAULT_FAILOVER_TIMEOUT,
    framework_id: str | None = None,
    hostname: str | None = None,
    webui_url: str | None = None,
    gpus: bool = False,
    capabilities: Sequence[str] = (),
) -> dict[str, Any]:
    """FrameworkInfo: checkpointed, with a failover timeout so tasks outlive a scheduler restart.

    :param roles: every role the framework takes offers for (MULTI_ROLE); ``[role]`` if None.
    :param user: the Unix user tasks run as unless a job names its own (``CommandInfo.user``).
        The master keeps the user a framework first registered with.
    :param gpus: register GPU_RESOURCES: without it a master offers no agent that has GPUs.
    :param capabilities: more capability names to register.
    """
    wanted = [*BASE_CAPABILITIES, *(["GPU_RESOURCES"] if gpus else []), *capabilities]
    info: dict[str, Any] = {
        "user": user,
        "name": name,
        "failover_timeout": float(failover_timeout),
        "checkpoint": True,
        "roles": list(dict.fromkeys(roles or [role])),  # the master refuses a role listed twice
        "capabilities": [{"type": c} for c in dict.fromkeys(wanted)],
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


def has_capability(info: Mapping[str, Any], capability: str) -> bool:
    return any(c.get("type") == capability for c in info.get("capabilities") or ())


def _arguments(job: JobSpec, run: Run) -> list[str]:
    if run.argument_line is not None:  # a shell job's argument string: see _command
        if job.shell:
            return []
        try:  # the job stopped being a shell job since: its words, as a shell would split them
            return shlex.split(run.argument_line)
        except ValueError:
            return run.argument_line.split()
    return list(run.arguments) if run.arguments is not None else list(job.arguments)


def _command(job: JobSpec, run: Run) -> dict[str, Any]:
    """CommandInfo, shaped for the containerizer that will read it.

    - ``shell: true``: the command and its arguments (quoted, as Chronos did) as one
      shell command line, the ``value``, run with ``/bin/sh -c`` by both containerizers
      (Docker's entrypoint is replaced by the shell);
    - ``shell: false`` with a command, Mesos containerizer: ``value`` is the program and
      ``arguments`` its whole argv, argv[0] included (it is exec'd as given);
    - ``shell: false`` with a command, Docker: ``docker run IMAGE VALUE ARGUMENTS...``, so
      ``arguments`` must not repeat the program;
    - no command (an image-only job): no ``value``; the image's entrypoint runs, with the
      arguments after it (both containerizers append them to the entrypoint).
    """
    args = _arguments(job, run)
    docker = job.container is not None and job.container.type == "docker"
    cmd: dict[str, Any] = {"shell": job.shell}
    if job.shell:
        if not job.command:
            raise ValueError("shell is true but there is no command: the agent would refuse the task")
        cmd["value"] = job.command + ("".join(" " + shlex.quote(a) for a in args) if args else "")
        if run.argument_line is not None:  # as Chronos did: command, a space, the string as given
            cmd["value"] += " " + run.argument_line
    elif job.command:
        cmd["value"] = job.command
        cmd["arguments"] = args if docker else [job.command, *args]
    elif args:
        cmd["arguments"] = args
    env = task_environment(job, run)
    cmd["environment"] = {"variables": [{"name": k, "type": "VALUE", "value": v} for k, v in sorted(env.items())]}
    uris = _uris(job)
    if uris:
        cmd["uris"] = uris
    if job.user:
        cmd["user"] = job.user
    return cmd


def _uris(job: JobSpec) -> list[dict[str, Any]]:
    """CommandInfo.URIs: the ``fetch`` entries with their flags, then the plain ``uris``
    (archives by file name extracted) that no fetch entry already names, as Chronos sent
    its ``fetch`` before its ``uris``."""
    out = []
    for f in job.fetch:
        uri: dict[str, Any] = {"value": f.uri, "extract": f.extract, "executable": f.executable, "cache": f.cache}
        if f.output_file is not None:
            uri["output_file"] = f.output_file
        out.append(uri)
    fetched = {f.uri for f in job.fetch}
    out += [
        {"value": u, "extract": u.endswith((".tgz", ".tar.gz", ".zip", ".tar")), "executable": False, "cache": False}
        for u in job.uris
        if u not in fetched
    ]
    return out


def _docker_image(name: str, *, cached: bool | None = None) -> dict[str, Any]:
    image: dict[str, Any] = {"type": "DOCKER", "docker": {"name": name}}
    if cached is not None:
        image["cached"] = cached
    return image


def _volume(v: Volume, where: str) -> dict[str, Any]:
    kinds = v.kinds()
    if len(kinds) != 1:  # a volume stored by an older version that allowed it
        raise ValueError(
            f"{where} has {' and '.join(kinds) or 'none'} of host_path, image and source: "
            "the master requires exactly one"
        )
    out: dict[str, Any] = {"container_path": v.container_path, "mode": v.mode}
    if v.host_path is not None:
        out["host_path"] = v.host_path
    elif v.image is not None:
        out["image"] = _docker_image(v.image)
    elif v.source is not None:
        src = v.source
        if src.type == "docker_volume":
            docker_volume: dict[str, Any] = {"name": src.name}
            if src.driver:
                docker_volume["driver"] = src.driver
            if src.driver_options:
                docker_volume["driver_options"] = {
                    "parameter": [{"key": k, "value": val} for k, val in src.driver_options.items()]
                }
            out["source"] = {"type": "DOCKER_VOLUME", "docker_volume": docker_volume}
        elif src.type == "host_path":
            out["source"] = {"type": "HOST_PATH", "host_path": {"path": src.path}}
        else:
            out["source"] = {"type": "SANDBOX_PATH", "sandbox_path": {"type": "SELF", "path": src.path}}
    return out


def _container(job: JobSpec) -> dict[str, Any] | None:
    c = job.container
    if c is None:
        return None
    info: dict[str, Any] = {
        "type": c.type.upper(),
        "volumes": [_volume(v, f"container.volumes[{i}]") for i, v in enumerate(c.volumes)],
    }
    mode, network_name = c.network_mode
    networks: list[dict[str, Any]] = (
        [{"name": network_name}] if network_name is not None else []
    )  # a Docker or a CNI network
    # then the others (Chronos's networkInfos): their labels reach the network's plugin
    networks += [
        {
            "name": n.name,
            **({"labels": {"labels": [{"key": k, "value": v} for k, v in n.labels.items()]}} if n.labels else {}),
        }
        for n in c.network_infos
    ]
    if networks:
        info["network_infos"] = networks
    if c.type == "docker":
        docker: dict[str, Any] = {"image": c.image, "force_pull_image": c.force_pull}
        if c.network is not None:
            docker["network"] = mode
        elif c.network_infos:  # the one user-defined network is named there (the model allows one)
            docker["network"] = "USER"
        if c.parameters:
            if any(p.key == "name" for p in c.parameters):
                raise ValueError("container.parameters has the key 'name', which the master refuses")
            docker["parameters"] = [{"key": p.key, "value": p.value} for p in c.parameters]
        info["docker"] = docker
    elif c.image:
        # cached=false makes the agent pull the image again rather than use its copy
        info["mesos"] = {"image": _docker_image(c.image, cached=not c.force_pull)}
    return info


def kill_policy(job: JobSpec | None) -> dict[str, Any] | None:
    """KillPolicy: the time between SIGTERM and SIGKILL when the task is killed."""
    if job is None:
        return None
    return {"grace_period": {"nanoseconds": round(job.kill_grace_seconds * 1e9)}}


def task_info(job: JobSpec, run: Run, agent_id: str, pools: PoolLedger | None = None) -> dict[str, Any]:
    """The TaskInfo that runs ``run`` of ``job`` on ``agent_id``.

    :param pools: what is left of the offer the task goes on: its resources are drawn
        from there, naming the reservations they were offered under. Without it the task
        asks for unreserved resources.
    :raises ValueError: for a job stored by an older version in a shape the master
        refuses (the task is left out of its launch and the job set aside).
    """
    if job.resources.gpus and not float(job.resources.gpus).is_integer():
        raise ValueError(f"resources.gpus is {job.resources.gpus:g}: the master only gives whole GPUs")
    info: dict[str, Any] = {
        "name": f"moroccron:{job.name}",
        "task_id": {"value": run.task_id},
        "agent_id": {"value": agent_id},
        "resources": pools.take(job.resources) if pools is not None else unreserved_resources(job.resources),
        "command": _command(job, run),
        "kill_policy": kill_policy(job),
        "labels": {
            "labels": [
                {"key": "moroccron.job", "value": job.name},
                {"key": "moroccron.scheduled_at", "value": run.scheduled_at.isoformat()},
                {"key": "moroccron.attempt", "value": str(run.attempt)},
                *({"key": k, "value": v} for k, v in sorted(job.labels.items())),
            ]
        },
    }
    container = _container(job)
    if container is not None:
        info["container"] = container
    return info


def offer_from_json(offer: Mapping[str, Any], default_role: str = "*") -> Offer:
    """Reduce a Mesos Offer to what packing needs: plain scalars by reservation, attributes, role.

    :param default_role: the framework's default role: jobs without a role of their own
        run on its offers.
    """
    pools = offer_pools(offer.get("resources", ()))
    attributes: dict[str, str | float] = {}
    for attr in offer.get("attributes", ()):
        kind = attr.get("type")
        if kind == "TEXT":
            attributes[attr["name"]] = attr.get("text", {}).get("value", "")
        elif kind == "SCALAR":
            attributes[attr["name"]] = float(attr.get("scalar", {}).get("value", 0.0))
        elif kind == "SET":
            attributes[attr["name"]] = ",".join(attr.get("set", {}).get("item", []))
    allocated = (offer.get("allocation_info") or {}).get("role")
    role = allocated if isinstance(allocated, str) and allocated else default_role
    totals = sum((p.resources for p in pools), Resources.unchecked())
    down_from, down_for = _unavailability(offer.get("unavailability"))
    return Offer(
        id=offer["id"]["value"],
        agent_id=offer["agent_id"]["value"],
        hostname=_text(offer.get("hostname", "")) or "",
        resources=totals,
        attributes=attributes,
        framework_id=offer.get("framework_id", {}).get("value"),
        pools=pools,
        role=role,
        default_role=role == default_role,
        unavailable_from=down_from,
        unavailable_for=down_for,
    )


def _unavailability(value: Any) -> tuple[datetime | None, float | None]:
    """An offer's maintenance window (``Unavailability``: start, optional duration, in nanoseconds)."""
    if not isinstance(value, Mapping) or not isinstance(value.get("start"), Mapping):
        return None, None
    start = datetime.fromtimestamp(int(value["start"].get("nanoseconds", 0)) / 1e9, UTC)
    duration = value.get("duration")
    seconds = int(duration.get("nanoseconds", 0)) / 1e9 if isinstance(duration, Mapping) else None
    return start, seconds


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
    :param default_role: the framework's default role, whose offers jobs without a role use.
    :param wants_gpus: True when some job asks for GPUs; looked at now and then (as
        offers arrive, on the event thread, and before a REVIVE, on the engine's) to
        register GPU_RESOURCES with the master once one does. Must be safe to call from
        either thread.
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        on_framework_id: Callable[[str], None],
        jobs: Callable[[str], JobSpec | None],
        on_fault: Callable[[str, str], None] | None = None,
        on_removed: Callable[[str, str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        *,
        default_role: str = "*",
        wants_gpus: Callable[[], bool] | None = None,
    ) -> None:
        self.emit = emit
        self.on_framework_id = on_framework_id
        self.jobs = jobs
        self.on_fault = on_fault
        self.on_removed = on_removed
        self.on_error = on_error
        self.default_role = default_role
        self.wants_gpus = wants_gpus
        self.client: Any = None
        self.framework_id: str | None = None
        self.replacing: tuple[str, str] | None = None  # (removed FrameworkID, why) until a new one registers
        # offer id -> (task ids, ACCEPT body, when built): launches prepared ahead of their second
        self._prepared: dict[str, tuple[tuple[str, ...], bytes, float]] = {}
        # offer id -> (offer, when received): its pools, for the resources of the tasks launched on it.
        # Written on the event thread, read and emptied on the engine's.
        self._offers: dict[str, tuple[Offer, float]] = {}
        self._offers_lock = threading.Lock()
        self._offers_pruned = time.monotonic()
        self._capabilities_checked = 0.0

    # -- callbacks (pymesos vocabulary) ---------------------------------------

    def registered(self, client: Any, framework_id: str, master_info: Mapping[str, Any]) -> None:
        log.info("registered with master %s as framework %s", _master(master_info), framework_id)
        if self.replacing is not None:
            removed, message = self.replacing
            self.replacing = None
            # The decision, once, where operators look: both ids, and what became of the runs.
            log.error(
                "the Mesos master removed framework %s (%s); registered framework %s in its place and "
                "scheduling goes on: the runs %s had launched were recorded LOST and are retried as their "
                "jobs allow",
                removed,
                message,
                framework_id,
                removed,
            )
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
        with self._offers_lock:
            self._offers.clear()  # offers die with the subscription
        self.emit(Disconnected())

    def resourceOffers(self, client: Any, offers: Sequence[Mapping[str, Any]]) -> None:  # noqa: N802
        parsed = []
        for o in offers:
            try:
                parsed.append(offer_from_json(o, self.default_role))
            except (KeyError, TypeError, ValueError) as exc:
                log.error("ignoring malformed offer %r: %s", o.get("id"), exc)
        if parsed:
            self._remember(parsed)
            self.emit(OffersReceived(tuple(parsed)))
        self.check_capabilities()  # a job may be waiting for an agent the master does not offer us

    def offerRescinded(self, client: Any, offer_id: str) -> None:  # noqa: N802
        self._forget([offer_id])
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
            self._prepared[action.offer_id] = (
                tuple(r.task_id for r in action.runs),
                encode_accept([action.offer_id], self._task_infos(action), LAUNCH_FILTERS),
                now,
            )
        elif isinstance(action, Decline):
            for offer_id in action.offer_ids:
                self._prepared.pop(offer_id, None)
            self._forget(action.offer_ids)
            c.decline(list(action.offer_ids), refuse_seconds=action.refuse_seconds)
        elif isinstance(action, Kill):
            log.info("killing task %s: %s", action.task_id, action.reason)
            c.kill(action.task_id, action.agent_id, kill_policy=self._kill_policy(action.task_id))
        elif isinstance(action, Acknowledge):
            c.acknowledge(action.agent_id, action.task_id, action.uuid)
        elif isinstance(action, Reconcile):
            c.reconcile(list(action.tasks))
        elif isinstance(action, Revive):
            self.check_capabilities()
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
        self._forget([action.offer_id for action in launches])
        errors = self.client.accept_encoded_many(bodies)
        return [(action, exc) for action, exc in zip(launches, errors, strict=True) if exc is not None]

    def _task_infos(self, action: Launch | PrepareLaunch) -> list[dict[str, Any]]:
        infos = []
        with self._offers_lock:
            known = self._offers.get(action.offer_id)
        if known is None:
            log.debug("offer %s is not known (any more): its tasks ask for unreserved resources", action.offer_id)
        pools = PoolLedger(known[0]) if known is not None else None
        for run in action.runs:
            job = self.jobs(run.job)
            if job is None:
                continue
            try:
                infos.append(task_info(job, run, action.agent_id, pools))
            except Exception as exc:  # one job's task must not stop the offer's others
                log.error("cannot describe task %s to Mesos: %r; left out of the launch", run.task_id, exc)
                if self.on_fault is not None:
                    self.on_fault(run.job, f"its task could not be described to Mesos: {type(exc).__name__}: {exc}")
        return infos

    # -- offers' pools, kill policies, capabilities ---------------------------

    def _remember(self, offers: Sequence[Offer]) -> None:
        now = time.monotonic()
        with self._offers_lock:
            for offer in offers:
                self._offers[offer.id] = (offer, now)
            if now - self._offers_pruned > OFFER_TTL / 10:  # offers the engine never answered for
                self._offers_pruned = now
                for offer_id in [o for o, (_, at) in self._offers.items() if now - at > OFFER_TTL]:
                    del self._offers[offer_id]

    def _forget(self, offer_ids: Sequence[str]) -> None:
        with self._offers_lock:
            for offer_id in offer_ids:
                self._offers.pop(offer_id, None)

    def _kill_policy(self, task_id: str) -> dict[str, Any] | None:
        """The kill policy of the task's job as it is now (it may have changed since the launch)."""
        try:
            name = parse_task_id(task_id)[0]
        except ValueError:
            return None
        return kill_policy(self.jobs(name))

    def check_capabilities(self, *, force: bool = False) -> None:
        """Register GPU_RESOURCES with the master once a job asks for GPUs (at most every few seconds).

        Without it a master offers no agent that has GPUs, and the job would wait forever.
        """
        client = self.client
        now = time.monotonic()
        if (
            self.wants_gpus is None
            or client is None
            or (not force and now - self._capabilities_checked < CAPABILITY_CHECK_SECONDS)
        ):
            return
        self._capabilities_checked = now
        info = client.framework_info
        if has_capability(info, "GPU_RESOURCES") or not self.wants_gpus():
            return
        log.info("a job asks for GPUs: registering the GPU_RESOURCES capability, so agents with GPUs are offered")
        client.update_framework_info(
            {**info, "capabilities": [*info.get("capabilities", ()), {"type": "GPU_RESOURCES"}]}
        )


def _master(info: Mapping[str, Any]) -> str:
    addr = info.get("address") or {}
    host = addr.get("hostname") or addr.get("ip") or info.get("hostname") or "?"
    return f"{host}:{addr.get('port') or info.get('port') or '?'}"
