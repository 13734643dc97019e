"""moroccron-pagerduty: failed moroccron runs open PagerDuty incidents, recoveries resolve them.

Install it next to moroccron (``pip install moroccron-pagerduty``), name services in
``[plugins.pagerduty.services]`` and address jobs' notifications to ``pagerduty:SERVICE``.
The hooks are in :mod:`moroccron_pagerduty.plugin`; README.md documents the settings
and the events sent.
"""

__version__ = "0.1.0"
