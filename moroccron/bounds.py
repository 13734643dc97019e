"""The bounds every job and owner field is held to: ranges, lengths, counts, characters.

The job model (:mod:`moroccron.model`) applies them when a :class:`~moroccron.model.JobSpec`
or :class:`~moroccron.model.Owner` is built, so every entry point (the native API, the
Chronos API, the UI form, job-definition modules) gets the same limits and the same
error messages. docs/limits.md lists each bound with the reason for it; keep the two
in step.

Why bounds at all: a value that is merely absurd (a timeout of 10^12 seconds, a
description of 100 MB, a name ending in a newline) is accepted once and then breaks
something far away and much later: date arithmetic in the scheduler, every listing
that returns the job, a file name on an agent. Refusing it at the door, naming the field,
is cheaper for everyone.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "MAX_SECONDS",
    "RESOURCE_LIMITS",
    "MIN_CPUS",
    "MAX_GPUS",
    "MAX_RETRIES",
    "MAX_DISABLE_AFTER_FAILURES",
    "MAX_KILL_GRACE_SECONDS",
    "DEFAULT_KILL_GRACE_SECONDS",
    "NAME_MAX",
    "TEXT_LIMITS",
    "LIST_LIMITS",
    "MAX_OFFSET",
    "MAX_ISO_REPEATS",
    "SCHEDULE_MAX",
    "TIMEZONE_MAX",
    "ROLE_ALLOWED",
    "role_problem",
    "text_allowed",
    "text_problem",
]

# ----------------------------------------------------------------------------- numbers

MAX_SECONDS: Final = 30 * 86400
"""Every duration or delay in seconds (timeout, starting deadline, retry delay): 30 days.
A longer one is a mistake in units, and date arithmetic on 10^12 seconds overflows."""

MIN_CPUS: Final = 0.001
"""Mesos keeps scalar resources to three decimal places: less than this is zero cpus."""

RESOURCE_LIMITS: Final = {
    "cpus": 4096.0,  # the largest single machines have under 2,000 hardware threads
    "mem": 64.0 * 1024**2,  # MB: 64 TiB, past the largest single-system-image servers
    "disk": 1024.0**3,  # MB: 1 PiB of local disk on one agent
    "gpus": 64.0,  # whole GPUs (Mesos refuses fractions); servers carry 8-16
}
"""The most one task may ask for: more than any Mesos agent could offer, so a job
asking for more would stay queued forever."""

MAX_GPUS: Final = int(RESOURCE_LIMITS["gpus"])
MAX_RETRIES: Final = 100
MAX_DISABLE_AFTER_FAILURES: Final = 10_000

DEFAULT_KILL_GRACE_SECONDS: Final = 5.0
"""Seconds between SIGTERM and SIGKILL when a run is killed (timeout, a kill by hand):
enough for a program to flush and exit, short enough that a kill still means stop."""
MAX_KILL_GRACE_SECONDS: Final = 600.0
"""A task that needs more than ten minutes to stop is not being stopped; and every kill
(a timeout, a replaced run) holds the run's resources for this long."""

MAX_OFFSET: Final = 1_000_000_000
"""Pagination offsets (API ``offset``, the UI's ``page``): SQL engines take at most a
signed 64-bit offset, and no listing has a billion rows to skip."""

# ----------------------------------------------------------------------------- schedules

SCHEDULE_MAX: Final = 256
"""Characters in a schedule expression; the longest sensible cron list fits in 200."""

TIMEZONE_MAX: Final = 64
"""Characters in a time zone name; the longest IANA name has 32."""

MAX_ISO_REPEATS: Final = 1_000_000_000
"""``R<n>`` in an ISO 8601 schedule: a billion fires is 31 years of one a second."""

# ----------------------------------------------------------------------------- text

NAME_MAX: Final = 200
"""Characters in a job name; it is also part of every Mesos task id and sandbox path."""

