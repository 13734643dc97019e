"""Posting messages to Slack and reading its answers, for :mod:`moroccron_slack.plugin`.

The notify hook runs in moroccron's notification worker, not the scheduler loop, so
messages are posted right away, blocking, with a timeout. Nothing is retried here: a
failed target is reported with ``ok=False`` and moroccron's outbox tries it again
later. Details of failures worth retrying (429, 5xx, Slack's transient errors,
timeouts, connection errors) start with ``retryable:``.

Webhook mode: an incoming webhook always posts to the channel chosen when it was
created, so all Slack targets of a notification share one post, and each target's
result is that post's result. Bot mode: one ``chat.postMessage`` per target, with
``channel`` = the target's address.

Never written anywhere (results, logs): the bot token and the webhook URL's path.
Redirects are not followed, so neither is replayed to another address.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from moroccron import __version__ as moroccron_version
from moroccron.config import Settings
from moroccron.hooks.types import DeliveryResult, Notification
from moroccron_slack._message import build_message
from moroccron_slack._settings import WEBHOOK, SlackSettings, read_settings, url_for_humans

__all__ = ["CHANNEL", "Outcome", "SlackClient", "current", "deliver", "start", "stop"]

log = logging.getLogger("moroccron.slack")

CHANNEL = "slack"
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
"""``chat.postMessage`` errors that say "later", not "never"."""
_QUOTE_LIMIT = 300


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    detail: str


class SlackClient:
    """Posts over one connection pool; a lock serialises requests, as
    ``requests.Session`` is not documented as thread-safe."""

    def __init__(self, settings: SlackSettings) -> None:
        self.settings = settings
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": f"moroccron-slack/{moroccron_version}"})
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._session.close()

    def _secrets(self) -> tuple[str, ...]:
        return secrets_of(self.settings)

    def _post(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str], what: str
    ) -> requests.Response | Outcome:
        """POST ``body`` as UTF-8 JSON (Slack asks for the charset); a problem reaching
        Slack comes back as an :class:`Outcome`, never as an exception."""
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            with self._lock:
                return self._session.post(
                    url,
                    data=data,
                    timeout=(self.settings.timeout, self.settings.timeout),
                    allow_redirects=False,
                    headers={"Content-Type": "application/json; charset=utf-8", **headers},
                )
        except requests.Timeout as exc:
            return Outcome(
                False,
                f"retryable: {what} at {url_for_humans(url)} did not answer within "
                f"{self.settings.timeout:g} s ({type(exc).__name__})",
            )
        except requests.RequestException as exc:
            # str(exc) would repeat the URL, and a webhook's URL is its secret.
            return Outcome(False, f"retryable: cannot reach {what} at {url_for_humans(url)} ({type(exc).__name__})")

    def post_webhook(self, message: Mapping[str, Any]) -> Outcome:
        """One post through the incoming webhook (to the webhook's own channel)."""
        if self.settings.webhook_url is None:
            return Outcome(False, "no Slack webhook_url is configured")
        response = self._post(
            self.settings.webhook_url,
            {**message, "unfurl_links": False, "unfurl_media": False},
            {},
            "the Slack webhook",
        )
        if isinstance(response, Outcome):
            return response
        return interpret_webhook(response.status_code, response.text, response.headers, self._secrets())

    def post_message(self, channel: str, message: Mapping[str, Any]) -> Outcome:
        """One ``chat.postMessage`` to ``channel`` (a channel name or id, or a user id)."""
        if self.settings.bot_token is None:
            return Outcome(False, "no Slack bot_token is configured")
        response = self._post(
            self.settings.post_message_url,
            {"channel": channel, **message, "unfurl_links": False, "unfurl_media": False},
            {"Authorization": f"Bearer {self.settings.bot_token}"},
            "Slack chat.postMessage",
        )
        if isinstance(response, Outcome):
            return response
        return interpret_post_message(response.status_code, response.text, response.headers, channel, self._secrets())


def secrets_of(settings: SlackSettings) -> tuple[str, ...]:
    """What must never be shown: the token, the webhook URL, and that URL's path alone
    (which is what HTTP libraries log, and what a server might echo)."""
    found = [settings.bot_token, settings.webhook_url]
    if settings.webhook_url:
        path = urlsplit(settings.webhook_url).path
        if path.strip("/"):
            found.append(path)
    return tuple(s for s in found if s)


class Redact(logging.Filter):
    """Replaces the secrets in records of a logger this plugin does not own.

    urllib3 logs each request line at DEBUG (``"POST /services/T.../B.../secret HTTP/1.1"``),
    and an incoming webhook's path is its credential: with moroccron at DEBUG the
    webhook would otherwise end up in the log.
    """

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def _quote(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    text = " ".join(text.split()) or "(empty answer)"
    return text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT] + "…"


def _retry_after(headers: Mapping[str, str]) -> str:
    value = headers.get("Retry-After")
    return f", Retry-After {value} s" if value else ""


def interpret_webhook(status: int, text: str, headers: Mapping[str, str], secrets: tuple[str, ...] = ()) -> Outcome:
    """Read an incoming webhook's answer: 200 ``ok`` is success; otherwise the status and
    Slack's one-word error (``invalid_blocks``, ``no_service``, ``channel_not_found``...)."""
    body = _quote(text, secrets)
    if status == 200 and text.strip() == "ok":
        return Outcome(True, "posted by the incoming webhook, to the channel it was created for")
    if status == 429:
        return Outcome(False, f"retryable: rate limited by Slack (HTTP 429{_retry_after(headers)})")
    if status >= 500:
        return Outcome(False, f"retryable: the Slack webhook answered HTTP {status}: {body}")
    if 400 <= status < 500:
        return Outcome(False, f"Slack refused the webhook post (HTTP {status}): {body}")
    return Outcome(False, f"unexpected answer from the Slack webhook (HTTP {status}): {body}")


def interpret_post_message(
    status: int, text: str, headers: Mapping[str, str], channel: str, secrets: tuple[str, ...] = ()
) -> Outcome:
    """Read a ``chat.postMessage`` answer: ``{"ok": true, "ts": ...}`` is success (the
    detail names the message's ``ts`` and channel); ``{"ok": false, "error": ...}`` is
    a failure naming Slack's error; HTTP 429 and 5xx are retryable."""
    if status == 429:
        return Outcome(False, f"retryable: rate limited by Slack (HTTP 429{_retry_after(headers)})")
    if status >= 500:
        return Outcome(False, f"retryable: Slack answered HTTP {status}: {_quote(text, secrets)}")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if status != 200 or not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        return Outcome(False, f"unexpected answer from Slack chat.postMessage (HTTP {status}): {_quote(text, secrets)}")
    if data["ok"]:
        return Outcome(True, f"ts {data.get('ts', '?')} in {data.get('channel', channel)}")
    error = _quote(str(data.get("error", "unknown error")), secrets)
    if error in TRANSIENT_ERRORS:
        return Outcome(False, f"retryable: Slack chat.postMessage to {channel}: {error}{_retry_after(headers)}")
    return Outcome(False, f"Slack refused chat.postMessage to {channel}: {error}")


# --------------------------------------------------------------------------- plugin state

_lock = threading.Lock()
_client: SlackClient | None = None
_redact: Redact | None = None
_HTTP_LOGGER = "urllib3.connectionpool"


def start(config: Settings, environ: Mapping[str, str] | None = None) -> SlackSettings | None:
    """Read and check the settings, and get ready to post; None (inactive) when neither
    a webhook nor a bot token is configured. Replaces the state of an earlier start."""
    settings = read_settings(config, environ)
    global _client, _redact
    with _lock:
        _close()
        if settings is not None:
            _client = SlackClient(settings)
            _redact = Redact(secrets_of(settings))
            logging.getLogger(_HTTP_LOGGER).addFilter(_redact)
    if settings is not None:
        where = (
            url_for_humans(settings.webhook_url or "")
            if settings.mode == WEBHOOK
            else url_for_humans(settings.post_message_url)
        )
        log.info("Slack notifications on: %s mode, posting to %s", settings.mode, where)
    return settings


def stop() -> None:
    """Close the connection pool; the plugin is inactive until the next :func:`start`."""
    with _lock:
        _close()


def _close() -> None:
    global _client, _redact
    if _client is not None:
        _client.close()
    if _redact is not None:
        logging.getLogger(_HTTP_LOGGER).removeFilter(_redact)
    _client = _redact = None


def current() -> SlackSettings | None:
    """The active settings, or None when the plugin is inactive."""
    client = _client
    return client.settings if client is not None else None


def deliver(notification: Notification) -> list[DeliveryResult] | None:
    """Post ``notification`` for its ``slack`` targets: one result per target, or None
    when it has none or the plugin is not configured (inactive)."""
    client = _client
    targets = notification.targets_for(CHANNEL)
    if client is None or not targets:
        return None
    message = build_message(notification)
    job = notification.job.name
    if client.settings.mode == WEBHOOK:
        outcome = client.post_webhook(message)
        detail = outcome.detail
        if len(targets) > 1:
            detail += f" (one post for the {len(targets)} Slack targets)"
        _log(outcome, notification.event, job, ", ".join(t.address for t in targets))
        return [DeliveryResult(t, outcome.ok, detail) for t in targets]
    results = []
    for target in targets:
        outcome = client.post_message(target.address, message)
        _log(outcome, notification.event, job, target.address)
        results.append(DeliveryResult(target, outcome.ok, outcome.detail))
    return results


def _log(outcome: Outcome, event: str, job: str, where: str) -> None:
    if outcome.ok:
        log.info("Slack %s message for job %r posted for %s: %s", event, job, where, outcome.detail)
    else:
        log.warning("Slack %s message for job %r for %s failed: %s", event, job, where, outcome.detail)
