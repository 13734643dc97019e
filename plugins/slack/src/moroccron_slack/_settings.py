"""The ``[plugins.slack]`` settings: read once at start-up, checked, secrets kept out of sight.

Sources, highest first: the environment (``MOROCCRON_SLACK_*``), then the config file's
``[plugins.slack]`` table, then defaults: moroccron's own order, so the token or the
webhook URL can live in the environment rather than in a file.

Two ways to post, and exactly one must be chosen:

- ``webhook_url``: an incoming webhook. Slack fixes its channel when the webhook is
  created, so every Slack target of a notification shares one post.
- ``bot_token``: a bot token (``xoxb-...``) with the ``chat:write`` scope; each target
  (a channel such as ``#data-alerts``, or a user id) gets its own ``chat.postMessage``.

Both are secrets (the webhook URL's path is its credential): neither appears in an
error message, a log line or a ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from moroccron.checks import http_url_error, positive_seconds
from moroccron.config import Settings
from moroccron.errors import FieldError, ValidationError

__all__ = [
    "BOT",
    "DEFAULT_API_URL",
    "DEFAULT_TIMEOUT",
    "ENV_API_URL",
    "ENV_BOT_TOKEN",
    "ENV_TIMEOUT",
    "ENV_WEBHOOK_URL",
    "WEBHOOK",
    "SlackSettings",
    "read_settings",
    "url_for_humans",
]

TABLE = "plugins.slack"
DEFAULT_API_URL = "https://slack.com/api"
DEFAULT_TIMEOUT = 10.0
"""Seconds to connect, and to wait for the answer: the notification worker must not hang."""
WEBHOOK = "webhook"
BOT = "bot"

ENV_WEBHOOK_URL = "MOROCCRON_SLACK_WEBHOOK_URL"
ENV_BOT_TOKEN = "MOROCCRON_SLACK_BOT_TOKEN"
ENV_API_URL = "MOROCCRON_SLACK_API_URL"
ENV_TIMEOUT = "MOROCCRON_SLACK_TIMEOUT"

_KEYS = ("webhook_url", "bot_token", "api_url", "timeout")
_TOKEN_PREFIXES = ("xoxb-", "xoxp-")
_TOKEN_ALLOWED = "a Slack bot token (xoxb-...) with the chat:write scope"


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """The checked settings.

    :ivar mode: :data:`WEBHOOK` or :data:`BOT`.
    :ivar webhook_url: the incoming webhook (webhook mode). Secret: not in ``repr``.
    :ivar bot_token: the bot token (bot mode). Secret: not in ``repr``.
    :ivar api_url: the Web API base URL, ``https://slack.com/api`` unless overridden (tests).
    :ivar timeout: seconds to connect and seconds to wait for the answer.
    """

    mode: str
    webhook_url: str | None = field(default=None, repr=False)
    bot_token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    timeout: float = DEFAULT_TIMEOUT

    @property
    def post_message_url(self) -> str:
        return self.api_url.rstrip("/") + "/chat.postMessage"


def url_for_humans(url: str) -> str:
    """Scheme and host only: an incoming webhook's path *is* its secret, and other URLs
    may carry credentials in the user part or the query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not parts.netloc:
        return "<not a URL>"
    host = parts.netloc.rsplit("@", 1)[-1]
    hidden = "/***" if (parts.path.strip("/") or parts.query) else ""
    return f"{parts.scheme}://{host}{hidden}"


def read_settings(config: Settings, environ: Mapping[str, str] | None = None) -> SlackSettings | None:
    """The plugin's settings, checked; None when neither a webhook URL nor a bot token is
    configured (nothing to do).

    :raises ValidationError: naming each bad setting (``plugins.slack.webhook_url``, or
        ``environment variable MOROCCRON_SLACK_...``); secrets are never part of it.
    """
    environ = os.environ if environ is None else environ
    table = config.plugin_settings("slack")
    if not isinstance(table, Mapping):
        raise ValidationError(
            FieldError(TABLE, "must be a table", type(table).__name__, "[plugins.slack] with " + ", ".join(_KEYS))
        )
    errors = [
        FieldError(f"{TABLE}.{key}", "unknown setting", None, ", ".join(_KEYS)) for key in table if key not in _KEYS
    ]

    webhook_url, webhook_where = _pick(table, environ, "webhook_url", ENV_WEBHOOK_URL, None)
    bot_token, token_where = _pick(table, environ, "bot_token", ENV_BOT_TOKEN, None)
    api_url, api_where = _pick(table, environ, "api_url", ENV_API_URL, DEFAULT_API_URL)
    timeout_value, timeout_where = _pick(table, environ, "timeout", ENV_TIMEOUT, DEFAULT_TIMEOUT)

    if webhook_url is not None:
        error = http_url_error(
            webhook_url,
            webhook_where,
            "the incoming webhook URL Slack gave you, https://hooks.slack.com/services/...",
            shown=url_for_humans,
            parse_detail=False,
        )
        if error is not None:
            errors.append(error)
    if bot_token is not None:
        if not isinstance(bot_token, str):
            errors.append(FieldError(token_where, "must be text", type(bot_token).__name__, _TOKEN_ALLOWED))
        elif not bot_token.startswith(_TOKEN_PREFIXES) or any(c.isspace() for c in bot_token):
            # Say what it starts with at most: the rest is the secret.
            errors.append(FieldError(token_where, "is not a Slack token", None, _TOKEN_ALLOWED))
    if webhook_url is not None and bot_token is not None:
        errors.append(
            FieldError(
                f"{webhook_where} / {token_where}",
                "both are set, so it is unclear where messages should go",
                None,
                "one of them: webhook_url (one fixed channel) or bot_token (any channel named in the targets)",
            )
        )
    api_error = http_url_error(
        api_url, api_where, "the Slack Web API base URL, " + DEFAULT_API_URL, shown=url_for_humans, parse_detail=False
    )
    if api_error is not None:
        errors.append(api_error)
    timeout = positive_seconds(timeout_value, timeout_where, errors, DEFAULT_TIMEOUT)
    if errors:
        raise ValidationError(errors, "slack plugin settings")
    if webhook_url is None and bot_token is None:
        return None
    return SlackSettings(
        mode=WEBHOOK if webhook_url is not None else BOT,
        webhook_url=webhook_url,
        bot_token=bot_token,
        api_url=str(api_url),
        timeout=timeout,
    )


def _pick(table: Mapping[str, Any], environ: Mapping[str, str], key: str, env: str, default: Any) -> tuple[Any, str]:
    """The value of one setting and how to name it in an error: environment first; an
    empty value counts as not set (``MOROCCRON_SLACK_BOT_TOKEN=`` switches nothing on)."""
    if environ.get(env, "") != "":
        return environ[env], f"environment variable {env}"
    if table.get(key) not in (None, ""):
        return table[key], f"{TABLE}.{key}"
    return default, f"{TABLE}.{key}"