TEXT_LIMITS: Final = {
    "command": 32_768,  # Linux passes at most 128 KiB in one argument (sh -c COMMAND)
    "description": 16_384,
    "argument": 4_096,
    "owner": 320,  # an email address: 64 + @ + 255
    "uri": 4_096,
    "user": 256,
    "path": 4_096,  # PATH_MAX
    "image": 1_024,
    "network": 256,
    "parameters_key": 256,
    "parameters_value": 4_096,
    "constraint_field": 256,
    "constraint_value": 1_024,
    "env_key": 256,
    "env_value": 32_768,
    "labels_key": 128,
    "labels_value": 1_024,
    "notify_target": 512,
    "owner_name": 256,
    "owner_channel": 256,  # a Slack channel or a PagerDuty service
    "role": 256,  # a Mesos role, hierarchical with '/'
    "volume_name": 256,  # a Docker volume's name or driver
    "driver_options_key": 256,
    "driver_options_value": 4_096,
}
"""Characters in each kind of text field."""

LIST_LIMITS: Final = {
    "arguments": 256,
    "parents": 1_000,
    "owners": 100,
    "uris": 100,
    "constraints": 100,
    "volumes": 100,
    "parameters": 100,
    "driver_options": 100,  # a Docker volume driver's options
    "triggers": 100,  # each of triggers.on_success and triggers.on_failure
    "notify": 50,  # each of notify.on_failure, on_success and on_recovery
    "env": 256,
    "labels": 64,
    "channels": 16,  # an owner's channels for one event
    "network_infos": 16,  # networks a container joins besides its ``network``
}
"""Items in each list (or entries in each mapping)."""

# Unicode category Cc (C0, DEL, C1) and the surrogate code points, which are not text:
# a lone surrogate cannot even be encoded as UTF-8 to be stored.
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same, but tab, line feed and carriage return are allowed (multi-line text; a
# browser's textarea sends CRLF line ends).
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str, limit: int, *, multiline: bool = False) -> str | None:
    """What is wrong with ``value`` as text of at most ``limit`` characters, or None.

    ``multiline`` allows tabs and line breaks; no text may hold other control
    characters (NUL above all: PostgreSQL cannot store it, C programs stop reading at
    it) or lone surrogates (not Unicode text; they cannot be encoded).
    """
    if len(value) > limit:
        return f"is too long ({len(value)} characters)"
    bad = (_CONTROL_BUT_LINES if multiline else _ANY_CONTROL).search(value)
    if bad is None:
        return None
    code = ord(bad.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"contains a lone surrogate (U+{code:04X}), which is not Unicode text"
    return f"contains a control character (U+{code:04X})"


def text_allowed(limit: int, *, multiline: bool = False) -> str:
    """The ``allowed`` text of an error from :func:`text_problem`."""
    kind = "text with line breaks and tabs" if multiline else "one line of text"
    return f"{kind}, at most {limit} characters, no control characters"


# ----------------------------------------------------------------------------- roles

ROLE_ALLOWED: Final = (
    "'*' or a Mesos role: components separated by '/', none empty, '.', '..' or '*', "
    "none starting with '-', no whitespace"
)


def role_problem(role: str) -> str | None:
    """What a Mesos master would refuse in ``role`` (its role-name rules), or None.

    Checked here so a job or a setting naming a bad role is refused when it is written,
    not by the master at the first launch (or at subscription, for every job at once).
    """
    if role == "*":
        return None
    if not role:
        return "is empty"
    problem = text_problem(role, TEXT_LIMITS["role"])
    if problem is not None:
        return problem
    if role.startswith("/") or role.endswith("/") or "//" in role:
        return "has an empty component (a '/' at either end, or two in a row)"
    for part in role.split("/"):
        if part in (".", "..", "*"):
            return f"has the component {part!r}"
        if part.startswith("-"):
            return f"has a component starting with '-' ({part!r})"
        if any(ch.isspace() for ch in part):  # control characters were refused above
            return "contains whitespace"
    return None
