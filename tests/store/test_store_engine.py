"""How the Store talks to its database: URLs, SQLite settings, threads."""

from __future__ import annotations

from pathlib import Path

import pytest

from moroccron.errors import ValidationError
from moroccron.store import Store, normalize_url
from tests.store.factories import job


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u:p@db:5432/moroccron", "postgresql+psycopg"),
        ("postgres://u@db/moroccron", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db/moroccron", "postgresql+psycopg"),
        ("sqlite:////var/lib/moroccron.db", "sqlite"),
    ],
)
def test_urls_choose_psycopg_3(given: str, driver: str) -> None:
    url = normalize_url(given)
    assert url.drivername == driver
    assert url.database == normalize_url(given).database


def test_unsupported_databases_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="unsupported database"):
        Store("mysql://u@db/x")


def test_passwords_stay_out_of_repr() -> None:
    store = Store("postgresql://u:s3cret@db/x")
    assert "s3cret" not in repr(store) and "postgresql+psycopg" in repr(store)
    store.close()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'x.db'}") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_foreign_keys_are_back_on_after_a_migration(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'x.db'}", pool_size=1, max_overflow=0) as store:
        store.upgrade()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_in_memory_sqlite_works_for_single_threaded_use() -> None:
    with Store("sqlite://") as store:
        store.upgrade()
        store.create_job(job("a"))
        assert store.get_job("a") == job("a")
