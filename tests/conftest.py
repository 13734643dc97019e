"""Fixtures shared by the whole test suite.

Database fixtures come in two flavours, each parametrized over SQLite and PostgreSQL
so that every store test runs on both (the ``postgres`` marker selects or deselects
the PostgreSQL half: ``pytest -m "not postgres"``):

- ``db_url``: the URL of a fresh, empty database (for migration tests);
- ``store``: a :class:`~moroccron.store.Store` on a fresh database at the newest schema.

One PostgreSQL server serves the whole session (``postgres_url``). Fresh databases are
copies of a template migrated once per session, on both engines, so a test pays
milliseconds for its own database rather than a migration run.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from moroccron.store import Store
from tests.servers import (
    ServerUnavailable,
    create_database,
    drop_database,
    postgres_server,
    unavailable,
    zookeeper_server,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--exhaustive",
        action="store_true",
        help="also run the long property runs (marked 'exhaustive'), e.g. the cron oracle with thousands of examples",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``make test`` stays within minutes: the long variants of property tests run only
    with ``--exhaustive`` (their quick variants always run)."""
    if config.getoption("--exhaustive"):
        return
    kept = [item for item in items if item.get_closest_marker("exhaustive") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
_db_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the session's PostgreSQL server (its ``moroccron`` database, kept empty).

    Skips the test when PostgreSQL is missing, or fails it under ``CI=true``.
    """
    try:
        with postgres_server(tmp_path_factory.mktemp("postgres")) as url:
            yield url
    except ServerUnavailable as exc:
        unavailable(str(exc))


@contextmanager
def _fresh_postgres(server_url: str, template: str = "template0") -> Iterator[str]:
    name = f"test_{next(_db_numbers)}"
    url = create_database(server_url, name, template)
    try:
        yield url
    finally:
        drop_database(server_url, name)


@pytest.fixture(scope="session")
def _postgres_template(postgres_url: str) -> str:
    """A database migrated to head, copied for each test's ``store``."""
    url = create_database(postgres_url, "moroccron_template")
    with Store(url) as store:
        store.upgrade()
    return "moroccron_template"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    with Store(f"sqlite:///{path}") as store:
        store.upgrade()
    return path  # closing the last connection checkpointed the WAL into the file


@pytest.fixture
def sqlite_store(tmp_path: Path, _sqlite_template: Path) -> Iterator[Store]:
    """One SQLite store at the newest schema, for tests where the database plays no part."""
    shutil.copy(_sqlite_template, tmp_path / "m.db")
    with Store(f"sqlite:///{tmp_path / 'm.db'}") as store:
        yield store


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'moroccron.db'}"
    else:
        with _fresh_postgres(request.getfixturevalue("postgres_url")) as url:
            yield url


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A Store on a fresh database at the newest schema, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "moroccron.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        with Store(f"sqlite:///{path}") as s:
            yield s
    else:
        with (
            _fresh_postgres(
                request.getfixturevalue("postgres_url"), request.getfixturevalue("_postgres_template")
            ) as url,
            Store(url) as s,
        ):
            yield s


@pytest.fixture(scope="session")
def zk_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of the session's real ZooKeeper server (Debian's package).

    ``MOROCCRON_TEST_ZK`` may name an already running server instead. Skips when
    ZooKeeper is missing, or fails under ``CI=true``.
    """
    existing = os.environ.get("MOROCCRON_TEST_ZK")
    if existing:
        yield existing
        return
    try:
        with zookeeper_server(tmp_path_factory.mktemp("zookeeper")) as address:
            yield address
    except ServerUnavailable as exc:
        unavailable(str(exc))
