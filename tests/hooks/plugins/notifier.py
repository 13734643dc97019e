"""A notifier for one channel, delivering into a list instead of a network service."""

from __future__ import annotations

from moroccron.hooks import hookimpl
from moroccron.hooks.types import DeliveryResult


class ChannelNotifier:
    def __init__(self, channel: str, fail_for: frozenset[str] = frozenset()) -> None:
        self.channel = channel
        self.fail_for = fail_for
        self.outbox: list[tuple[str, str]] = []

    @hookimpl
    def moroccron_notify(self, notification):
        results = []
        for target in notification.targets_for(self.channel):
            if target.address in self.fail_for:
                results.append(DeliveryResult(target, False, "HTTP 500"))
            else:
                self.outbox.append((target.address, notification.subject))
                results.append(DeliveryResult(target, True, "sent"))
        return results or None
