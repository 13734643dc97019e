"""The ``[plugins.pagerduty]`` settings: read once at start-up, checked, secrets kept out of sight.

Sources, highest first: the environment (``MOROCCRON_PAGERDUTY_*``), then the config
file's ``[plugins.pagerduty]`` table, then defaults. That is moroccron's own order, so
an operator can keep routing keys out of the config file and in the environment.

Routing (integration) keys are secrets: anyone holding one can open incidents on that
service. They never appear in an error message, a log line or a ``repr``; errors name
the service and the setting instead.
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
    "DEFAULT_EVENTS_URL",
    "DEFAULT_SEVERITY",
    "DEFAULT_TIMEOUT",
    "ENV_EVENTS_URL",
    "ENV_SERVICES",
    "ENV_SEVERITY",
    "ENV_TIMEOUT",
    "SEVERITIES",
    "PagerDutySettings",
    "read_settings",
    "url_for_humans",
]

TABLE = "plugins.pagerduty"
DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITIES: tuple[str, ...] = ("critical", "error", "warning", "info")
"""What PagerDuty accepts as ``payload.severity``."""
DEFAULT_SEVERITY = "error"
DEFAULT_TIMEOUT = 10.0
"""Seconds to connect, and to wait for the answer: the notification worker must not hang."""
ROUTING_KEY_LENGTH = 32
"""PagerDuty's integration keys are 32 characters; it answers 400 to any other length."""

ENV_EVENTS_URL = "MOROCCRON_PAGERDUTY_EVENTS_URL"
ENV_SERVICES = "MOROCCRON_PAGERDUTY_SERVICES"
ENV_SEVERITY = "MOROCCRON_PAGERDUTY_SEVERITY"
ENV_TIMEOUT = "MOROCCRON_PAGERDUTY_TIMEOUT"

_KEYS = ("events_url", "services", "severity", "timeout")
_URL_ALLOWED = "an http:// or https:// URL with a host, e.g. " + DEFAULT_EVENTS_URL
_KEY_ALLOWED = (
    f"the {ROUTING_KEY_LENGTH}-character integration key of an Events API v2 "
    "integration (Service > Integrations in PagerDuty)"
)


@dataclass(frozen=True, slots=True)
class PagerDutySettings:
    """The checked settings.

    :ivar events_url: where events are POSTed (the Events API v2 ``enqueue`` endpoint).
    :ivar services: service name, as written in ``pagerduty:NAME`` targets -> routing key.
        Left out of ``repr`` so that logging the settings cannot leak a key.
    :ivar severity: ``payload.severity`` of failure events, unless a job's label says otherwise.
    :ivar timeout: seconds to connect and seconds to wait for the answer.
    """

    events_url: str
    services: Mapping[str, str] = field(repr=False)
    severity: str = DEFAULT_SEVERITY
    timeout: float = DEFAULT_TIMEOUT

    def service_names(self) -> str:
        """The configured service names, for messages that must not show the keys."""
        return ", ".join(sorted(self.services)) or "none"


