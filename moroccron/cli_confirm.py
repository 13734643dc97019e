"""Asking before a CLI command destroys something (``jobs delete``, ``db downgrade``).

``--yes`` answers for the operator. Without it the question is asked on the terminal;
when standard input is not a terminal (a script, CI) nobody can answer, so the command
refuses rather than guessing.
"""

from __future__ import annotations

import sys
from typing import TextIO

from moroccron.errors import MoroccronError

__all__ = ["NotConfirmed", "confirm"]


class NotConfirmed(MoroccronError):
    """The operator said no, or could not be asked."""


def confirm(question: str, *, yes: bool, what: str, stdin: TextIO | None = None, out: TextIO | None = None) -> None:
    """Return when the operator agreed to ``question`` (or ``yes`` was given).

    :param what: the action, for the refusal ("delete job nightly").
    :raises NotConfirmed: the answer was not yes, or standard input is not a terminal.
    """
    if yes:
        return
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stderr if out is None else out
    if not stdin.isatty():
        raise NotConfirmed(
            f"will not {what} without confirmation: standard input is not a terminal; pass --yes to confirm"
        )
    out.write(f"{question} [y/N] ")
    out.flush()
    answer = stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise NotConfirmed(f"{what}: not confirmed, nothing was changed")
