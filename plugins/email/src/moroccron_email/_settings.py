"""The email plugin's settings: the ``[plugins.email]`` table, overridden by ``MOROCCRON_SMTP_*``.

Everything is checked once, at start-up, so a typo in a port or a missing sender stops
the process naming the setting, instead of every failure notification quietly going
nowhere later. Errors name the setting where the bad value came from: ``plugins.email.port``
for the config file, ``MOROCCRON_SMTP_PORT`` for the environment.

The password never appears in an error, a log line or a ``repr``.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from typing import Any

from moroccron.errors import FieldError, ValidationError

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_TIMEOUT",
    "ENV_PREFIX",
    "KEYS",
    "SECURITY_MODES",
    "TABLE",
    "EmailSettings",
    "is_address",
    "read_settings",
]

TABLE = "plugins.email"
"""Where the settings live in the config file (``Settings.plugin_settings("email")``)."""

ENV_PREFIX = "MOROCCRON_SMTP_"
"""An environment variable ``MOROCCRON_SMTP_<KEY>`` overrides the table's ``<key>``."""

KEYS: tuple[str, ...] = ("host", "port", "username", "password", "from", "security", "timeout", "cafile")

SECURITY_MODES: tuple[str, ...] = ("starttls", "ssl", "none")
"""``starttls``: plain connection upgraded with STARTTLS (refused if the server does not
offer it, never downgraded); ``ssl``: TLS from the first byte (SMTPS); ``none``: no TLS."""

DEFAULT_PORTS: Mapping[str, int] = {"starttls": 587, "ssl": 465, "none": 25}

DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for each network operation: connect, and every reply of the server."""

_HIDDEN = "(hidden)"


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """The checked settings.

    :ivar host: the SMTP server (an IPv6 address without brackets).
    :ivar port: its port; by default 587, 465 or 25 according to ``security``.
    :ivar sender_address: the From address alone; also the envelope sender (MAIL FROM),
        so bounces go where the From header says.
    :ivar sender_name: the display name of the From header, when one was configured
        (``from = "Moroccron <moroccron@example.com>"``).
    :ivar security: one of :data:`SECURITY_MODES`.
    :ivar timeout: seconds per network operation (see :data:`DEFAULT_TIMEOUT`).
    :ivar username: log in as this user when set (only ever over TLS).
    :ivar password: the password for ``username``; kept out of ``repr``.
    :ivar cafile: PEM file of CA certificates to trust instead of the system's, for a
        server whose certificate comes from a private CA.
    """

    host: str
    port: int
    sender_address: str
    sender_name: str = ""
    security: str = "starttls"
    timeout: float = DEFAULT_TIMEOUT
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None

    @property
    def server(self) -> str:
        """``host:port`` for messages and receipts (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def describe(self) -> str:
        """One line for the start-up log: everything but the password."""
        parts = [self.security]
        if self.username:
            parts.append(f"login as {self.username!r}")
        if self.cafile:
            parts.append(f"CA file {self.cafile}")
        parts.append(f"timeout {self.timeout:g} s")
        return f"{self.server} ({', '.join(parts)}), from {self.sender_address}"

    def tls_context(self) -> ssl.SSLContext | None:
        """The context to verify the server with; None for ``security = "none"``.

        ``ssl.create_default_context`` checks the certificate chain and the host name:
        a notification that might carry job details is not sent to a server that
        cannot prove who it is. ``cafile`` replaces the system's CAs when it is set.
        """
        if self.security == "none":
            return None
        return ssl.create_default_context(cafile=self.cafile)


def is_address(text: str) -> bool:
    """True for a bare address (``ops@example.com``) that is safe in an SMTP command
    and a header: one ``@`` with text on both sides, no spaces, no line breaks.

    ASCII only: a non-ASCII address needs SMTPUTF8, which many servers lack, and one
    such recipient would make the server refuse the whole message. Internationalised
    domains work in their ``xn--`` form.
    """
    if not text or not text.isascii() or any(c.isspace() or ord(c) < 32 or c in '<>,;"()' for c in text):
        return False
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or "@" in local:
        return False
    try:
        Address(addr_spec=text)
    except (ValueError, IndexError):
        return False
    return True


class _Reader:
    """Collects every problem so a user fixes the settings in one pass."""

    def __init__(self, values: Mapping[str, tuple[str, Any]]) -> None:
        self.values = values  # key -> (where it came from, value)
        self.errors: list[FieldError] = []

    def where(self, key: str) -> str:
        return self.values[key][0] if key in self.values else f"{TABLE}.{key}"

    def add(self, key: str, message: str, value: Any, allowed: str | None) -> None:
        self.errors.append(FieldError(self.where(key), message, value, allowed))

    def reported(self, key: str) -> bool:
        return any(e.field == self.where(key) for e in self.errors)

    def text(self, key: str, *, secret: bool = False) -> str | None:
        if key not in self.values:
            return None
        value = self.values[key][1]
        if not isinstance(value, str):
            self.add(key, "must be text", _HIDDEN if secret else value, "a string")
            return None
        return value if secret else value.strip()

    def number(self, key: str, kind: type[int] | type[float]) -> float | int | None:
        if key not in self.values:
            return None
        value = self.values[key][1]
        try:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, str):
                value = value.strip()
            number = kind(value)
            if kind is int and isinstance(value, float) and number != value:
                raise ValueError
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf), TOML has inf
            self.add(
                key,
                "is not a number" if kind is float else "is not a whole number",
                value,
                "a port from 1 to 65535" if key == "port" else "a number of seconds > 0",
            )
            return None
        return number


