"""The ``email`` plugin's hooks: deliver ``email:ADDRESS`` notification targets over SMTP.

Only hook implementations live here; settings are in :mod:`moroccron_email._settings`
and sending in :mod:`moroccron_email._smtp`. Registered from the ``moroccron`` entry
point group as ``email`` (block it with ``MOROCCRON_DISABLE_PLUGINS=email``).
"""

from __future__ import annotations

from moroccron.config import Settings
from moroccron.hooks import hookimpl
from moroccron.hooks.types import DeliveryResult, Notification
from moroccron_email import _smtp

__all__ = ["moroccron_notify", "moroccron_shutdown", "moroccron_startup"]


@hookimpl
def moroccron_startup(config: Settings) -> None:
    """Check the settings now, so a wrong port or a missing sender stops start-up with
    the setting's name instead of failing at the first notification. Connects to
    nothing: the first notification does. No host configured: email stays off."""
    _smtp.start(config)


@hookimpl
def moroccron_shutdown() -> None:
    """Forget the settings; no connection is kept between notifications, so there is
    nothing to flush or close."""
    _smtp.stop()


@hookimpl
def moroccron_notify(notification: Notification) -> list[DeliveryResult] | None:
    """Send the notification to its ``email`` targets, one result per target; failed
    deliveries are results with ``ok=False``, never exceptions, so the outbox retries
    exactly the targets that failed. None when email is off or there is no email target."""
    return _smtp.notify(notification)