def url_for_humans(url: str) -> str:
    """``url`` with user, password, query and fragment hidden, for errors and logs.

    The events URL is not secret in itself, but an operator may point it at a proxy
    that takes credentials in the URL.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not parts.netloc:
        return "<not a URL>"
    host = parts.netloc.rsplit("@", 1)[-1]
    query = "?***" if parts.query else ""
    return f"{parts.scheme}://{host}{parts.path}{query}"


def read_settings(config: Settings, environ: Mapping[str, str] | None = None) -> PagerDutySettings | None:
    """The plugin's settings, checked; None when no service is configured (nothing to do).

    Every problem is reported at once, each naming the setting as the operator wrote it
    (``plugins.pagerduty.events_url``, or ``environment variable MOROCCRON_...``).

    :raises ValidationError: a setting is missing its value, has the wrong kind, or a
        value PagerDuty would refuse. Routing keys are never part of the message.
    """
    environ = os.environ if environ is None else environ
    table = config.plugin_settings("pagerduty")
    errors: list[FieldError] = []
    if not isinstance(table, Mapping):
        raise ValidationError(
            FieldError(TABLE, "must be a table", type(table).__name__, "[plugins.pagerduty] with " + ", ".join(_KEYS))
        )
    for key in table:
        if key not in _KEYS:
            errors.append(FieldError(f"{TABLE}.{key}", "unknown setting", None, ", ".join(_KEYS)))

    events_url, url_where = _pick(table, environ, "events_url", ENV_EVENTS_URL, DEFAULT_EVENTS_URL)
    url_error = http_url_error(events_url, url_where, _URL_ALLOWED, shown=url_for_humans)
    if url_error is not None:
        errors.append(url_error)

    severity, severity_where = _pick(table, environ, "severity", ENV_SEVERITY, DEFAULT_SEVERITY)
    if severity not in SEVERITIES:
        errors.append(FieldError(severity_where, "not a PagerDuty severity", severity, " | ".join(SEVERITIES)))

    timeout_value, timeout_where = _pick(table, environ, "timeout", ENV_TIMEOUT, DEFAULT_TIMEOUT)
    timeout = positive_seconds(timeout_value, timeout_where, errors, DEFAULT_TIMEOUT)

    services = _services(table, environ, errors)
    if errors:
        raise ValidationError(errors, "pagerduty plugin settings")
    if not services:
        return None
    return PagerDutySettings(events_url=str(events_url), services=services, severity=str(severity), timeout=timeout)


def _pick(table: Mapping[str, Any], environ: Mapping[str, str], key: str, env: str, default: Any) -> tuple[Any, str]:
    """The value of one setting and how to name it in an error: environment first."""
    if env in environ:
        return environ[env], f"environment variable {env}"
    if key in table:
        return table[key], f"{TABLE}.{key}"
    return default, f"{TABLE}.{key}"


def _services(table: Mapping[str, Any], environ: Mapping[str, str], errors: list[FieldError]) -> dict[str, str]:
    """Service name -> routing key, from the config table, then the environment (which
    wins for a name it repeats, so a key can be moved out of the file name by name)."""
    services: dict[str, str] = {}
    raw = table.get("services", {})
    if not isinstance(raw, Mapping):
        errors.append(
            FieldError(
                f"{TABLE}.services",
                "must be a table of service name = routing key",
                type(raw).__name__,
                '[plugins.pagerduty.services] db-oncall = "<routing key>"',
            )
        )
    else:
        for name, key in raw.items():
            _add_service(services, str(name), key, f"{TABLE}.services.{name}", errors)
    text = environ.get(ENV_SERVICES)
    if text is not None:
        for i, item in enumerate(p.strip() for p in text.split(",")):
            if not item:
                continue
            name, sep, key = item.partition("=")
            where = f"environment variable {ENV_SERVICES}[{i}]"
            if not sep or not name.strip():
                # Not echoed: a malformed item may be a bare routing key.
                errors.append(
                    FieldError(where, "must be NAME=ROUTING_KEY", None, "comma-separated NAME=ROUTING_KEY pairs")
                )
                continue
            _add_service(services, name.strip(), key.strip(), f"{where} ({name.strip()})", errors)
    return services


def _add_service(services: dict[str, str], name: str, key: Any, where: str, errors: list[FieldError]) -> None:
    if not name or any(c.isspace() for c in name):
        errors.append(
            FieldError(where, "is not a service name", name, "the ADDRESS of pagerduty:ADDRESS targets: no whitespace")
        )
        return
    if not isinstance(key, str):
        errors.append(FieldError(where, "must be text", type(key).__name__, _KEY_ALLOWED))
        return
    if len(key) != ROUTING_KEY_LENGTH or any(c.isspace() for c in key):
        # The value is a secret: say how long it is, not what it is.
        errors.append(FieldError(where, f"is not a routing key ({len(key)} characters)", None, _KEY_ALLOWED))
        return
    services[name] = key
