"""The built-in ``webhook`` notifier: a JSON POST to a named URL.

Targets are written ``webhook:NAME``; the URL for each name comes from the ``[webhooks]``
table of the config file (``ops = "https://hooks.example.com/moroccron?token=..."``), so
a job definition never holds the URL (or the token in it). The body::

    {"version": 1, "event": "failure", "job": "etl-load", "subject": "...", "text": "...",
     "attempt": 2, "max_attempts": 3,
     "run": {...}, "details": {...pending_subtree, failure_count, run_url, attempt...}}

Attempts are counted from 1 everywhere in the body (``attempt``, ``run.attempt``,
``details.attempt``: "attempt 2 of 3"), as in the email, Slack and PagerDuty messages.
``run.attempt_index`` keeps the 0-based index of the API's run object (the last part of
the task id ``<job>.<scheduled-epoch>.<attempt_index>``).

A 2xx answer delivers; anything else is reported failed and the outbox retries it.
"""

from __future__ import annotations

from typing import Any

import requests

from moroccron import __version__
from moroccron.checks import http_url_error
from moroccron.errors import ValidationError
from moroccron.hooks import hookimpl
from moroccron.hooks.types import DeliveryResult, Notification
from moroccron.model import Run

_webhooks: dict[str, str] = {}
TIMEOUT = 10.0
_URL_ALLOWED = "an http:// or https:// URL with a host, e.g. https://hooks.example.com/moroccron"


def check_webhooks(webhooks: Any) -> dict[str, str]:
    """The ``[webhooks]`` table, checked as ``http_trigger_urls`` are: http(s) URLs with a
    host, nothing else (a ``file://`` URL would have the scheduler read local files).

    :raises ValidationError: naming each bad entry; URLs in the message are masked.
    """
    table = dict(webhooks or {})
    errors = [
        e for name, url in table.items() if (e := http_url_error(url, f"webhooks.{name}", _URL_ALLOWED)) is not None
    ]
    if errors:
        raise ValidationError(errors, "webhook settings")
    return table


def _run_body(run: Run) -> dict[str, Any]:
    """The run as the API shows it, with ``attempt`` counted from 1 like the rest of the
    message; the 0-based index (part of the task id) stays as ``attempt_index``."""
    from moroccron.api.schemas import run_dict

    body = run_dict(run)
    body["attempt_index"] = run.attempt
    body["attempt"] = run.attempt + 1
    return body


@hookimpl
def moroccron_startup(config: Any, store: Any) -> None:
    """Check the URLs at start, so a bad one stops start-up rather than the first failure notice."""
    table = check_webhooks(getattr(config, "webhooks", {}))
    _webhooks.clear()
    _webhooks.update(table)


@hookimpl
def moroccron_notify(notification: Notification) -> list[DeliveryResult] | None:
    targets = notification.targets_for("webhook")
    if not targets:
        return None
    run = notification.run
    body = {
        "version": 1,
        "event": notification.event,
        "job": notification.job.name,
        "subject": notification.subject,
        "text": notification.text,
        "attempt": run.attempt + 1 if run else None,
        "max_attempts": notification.job.retries + 1,
        "run": _run_body(run) if run else None,
        "details": dict(notification.details),
    }
    results = []
    for target in targets:
        url = _webhooks.get(target.address)
        if url is None:
            results.append(
                DeliveryResult(
                    target,
                    False,
                    f"no webhook named {target.address!r} in [webhooks] "
                    f"(known: {', '.join(sorted(_webhooks)) or 'none'})",
                )
            )
            continue
        try:
            resp = requests.post(
                url,
                json=body,
                timeout=TIMEOUT,
                headers={"User-Agent": f"moroccron/{__version__}", "X-Moroccron-Event": notification.event},
            )
        except requests.RequestException as exc:
            results.append(DeliveryResult(target, False, f"request failed: {type(exc).__name__}"))
            continue
        ok = 200 <= resp.status_code < 300
        results.append(DeliveryResult(target, ok, f"HTTP {resp.status_code}"))
    return results
