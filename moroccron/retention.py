"""Run retention: keep the newest ``run_retention`` runs of each job, delete the rest.

A minutely job writes half a million runs a year; without pruning, run listings,
statistics and the database itself grow without bound. :class:`Pruner` is a daemon
thread that calls :meth:`moroccron.store.Store.prune_runs` every
``prune_interval_seconds``. The store does the careful part (small batches, short
transactions, never an unfinished run, pauses on SQLite so the scheduler's writes get
the lock between batches); this module only decides when, and makes sure that a
failure, such as a database that is down for a minute, costs one pass and not the
thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moroccron.store.interfaces import RunPruner

__all__ = ["Pruner"]

log = logging.getLogger("moroccron.retention")


class Pruner:
    """Prunes old runs in the background, every ``interval`` seconds.

    :param store: the :class:`~moroccron.store.Store` (anything with ``prune_runs``).
    :param keep_per_job: runs kept per job (``Settings.run_retention``); unfinished
        runs are always kept on top of these.
    :param interval: seconds between passes (``Settings.prune_interval_seconds``),
        also the wait before the first pass, so that start-up (loading jobs,
        reconciling with Mesos) does not compete with a large first prune. 0 turns
        the thread off (:meth:`start` does nothing); :meth:`prune_now` still works.
    :param first_delay: seconds before the first pass, if not ``interval``.
    :param batch: rows deleted per transaction (see ``Store.prune_runs``).
    :param enabled: asked before each pass; a pass is skipped while it says False.
        Several instances may run at once: pass e.g. "am I the leader?" so that only
        one of them prunes (pruning twice is harmless, only wasted work).
    """

    def __init__(
        self,
        store: RunPruner,
        *,
        keep_per_job: int,
        interval: float,
        first_delay: float | None = None,
        batch: int = 500,
        enabled: Callable[[], bool] | None = None,
    ) -> None:
        if not isinstance(keep_per_job, int) or isinstance(keep_per_job, bool) or keep_per_job < 0:
            raise ValueError(f"keep_per_job must be an integer >= 0, got {keep_per_job!r}")
        if interval < 0:
            raise ValueError(f"interval must be >= 0 seconds (0: never), got {interval!r}")
        self.store = store
        self.keep_per_job = keep_per_job
        self.interval = float(interval)
        self.first_delay = self.interval if first_delay is None else max(0.0, float(first_delay))
        self.batch = batch
        self.enabled = enabled
        self.passes = 0
        """Passes the thread has been through, failed and skipped (not enabled) ones included."""
        self.pruned_total = 0
        """Runs deleted by this pruner, by the thread and by :meth:`prune_now`."""
        self.last_error: BaseException | None = None
        """What the latest pass of the thread failed with, or None if it succeeded."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one pass at a time (the thread and prune_now)
        self._passed = threading.Condition()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Pruner:
        """Start the thread (once; starting a running pruner does nothing)."""
        if not self.interval:
            log.info("run pruning is off (interval 0); %d runs per job would be kept", self.keep_per_job)
            return self
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="moroccron-pruner", daemon=True)
        self._thread.start()
        log.info("pruning runs beyond the newest %d per job every %gs", self.keep_per_job, self.interval)
        return self

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Stop the thread; return True if it has ended within ``timeout`` seconds.

        A pass in progress stops after its current batch (a batch is one short
        transaction), so this takes milliseconds, not a pass. Pruning stopped halfway
        is fine: the next pass, or the next process, picks up where it left off.
        """
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ pruning

    def prune_now(self) -> int:
        """Run one pass now, in the caller's thread; return how many runs were deleted.

        Unlike the thread, this lets errors through, so a caller (an admin command,
        a test) sees why a pass failed. Waits for a pass of the thread in progress.
        """
        with self._lock:
            started = time.monotonic()
            deleted = int(self.store.prune_runs(self.keep_per_job, batch=self.batch, cancelled=self._stop.is_set))
            self.pruned_total += deleted
        took = time.monotonic() - started
        if deleted:
            log.info("pruned %d runs beyond the newest %d per job in %.1fs", deleted, self.keep_per_job, took)
        else:
            log.debug("nothing to prune (%.2fs)", took)
        return deleted

    def wait_for_passes(self, passes: int, timeout: float) -> bool:
        """Block until the thread has attempted ``passes`` passes in all; False on timeout.

        For tests and for shutdown sequences that want one last pass to have happened.
        """
        with self._passed:
            return self._passed.wait_for(lambda: self.passes >= passes, timeout)

    def _run(self) -> None:
        delay = self.first_delay
        while not self._stop.wait(delay):
            delay = self.interval
            try:
                if self.enabled is not None and not self.enabled():
                    continue
                self.prune_now()
                self.last_error = None
            except Exception as exc:
                # The database may be restarting, or locked for longer than the busy
                # timeout: nothing is lost by waiting for the next pass, and a pruner
                # that died would silently let the history grow for good.
                self.last_error = exc
                log.warning("pruning runs failed (%s: %s); trying again in %gs", type(exc).__name__, exc, self.interval)
            finally:
                with self._passed:
                    self.passes += 1
                    self._passed.notify_all()
