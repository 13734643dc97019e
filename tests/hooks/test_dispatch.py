"""The dispatcher: every domain event reaches its typed hook, and finished runs their triggers."""

from __future__ import annotations

import ast
import inspect

import moroccron.engine
from moroccron.dag import SubtreeNode
from moroccron.dispatch import Dispatcher, hook_name
from moroccron.events import (
    DOMAIN_EVENTS,
    DependencyUnblocked,
    JobDisabled,
    OfferMatched,
    RunFinished,
    RunLaunched,
    RunQueued,
    RunSkipped,
)
from moroccron.hooks import spec
from moroccron.hooks.manager import PluginManager
from moroccron.hooks.runner import HookRunner
from moroccron.metrics import Metrics
from moroccron.model import RunState

from .factories import job, offer, run
from .plugins.recorder import Recorder

ENGINE_HOOKS = {
    "moroccron_job_scheduled",
    "moroccron_offer_matched",
    "moroccron_task_launched",
    "moroccron_task_succeeded",
    "moroccron_task_failed",
    "moroccron_dependency_unblocked",
}


def dispatcher(recorder: Recorder) -> tuple[Dispatcher, list[tuple[str, str]]]:
    plugins = PluginManager(load_entrypoints=False)
    plugins.register(recorder, "recorder")
    requested: list[tuple[str, str]] = []
    return Dispatcher(
        plugins,
        HookRunner(plugins, timeout=5.0).start(),
        Metrics(status=dict),
        is_job=lambda n: n != "ghost",
        request_run=lambda name, caused_by: requested.append((name, caused_by)),
    ), requested


def test_every_hook_the_engine_triggers_is_reached_by_one_event():
    j, r = job("etl"), run("etl")
    events = [
        RunQueued(j, r),
        OfferMatched(offer(), (r,)),
        RunLaunched(j, r),
        RunFinished(j, r.evolve(state=RunState.SUCCEEDED)),
        RunFinished(j, r.evolve(state=RunState.FAILED)),
        DependencyUnblocked(j, ("up",), r),
        RunSkipped(j, r, "late"),
        JobDisabled(j, "off", 3),
    ]
    assert {type(e) for e in events} == set(DOMAIN_EVENTS)
    assert {hook_name(e) for e in events} - {None} == ENGINE_HOOKS
    assert {name for name in dir(spec) if name.startswith("moroccron_")} >= ENGINE_HOOKS


def test_each_event_calls_its_hook_with_its_values_and_finished_runs_trigger():
    recorder = Recorder(results={"moroccron_triggered_jobs": ["next", "ghost"]})
    d, requested = dispatcher(recorder)
    j, r = job("etl"), run("etl")
    ok, failed = r.evolve(state=RunState.SUCCEEDED), r.evolve(state=RunState.FAILED)
    subtree = (SubtreeNode("child", ("o@x",), ()),)
    for event in [
        RunQueued(j, r),
        OfferMatched(offer(), (r,)),
        RunLaunched(j, r),
        RunFinished(j, ok),
        RunFinished(j, failed, final=False),
        RunFinished(j, failed, pending_subtree=subtree),
        DependencyUnblocked(j, ("up",), r),
        RunSkipped(j, r, "late"),
        JobDisabled(j, "off", 3),
    ]:
        d.dispatch(event)
    assert d.hooks.wait_idle(30.0)
    names = [name for name, _ in recorder.calls if name != "moroccron_triggered_jobs"]
    assert names == [
        "moroccron_job_scheduled",
        "moroccron_offer_matched",
        "moroccron_task_launched",
        "moroccron_task_succeeded",
        "moroccron_task_failed",
        "moroccron_task_failed",
        "moroccron_dependency_unblocked",
    ]
    assert [c["final"] for c in recorder.called("moroccron_task_failed")] == [False, True]
    assert recorder.called("moroccron_task_failed")[1]["pending_subtree"] == subtree
    assert recorder.called("moroccron_dependency_unblocked") == [{"job": j, "parents": ("up",), "caused_by": r}]
    assert [c["succeeded"] for c in recorder.called("moroccron_triggered_jobs")] == [True, False], (
        "a retried failure triggers nothing"
    )
    assert requested == [("next", r.task_id), ("next", r.task_id)], "a trigger naming no job is left out"
    d.hooks.stop()


def test_the_engine_calls_no_hook_by_name():
    source = inspect.getsource(moroccron.engine)
    names = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("moroccron_")
    }
    assert names == set()
