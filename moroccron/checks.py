"""Checks shared by settings readers, in the core and in plugin distributions.

Plugins (``moroccron-pagerduty``, ``moroccron-slack``) and built-in settings readers
(the http trigger) validate the same kinds of values: an http(s) URL that may carry a
secret, a timeout in seconds. One implementation here keeps their error messages and
their care with secrets the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from moroccron.errors import FieldError

__all__ = ["http_url_error", "mask_url", "positive_seconds"]


def mask_url(url: str) -> str:
    """``url`` fit for logs and errors: user, password, query and fragment hidden.

    URLs often carry tokens (``https://user:token@host/...``, ``...?token=...``); the
    scheme, host, port and path are enough to tell URLs apart.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.netloc:
        # Not a URL we would accept; hide whatever looks like userinfo or a query anyway.
        head = url.partition("#")[0]
        head, question, _ = head.partition("?")
        if "@" in head:
            head = "***@" + head.rsplit("@", 1)[1]
        return head + ("?***" if question else "")
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def http_url_error(
    url: Any, where: str, allowed: str, *, shown: Callable[[str], str] = mask_url, parse_detail: bool = True
) -> FieldError | None:
    """The problem with ``url`` as an http(s) URL, or None.

    :param where: the setting as the operator wrote it (``plugins.slack.webhook_url``).
    :param shown: how the URL appears in the error; the default hides credentials, a
        caller whose URL path is itself a secret passes something stricter.
    :param parse_detail: include the parser's own message for an unparseable URL.
    """
    if not isinstance(url, str):
        return FieldError(where, "must be a URL", type(url).__name__, allowed)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        message = f"is not a valid URL ({exc})" if parse_detail else "is not a valid URL"
        return FieldError(where, message, shown(url), allowed)
    if parts.scheme.lower() not in ("http", "https"):
        return FieldError(where, "must use http or https", shown(url), allowed)
    if not parts.hostname:
        return FieldError(where, "has no host", shown(url), allowed)
    if any(c.isspace() for c in url):
        return FieldError(where, "contains whitespace", shown(url), allowed)
    return None


def positive_seconds(value: Any, where: str, errors: list[FieldError], default: float) -> float:
    """``value`` as a finite number of seconds > 0; otherwise record an error and return ``default``."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        errors.append(FieldError(where, "must be more than 0 seconds", value, "a number > 0"))
        return default
    return number
