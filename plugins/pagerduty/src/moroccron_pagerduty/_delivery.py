"""Sending events to PagerDuty and reading its answers, for :mod:`moroccron_pagerduty.plugin`.

The notify hook runs in moroccron's notification worker, not the scheduler loop, so
events are sent right away, one blocking POST per target with a timeout. Nothing is
retried here: a failed target is reported with ``ok=False`` and moroccron's outbox
tries it again later. Details of retryable failures (429, 5xx, timeouts, connection
errors; PagerDuty's own retry table) start with ``retryable:``.

What is never written anywhere (results, logs, exceptions): routing keys. The request
body carries them, so redirects are not followed (a redirect would resend the key to
wherever the ``Location`` points), and answers are scrubbed before they are quoted.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from moroccron import __version__ as moroccron_version
from moroccron.config import Settings
from moroccron.hooks.types import DeliveryResult, Notification
from moroccron_pagerduty._events import build_event
from moroccron_pagerduty._settings import PagerDutySettings, read_settings, url_for_humans

__all__ = ["CHANNEL", "Sender", "current", "deliver", "start", "stop"]

log = logging.getLogger("moroccron.pagerduty")

CHANNEL = "pagerduty"
_QUOTE_LIMIT = 500
"""Characters of an unexpected answer quoted in a result: enough to diagnose, not a page dump."""


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    detail: str


class Sender:
    """POSTs events to the configured events URL over one connection pool.

    A lock serialises requests: ``requests.Session`` is not documented as thread-safe,
    and notifications are delivered one at a time anyway.
    """

    def __init__(self, settings: PagerDutySettings) -> None:
        self.settings = settings
        self._session = requests.Session()
        self._session.headers.update(
            {"User-Agent": f"moroccron-pagerduty/{moroccron_version}", "Accept": "application/json"}
        )
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._session.close()

    def send(self, body: Mapping[str, Any]) -> Outcome:
        """Send one event; never raises for a delivery problem."""
        key = str(body.get("routing_key", ""))
        where = url_for_humans(self.settings.events_url)
        try:
            with self._lock:
                response = self._session.post(
                    self.settings.events_url,
                    json=body,
                    timeout=(self.settings.timeout, self.settings.timeout),
                    allow_redirects=False,
                )
        except requests.Timeout as exc:
            return Outcome(
                False,
                f"retryable: PagerDuty ({where}) did not answer within "
                f"{self.settings.timeout:g} s ({type(exc).__name__})",
            )
        except requests.RequestException as exc:
            # str(exc) is not quoted: it is long and may repeat the URL; the class says enough.
            return Outcome(False, f"retryable: cannot reach PagerDuty at {where} ({type(exc).__name__})")
        return interpret(response.status_code, response.text, response.headers, key, str(body.get("dedup_key", "")))


def _scrub(text: str, secret: str) -> str:
    text = text.replace(secret, "***") if secret else text
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT] + "…"


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _problem(data: Mapping[str, Any], text: str) -> str:
    """PagerDuty's own words: ``message: error; error``, or the raw answer."""
    message = data.get("message") or data.get("status")
    errors = data.get("errors")
    parts = [str(message)] if message else []
    if isinstance(errors, list) and errors:
        parts.append("; ".join(str(e) for e in errors))
    return ": ".join(parts) if parts else (text or "(empty answer)")


def interpret(status: int, text: str, headers: Mapping[str, str], routing_key: str, sent_dedup_key: str) -> Outcome:
    """Read PagerDuty's answer (Events API v2 response codes) into an outcome.

    - 202: accepted; the detail is the dedup key PagerDuty returns (the incident's key).
    - 400: the event is invalid; not retryable; PagerDuty's message and errors are quoted.
    - 429, 5xx: retryable (PagerDuty: "retry after some time").
    - anything else (another 4xx, a redirect): not what the Events API answers; quoted.
    """
    data = _json(text)
    if 200 <= status < 300:
        return Outcome(True, str(data.get("dedup_key") or sent_dedup_key))
    problem = _scrub(_problem(data, text), routing_key)
    if status == 429:
        retry_after = headers.get("Retry-After")
        after = f", Retry-After {retry_after} s" if retry_after else ""
        return Outcome(False, f"retryable: rate limited by PagerDuty (HTTP 429{after})")
    if status >= 500:
        return Outcome(False, f"retryable: PagerDuty answered HTTP {status}: {problem}")
    if status == 400:
        return Outcome(False, f"rejected by PagerDuty (HTTP 400): {problem}")
    return Outcome(False, f"unexpected answer from PagerDuty (HTTP {status}): {problem}")


# --------------------------------------------------------------------------- plugin state

_lock = threading.Lock()
_sender: Sender | None = None


def start(config: Settings, environ: Mapping[str, str] | None = None) -> PagerDutySettings | None:
    """Read and check the settings, and get ready to send; None (inactive) when no service
    is configured. Replaces the state of an earlier start (tests, a reloaded process)."""
    settings = read_settings(config, environ)
    global _sender
    with _lock:
        if _sender is not None:
            _sender.close()
        _sender = Sender(settings) if settings is not None else None
    if settings is not None:
        log.info(
            "PagerDuty notifications on: services %s, events to %s, default severity %s",
            settings.service_names(),
            url_for_humans(settings.events_url),
            settings.severity,
        )
    return settings


def stop() -> None:
    """Close the connection pool; the plugin is inactive until the next :func:`start`."""
    global _sender
    with _lock:
        if _sender is not None:
            _sender.close()
        _sender = None


def current() -> PagerDutySettings | None:
    """The active settings, or None when the plugin is inactive."""
    sender = _sender
    return sender.settings if sender is not None else None


def deliver(notification: Notification, now: datetime | None = None) -> list[DeliveryResult] | None:
    """Send ``notification`` to each of its ``pagerduty`` targets: one result per target,
    or None when it has none or the plugin is not configured (inactive)."""
    sender = _sender
    targets = notification.targets_for(CHANNEL)
    if sender is None or not targets:
        return None
    settings = sender.settings
    now = now or datetime.now(UTC)
    results: list[DeliveryResult] = []
    for target in targets:
        if notification.event == "success":
            results.append(DeliveryResult(target, True, "nothing to send for success"))
            continue
        routing_key = settings.services.get(target.address)
        if routing_key is None:
            detail = (
                f"unknown PagerDuty service {target.address!r}; configured services: "
                f"{settings.service_names()} ([plugins.pagerduty.services] or "
                "MOROCCRON_PAGERDUTY_SERVICES)"
            )
            log.warning("job %r: %s", notification.job.name, detail)
            results.append(DeliveryResult(target, False, detail))
            continue
        body = build_event(notification, routing_key, settings.severity, now)
        if body is None:  # an event this plugin does not page for
            results.append(DeliveryResult(target, True, f"nothing to send for {notification.event}"))
            continue
        outcome = sender.send(body)
        if outcome.ok:
            log.info(
                "PagerDuty %s for job %r sent to service %r (dedup key %s)",
                body["event_action"],
                notification.job.name,
                target.address,
                outcome.detail,
            )
        else:
            log.warning(
                "PagerDuty %s for job %r to service %r failed: %s",
                body["event_action"],
                notification.job.name,
                target.address,
                outcome.detail,
            )
        results.append(DeliveryResult(target, outcome.ok, outcome.detail))
    return results
