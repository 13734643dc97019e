"""The ``http-trigger`` plugin: POST a JSON event to configured URLs when a run ends.

So that systems outside moroccron (a CI pipeline, a data-quality checker) can react to
a run without polling the API. Built in, registered as ``http-trigger``; block it with
``MOROCCRON_DISABLE_PLUGINS=http-trigger``.

Settings
--------
``http_trigger_urls`` (``MOROCCRON_HTTP_TRIGGER_URLS``, comma-separated)
    Where to POST. http:// or https:// with a host; checked at start-up, and a bad URL
    stops start-up naming the setting. Empty (the default): the plugin does nothing
    and starts no thread. URLs may carry tokens (``https://user:token@host/...``,
    ``...?token=...``): logs and errors show them with user, password and query hidden.
``http_trigger_events`` (``MOROCCRON_HTTP_TRIGGER_EVENTS``), default ``succeeded,failed``
    Which outcomes are sent: any of ``succeeded``, ``failed``, ``killed``, ``lost``,
    ``skipped`` (final states; ``skipped`` runs reach no hook yet, so nothing is sent
    for them today), and ``retrying``: failed, killed or lost attempts that another
    attempt follows (``"final": false``). Without ``retrying`` only final outcomes
    are sent.
``http_trigger_retries`` (``MOROCCRON_HTTP_TRIGGER_RETRIES``), default 5
    Retries after the first attempt, per event and URL (0-100).
``http_trigger_timeout`` (``MOROCCRON_HTTP_TRIGGER_TIMEOUT``), default 5.0
    Seconds to connect, and to wait for each read of the answer.

A job opts out with the label ``moroccron.http-trigger: "off"`` (``"on"``, or no label,
sends). Any other value of that label is refused when the job is created or changed.

The request
-----------
``POST`` with headers ``Content-Type: application/json``, ``User-Agent: moroccron/<version>``,
``X-Moroccron-Event: <event>`` and ``X-Moroccron-Delivery: <delivery_id>``, and this body
(version 1; fields may be added without a version change, never removed or changed)::

    {
      "version": 1,
      "event": "run.succeeded",          # run.<state>: succeeded | failed | killed | lost
      "job": "etl",
      "final": true,                     # false: another attempt follows ("retrying")
      "run": {
        "task_id": "etl.1772366400.0", "scheduled_at": "2026-03-01T12:00:00Z", "attempt": 0,
        "state": "succeeded", "trigger": "schedule",
        "launched_at": "...Z", "started_at": "...Z", "finished_at": "...Z",   # or null
        "exit_status": 0, "reason": null, "message": null,
        "agent_id": "...", "hostname": "...",
        "skew_seconds": 0.4, "duration_seconds": 12.5                         # or null
      },
      "owners": ["ops@example.com"],
      "labels": {"team": "data"},
      "pending_subtree": [                # failures only: the jobs now waiting on this one
        {"job": "load", "owners": ["..."], "children": [{"job": "report", ...}]}
      ],
      "sent_at": "2026-03-01T12:00:13Z",  # this attempt
      "delivery_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    }

Times are ISO 8601 in UTC. ``delivery_id`` is the same for every attempt of one event
(and for every URL it goes to): receivers de-duplicate retries with it.

Delivery
--------
- A 2xx answer delivers. 5xx, 408, 429, timeouts and connection errors are retried
  after 0.5 s, doubling up to 30 s (a ``Retry-After`` in seconds is honoured up to
  30 s). Any other answer (other 4xx; 3xx, as redirects are not followed) is a
  permanent failure: logged, not retried.
- At least once while the process lives, and not durable: events queued when the
  process dies are lost, and a receiver may see an event twice (same ``delivery_id``).
- The hooks only queue the event: they run on the scheduler thread and never wait
  for the network. One worker thread per URL sends in order, so a receiver that is
  down or slow delays only its own events. Each URL's queue holds 10,000 events;
  when it is full the oldest is dropped, with a warning and a counter.
- On shutdown, queued events are sent for up to 5 s; what is left is logged as lost.
"""

from __future__ import annotations

from collections.abc import Sequence

from moroccron.config import Settings
from moroccron.dag import SubtreeNode
from moroccron.errors import FieldError
from moroccron.hooks import hookimpl
from moroccron.model import JobSpec, Run
from moroccron.triggers import _http

__all__ = [
    "moroccron_shutdown",
    "moroccron_startup",
    "moroccron_task_failed",
    "moroccron_task_succeeded",
    "moroccron_validate_job",
]


@hookimpl
def moroccron_startup(config: Settings) -> None:
    """Check the ``http_trigger_*`` settings and start the senders, so a bad URL stops
    start-up rather than failing at the first run; no URLs, no threads."""
    _http.start(config)


@hookimpl
def moroccron_shutdown() -> None:
    """Deliver what is queued, within a short deadline, and stop the senders."""
    _http.stop()


@hookimpl
def moroccron_validate_job(job: JobSpec) -> list[FieldError] | None:
    """Refuse a value of the opt-out label that means nothing: a typo there would
    otherwise keep sending events the owners asked to stop."""
    error = _http.label_error(job)
    return [error] if error is not None else None


@hookimpl
def moroccron_task_succeeded(job: JobSpec, run: Run) -> None:
    """Queue a ``run.succeeded`` event (never waits for the network)."""
    _http.send(job, run, final=True)


@hookimpl
def moroccron_task_failed(job: JobSpec, run: Run, pending_subtree: Sequence[SubtreeNode], final: bool) -> None:
    """Queue a ``run.failed`` / ``run.killed`` / ``run.lost`` event, with the jobs now
    waiting on this one; attempts that will be retried only with ``retrying``."""
    _http.send(job, run, final=final, pending_subtree=pending_subtree)
