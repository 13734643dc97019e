"""The Mesos framework's own troubles: removed by the master, or refused for good; and who is told.

The Mesos client recognises a framework the master removed (torn down by an operator, or
its failover timeout ran out) and registers a new one (:mod:`moroccron.mesos.client`); the
adapter steps :class:`~moroccron.events.FrameworkLost` into the engine, which records the
runs the old framework had launched as LOST and retries them as their jobs allow. This
module does the leader's part of the rest:

- it forgets the removed FrameworkID, in the database and in ZooKeeper, but only while it
  is still the one stored there (a newer leader may have stored its own meanwhile), so a
  restart never subscribes with a dead id again;
- it keeps what happened for ``/api/v1/status`` and ``/readyz``: the last removal (old and
  new FrameworkID, when, the master's message) and an error that stopped the framework
  for good (failed over to another scheduler, not authorised);
- it tells the ``admin_contacts`` through the notification outbox (event ``framework``),
  so the message is retried like any other and sent once whichever instance delivers it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from moroccron.bounds import NAME_MAX
from moroccron.config import Settings
from moroccron.errors import StaleEpoch
from moroccron.model import FRAMEWORK_EVENT, JobSpec, Notify
from moroccron.notify import payload_for

if TYPE_CHECKING:
    from moroccron.store.interfaces import FrameworkRecord

__all__ = ["FrameworkHealth", "framework_job"]

log = logging.getLogger("moroccron.framework")


def framework_job(settings: Settings) -> JobSpec:
    """The stand-in job a ``framework`` notification is about: notifiers expect one.

    Named after the framework, with a suffix so that it never shares a name (a PagerDuty
    incident, a mail thread) with a real job; its only targets are the admin contacts. It
    is never stored nor run: its command is there because every job has one.
    """
    base = re.sub(r"[^A-Za-z0-9_.\-]+", "-", settings.framework_name).strip("-.") or "moroccron"
    suffix = "-framework"
    return JobSpec(
        name=base[: NAME_MAX - len(suffix)] + suffix,
        command="true",
        description=f"the Mesos framework {settings.framework_name!r} that moroccron runs as",
        notify=Notify(on_failure=settings.admin_contacts),
    )


class FrameworkHealth:
    """The leader's record of framework trouble, and the notices about it.

    The ``removed``, ``registered`` and ``failed`` methods are called on the Mesos client's
    event thread; ``status`` and ``reasons`` from any thread.

    :param epoch: this leader's epoch (fences the writes of a deposed leader).
    :param wake: wakes the outbox worker once a notice is queued.
    """

    def __init__(
        self,
        settings: Settings,
        store: FrameworkRecord,
        *,
        epoch: Callable[[], int | None],
        clock: Callable[[], datetime],
        wake: Callable[[], None],
        leadership: Any = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.leadership = leadership
        self.epoch = epoch
        self.clock = clock
        self.wake = wake
        self._lock = threading.Lock()
        self._error: str | None = None
        self._removal: dict[str, Any] | None = None
        self._replacing = False

    # ------------------------------------------------------------------ events

    def removed(self, framework_id: str, message: str) -> None:
        """The master removed ``framework_id`` for good; a new framework is being registered."""
        with self._lock:
            self._removal = {
                "framework_id": framework_id,
                "message": message,
                "at": self.clock().isoformat(),
                "new_framework_id": None,
            }
            self._replacing = True
        self._forget(framework_id)
        self._tell(
            "removed",
            framework_id,
            message,
            f"The Mesos master removed framework {framework_id} ({message}). Every task it had is gone. "
            "moroccron recorded the runs that framework had launched as LOST (each is retried as its job "
            "allows), registers a new framework and goes on scheduling. The new FrameworkID is in "
            "/api/v1/status and in the log.",
        )

    def registered(self, framework_id: str) -> None:
        """A framework is subscribed: after a removal, the one that replaced it."""
        with self._lock:
            if self._replacing and self._removal is not None and framework_id != self._removal["framework_id"]:
                self._removal = {**self._removal, "new_framework_id": framework_id}
                self._replacing = False

    def failed(self, message: str) -> None:
        """The Mesos client stopped for good (an error other than a removal)."""
        with self._lock:
            self._error = message
        self._tell(
            "error",
            None,
            message,
            f"The Mesos master refused this scheduler: {message}. moroccron launches nothing until the "
            "cause is fixed (the master's roles, ACLs or authentication; or another scheduler subscribed "
            "with the same FrameworkID) and moroccron is restarted. /readyz answers 503 meanwhile.",
        )

    # ------------------------------------------------------------------ reading

    @property
    def error(self) -> str | None:
        return self._error

    def status(self) -> dict[str, Any]:
        """For ``/api/v1/status``: ``framework_error`` and the last ``framework_removed``."""
        with self._lock:
            return {
                "framework_error": self._error,
                "framework_removed": dict(self._removal) if self._removal is not None else None,
            }

    def reasons(self) -> list[str]:
        """Why the framework cannot be used now (empty: nothing known against it)."""
        with self._lock:
            if self._error is not None:
                return [f"the Mesos master refused the framework: {self._error}"]
            if self._replacing:
                return ["the Mesos master removed the framework; a new one is being registered"]
        return []

    # ------------------------------------------------------------------ doing

    def _forget(self, framework_id: str) -> None:
        """Clear each stored copy of the FrameworkID (database, ZooKeeper) that still names
        ``framework_id``; a copy naming another id was written since, and stays."""
        try:
            with self.store.unit_of_work() as uow:
                uow.check_epoch(self.epoch())
                if uow.get_framework_id() == framework_id:
                    uow.set_framework_id(None)
        except StaleEpoch:
            log.warning("not forgetting FrameworkID %s: this instance is no longer the leader", framework_id)
            return
        except Exception as exc:  # the new registration stores its own id over it anyway
            log.error(
                "could not forget the removed FrameworkID %s in the database (%s); if moroccron restarts "
                "before a new framework is registered, it is told again that it was removed",
                framework_id,
                exc,
            )
        if self.leadership is not None and self.leadership.framework_id() == framework_id:
            self.leadership.set_framework_id(None)

    def _tell(self, kind: str, framework_id: str | None, message: str, text: str) -> None:
        if not self.settings.admin_contacts:
            log.warning("no admin_contacts configured: nobody is notified that %s", text)
            return
        details = {
            "reason": text,
            "framework": {
                "kind": kind,
                "framework_id": framework_id,
                "message": message,
                "name": self.settings.framework_name,
            },
        }
        job = framework_job(self.settings)
        try:
            self.store.enqueue_notification(
                FRAMEWORK_EVENT, job.name, None, payload_for(job, None, details), now=self.clock(), epoch=self.epoch()
            )
        except StaleEpoch:
            log.info("not notifying the admin contacts: this instance is no longer the leader")
            return
        except Exception as exc:
            log.error("could not queue the notification to the admin contacts (%s): %s", exc, text)
            return
        self.wake()
