"""Job changes made behind the leader's back, noticed within seconds.

The leader learns of API changes at once (the API hands them to the scheduler), but
jobs are also written by ``moroccron jobs apply`` from a laptop or a CI pipeline, by
a restarted standby applying its ``--jobs`` folder, or by hand in SQL. The
:class:`JobWatcher` polls one number (:meth:`Store.jobs_revision`, bumped by every job
write), and only when it moves reads the jobs changed since the last look (with a
margin for clocks that disagree), compares them with what the scheduler holds and
reports the differences; a change it cannot place that way (a writer's clock far
behind) falls back to comparing every job. Idle, it costs one primary-key read per
interval, at 100 jobs or 100,000.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from moroccron.model import JobSpec

if TYPE_CHECKING:
    from moroccron.store.interfaces import JobSource

__all__ = ["JobWatcher"]

log = logging.getLogger("moroccron.watch")

CLOCK_MARGIN = timedelta(seconds=60)
"""How far behind the newest change another writer's clock may be and still be seen cheaply."""


class JobWatcher:
    """Polls the store for job changes and reports them.

    :param store: the :class:`~moroccron.store.Store`.
    :param known: the jobs the scheduler holds now (name -> spec); called from the
        watcher's thread, so it must return a copy.
    :param on_put: called with each job that is new or differs from ``known``.
    :param on_removed: called with the name of each job that is gone from the store.
    :param on_invalid: called with the name of each job whose stored definition cannot be
        read, and what is wrong with it (each look; the callee decides what is new).
    :param interval: seconds between looks; 0 turns the thread off (:meth:`check` still works).
    :param enabled: asked before each look (False while this instance must not act).
    """

    def __init__(
        self,
        store: JobSource,
        known: Callable[[], Mapping[str, JobSpec]],
        *,
        on_put: Callable[[JobSpec], None],
        on_removed: Callable[[str], None],
        interval: float = 5.0,
        enabled: Callable[[], bool] | None = None,
        on_invalid: Callable[[str, str], None] | None = None,
    ) -> None:
        self.store = store
        self.known = known
        self.on_put = on_put
        self.on_removed = on_removed
        self.on_invalid = on_invalid
        self.interval = interval
        self.enabled = enabled
        self._revision: int | None = None
        self._newest: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> JobWatcher:
        if self.interval <= 0 or (self._thread is not None and self._thread.is_alive()):
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="moroccron-job-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.enabled is not None and not self.enabled():
                continue
            try:
                self.check()
            except Exception as exc:  # a database outage costs one look, not the thread
                log.warning("looking for job changes failed: %s", exc)

    def prime(self) -> None:
        """Note where the jobs stand; call just before the scheduler loads them, so that the
        first look reads only what changed after, not every job again."""
        self._revision = self.store.jobs_revision()
        self._newest = self.store.jobs_fingerprint()[1]

    def check(self) -> int:
        """Look once; report and return the number of changes found."""
        revision = self.store.jobs_revision()
        if revision == self._revision:
            return 0
        first = self._revision is None
        self._revision = revision
        count, newest = self.store.jobs_fingerprint()
        since, self._newest = self._newest, newest
        known = self.known()
        invalid: dict[str, str] = {}
        if first or since is None:
            return self._compare(known, self.store.all_jobs(invalid=invalid), count, invalid, complete=True)
        recent = self.store.jobs_updated_since(since - CLOCK_MARGIN, invalid=invalid)
        changes = self._compare(known, recent, count, invalid, complete=False)
        if changes == 0 and not recent and not invalid:
            # the revision moved but nothing was written lately: a writer's clock is far behind
            changes = self._compare(known, self.store.all_jobs(invalid=invalid), count, invalid, complete=True)
        return changes

    def _compare(
        self,
        known: Mapping[str, JobSpec],
        specs: list[JobSpec],
        count: int,
        invalid: Mapping[str, str],
        *,
        complete: bool,
    ) -> int:
        changes = 0
        if self.on_invalid is not None:
            for name, problem in invalid.items():
                self.on_invalid(name, problem)
        specs_names = {s.name for s in specs} | set(invalid)
        for spec in specs:
            if known.get(spec.name) != spec:
                log.info("job %s changed in the database; scheduling it as stored", spec.name)
                self.on_put(spec)
                changes += 1
        names = specs_names if complete else None
        if names is None and count != len(set(known) | specs_names):
            names = self.store.job_names()
        if names is not None:
            for name in sorted(set(known) - names):
                log.info("job %s was deleted from the database; unscheduling it", name)
                self.on_removed(name)
                changes += 1
        return changes
