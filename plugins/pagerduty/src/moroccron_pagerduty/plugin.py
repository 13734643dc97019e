"""The ``pagerduty`` plugin's hook implementations; the work is in the private modules.

Registered from the entry point ``[project.entry-points.moroccron] pagerduty``; block
it with ``MOROCCRON_DISABLE_PLUGINS=pagerduty``. See README.md for the settings.
"""

from __future__ import annotations

from moroccron.config import Settings
from moroccron.errors import FieldError
from moroccron.hooks import hookimpl
from moroccron.hooks.types import DeliveryResult, Notification, NotifyChannel
from moroccron.model import JobSpec
from moroccron_pagerduty import _delivery, _events

__all__ = [
    "CHANNEL",
    "moroccron_notify",
    "moroccron_notify_channels",
    "moroccron_shutdown",
    "moroccron_startup",
    "moroccron_validate_job",
]


def _address(address: str) -> str:
    """Any non-empty address: PagerDuty itself says at delivery whether it exists."""
    return address


CHANNEL = NotifyChannel("pagerduty", _address, "a PagerDuty service: a name in [plugins.pagerduty.services]", "SERVICE")
"""The ``pagerduty`` channel: targets ``pagerduty:SERVICE``, owners' ``contacts.pagerduty``."""


@hookimpl
def moroccron_startup(config: Settings) -> None:
    """Check ``[plugins.pagerduty]`` and the ``MOROCCRON_PAGERDUTY_*`` variables now, so a
    bad URL or routing key stops start-up instead of losing the first page; with no
    service configured the plugin stays inactive."""
    _delivery.start(config)


@hookimpl
def moroccron_shutdown() -> None:
    """Close the connection pool."""
    _delivery.stop()


@hookimpl
def moroccron_validate_job(job: JobSpec) -> list[FieldError] | None:
    """Refuse a severity label PagerDuty does not know: the typo would otherwise only
    show when the job fails, as a page at the wrong severity."""
    error = _events.label_error(job)
    return [error] if error is not None else None


@hookimpl
def moroccron_notify(notification: Notification) -> list[DeliveryResult] | None:
    """Trigger (failure, skipped, disabled) or resolve (recovery) the job's incident on
    each ``pagerduty:SERVICE`` target; never raises for a failed delivery."""
    return _delivery.deliver(notification)


@hookimpl
def moroccron_notify_channels() -> list[NotifyChannel]:
    """The ``pagerduty`` channel, delivered by :func:`moroccron_notify`."""
    return [CHANNEL]