def _sources(
    table: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, tuple[str, Any]], list[FieldError]]:
    """Each known key's value and where it came from, the environment winning; unknown keys.

    An environment variable that is set but empty counts as unset, as container
    platforms often pass ``VAR=`` for "not configured".
    """
    values: dict[str, tuple[str, Any]] = {}
    errors: list[FieldError] = []
    for key, value in table.items():
        if key in KEYS:
            values[key] = (f"{TABLE}.{key}", value)
        else:
            errors.append(FieldError(f"{TABLE}.{key}", "unknown setting", None, ", ".join(KEYS)))
    for key in KEYS:
        name = ENV_PREFIX + key.upper()
        value = environ.get(name)
        if value is not None and value.strip():
            values[key] = (name, value)
    return values, errors


def read_settings(table: Any, environ: Mapping[str, str]) -> EmailSettings | None:
    """The checked settings, or None when no host is configured (email stays off).

    :param table: the config file's ``[plugins.email]`` table (empty when there is none).
    :param environ: the environment, for the ``MOROCCRON_SMTP_*`` overrides.
    :raises ValidationError: naming every bad setting, e.g. ``plugins.email.port`` or
        ``MOROCCRON_SMTP_PORT``; unknown keys are refused even when email is off, as a
        misspelt ``host`` would otherwise switch email off without a word.
    """
    if not isinstance(table, Mapping):
        raise ValidationError(FieldError(TABLE, "must be a table", None, f"a [{TABLE}] table"), "email plugin settings")
    values, unknown = _sources(table, environ)
    r = _Reader(values)
    r.errors.extend(unknown)
    host = r.text("host")
    if not host:
        if r.errors:
            raise ValidationError(r.errors, "email plugin settings")
        return None

    host = host.removeprefix("[").removesuffix("]")
    if any(c.isspace() for c in host) or "/" in host:
        r.add("host", "is not a host name or address", host, "e.g. smtp.example.com")
    elif host.count(":") == 1:
        r.add("host", "includes a port", host, f"the host alone; the port goes in {TABLE}.port")

    security = (r.text("security") or "starttls").lower()
    if security not in SECURITY_MODES:
        r.add("security", "unknown security mode", security, " | ".join(SECURITY_MODES))
        security = "starttls"

    port = r.number("port", int)
    if port is not None and not 1 <= port <= 65535:
        r.add("port", "is out of range", port, "a port from 1 to 65535")
    if port is None:
        port = DEFAULT_PORTS[security]

    timeout = r.number("timeout", float)
    if timeout is not None and (not math.isfinite(timeout) or timeout <= 0):
        r.add("timeout", "must be more than 0 seconds", timeout, "a number of seconds > 0")
    if timeout is None:
        timeout = DEFAULT_TIMEOUT

    sender = r.text("from")
    sender_name, sender_address = "", ""
    if "from" not in values:
        r.add(
            "from",
            "is required when a host is set",
            None,
            "the sender address, e.g. moroccron@example.com or 'Moroccron <moroccron@example.com>'",
        )
    elif sender is not None:
        sender_name, sender_address = parseaddr(sender)
        if any(c in sender for c in "\r\n") or not is_address(sender_address):
            r.add(
                "from",
                "is not an email address",
                sender,
                "e.g. moroccron@example.com or 'Moroccron <moroccron@example.com>'",
            )

    username = r.text("username") or None
    password = r.text("password", secret=True)
    # A value of the wrong kind is reported already: not again as missing.
    if username and not password and not r.reported("password"):
        r.add("password", "is required when a username is set", None, "the SMTP password")
    if password and not username and not r.reported("username"):
        r.add("username", "is required when a password is set", None, "the SMTP user name")
    if username and security == "none":
        r.add(
            "username",
            "would send the password unencrypted (security is none)",
            username,
            "security starttls or ssl, or no username",
        )

    cafile = r.text("cafile") or None
    if not r.errors and security != "none":
        try:
            ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            r.add("cafile", f"cannot be loaded ({exc})", cafile, "a readable PEM file of CA certificates")

    if r.errors:
        raise ValidationError(r.errors, "email plugin settings")
    return EmailSettings(
        host=host,
        port=int(port),
        sender_address=sender_address,
        sender_name=sender_name,
        security=security,
        timeout=float(timeout),
        username=username,
        password=password or None,
        cafile=cafile,
    )
