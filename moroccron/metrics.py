"""Prometheus metrics of one moroccron instance, served at ``/metrics``.

:class:`Metrics` owns its own :class:`~prometheus_client.CollectorRegistry` rather than
the process-wide default one: tests, and a process running several schedulers (the
end-to-end harness does), would otherwise clash on metric names, and a library's
stray metrics would leak into ours.

What the shell tells it:

- :meth:`Metrics.observe_run` for every run it has committed; runs are counted when
  launched and when they reach a final state, once per transition however often the
  same run is passed in;
- :meth:`Metrics.load_last_success` at start-up, from
  :meth:`moroccron.store.Store.last_success_times`, so the "last success" gauges do
  not start empty after a restart or a failover (alerts on "no success for N hours"
  would otherwise fire, or go silent, at every restart);
- :meth:`Metrics.forget_job` when a job is deleted, so its series stop being exported.

The scheduler's gauges (queue, offers held, ...) are read from ``status()`` at scrape
time, so they can never be stale and the scheduler does not push them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from moroccron.model import Run, RunState

__all__ = ["DURATION_BUCKETS", "SKEW_BUCKETS", "STATUS_GAUGES", "Metrics"]

log = logging.getLogger("moroccron.metrics")

SKEW_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
"""Launch delays from a millisecond (launches meant to hit the second) to a minute (no
offer came in time): the range where "is the scheduler keeping up?" is decided."""

DURATION_BUCKETS: tuple[float, ...] = (
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    21600.0,
)
"""Run durations from 100 ms to 6 hours: cron jobs, not services."""

STATUS_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("moroccron_queue_length", "queue", "Runs that are due and wait for a Mesos offer that fits."),
    ("moroccron_offers_held", "offers_held", "Mesos offers this scheduler holds (not yet used or declined)."),
    ("moroccron_runs_prepared", "prepared", "Runs created and placed ahead of their second, not yet due."),
    ("moroccron_tasks_running", "tasks_running", "Runs whose Mesos task is launched, starting or running."),
    ("moroccron_leader", "leader", "1 if this instance is the leading scheduler, else 0."),
    ("moroccron_connected", "connected", "1 if this instance is subscribed to a Mesos master, else 0."),
    ("moroccron_jobs", "jobs", "Jobs the scheduler knows (enabled or not)."),
    (
        "moroccron_jobs_quarantined",
        "quarantined_count",
        "Jobs set aside after an internal error; each runs again once it is changed or enabled.",
    ),
    (
        "moroccron_scheduler_faults",
        "faults",
        "Faults the scheduler isolated since this instance became leader (quarantines, failed steps, plugin "
        "hangs); any increase is worth a look in the log.",
    ),
)
"""``(metric name, key in the status mapping, help)`` of the gauges read at scrape time."""

_COUNTED_FINAL = frozenset(s for s in RunState if s.final)
_LAUNCHED = "launched"


class Metrics:
    """The metrics of one scheduler, in a registry of their own.

    Thread-safe: runs are observed on the engine thread, jobs forgotten on API threads,
    and scrapes served on HTTP threads, all at once.

    :param status: called at every scrape for the scheduler's gauges; a mapping with
        the keys of :data:`STATUS_GAUGES` (missing keys read as 0). None: no such gauges.
    :param dedup_size: how many ``(task id, state)`` transitions are remembered to
        count each once. It only needs to cover the window in which the shell might
        pass the same run again (a retried commit, a repeated status update), so a
        few thousand is plenty; memory is about 200 bytes per entry.
    :param clock: seconds since the epoch, for a success whose run has no finish time.
    """

    def __init__(
        self,
        status: Callable[[], Mapping[str, Any]] | None = None,
        *,
        dedup_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if dedup_size < 1:
            raise ValueError(f"dedup_size must be >= 1, got {dedup_size}")
        self.registry = CollectorRegistry()
        self.runs = Counter(
            "moroccron_runs_total",
            "Runs launched (state=launched) and runs that reached a final state.",
            ["job", "state"],
            registry=self.registry,
        )
        self.skew = Histogram(
            "moroccron_run_skew_seconds",
            "Seconds from when a run was due to when its task was launched.",
            buckets=SKEW_BUCKETS,
            registry=self.registry,
        )
        self.duration = Histogram(
            "moroccron_run_duration_seconds",
            "Seconds from a run's start (or launch) to its end.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.last_success = Gauge(
            "moroccron_job_last_success_timestamp_seconds",
            "When the job's latest successful run ended.",
            ["job"],
            registry=self.registry,
        )
        if status is not None:
            self.registry.register(_StatusCollector(status))
        self._clock = clock
        self._dedup_size = dedup_size
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._states: dict[str, set[str]] = {}  # job -> state labels it has counter series for
        self._last_success: dict[str, float] = {}

    # ------------------------------------------------------------------ input

    def observe_run(self, run: Run) -> None:
        """Count a run that has just been launched or has just reached a final state.

        Other states (queued, starting, running, ...) are ignored, and so is a
        transition already counted: each ``(task id, state)`` counts once, within the
        last ``dedup_size`` transitions seen. A launch observes the skew, a final state
        the duration (when the run has one), a success sets the job's last-success
        gauge (never moving it back in time).
        """
        state = RunState(run.state)
        if state == RunState.LAUNCHED:
            label = _LAUNCHED
        elif state in _COUNTED_FINAL:
            label = state.value
        else:
            return
        with self._lock:
            key = (run.task_id, label)
            if key in self._seen:
                self._seen.move_to_end(key)
                return
            self._seen[key] = None
            if len(self._seen) > self._dedup_size:
                self._seen.popitem(last=False)
            self._states.setdefault(run.job, set()).add(label)
            # Under the lock, so that forget_job never misses a series created meanwhile.
            self.runs.labels(job=run.job, state=label).inc()
        if label == _LAUNCHED:
            skew = run.skew
            if skew is not None:
                self.skew.observe(skew)
            return
        duration = run.duration
        if duration is not None:
            self.duration.observe(duration)
        if state == RunState.SUCCEEDED:
            at = run.finished_at.timestamp() if run.finished_at is not None else self._clock()
            self._set_last_success(run.job, at)

    def load_last_success(self, times: Mapping[str, datetime]) -> None:
        """Start the last-success gauges from the store (``Store.last_success_times()``).

        A gauge already set later (a success observed since) is kept.
        """
        for job, at in times.items():
            self._set_last_success(job, at.timestamp())

    def forget_job(self, name: str) -> None:
        """Stop exporting a deleted job's series (its counters and its last success).

        Prometheus keeps what it scraped; this only keeps a job that no longer exists
        from being reported forever, and from growing the exposition without bound as
        jobs come and go. A job created again under the same name starts from zero.
        """
        with self._lock:
            states = self._states.pop(name, set())
            had_success = self._last_success.pop(name, None) is not None
            for state in states:
                self.runs.remove(name, state)
            if had_success:
                self.last_success.remove(name)

    def _set_last_success(self, job: str, at: float) -> None:
        with self._lock:
            if at <= self._last_success.get(job, -math.inf):
                return
            self._last_success[job] = at
            self.last_success.labels(job=job).set(at)

    # ------------------------------------------------------------------ output

    def render(self) -> tuple[bytes, str]:
        """The exposition in Prometheus's text format: ``(body, content type)``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _StatusCollector(Collector):
    """The scheduler's gauges, read from its ``status()`` when Prometheus scrapes."""

    def __init__(self, status: Callable[[], Mapping[str, Any]]) -> None:
        self._status = status

    def describe(self) -> Iterator[Metric]:
        # Names only, so registering does not call status() (the scheduler may not
        # have started yet) and the registry still refuses a clashing name.
        for name, _key, doc in STATUS_GAUGES:
            yield GaugeMetricFamily(name, doc)

    def collect(self) -> Iterator[Metric]:
        try:
            status = self._status()
        except Exception as exc:
            # A scrape must not fail because the scheduler is mid-shutdown: the other
            # metrics are still true. Leaving these out (rather than reporting zeros)
            # makes "absent" alerts fire instead of "leader == 0" lies.
            log.warning("scheduler status unavailable for metrics: %s", exc)
            return
        for name, key, doc in STATUS_GAUGES:
            yield GaugeMetricFamily(name, doc, value=_number(status.get(key)))


def _number(value: Any) -> float:
    """A status value as a gauge value: booleans as 1/0, missing or unreadable as 0."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0
