"""Readiness: can this instance do its job right now, and if not, why not.

``/healthz`` is liveness: the process answers HTTP. Restart an instance that does not.
``/readyz`` is readiness, answered from what this module finds:

- a **leader** is ready when it is subscribed to a Mesos master, its framework has no
  error (not refused, not being replaced after a removal), its last scheduler step
  succeeded within ``ready_step_seconds``, and the database answers and still names it
  leader;
- a **standby** is ready when it can take over: the database answers and, with ``--zk``,
  its ZooKeeper session is connected.

Every reason is one sentence an operator can act on. They are shown without credentials
(``/readyz`` is public, like ``/healthz``), so they carry no credential and nothing about
the database but the type of its error (its URL may hold a password): the log and
``/api/v1/status`` have the details. A refusal quotes the Mesos master's message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["Readiness", "check"]

log = logging.getLogger("moroccron.readiness")


@dataclass(frozen=True, slots=True)
class Readiness:
    """``role`` is ``leader`` or ``standby``; ready when there is no reason against it."""

    role: str
    reasons: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "role": self.role, "reasons": list(self.reasons)}


def check(scheduler: Any, store: Any, leadership: Any = None) -> Readiness:
    """Readiness of this instance: ``scheduler`` is its :class:`moroccron.service.Scheduler`
    (None on a standby), ``leadership`` its :class:`moroccron.ha.Leadership` or
    :class:`moroccron.lease.DatabaseLease` (None when run alone). Costs one small database query."""
    reasons: list[str] = []
    try:
        epoch: int | None = store.current_epoch()
    except Exception as exc:  # any failure to answer is the finding; the type says enough publicly
        log.warning("readiness: the database does not answer: %s", exc)
        reasons.append(f"the database does not answer ({type(exc).__name__})")
        epoch = None
    leading = scheduler is not None and not scheduler.fenced
    if leading:
        reasons.extend(scheduler.readiness())
        if epoch is not None and scheduler.epoch is not None and epoch > scheduler.epoch:
            reasons.append(f"another instance has taken the leadership (epoch {epoch}; this one had {scheduler.epoch})")
        return Readiness("leader", tuple(reasons))
    if scheduler is not None:
        reasons.append("this instance lost its leadership and is stopping")
    if leadership is not None and not leadership.connected:
        if getattr(leadership, "in_database", False):
            reasons.append("the leadership lease cannot be read: this instance could not take over")
        else:
            reasons.append("the ZooKeeper session is not connected: this instance could not take over")
    return Readiness("standby", tuple(reasons))
