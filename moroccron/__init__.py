"""moroccron: Mesos + cron.

The names here are the public API of job-definition modules::

    from moroccron import Job, Resources, Container, Constraint, Owner

and of plugins (``from moroccron import hookimpl``).
"""

from moroccron.hooks import hookimpl
from moroccron.model import (
    Constraint,
    Container,
    JobSpec,
    Notify,
    Owner,
    Resources,
    Triggers,
    Volume,
)

Job = JobSpec
"""A job, as written in a job-definition module: ``Job(name=..., command=..., schedule=...)``."""

__version__ = "0.1.0"

__all__ = [
    "Constraint",
    "Container",
    "Job",
    "JobSpec",
    "Notify",
    "Owner",
    "Resources",
    "Triggers",
    "Volume",
    "__version__",
    "hookimpl",
]
