"""moroccron-email: email notifications for moroccron, over SMTP.

The plugin is :mod:`moroccron_email.plugin`, found through the ``moroccron`` entry point
``email``; nothing here needs importing by hand. See README.md for the settings.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
