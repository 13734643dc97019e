"""Turn a moroccron notification into a PagerDuty Events API v2 event. Pure: no I/O.

One incident per job: every event about a job carries the dedup key
``moroccron/<job>``, so repeated failures add to the open incident instead of paging
again, and the recovery resolves exactly that incident.

=========  ===========================================================================
event      what is sent
=========  ===========================================================================
failure    ``trigger``, severity from settings, or the job's label
           ``moroccron.pagerduty.severity``
recovery   ``resolve`` with the same dedup key
skipped    ``trigger`` with severity ``warning``: a run that never ran is a problem,
           but not one to wake someone for by default
disabled   ``trigger`` with severity ``warning``: the job will not run again until
           someone enables it
success    nothing (there is no incident to open or close)
=========  ===========================================================================

Published format: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
(``summary`` at most 1024 characters, ``dedup_key`` at most 255).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from moroccron.errors import FieldError
from moroccron.hooks.types import Notification
from moroccron.model import JobSpec, RunState
from moroccron_pagerduty._settings import SEVERITIES

__all__ = [
    "MAX_DEDUP_KEY",
    "MAX_EVENT_BYTES",
    "MAX_SUMMARY",
    "SEVERITY_LABEL",
    "build_event",
    "dedup_key",
    "job_severity",
    "label_error",
    "summary",
]

MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MAX_EVENT_BYTES = 512 * 1024
"""Our cap on one event's JSON. PagerDuty refuses very large events; a huge pending
subtree is what could get there, so it is cut down first (see :func:`_fit`)."""

MAX_DEPTH = 64
"""Levels of nesting kept in ``custom_details``: 32 levels of a pending subtree."""

SEVERITY_LABEL = "moroccron.pagerduty.severity"
"""Job label: the severity of this job's failure incidents (critical | error | warning | info)."""

WARNING_EVENTS = ("skipped", "disabled")
LINK_TEXT = "Run in moroccron"
CLIENT = "moroccron"
_ELLIPSIS = "…"
_RUN_FACTS = (
    "task_id",
    "exit_status",
    "reason",
    "message",
    "hostname",
    "agent",
    "attempt",
    "scheduled_at",
    "launched_at",
    "finished_at",
)


def dedup_key(job: str) -> str:
    """``moroccron/<job>``: one incident per job. Job names are at most 200 characters,
    so the key stays within PagerDuty's 255."""
    return f"moroccron/{job}"[:MAX_DEDUP_KEY]


def label_error(job: JobSpec) -> FieldError | None:
    """The problem with the job's :data:`SEVERITY_LABEL`, if its value means nothing to PagerDuty."""
    value = job.labels.get(SEVERITY_LABEL)
    if value is None or value.strip().lower() in SEVERITIES:
        return None
    return FieldError(f"labels.{SEVERITY_LABEL}", "not a PagerDuty severity", value, " | ".join(SEVERITIES))


def job_severity(job: JobSpec, default: str) -> str:
    """The job's own severity label when it holds a valid one, else ``default``.

    An invalid label is refused when the job is saved (:func:`label_error`); one stored
    before this plugin was installed falls back to the default rather than losing the page.
    """
    value = job.labels.get(SEVERITY_LABEL, "").strip().lower()
    return value if value in SEVERITIES else default


def _fact(notification: Notification, key: str) -> Any:
    """A fact about the run: the rendered details first, the run itself as a fallback.

    ``attempt`` is 1-based ("attempt 1 of 3"), as in every moroccron message."""
    value = notification.details.get(key)
    if value is None and notification.run is not None:
        run = notification.run
        value = {
            "task_id": run.task_id,
            "exit_status": run.exit_status,
            "reason": run.reason,
            "message": run.message,
            "hostname": run.hostname,
            "agent": run.agent_id,
            "attempt": run.attempt + 1,
            "scheduled_at": run.scheduled_at,
            "launched_at": run.launched_at,
            "finished_at": run.finished_at,
        }.get(key)
    if isinstance(value, datetime):
        value = _timestamp(value)
    return value


