"""The distribution: its entry point is declared, installed, and found by moroccron's
own PluginManager under the name ``email``; plugin.py holds only hookimpls."""

from __future__ import annotations

import importlib.metadata
import inspect
import tomllib
from pathlib import Path

import pytest

from moroccron.hooks import NAME
from moroccron.hooks.manager import DISABLE_ENV, PluginManager
from moroccron_email import plugin

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
HOOKS = ("moroccron_notify", "moroccron_shutdown", "moroccron_startup")


def test_pyproject_declares_the_entry_point() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert project["name"] == "moroccron-email"
    assert project["entry-points"][NAME] == {"email": "moroccron_email.plugin"}
    assert project["dependencies"] == ["moroccron>=0.1"]


def test_installed_distribution_has_the_entry_point() -> None:
    try:
        dist = importlib.metadata.distribution("moroccron-email")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a broken setup
        pytest.fail("moroccron-email is not installed: pip install -e plugins/email")
    [entry_point] = [ep for ep in dist.entry_points if ep.group == NAME]
    assert (entry_point.name, entry_point.value) == ("email", "moroccron_email.plugin")
    assert entry_point.load() is plugin


@pytest.fixture
def only_this_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry points come from the installed moroccron-email alone: other plugins being
    developed in the same checkout stay out of this test."""
    dist = importlib.metadata.distribution("moroccron-email")
    monkeypatch.setattr(importlib.metadata, "distributions", lambda **_: iter([dist]))


@pytest.mark.usefixtures("only_this_distribution")
def test_plugin_manager_loads_it_as_email() -> None:
    pm = PluginManager()
    [info] = [p for p in pm.list_plugins() if p.name == "email"]
    assert info.hooks == HOOKS
    assert (info.distribution, info.builtin) == ("moroccron-email", False)
    assert info.source == f"moroccron-email {importlib.metadata.version('moroccron-email')}"


@pytest.mark.usefixtures("only_this_distribution")
def test_it_can_be_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, "email")
    pm = PluginManager()
    assert "email" in pm.blocked
    assert "email" not in [p.name for p in pm.list_plugins()]


def test_plugin_module_holds_only_hookimpls() -> None:
    functions = {
        name
        for name, value in vars(plugin).items()
        if inspect.isfunction(value) and value.__module__ == plugin.__name__
    }
    assert functions == set(HOOKS) == set(plugin.__all__)
    assert all(hasattr(getattr(plugin, name), f"{NAME}_impl") for name in HOOKS)
