"""Plain, frozen structures passed to and returned from hooks.

They hold data only: no I/O, no references to the scheduler. Mappings are made
read-only and sequences become tuples when a value is built, so a plugin cannot change
what other plugins (or the scheduler) see.

:class:`SubtreeNode` is the one from :mod:`moroccron.dag`, and :class:`NotifyChannel` the one
from :mod:`moroccron.channels`, re-exported here so a plugin finds every hook argument and
result type in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from moroccron import channels
from moroccron.channels import NotifyChannel
from moroccron.dag import SubtreeNode
from moroccron.errors import ValidationError
from moroccron.model import FRAMEWORK_EVENT, NOTIFY_EVENTS, JobSpec, Resources, Run

__all__ = [
    "DeliveryResult",
    "NotifyChannel",
    "NotifyTarget",
    "Notification",
    "Offer",
    "PackingPlan",
    "PendingTask",
    "ResourcePool",
    "SubtreeNode",
]


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


# --------------------------------------------------------------------------- offers


@dataclass(frozen=True, slots=True)
class ResourcePool:
    """The scalar resources of an offer that share one reservation (or none).

    The master counts reserved and unreserved resources apart: a task asking for
    unreserved cpus where only reserved ones were offered fails with "more than
    available". A task may draw on several pools of its offer; each part it takes names
    its pool's reservation exactly as offered.

    :ivar reserved_for: the role the resources are reserved for; ``"*"``: unreserved.
    :ivar resources: cpus, mem, disk and gpus of this pool.
    :ivar identity: the fields that tell the master which resources these are (``role``,
        ``reservation`` or ``reservations``, ``allocation_info``), as offered, to be sent
        back unchanged with a task that uses them.
    """

    reserved_for: str
    resources: Resources
    identity: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "identity", _frozen_map(self.identity))

    @property
    def reserved(self) -> bool:
        return self.reserved_for != "*"


@dataclass(frozen=True, slots=True)
class Offer:
    """A Mesos resource offer, reduced to what placement needs.

    :ivar id: the offer id, as the master sent it.
    :ivar agent_id: the agent the resources are on.
    :ivar hostname: the agent's hostname (constraints may name ``hostname``).
    :ivar resources: the scalar resources a task may use, every pool together (what
        packing fits tasks into: a task may draw on several pools).
    :ivar attributes: the agent's attributes (text or scalar), for constraints.
    :ivar framework_id: the framework the offer was made to, when known.
    :ivar unavailable_from: when the agent is scheduled to go down for maintenance (the
        offer's ``unavailability.start``), if it is.
    :ivar unavailable_for: how long it will be down, in seconds; None: indefinitely.
    :ivar pools: ``resources`` by reservation (see :class:`ResourcePool`); empty: all
        unreserved.
    :ivar role: the role the offer is allocated to (``allocation_info.role``): a job whose
        ``role`` is set runs only on offers of that role.
    :ivar default_role: the offer's role is the framework's default role (the ``role``
        setting), whose offers jobs without a ``role`` of their own use.
    """

    id: str
    agent_id: str
    hostname: str
    resources: Resources
    attributes: Mapping[str, str | float] = field(default_factory=dict)
    framework_id: str | None = None
    unavailable_from: datetime | None = None
    unavailable_for: float | None = None
    pools: tuple[ResourcePool, ...] = ()
    role: str = "*"
    default_role: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", _frozen_map(self.attributes))
        object.__setattr__(self, "pools", tuple(self.pools))

    def resource_pools(self) -> tuple[ResourcePool, ...]:
        """``pools``, or one unreserved pool of ``resources`` for an offer built without them."""
        return self.pools or (ResourcePool("*", self.resources),)

    def serves(self, job_role: str | None) -> bool:
        """May a job with role ``job_role`` (None: the framework's default) run on this offer?"""
        return self.default_role if job_role is None else job_role == self.role


@dataclass(frozen=True, slots=True)
class PendingTask:
    """A queued run waiting for an offer.

    Constraints, container and everything else about placement come from the job:
    ``jobs[task.job].constraints`` in :func:`~moroccron.hooks.spec.moroccron_pack_offers`.

    :ivar run: the run to launch; ``run.task_id`` is the task's identity.
    :ivar resources: what the task needs. Usually the job's ``resources``; may differ
        when the run was queued before the job was changed.
    """

    run: Run
    resources: Resources

    @property
    def task_id(self) -> str:
        return self.run.task_id

    @property
    def job(self) -> str:
        return self.run.job


@dataclass(frozen=True, slots=True)
class PackingPlan:
    """Which pending tasks go on which offer.

    :ivar assignments: offer id -> task ids to launch on that offer, in launch order.
        Offers not named here are declined.
    :ivar unplaced: task ids the strategy could not place this round. Tasks the plan
        leaves out of both are treated as unplaced too.
    """

    assignments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unplaced: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "assignments", MappingProxyType({k: tuple(v) for k, v in self.assignments.items()}))
        object.__setattr__(self, "unplaced", tuple(self.unplaced))

    def placed(self) -> dict[str, str]:
        """task id -> offer id, for every task the plan places."""
        return {task: offer for offer, tasks in self.assignments.items() for task in tasks}


# --------------------------------------------------------------------------- notifications


@dataclass(frozen=True, slots=True)
class NotifyTarget:
    """One place to deliver a notification: ``channel`` is a registered channel
    (:func:`~moroccron.hooks.spec.moroccron_notify_channels`: email, webhook, and those of
    the plugins, such as slack and pagerduty).

    Written ``channel:address`` in job definitions (``slack:#etl``, ``email:ops@example.com``).
    """

    channel: str
    address: str

    @classmethod
    def parse(cls, text: str) -> NotifyTarget:
        """``channel:address``. The channel must be well formed, not registered: a job read
        back from the database may name a channel whose plugin was uninstalled since (its
        messages are then recorded as undelivered). New definitions are checked against the
        registered channels where they are built (:func:`moroccron.model.notify_target_problem`).
        """
        channel, sep, address = text.partition(":")
        if not sep or not channels.CHANNEL_NAME_RE.fullmatch(channel) or not address:
            raise ValidationError.single(
                "target",
                "is not a notification target",
                text,
                " | ".join(c.placeholder for c in channels.registered().values()),
            )
        return cls(channel, address)

    def __str__(self) -> str:
        return f"{self.channel}:{self.address}"


@dataclass(frozen=True, slots=True)
class Notification:
    """A message about a run, rendered and addressed, ready to deliver.

    :ivar event: what happened: one of ``failure``, ``recovery``, ``success``,
        ``skipped``, ``disabled``; or ``framework``, a problem with the Mesos framework
        itself, sent to the ``admin_contacts`` setting.
    :ivar job: the job the message is about. For ``framework`` messages, a stand-in job
        named ``<framework_name>-framework`` with no command, whose ``notify.on_failure``
        lists the admin contacts.
    :ivar run: the run that caused it; None for events about the job itself (``disabled``).
    :ivar targets: where to deliver it, already filtered by owners' preferences and mutes.
    :ivar subject: a one-line summary (email subject, chat message title).
    :ivar text: the plain-text body.
    :ivar html: the HTML body, when one was rendered.
    :ivar details: structured facts for notifiers that build their own payloads
        (PagerDuty custom details, Slack blocks): task id, exit status, agent,
        pending subtree and so on. Keys are stable; values are JSON-compatible.
    """

    event: str
    job: JobSpec
    run: Run | None
    targets: tuple[NotifyTarget, ...]
    subject: str
    text: str
    html: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.event not in NOTIFY_EVENTS and self.event != FRAMEWORK_EVENT:
            raise ValidationError.single(
                "event", "unknown notification event", self.event, " | ".join((*NOTIFY_EVENTS, FRAMEWORK_EVENT))
            )
        object.__setattr__(self, "targets", tuple(self.targets))
        object.__setattr__(self, "details", _frozen_map(self.details))

    def targets_for(self, channel: str) -> tuple[NotifyTarget, ...]:
        """The targets on ``channel``: what a notifier for that channel should deliver."""
        return tuple(t for t in self.targets if t.channel == channel)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What happened to one target of a notification.

    :ivar target: the target, as it appeared in :attr:`Notification.targets`.
    :ivar ok: True when the channel accepted the message.
    :ivar detail: why it failed, or a receipt (message id, incident key); free text.
    """

    target: NotifyTarget
    ok: bool
    detail: str = ""
