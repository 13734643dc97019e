"""The built-in ``webhook`` notifier: a JSON POST to a named URL.

Targets are written ``webhook:NAME``; the URL for each name comes from the ``[webhooks]``
table of the config file (``ops = "https://hooks.example.com/moroccron?token=..."``), so
a job definition never holds the URL (or the token in it). The body::

    {"version": 1, "event": "failure", "job": "etl-load", "subject": "...", "text": "...",
     "run": {...}, "details": {...pending_subtree, failure_count, run_url...}}

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

_webhooks: dict[str, str] = {}
TIMEOUT = 10.0
_URL_ALLOWED = "an http:// or https:// URL with a host, e.g. https://hooks.example.com/moroccron"


def check_webhooks(webhooks: Any) -> dict[str, str]:
    """The ``[webhooks]`` table, checked as ``http_trigger_urls`` are: http(s) URLs with a
    host, nothing else (a ``file://`` URL would have the scheduler read local files).

    :raises ValidationError: naming each bad entry; URLs in the message are masked.
    """
    table = dict(webhooks or {})
    errors = [e for name, url in table.items()
              if (e := http_url_error(url, f"webhooks.{name}", _URL_ALLOWED)) is not None]
    if errors:
        raise ValidationError(errors, "webhook settings")
    return table


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
    from moroccron.api.schemas import run_dict

    body = {"version": 1, "event": notification.event, "job": notification.job.name,
            "subject": notification.subject, "text": notification.text,
            "run": run_dict(notification.run) if notification.run else None, "details": dict(notification.details)}
    results = []
    for target in targets:
        url = _webhooks.get(target.address)
        if url is None:
            results.append(DeliveryResult(target, False, f"no webhook named {target.address!r} in [webhooks] "
                                                         f"(known: {', '.join(sorted(_webhooks)) or 'none'})"))
            continue
        try:
            resp = requests.post(url, json=body, timeout=TIMEOUT,
                                 headers={"User-Agent": f"moroccron/{__version__}",
                                          "X-Moroccron-Event": notification.event})
        except requests.RequestException as exc:
            results.append(DeliveryResult(target, False, f"request failed: {type(exc).__name__}"))
            continue
        ok = 200 <= resp.status_code < 300
        results.append(DeliveryResult(target, ok, f"HTTP {resp.status_code}"))
    return results
