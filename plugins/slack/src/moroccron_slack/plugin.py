"""The ``slack`` plugin's hook implementations; the work is in the private modules.

Registered from the entry point ``[project.entry-points.moroccron] slack``; block it
with ``MOROCCRON_DISABLE_PLUGINS=slack``. See README.md for the settings.
"""

from __future__ import annotations

from moroccron.config import Settings
from moroccron.hooks import hookimpl
from moroccron.hooks.types import DeliveryResult, Notification, NotifyChannel
from moroccron_slack import _delivery

__all__ = ["CHANNEL", "moroccron_notify", "moroccron_notify_channels", "moroccron_shutdown", "moroccron_startup"]


def _address(address: str) -> str:
    """Any non-empty address: Slack itself says at delivery whether it exists."""
    return address


CHANNEL = NotifyChannel("slack", _address, "a Slack channel (#name), user (@name) or channel/user id", "#CHANNEL")
"""The ``slack`` channel: targets ``slack:#CHANNEL``, owners' ``contacts.slack``."""


@hookimpl
def moroccron_startup(config: Settings) -> None:
    """Check ``[plugins.slack]`` and the ``MOROCCRON_SLACK_*`` variables now, so a bad URL
    or token stops start-up instead of losing the first alert; with neither a webhook
    nor a bot token configured the plugin stays inactive."""
    _delivery.start(config)


@hookimpl
def moroccron_shutdown() -> None:
    """Close the connection pool."""
    _delivery.stop()


@hookimpl
def moroccron_notify(notification: Notification) -> list[DeliveryResult] | None:
    """Post a Block Kit message for the ``slack:CHANNEL`` targets (one shared post in
    webhook mode, one per target with a bot token); never raises for a failed delivery."""
    return _delivery.deliver(notification)


@hookimpl
def moroccron_notify_channels() -> list[NotifyChannel]:
    """The ``slack`` channel, delivered by :func:`moroccron_notify`."""
    return [CHANNEL]
