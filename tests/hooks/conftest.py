from __future__ import annotations

import pytest

from moroccron.hooks.manager import DISABLE_ENV, PluginManager


@pytest.fixture(autouse=True)
def _no_blocked_plugins_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DISABLE_ENV, raising=False)


@pytest.fixture
def pm() -> PluginManager:
    """A fresh manager with the built-in plugins only: installed plugins stay out of tests."""
    return PluginManager(load_entrypoints=False)
