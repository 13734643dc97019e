"""The hook thread: calls in order, a hung call given up on, a plugin that keeps hanging disabled."""

from __future__ import annotations

import threading

import pytest

from moroccron.hooks import hookimpl
from moroccron.hooks.manager import PluginManager
from moroccron.hooks.runner import HookRunner, HookTimeout, call_within
from tests.e2e.harness import wait_for

from . import factories as f


class Sleeper:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    @hookimpl
    def moroccron_task_launched(self, job, run):
        self.calls += 1
        self.release.wait(30)


def test_calls_run_in_order_off_the_callers_thread():
    pm = PluginManager(load_entrypoints=False)
    runner = HookRunner(pm, timeout=5).start()
    seen: list[tuple[int, int]] = []
    try:
        for i in range(200):
            runner.submit(f"call {i}", lambda i=i: seen.append((i, threading.get_ident())))
        assert runner.wait_idle(10)
        assert [i for i, _ in seen] == list(range(200))
        assert threading.get_ident() not in {t for _, t in seen}
    finally:
        runner.stop()


def test_a_hung_call_is_given_up_on_and_the_queue_goes_on_then_the_plugin_is_disabled():
    pm = PluginManager(load_entrypoints=False)
    sleeper = Sleeper()
    pm.register(sleeper, "sleepy")
    runner = HookRunner(pm, timeout=0.3, hangs_to_disable=2).start()
    after: list[int] = []
    try:
        runner.submit("first", lambda: pm.task_launched(job=f.job(), run=f.run()))
        runner.submit("marker", lambda: after.append(1))
        wait_for(lambda: after, 10, what="the call queued behind the hung one")
        assert runner.abandoned == 1 and not pm.disabled
        runner.submit("second", lambda: pm.task_launched(job=f.job(), run=f.run()))
        wait_for(lambda: pm.disabled, 10, what="the plugin disabled after two hangs")
        assert "hung 2 times" in pm.disabled["sleepy"]
        runner.submit("third", lambda: pm.task_launched(job=f.job(), run=f.run()))
        assert runner.wait_idle(5)
        assert sleeper.calls == 2, "a disabled plugin is not called again"
    finally:
        sleeper.release.set()
        runner.stop()


def test_a_full_queue_drops_new_calls_instead_of_blocking():
    pm = PluginManager(load_entrypoints=False)
    runner = HookRunner(pm, timeout=5, max_pending=3)  # not started: nothing is taken off the queue
    for i in range(10):
        runner.submit(f"call {i}", lambda: None)
    assert runner._queue.qsize() == 3


def test_call_within_returns_raises_or_gives_up():
    assert call_within(1, lambda: 42, "answer") == 42
    with pytest.raises(ZeroDivisionError):
        call_within(1, lambda: 1 / 0, "bug")
    gate = threading.Event()
    try:
        with pytest.raises(HookTimeout, match="within 0.1s"):
            call_within(0.1, lambda: gate.wait(30), "stuck")
    finally:
        gate.set()
