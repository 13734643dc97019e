"""The hook specifications are the plugin documentation: keep them complete and honest."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moroccron.hooks import NAME, spec
from moroccron.hooks.manager import PluginManager

HOOKS: list[Callable[..., Any]] = [getattr(spec, name) for name in spec.__all__]
TESTS_ROOT = Path(__file__).resolve().parents[1]


def _doc(hook: Callable[..., Any]) -> str:
    return inspect.getdoc(hook) or ""


def _opts(hook: Callable[..., Any]) -> dict[str, Any]:
    return getattr(hook, f"{NAME}_spec")


def _returns_value(hook: Callable[..., Any]) -> bool:
    return inspect.signature(hook).return_annotation != "None"


hook_params = pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.__name__)


def test_all_names_every_hookspec_and_nothing_else() -> None:
    specs = {name for name, obj in vars(spec).items() if callable(obj) and hasattr(obj, f"{NAME}_spec")}
    assert specs == set(spec.__all__)
    assert all(name.startswith(f"{NAME}_") for name in specs)


@hook_params
def test_hookspec_documents_every_parameter_in_order(hook: Callable[..., Any]) -> None:
    documented = re.findall(r"^:param (\w+):", _doc(hook), re.MULTILINE)
    assert documented == list(inspect.signature(hook).parameters)


@hook_params
def test_hookspec_documents_its_return_value_if_it_has_one(hook: Callable[..., Any]) -> None:
    assert (":return:" in _doc(hook)) == _returns_value(hook)


@hook_params
def test_hookspec_is_fully_typed(hook: Callable[..., Any]) -> None:
    sig = inspect.signature(hook)
    assert sig.return_annotation is not inspect.Signature.empty
    assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values())
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in sig.parameters.values())


@hook_params
def test_firstresult_hooks_say_they_stop_at_the_first_result(hook: Callable[..., Any]) -> None:
    says = "Stops at first non-None result" in _doc(hook)
    assert says == bool(_opts(hook).get("firstresult"))


@hook_params
def test_hookspec_says_what_the_implementation_must_not_do(hook: Callable[..., Any]) -> None:
    doc = " ".join(_doc(hook).split()).lower()
    assert "block" in doc, "say whether the hook may block"
    assert "raise" in doc, "say what happens when the implementation raises"


@hook_params
def test_every_hook_has_a_manager_method(hook: Callable[..., Any]) -> None:
    method = getattr(PluginManager, hook.__name__.removeprefix(f"{NAME}_"), None)
    assert callable(method)
    params = inspect.signature(method).parameters
    assert [p for p in params if p != "self"] == list(inspect.signature(hook).parameters)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in params.items() if n != "self")


def test_every_hook_has_a_test() -> None:
    source = "\n".join(p.read_text() for p in TESTS_ROOT.rglob("test_*.py"))
    missing = [h.__name__ for h in HOOKS if not re.search(rf"^\s*def test_hook_{h.__name__}\b", source, re.M)]
    assert not missing, f"write test_hook_<name> tests for: {', '.join(missing)}"
