"""An example channel plugin, as a pip-installed one would be: it registers the
``opsgenie`` channel and delivers the notifications' targets on it, without any change
to moroccron's core."""

from __future__ import annotations

import re

from moroccron.hooks import hookimpl
from moroccron.hooks.types import DeliveryResult, Notification, NotifyChannel

_TEAM = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def team(address: str) -> str:
    """An Opsgenie team: lower-cased, then letters, digits and '-'."""
    normal = address.strip().lower()
    if not _TEAM.fullmatch(normal):
        raise ValueError("is not an Opsgenie team (letters, digits and '-', e.g. team-data)")
    return normal


class Opsgenie:
    """Registers ``opsgenie`` and records what it was asked to deliver."""

    CHANNEL = NotifyChannel("opsgenie", team, "an Opsgenie team", "team-data")

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str, str]] = []  # (event, team, subject)

    @hookimpl
    def moroccron_notify_channels(self) -> list[NotifyChannel]:
        return [self.CHANNEL]

    @hookimpl
    def moroccron_notify(self, notification: Notification) -> list[DeliveryResult] | None:
        targets = notification.targets_for("opsgenie")
        for target in targets:
            self.delivered.append((notification.event, target.address, notification.subject))
        return [DeliveryResult(t, True, f"alert for {t.address}") for t in targets] or None
