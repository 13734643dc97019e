"""One ``moroccron serve`` process: its leadership, its scheduler while it leads, its stop.

Leadership comes from ZooKeeper (``--zk``, :class:`moroccron.ha.Leadership`) or, without
it, from a lease in the database (:class:`moroccron.lease.DatabaseLease`). Either way an
instance contends only once everything that can fail at start-up has succeeded (the
port is bound, the schema migrated, job modules applied, plugins started: see
``serve``), and a standby serves the API while it waits.

When the leadership is lost (another leader, a session or lease that could not be kept)
the scheduler stops launching at once and the process exits with status 1 for its
supervisor to restart it: nothing of the old leadership survives in the process.

A stop (SIGTERM, SIGINT) goes in the order a hand-over needs: no new work; the step in
progress finished and committed; the Mesos connection closed, the framework kept; the
leadership released at once (the election node deleted, the lease ended), so a standby
takes over within a second; the outbox flushed for a few seconds; exit status 0.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager

__all__ = ["EXIT_DEADLINE", "OUTBOX_FLUSH_SECONDS", "STOP_DEADLINE", "Instance"]

log = logging.getLogger("moroccron.service")

EXIT_DEADLINE = 10.0
"""Seconds a deposed leader gets to shut down cleanly before it exits regardless."""

STOP_DEADLINE = 25.0
"""Seconds a stop may take before the process exits regardless (systemd's TimeoutStopSec is 30)."""

OUTBOX_FLUSH_SECONDS = 5.0
"""Seconds a stopping leader spends delivering the notifications that are due, at most."""

LEAVE_TIMEOUT = 3.0
"""Seconds to wait for ZooKeeper or the database when giving up the leadership: when they
cannot be reached (often why a leader steps down), the session or lease expires by itself."""


class Instance:
    """Contends for leadership, runs the scheduler while leading, and stops in order.

    :param context: the API's context: its ``scheduler`` and ``leadership`` are set here.
    :param server: the HTTP server (its ``should_exit`` is set to end ``serve``).
    """

    def __init__(
        self, settings: Settings, store: Any, plugins: PluginManager, context: Any, server: Any, *, instance_id: str
    ) -> None:
        self.settings = settings
        self.store = store
        self.plugins = plugins
        self.context = context
        self.server = server
        self.instance_id = instance_id
        self.outcome = 0  # the process's exit status: 1 once the leadership was lost
        self.scheduler: Any = None
        self._lost_reason: str | None = None
        self._lock = threading.Lock()  # a take-over and a stop never interleave
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._stop_claimed = False
        self._stop_claim = threading.Lock()
        self.leadership: Any
        if settings.zk:
            from moroccron.ha import Leadership

            self.leadership = Leadership(
                settings.zk,
                settings.bind,
                instance_id,
                on_elected=self._become_leader,
                on_lost=self._lost,
                session_timeout=settings.zk_session_timeout,
            )
        else:
            from moroccron.lease import DatabaseLease

            self.leadership = DatabaseLease(
                store,
                settings.bind,
                instance_id,
                on_elected=self._become_leader,
                on_lost=self._lost,
                lease_seconds=settings.lease_seconds,
                renew_seconds=settings.lease_renew_seconds,
            )
        context.leadership = self.leadership

    def start(self) -> None:
        """Start contending (returns at once; ZooKeeper must be reachable)."""
        self.leadership.start()
        # str() of a zk:// URL hides its credentials
        log.info("contending for leadership through %s", getattr(self.leadership, "url", self.leadership))

    # ------------------------------------------------------------------ leadership

    def _become_leader(self) -> None:
        from moroccron.service import Scheduler

        with self._lock:
            if self._stopping.is_set():
                raise RuntimeError("this instance is stopping")
            scheduler = Scheduler(
                self.settings,
                self.store,
                self.plugins,
                instance_id=self.instance_id,
                on_fenced=self._lost,
                leadership=self.leadership,
                epoch=getattr(self.leadership, "epoch", None) if self._by_lease else None,
            )
            try:
                scheduler.start()
            except BaseException:
                scheduler.fence("take-over failed")  # nothing it started may launch
                raise
            self.scheduler = scheduler
            if self._lost_reason is not None:  # lost while it was starting: it must not launch
                scheduler.fence(self._lost_reason)
                return
            self.context.metrics = scheduler.metrics
            self.context.scheduler = scheduler

    @property
    def _by_lease(self) -> bool:
        return bool(getattr(self.leadership, "in_database", False))

    def _lost(self, reason: str) -> None:
        """The leadership ended under this instance: stop launching now, exit 1 (any thread)."""
        self._lost_reason = reason
        scheduler = self.scheduler
        if scheduler is not None:
            scheduler.fence(reason)
        if self._stopping.is_set():
            return  # a stop is under way; it ends the process
        self.outcome = 1
        self.server.should_exit = True
        # Stepping down must not hang on anything (a ZooKeeper that cannot be reached,
        # a slow client connection): its supervisor restarts it as a clean standby.
        watchdog = threading.Timer(
            EXIT_DEADLINE, _exit_now, args=(f"still running {EXIT_DEADLINE:g} s after losing leadership ({reason})",)
        )
        watchdog.daemon = True
        watchdog.start()

    # ------------------------------------------------------------------ stopping

    def stop(self, why: str) -> None:
        """Stop in order (see the module docstring). Idempotent: a second caller waits
        for the first caller's stop to end."""
        with self._stop_claim:
            first, self._stop_claimed = not self._stop_claimed, True
        if not first:
            self._stopped.wait(STOP_DEADLINE)
            return
        self._stopping.set()
        self.server.should_exit = True
        began = time.monotonic()
        watchdog = threading.Timer(STOP_DEADLINE, _exit_now, args=(f"the stop took over {STOP_DEADLINE:g} s",))
        watchdog.daemon = True
        watchdog.start()
        try:
            with self._lock:  # a take-over under way finishes first, and is stopped with the rest
                scheduler = self.scheduler
                self.context.scheduler = None  # from here the API sends writes to the next leader
            if scheduler is not None:
                log.info("stopping (%s): no new work; finishing the step in progress", why)
                fenced = scheduler.fenced
                scheduler.stop(
                    release=lambda: self._release(scheduler.epoch), flush_outbox=0.0 if fenced else OUTBOX_FLUSH_SECONDS
                )
            else:
                log.info("stopping (%s)", why)
                self._release(None)
            log.info(
                "stopped in %.2f s%s",
                time.monotonic() - began,
                "" if self.outcome else "; the Mesos framework and its tasks carry on",
            )
        finally:
            watchdog.cancel()
            self._stopped.set()

    def _release(self, epoch: int | None) -> None:
        """Give up the leadership now: a standby takes over without waiting for an expiry."""
        began = time.monotonic()

        def leave() -> None:
            self.leadership.stop()  # ZooKeeper: the election node goes with the session; lease: ended
            if epoch is not None and not self._by_lease:
                from moroccron.store.lease import end_leadership

                try:
                    end_leadership(self.store, self.instance_id, epoch)
                except Exception as exc:
                    log.warning("could not clear the leader's record in the database: %s", exc)

        leaving = threading.Thread(target=leave, daemon=True, name="moroccron-leave")
        leaving.start()
        leaving.join(timeout=LEAVE_TIMEOUT)
        if epoch is not None:
            log.info("leadership released (epoch %d) in %.2f s", epoch, time.monotonic() - began)


def _exit_now(reason: str) -> None:
    log.critical("%s; exiting now", reason)
    logging.shutdown()
    os._exit(1)