def _timestamp(when: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as PagerDuty's examples write it."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def summary(notification: Notification) -> str:
    """The one line on the incident and in the page: what happened to which job, and where.

    e.g. ``moroccron: job etl-load failed (exit 3) on host a1``; at most 1024 characters.
    """
    job = notification.job.name
    reason = _fact(notification, "reason")
    if notification.event == "disabled":
        text = f"moroccron: job {job} was disabled" + (f" ({reason})" if reason else "")
    elif notification.event == "skipped":
        when = _fact(notification, "scheduled_at")
        text = f"moroccron: run of job {job}" + (f" due {when}" if when else "") + " was skipped"
        text += f" ({reason})" if reason else ""
    else:
        lost = notification.run is not None and notification.run.state == RunState.LOST
        exit_status = _fact(notification, "exit_status")
        text = f"moroccron: job {job} " + ("was lost" if lost else "failed")
        if exit_status is not None:
            text += f" (exit {exit_status})"
        elif reason:
            text += f" ({reason})"
        host = _fact(notification, "hostname")
        if host:
            text += f" on host {host}"
    return _clip(" ".join(text.split()), MAX_SUMMARY)


def _is_web_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _custom_details(notification: Notification) -> dict[str, Any]:
    """Everything the notification knows, for the responder: the rendered details,
    completed from the run where the details leave a fact out."""
    details: dict[str, Any] = {"job": notification.job.name, "event": notification.event}
    details.update(_jsonable(dict(notification.details)))
    for key in _RUN_FACTS:
        if details.get(key) is None:
            value = _fact(notification, key)
            if value is not None:
                details[key] = value
    if notification.job.owners and "owners" not in details:
        details["owners"] = list(notification.job.owners)
    return details


def _jsonable(value: Any, depth: int = 0) -> Any:
    """Details are JSON-compatible by contract; read-only mappings and tuples still need
    turning into dicts and lists, and anything else becomes text rather than an error.
    Nesting stops at :data:`MAX_DEPTH` (a dependency chain hundreds of jobs deep would
    otherwise exhaust the stack here or in ``json``)."""
    if depth > MAX_DEPTH and isinstance(value, (Mapping, list, tuple)):
        return "… (deeper levels left out)"
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, datetime):
        return _timestamp(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    to_dict = getattr(value, "to_dict", None)  # a SubtreeNode passed as is
    return _jsonable(to_dict(), depth) if callable(to_dict) else str(value)


def _count_nodes(nodes: Any) -> int:
    count, stack = 0, list(nodes) if isinstance(nodes, list) else []
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, dict) and isinstance(node.get("children"), list):
            stack.extend(node["children"])
    return count


def _size(body: Mapping[str, Any]) -> int:
    return len(json.dumps(body, ensure_ascii=False).encode())


def _fit(body: dict[str, Any]) -> dict[str, Any]:
    """Keep the event under :data:`MAX_EVENT_BYTES`: first the pending subtree gives way
    to its direct children's names and a count (the run link has the full tree), then
    any long text value is clipped."""
    if _size(body) <= MAX_EVENT_BYTES:
        return body
    details = body["payload"]["custom_details"]
    tree = details.get("pending_subtree")
    if isinstance(tree, list):
        details["pending_subtree"] = {
            "truncated": True,
            "jobs_waiting": _count_nodes(tree),
            "direct_children": [_clip(str(n.get("job", "?")), 200) for n in tree[:100] if isinstance(n, dict)],
        }
    limit = 4096
    while _size(body) > MAX_EVENT_BYTES and limit >= 64:
        for key, value in list(details.items()):
            if isinstance(value, (str, list, dict)) and len(json.dumps(value)) > limit:
                details[key] = _clip(
                    json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value, limit
                )
        limit //= 4
    return body


def build_event(
    notification: Notification, routing_key: str, default_severity: str, now: datetime
) -> dict[str, Any] | None:
    """The Events API v2 body for ``notification``, or None when there is nothing to send
    (``success``).

    :param routing_key: the integration key of the target's service.
    :param default_severity: the configured severity of failure events.
    :param now: the event's timestamp when the run has no ``finished_at`` (``disabled``).
    """
    event = notification.event
    key = dedup_key(notification.job.name)
    if event == "success":
        return None
    if event == "recovery":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}
    run = notification.run
    severity = "warning" if event in WARNING_EVENTS else job_severity(notification.job, default_severity)
    finished = run.finished_at if run is not None and run.finished_at is not None else now
    payload: dict[str, Any] = {
        "summary": summary(notification),
        "source": _fact(notification, "hostname") or CLIENT,
        "severity": severity,
        "timestamp": _timestamp(finished),
        "component": notification.job.name,
        "class": event,
        "custom_details": _custom_details(notification),
    }
    if notification.job.owners:
        payload["group"] = notification.job.owners[0]
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "client": CLIENT,
        "payload": payload,
    }
    ui_url = notification.details.get("ui_url")
    if _is_web_url(ui_url):
        body["client_url"] = ui_url
    run_url = notification.details.get("run_url")
    if _is_web_url(run_url):
        body["links"] = [{"href": run_url, "text": LINK_TEXT}]
    return _fit(body)
