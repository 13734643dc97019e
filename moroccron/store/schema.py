"""Schema revisions an operator asks for, checked before Alembic sees them.

Alembic answers a revision it does not know (``db upgrade 9999``, or a database that a
newer moroccron migrated) with a long traceback. :func:`check_move` turns both cases
into one :class:`SchemaError` that says what is wrong and what to do;
:func:`revisions_between` lists what a downgrade would undo, for its confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from moroccron.errors import MoroccronError

__all__ = ["Revision", "SchemaError", "check_move", "revisions_between"]

SPECIAL = ("head", "heads", "base")


class SchemaError(MoroccronError):
    """The database schema, or a revision asked for, is not one this moroccron can move between."""


@dataclass(frozen=True)
class Revision:
    """One schema revision: its id and what it adds."""

    id: str
    doc: str


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False
    except Exception:  # alembic's own resolution errors (ambiguous prefixes, ...)
        return False


def _known_list(script: ScriptDirectory) -> str:
    ids = [r.revision for r in reversed(list(script.walk_revisions()))]
    return ", ".join(["base", *ids]) + " (or head)"


def check_move(script: ScriptDirectory, current: str | None, target: str | None) -> None:
    """Refuse a database at a revision this code does not know, and an unknown ``target``.

    :raises SchemaError: naming the revision and what is known.
    """
    from moroccron import __version__

    head = script.get_current_head()
    if current is not None and not _known(script, current):
        raise SchemaError(
            f"the database schema is at revision {current!r}, which moroccron {__version__} does not know "
            f"(its newest is {head!r}): a newer moroccron migrated it. Run that newer version, or downgrade the "
            f"database with it (`moroccron db downgrade {head}`) before using this one"
        )
    if target is not None and target not in SPECIAL and not _known(script, target):
        raise SchemaError(f"unknown schema revision {target!r}: moroccron {__version__} knows {_known_list(script)}")


def revisions_between(script: ScriptDirectory, current: str | None, target: str) -> list[Revision]:
    """The revisions a downgrade from ``current`` to ``target`` undoes, newest first.

    :raises SchemaError: ``target`` is not below ``current``.
    """
    if current is None:
        return []
    lower = "base" if target == "base" else script.get_revision(target).revision
    if lower == current:
        return []
    try:
        undone = list(script.iterate_revisions(current, lower))
    except Exception:
        raise SchemaError(
            f"cannot downgrade to {target!r}: the database is at {current!r}, which is not above it "
            "(use `moroccron db upgrade` to go up)"
        ) from None
    return [Revision(r.revision, (r.doc or "").strip()) for r in undone if r.revision != lower]
