"""Notification channels: which ones exist, and how each checks an address.

A channel is a name (``email``, ``slack``, ``opsgenie``) and a validator for the
addresses written on it. Plugins register channels through the
:func:`~moroccron.hooks.spec.moroccron_notify_channels` hook; the
:class:`~moroccron.hooks.manager.PluginManager` adds what they return to this registry
when it is built. Job definitions (``notify`` targets, ``channel:address``), owners'
``contacts`` and ``preferences`` and the ``admin_contacts`` setting are checked against
it wherever they are built, which is why the registry belongs to the process rather
than to one manager: channels are only ever added to it.

``email`` and ``webhook`` are moroccron's own channels. ``slack`` and ``pagerduty`` are
registered by their plugins; the registry starts with a plain entry for each of them so
that definitions and owners written before channels were plugins keep loading on an
instance without those plugins (their messages are recorded as undelivered, as before).

No I/O here: the model imports this module.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CHANNEL_NAME_RE",
    "EMAIL",
    "WEBHOOK",
    "NotifyChannel",
    "allowed_targets",
    "get",
    "names",
    "register",
    "registered",
    "split_target",
]

CHANNEL_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
"""A whole channel name (``fullmatch``): what comes before the ``:`` of a target."""


@dataclass(frozen=True, slots=True)
class NotifyChannel:
    """A notification channel a plugin delivers to.

    :ivar name: the channel's name, as targets (``name:address``), owners' ``contacts``
        and ``preferences`` write it: lower case letters, digits, ``_`` and ``-``.
    :ivar validate: checks an address on this channel and returns it normalised (or
        unchanged); raises :class:`ValueError` with a message that says what is allowed.
        Must not do I/O: it runs whenever a job or an owner is built.
    :ivar description: what an address is, for people (forms, error messages).
    :ivar example: one valid address, shown in help and error messages.
    """

    name: str
    validate: Callable[[str], str]
    description: str = ""
    example: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not CHANNEL_NAME_RE.fullmatch(self.name):
            raise ValueError(
                f"channel name {self.name!r} must be 1-32 characters: lower case letters, "
                "digits, '_' and '-', starting with a letter"
            )
        if not callable(self.validate):
            raise ValueError(f"channel {self.name!r}: validate must be callable, not {self.validate!r}")

    def check(self, address: object) -> str:
        """``address`` normalised by :attr:`validate`; :class:`ValueError` when it is not valid."""
        if not isinstance(address, str) or not address.strip():
            raise ValueError("must be a non-empty string")
        out = self.validate(address)
        if not isinstance(out, str) or not out:
            raise ValueError(f"the {self.name} channel's validator returned {out!r}, not an address")
        return out

    @property
    def placeholder(self) -> str:
        """``name:EXAMPLE``, for lists of what is allowed."""
        return f"{self.name}:{self.example or 'ADDRESS'}"


def any_address(address: str) -> str:
    """Any non-empty address, unchanged (the channel checks it when it delivers)."""
    return address


def _email(address: str) -> str:
    if "@" not in address:
        raise ValueError("is not an email address (user@example.com)")
    return address


EMAIL = NotifyChannel("email", _email, "an email address", "ops@example.com")
WEBHOOK = NotifyChannel("webhook", any_address, "the name of a webhook in the [webhooks] setting", "NAME")
_LEGACY = (
    NotifyChannel("slack", any_address, "a Slack channel or user (the slack plugin delivers)", "#CHANNEL"),
    NotifyChannel("pagerduty", any_address, "a PagerDuty service (the pagerduty plugin delivers)", "SERVICE"),
)

_lock = threading.Lock()
_registry: dict[str, NotifyChannel] = {c.name: c for c in (EMAIL, _LEGACY[0], _LEGACY[1], WEBHOOK)}


def register(channels: Iterable[NotifyChannel]) -> None:
    """Add ``channels`` to the registry; one with the name of a registered channel replaces it."""
    with _lock:
        for channel in channels:
            _registry[channel.name] = channel


def registered() -> Mapping[str, NotifyChannel]:
    """Every registered channel by name, in registration order (a read-only copy)."""
    with _lock:
        return MappingProxyType(dict(_registry))


def names() -> tuple[str, ...]:
    """The registered channel names, in registration order."""
    return tuple(registered())


def get(name: str) -> NotifyChannel | None:
    return _registry.get(name)


def allowed_targets() -> str:
    """What a target may be, for messages: ``'email:ops@example.com', 'slack:#CHANNEL' or ...``."""
    shown = [f"'{c.placeholder}'" for c in registered().values()]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def split_target(text: str, *, check: bool = True) -> tuple[str, str]:
    """``channel:address`` as (channel, address).

    :param check: also check the address with its channel's validator (and return it as
        written: a target is kept the way its job wrote it).
    :raises ValueError: the text is not ``channel:address`` with a registered channel
        and a non-empty address without spaces, or the channel refuses the address.
    """
    channel, sep, address = text.partition(":") if isinstance(text, str) else ("", "", "")
    if not sep or not address or any(ch.isspace() for ch in address):
        raise ValueError("is not a notification target")
    known = get(channel)
    if known is None:
        raise ValueError(f"unknown channel {channel!r}; registered: {', '.join(names())}")
    if check:
        try:
            known.check(address)
        except ValueError as exc:
            raise ValueError(f"{channel} address {exc}") from None
    return channel, address
