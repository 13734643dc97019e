"""moroccron-slack: moroccron notifications as Slack Block Kit messages.

Install it next to moroccron (``pip install moroccron-slack``), configure an incoming
webhook or a bot token in ``[plugins.slack]`` and address jobs' notifications to
``slack:#channel``. The hooks are in :mod:`moroccron_slack.plugin`; README.md documents
the settings and the messages.
"""

__version__ = "0.1.0"
