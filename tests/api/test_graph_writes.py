"""Concurrent graph writes: the cycle check and the write are one critical section.

Two clients each add one edge of a two-job cycle at the same moment (x.parents=[y] and
y.parents=[x]). Checked apart from the write, both checks saw an acyclic graph and both
writes landed: a stored cycle, on which marking one job successful started runs for ever.

To make the race reproducible rather than lucky, a validate_job plugin holds the first
check until the second one arrives (or a short while passes): without a lock both checks
then run side by side, every round. With the lock the second writer is still waiting for
it, the first goes on alone after the wait, and the second then sees the first's edge.
No assertion depends on timing: only on what was stored and what each client was told.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient

from moroccron import Job, hookimpl
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.config import Settings
from moroccron.dag import DependencyGraph
from moroccron.definitions import Definitions, apply_definitions
from moroccron.events import MarkSuccess, SaveRun
from moroccron.hooks.manager import PluginManager
from moroccron.store import Store
from tests.engine.helpers import Sim
from tests.ui.test_pages import csrf_of

ROUNDS = 30


class Rendezvous:
    """A policy plugin that makes two concurrent checks overlap, if nothing serializes them."""

    def __init__(self, wait: float = 0.2) -> None:
        self.wait = wait
        self.cond = threading.Condition()
        self.arrived = 0

    def reset(self) -> None:
        with self.cond:
            self.arrived = 0

    def wait_for_arrivals(self, n: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.arrived >= n, timeout=60), "no check arrived"

    @hookimpl(trylast=True)  # after the built-in existence check: hold a check that passed
    def moroccron_validate_job(self, job: Any, existing: Any) -> None:
        with self.cond:
            self.arrived += 1
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.arrived >= 2, timeout=self.wait)


def _app(store: Store, plugin: Rendezvous) -> Any:
    plugins = PluginManager(load_entrypoints=False)
    plugins.register(plugin, name="rendezvous")
    return create_app(AppContext(Settings(), store, plugins))


@pytest.fixture
def rendezvous() -> Rendezvous:
    return Rendezvous()


@pytest.fixture(params=["one store", "two stores"])
def clients(request: pytest.FixtureRequest, store: Store, rendezvous: Rendezvous) -> Iterator[tuple[Any, Any]]:
    """Two HTTP clients: on one app (one Store, one pool), or on two apps with a Store
    each on the same database (as two moroccron processes would be)."""
    if request.param == "one store":
        app = _app(store, rendezvous)
        with TestClient(app) as a, TestClient(app) as b:
            yield a, b
        return
    with Store(store.url) as other, TestClient(_app(store, rendezvous)) as a, TestClient(_app(other, rendezvous)) as b:
        yield a, b


def _together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same instant; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait(timeout=60)
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer never finished"
    return results


def _call(results: list[Any], call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    results.append(call(*args, **kwargs))


def _apply(store: Store, defs: Definitions, plugins: PluginManager) -> Any:
    """``moroccron jobs apply``: the plan, or the error that stopped it."""
    try:
        return apply_definitions(store, defs, plugins=plugins)
    except Exception as exc:  # the loser's error is what the test asserts on
        return exc


def _assert_acyclic(store: Store) -> None:
    graph = DependencyGraph(store.parent_map())
    assert graph.find_cycle() is None, f"a cycle was stored: {graph.find_cycle()}"
    assert graph.missing_parents() == [], "a job names a parent that does not exist"


def _one_won(responses: list[Any], loser_says: str = "cycle") -> None:
    codes = sorted(r.status_code for r in responses)
    assert codes[0] in (200, 201, 204) and codes[1] == 422, [(r.status_code, r.text) for r in responses]
    loser = next(r for r in responses if r.status_code == 422)
    body = loser.json()
    assert loser_says in body["error"] and body["field"].endswith("parents"), body


def test_concurrent_patches_never_store_a_cycle(clients, store, rendezvous):
    a, b = clients
    for i in range(ROUNDS):
        x, y = f"x{i}", f"y{i}"
        for name in (x, y):
            assert a.post("/api/v1/jobs", json={"name": name, "command": "true"}).status_code == 201
        rendezvous.reset()
        responses = _together(
            partial(a.patch, f"/api/v1/jobs/{x}", json={"parents": [y]}),
            partial(b.patch, f"/api/v1/jobs/{y}", json={"parents": [x]}),
        )
        _one_won(responses)
        _assert_acyclic(store)
        stored = store.parent_map([x, y])
        assert sorted([stored[x], stored[y]]) == [(), (x,)] or sorted([stored[x], stored[y]]) == [(), (y,)]


def test_concurrent_writes_through_every_entry_point_never_store_a_cycle(store, rendezvous):
    """Native PUT against the Chronos API, the UI's edit form against native PATCH, and
    ``jobs apply`` against native PATCH: each pair serialized, never a cycle."""
    app = _app(store, rendezvous)
    plugins = app.state.context.plugins
    with TestClient(app) as a, TestClient(app) as b:
        for i in range(10):
            x, y = f"cx{i}", f"cy{i}"
            for name in (x, y):
                a.post("/api/v1/jobs", json={"name": name, "command": "true"})
            rendezvous.reset()
            responses = _together(
                partial(a.put, f"/api/v1/jobs/{x}", json={"command": "true", "parents": [y]}),
                partial(b.post, "/v1/scheduler/dependency", json={"name": y, "command": "true", "parents": [x]}),
            )
            codes = sorted(r.status_code for r in responses)
            assert codes in ([200, 400], [204, 422]), [(r.status_code, r.text) for r in responses]
            loser = next(r for r in responses if r.status_code >= 400)
            assert "cycle" in loser.json()["error"]
            _assert_acyclic(store)

        for i in range(10):
            x, y = f"ux{i}", f"uy{i}"
            for name in (x, y):
                a.post("/api/v1/jobs", json={"name": name, "command": "true"})
            csrf = csrf_of(b.get(f"/jobs/{y}/edit").text)
            form = {
                "command": "true",
                "timezone": "UTC",
                "cpus": "0.1",
                "mem": "32",
                "retries": "0",
                "concurrency": "forbid",
                "catchup": "latest",
                "parents": x,
                "csrf": csrf,
            }
            rendezvous.reset()
            api, ui = _together(
                partial(a.patch, f"/api/v1/jobs/{x}", json={"parents": [y]}),
                partial(b.post, f"/jobs/{y}/edit", data=form, follow_redirects=False),
            )
            assert sorted([api.status_code, ui.status_code]) in ([200, 422], [303, 422]), (api.text, ui.text)
            assert "cycle" in (api.text if api.status_code == 422 else ui.text)
            _assert_acyclic(store)

        for i in range(10):
            x, y = f"dx{i}", f"dy{i}"
            for name in (x, y):
                a.post("/api/v1/jobs", json={"name": name, "command": "true"})
            defs = Definitions(jobs={y: Job(name=y, command="true", parents=(x,))})
            rendezvous.reset()
            api, outcome = _together(
                partial(a.patch, f"/api/v1/jobs/{x}", json={"parents": [y]}), partial(_apply, store, defs, plugins)
            )
            applied = not isinstance(outcome, Exception)
            assert applied != (api.status_code == 200), (api.text, outcome)
            assert "cycle" in (str(outcome) if not applied else api.text)
            _assert_acyclic(store)


def test_delete_and_a_new_child_never_leave_a_missing_parent(store, rendezvous):
    """Deleting a job while another client adds a child of it: the child is refused
    (its parent is gone) or the delete is (the job has a dependent), never both stored.

    The delete is sent once the create is inside its check (the plugin holds it there),
    the moment at which, unserialized, the delete went through and the child was stored
    naming a parent that no longer existed.
    """
    app = _app(store, rendezvous)
    with TestClient(app) as a, TestClient(app) as b:
        for i in range(10):
            parent, child = f"p{i}", f"c{i}"
            a.post("/api/v1/jobs", json={"name": parent, "command": "true"})
            rendezvous.reset()
            results: list[Any] = []
            body = {"name": child, "command": "true", "parents": [parent]}
            create = threading.Thread(target=partial(_call, results, a.post, "/api/v1/jobs", json=body))
            create.start()
            rendezvous.wait_for_arrivals(1)
            deleted = b.delete(f"/api/v1/jobs/{parent}")
            create.join(timeout=120)
            (created,) = results
            assert (created.status_code, deleted.status_code) in ((201, 409), (422, 204)), (created.text, deleted.text)
            _assert_acyclic(store)


def test_the_store_refuses_a_cycle_from_any_caller(store):
    """The store checks for a cycle under the same lock, so not even a caller that skips
    the API's checks (a script, a plugin) can store one for the engine to load."""
    from moroccron.errors import DependencyError

    store.apply_jobs([Job(name="a", command="true"), Job(name="b", command="true", parents=("a",))])
    with pytest.raises(DependencyError) as err:
        store.put_job(Job(name="a", command="true", parents=("b",)))
    assert "cycle" in str(err.value) and err.value.errors[0].field.endswith("parents")
    with pytest.raises(DependencyError):
        store.apply_jobs([Job(name="c", command="true", parents=("d",)), Job(name="d", command="true", parents=("c",))])
    _assert_acyclic(store)
    assert store.job_names() == {"a", "b"}


def test_the_jobs_a_new_leader_loads_have_no_cycle_and_mark_success_ends(clients, store, rendezvous):
    """What a new leader loads after the concurrent edits: marking the parent successful
    starts the child once and nothing more (through a cycle it would start the parent
    again, then the child, for ever)."""
    a, b = clients
    for name in ("x", "y"):
        a.post("/api/v1/jobs", json={"name": name, "command": "true"})
    rendezvous.reset()
    _together(
        lambda: a.patch("/api/v1/jobs/x", json={"parents": ["y"]}),
        lambda: b.patch("/api/v1/jobs/y", json={"parents": ["x"]}),
    )
    jobs = store.all_jobs()
    DependencyGraph.from_jobs(jobs).validate()
    child = next(j for j in jobs if j.parents)
    sim = Sim(jobs)
    new = [a.run.job for a in sim.step(MarkSuccess(child.parents[0])) if isinstance(a, SaveRun) and a.new]
    assert sorted(new) == sorted([child.parents[0], child.name]), new
