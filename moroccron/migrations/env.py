"""Alembic environment for moroccron.

Run through :meth:`moroccron.store.Store.upgrade` (``moroccron db upgrade``), which
builds the Alembic config in code (there is no alembic.ini) and hands over a
connection already in a transaction, with SQLite's pragmas and PostgreSQL's migration
lock in place. To write the next revision, autogenerate it against a database at head
and then read and tidy it (types spelled out, no imports from moroccron)::

    from alembic import command
    from moroccron.store import Store

    store = Store("sqlite:///dev.db")
    store.upgrade()
    with store.migration_connection() as conn:
        command.revision(store.alembic_config(conn), "what changed", autogenerate=True)

Without a connection in the config (Alembic driven some other way), the URL comes
from ``-x url=...``, ``MOROCCRON_DB`` or the config's ``sqlalchemy.url``.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, create_engine, pool

from moroccron.store.models import Base, UTCDateTime
from moroccron.store.store import normalize_url

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes UTCDateTime as the plain type it is in the database, so that
    revisions do not import moroccron's models (a revision must stay valid as the
    models change after it)."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
        **kwargs,
    )


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("MOROCCRON_DB")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise SystemExit("no database URL: pass -x url=... or set MOROCCRON_DB")
    return normalize_url(url).render_as_string(hide_password=False)


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: print the SQL instead of running it."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        # Given by the Store, already in a transaction: begin_transaction() is a no-op
        # and the Store commits.
        _run_on(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run_on(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
