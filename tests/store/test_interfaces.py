"""The SQL Store satisfies each narrow store interface (moroccron/store/interfaces.py).

mypy checks it statically (``make typecheck``); this checks it at run time too: every
member of every protocol is on the Store, and each Store method accepts every call the
protocol allows (the same parameters, in the same kinds, defaulted where the protocol's
are; any extra parameter of the Store's defaulted).
"""

from __future__ import annotations

import inspect
from typing import Any, Generic, Protocol

import pytest

from moroccron.store import Store, interfaces

PROTOCOLS = [getattr(interfaces, name) for name in interfaces.__all__]


def _members(protocol: type) -> list[str]:
    """The methods ``protocol`` declares, its protocol bases' included."""
    names: set[str] = set()
    for base in protocol.__mro__:
        if base not in (object, Protocol, Generic) and getattr(base, "_is_protocol", False):
            names |= {name for name, value in vars(base).items() if callable(value) and not name.startswith("_")}
    return sorted(names)


def test_every_protocol_is_listed_and_declares_members() -> None:
    assert len(PROTOCOLS) >= 9
    for protocol in PROTOCOLS:
        assert getattr(protocol, "_is_protocol", False), protocol
        assert _members(protocol), protocol


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_store_instance_is_each_protocol(sqlite_store: Store, protocol: type) -> None:
    assert isinstance(sqlite_store, protocol)


def _problems(protocol: type, name: str) -> list[str]:
    wanted = inspect.signature(getattr(protocol, name))
    got = inspect.signature(getattr(Store, name))
    problems = []
    given: dict[str, inspect.Parameter] = dict(got.parameters)
    for param in wanted.parameters.values():
        have = given.pop(param.name, None)
        if have is None:
            problems.append(f"{name}: no parameter {param.name!r}")
            continue
        if have.kind != param.kind:
            problems.append(f"{name}({param.name}): {have.kind.description}, the protocol has {param.kind.description}")
        if param.default is not inspect.Parameter.empty and have.default is inspect.Parameter.empty:
            problems.append(f"{name}({param.name}): required, optional in the protocol")
    for extra in given.values():
        if extra.default is inspect.Parameter.empty and extra.kind not in (extra.VAR_POSITIONAL, extra.VAR_KEYWORD):
            problems.append(f"{name}: extra required parameter {extra.name!r}")
    return problems


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_store_methods_accept_every_call_the_protocol_allows(protocol: type) -> None:
    problems = [p for name in _members(protocol) for p in _problems(protocol, name)]
    assert problems == []


def test_the_signature_check_finds_a_mismatch() -> None:
    """The check above can fail: a protocol asking for a parameter the Store lacks."""

    class Wrong(interfaces.JobSource):
        def job_names(self, *, prefix: str) -> set[str]:  # type: ignore[override]
            raise NotImplementedError

    assert _problems(Wrong, "job_names") == ["job_names: no parameter 'prefix'"]


def test_a_double_with_only_its_protocol_serves_its_consumer() -> None:
    """A consumer needs nothing beyond its protocol: the pruner runs on a RunPruner."""
    from moroccron.retention import Pruner

    calls: list[dict[str, Any]] = []

    class Runs:
        def prune_runs(self, keep_per_job: int, batch: int = 500, *, cancelled: Any = None) -> int:
            calls.append({"keep": keep_per_job, "batch": batch})
            return 3

    double = Runs()
    assert isinstance(double, interfaces.RunPruner)
    assert not isinstance(double, interfaces.SchedulerStore)
    pruner = Pruner(double, keep_per_job=7, interval=0, batch=11)
    assert pruner.prune_now() == 3
    assert calls == [{"keep": 7, "batch": 11}]
