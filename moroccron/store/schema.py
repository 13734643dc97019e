"""The store's schema: its Alembic migrations (:class:`SchemaMixin`), and the revisions an
operator asks for, checked before Alembic sees them.

Alembic answers a revision it does not know (``db upgrade 9999``, or a database that a
newer moroccron migrated) with a long traceback. :func:`check_move` turns both cases
into one :class:`SchemaError` that says what is wrong and what to do;
:func:`revisions_between` lists what a downgrade would undo, for its confirmation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from moroccron.errors import MoroccronError
from moroccron.store.base import StoreBase

__all__ = ["MIGRATIONS_DIR", "Revision", "SchemaError", "SchemaMixin", "check_move", "revisions_between"]

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


MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
"""The Alembic script directory, found through the package so it works when installed."""
_MIGRATION_LOCK_ID = 0x6D6F726F  # pg_advisory_xact_lock key ("moro") serialising upgrades


class SchemaMixin(StoreBase):
    """The :class:`~moroccron.store.Store`'s schema migrations (Alembic)."""

    def alembic_config(self, connection: Connection | None = None) -> Config:
        """An Alembic config for this database, built in code: no alembic.ini needed.

        With ``connection``, migrations run on it (and inside its transaction);
        moroccron/migrations/env.py looks for it in ``config.attributes``.
        """
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        # ConfigParser interpolates '%', which URL-encoded passwords contain.
        cfg.set_main_option("sqlalchemy.url", self.url.render_as_string(hide_password=False).replace("%", "%%"))
        if connection is not None:
            cfg.attributes["connection"] = connection
        return cfg

    @contextmanager
    def migration_connection(self) -> Iterator[Connection]:
        """A connection in a write transaction, ready for Alembic.

        PostgreSQL: an advisory lock makes instances that start at the same time run
        the upgrade one after the other (the second then finds nothing to do).
        SQLite: ``BEGIN IMMEDIATE`` serialises them, and foreign keys are switched off
        for the migration, because Alembic's batch mode rebuilds a table by copying it
        and dropping the original, which with foreign keys on would cascade-delete
        every dependent row. ``PRAGMA foreign_key_check`` then refuses to commit a
        migration that left a dangling reference.
        """
        with self._write_engine.connect() as conn:
            raw = conn.connection.dbapi_connection if self.dialect == "sqlite" else None
            if raw is not None:
                raw.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction
            try:
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
                    yield conn
                    if raw is not None:
                        bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if bad:
                            raise RuntimeError(f"migration left dangling foreign keys: {bad[:10]}")
            finally:
                if raw is not None:
                    raw.execute("PRAGMA foreign_keys = ON")

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema up to ``revision`` (``moroccron db upgrade``).

        :raises SchemaError: the database is at a revision this code does not know (a
            newer moroccron migrated it), or ``revision`` is unknown.
        """
        check_move(self.script(), self.current_revision(), revision)
        with self.migration_connection() as conn:
            command.upgrade(self.alembic_config(conn), revision)

    def downgrade(self, revision: str) -> None:
        """Migrate the schema down to ``revision`` (``"base"`` drops every table).

        :raises SchemaError: as :meth:`upgrade`.
        """
        check_move(self.script(), self.current_revision(), revision)
        with self.migration_connection() as conn:
            command.downgrade(self.alembic_config(conn), revision)

    def script(self) -> ScriptDirectory:
        """The migrations this version of moroccron carries."""
        return ScriptDirectory.from_config(self.alembic_config())

    def revisions_to_undo(self, revision: str) -> list[Revision]:
        """What ``downgrade(revision)`` would undo, newest first (for its confirmation)."""
        script = self.script()
        current = self.current_revision()
        check_move(script, current, revision)
        return revisions_between(script, current, revision)

    def current_revision(self) -> str | None:
        """The revision the database is at, or None for an empty database."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision this version of moroccron knows."""
        return self.script().get_current_head()

    def ensure_schema(self) -> None:
        """Upgrade to the newest schema; what ``moroccron serve`` does at start."""
        self.upgrade("head")
