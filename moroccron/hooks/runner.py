"""Plugin event hooks, run off the scheduler's thread and within a time bound.

The scheduler decides and records; what plugins are told about it (a task launched, a
task failed, a dependency unblocked) must never hold it up. Hook calls are queued, in
order, to a worker thread. A call that raises is the plugin manager's business (it logs
and goes on with the other plugins). A call that does not return within ``timeout``
seconds is given up on: a fresh worker takes over the queue, and the plugin that hung
is named in the log. A plugin that hangs ``hangs_to_disable`` times is unregistered,
because each hang leaves a thread behind that nothing can stop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moroccron.ratelog import Throttled

__all__ = ["HookRunner", "HookTimeout", "call_within"]

log = logging.getLogger("moroccron.hooks")


class HookTimeout(Exception):
    """A plugin call did not return in time (its thread is left to finish on its own)."""


def call_within(timeout: float, fn: Callable[[], Any], what: str) -> Any:
    """``fn()``'s result if it returns within ``timeout`` seconds; else :class:`HookTimeout`.

    For a hook whose answer is needed (the notifiers' delivery results): the call runs on
    a daemon thread, which a hung plugin keeps, and the caller goes on.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"moroccron-call-{what}"[:60], daemon=True).start()
    if not done.wait(timeout):
        raise HookTimeout(f"{what} did not return within {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box["result"]


@dataclass
class _Call:
    what: str
    fn: Callable[[], object]


@dataclass
class _Busy:
    generation: int
    call: _Call
    started: float
    thread: int


class HookRunner:
    """Runs queued hook calls in order on a worker thread, each within ``timeout`` seconds.

    :param plugins: the :class:`~moroccron.hooks.manager.PluginManager`, asked which plugin a
        hung thread is in, and told to disable it.
    :param timeout: seconds a call may take before it is given up on.
    :param hangs_to_disable: hangs after which a plugin is unregistered.
    :param max_pending: calls queued at most; beyond, new ones are dropped (and logged).
    """

    def __init__(
        self,
        plugins: Any,
        *,
        timeout: float = 10.0,
        hangs_to_disable: int = 3,
        max_pending: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plugins = plugins
        self.timeout = timeout
        self.hangs_to_disable = hangs_to_disable
        self.clock = clock
        self._queue: queue.Queue[_Call] = queue.Queue(maxsize=max_pending)
        self._lock = threading.Lock()
        self._generation = 0
        self._busy: _Busy | None = None
        self._hangs: dict[str, int] = {}
        self._stop = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._throttle = Throttled(log)
        self._watchdog: threading.Thread | None = None
        self.abandoned = 0
        """Calls given up on since start (each left a thread behind)."""

    def start(self) -> HookRunner:
        self._stop.clear()
        with self._lock:
            self._generation += 1
            generation = self._generation
        self._spawn(generation)
        self._watchdog = threading.Thread(target=self._watch, name="moroccron-hook-watchdog", daemon=True)
        self._watchdog.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the calls already queued (within ``timeout``), then stop."""
        self.wait_idle(timeout)
        self._stop.set()

    def submit(self, what: str, fn: Callable[[], object]) -> None:
        """Queue ``fn`` (``what`` names it in the log). Never blocks."""
        try:
            self._queue.put_nowait(_Call(what, fn))
        except queue.Full:
            self._throttle.log(
                "full", logging.ERROR, "%d plugin hook calls are waiting; dropping %s", self._queue.maxsize, what
            )

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued call has run (or been given up on). True if it did in time."""
        deadline = self.clock() + timeout
        with self._idle:
            while self._queue.unfinished_tasks:
                left = deadline - self.clock()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.1))
        return True

    # ------------------------------------------------------------------ workers

    def _spawn(self, generation: int) -> None:
        threading.Thread(
            target=self._work, args=(generation,), name=f"moroccron-hooks-{generation}", daemon=True
        ).start()

    def _work(self, generation: int) -> None:
        while not self._stop.is_set():
            with self._lock:
                if generation != self._generation:
                    return  # given up on while it was in a call: a newer worker has the queue
            try:
                call = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            with self._lock:
                self._busy = _Busy(generation, call, self.clock(), threading.get_ident())
            try:
                call.fn()
            except Exception:
                self._throttle.log(
                    ("raised", call.what.split(" ")[0]),
                    logging.ERROR,
                    "hook call %s raised; ignored",
                    call.what,
                    exc_info=True,
                )
            finally:
                with self._lock:
                    if self._busy is not None and self._busy.generation == generation:
                        self._busy = None
                    abandoned = generation != self._generation
                if not abandoned:
                    self._queue.task_done()
                    with self._idle:
                        self._idle.notify_all()

    def _watch(self) -> None:
        while not self._stop.wait(min(1.0, self.timeout / 4)):
            with self._lock:
                busy = self._busy
                if busy is None or self.clock() - busy.started < self.timeout:
                    continue
                # Given up on, atomically with the worker's own bookkeeping: from now on
                # that worker does nothing more for the queue, whenever its call returns.
                self._busy = None
                self._generation += 1
                generation = self._generation
            self._give_up(busy, generation)

    def _give_up(self, busy: _Busy, generation: int) -> None:
        plugin = self.plugins.running_plugin(busy.thread)
        self.abandoned += 1
        log.error(
            "hook call %s has not returned after %.0fs%s; going on without it",
            busy.call.what,
            self.timeout,
            f" (plugin {plugin!r} is still in it)" if plugin else "",
        )
        if plugin is not None:
            self._hangs[plugin] = self._hangs.get(plugin, 0) + 1
            if self._hangs[plugin] >= self.hangs_to_disable:  # before the next call can reach it
                self.plugins.disable(plugin, f"it hung {self._hangs[plugin]} times (more than {self.timeout:g}s each)")
        self._queue.task_done()  # the call is over as far as the queue is concerned
        with self._idle:
            self._idle.notify_all()
        self._spawn(generation)
