"""SIGTERM and SIGINT: the first starts a clean stop, a second exits at once.

systemd stops a service with SIGTERM, a terminal with SIGINT (Ctrl-C); both mean the
same here. The handler itself only records the signal: a Python signal handler runs
on the main thread between two bytecodes, possibly while that thread holds a lock
the stop would need (logging's, a queue's), so the stop runs on a thread of its own,
which the handler wakes through an event only it and that thread touch.

A second signal while the stop is under way ends the process at once with
``128 + signal``, as a shell reports a process killed by a signal: the operator (or a
supervisor out of patience) asked twice.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["STOP_SIGNALS", "StopSignals", "StoppedDuringStart"]

log = logging.getLogger("moroccron.signals")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StoppedDuringStart(BaseException):  # noqa: N818 - it is not an error
    """A stop signal came before start-up had finished: nothing was claimed yet, so the
    process simply unwinds (raised from the handler, on the main thread)."""


class StopSignals:
    """Turns SIGTERM/SIGINT into one call of ``on_stop(signal name)``, on a thread of its own.

    Until :meth:`on_stop` is called (start-up), a first signal raises
    :class:`StoppedDuringStart` on the main thread instead: before the instance contends
    for leadership there is nothing to hand over, and start-up may be waiting on
    something (a database) that would hold up a stop for long.

    Handlers can only be installed from the main thread; elsewhere (``serve`` embedded in
    a test's thread) :meth:`install` does nothing and the caller stops things itself.
    """

    def __init__(self) -> None:
        self._received = threading.Event()
        self._signum: int | None = None
        self._on_stop: Callable[[str], None] | None = None
        self._previous: dict[int, Any] = {}

    @property
    def received(self) -> str | None:
        """The name of the first signal received, if any."""
        return signal.Signals(self._signum).name if self._signum is not None else None

    def install(self) -> bool:
        """Install the handlers; False when not on the main thread (nothing installed)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return True

    def restore(self) -> None:
        """Put back the handlers that were there before :meth:`install`."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def on_stop(self, callback: Callable[[str], None]) -> None:
        """From now on a first signal calls ``callback`` on a thread of its own (call it on the main thread)."""
        self._on_stop = callback
        if self._previous:
            threading.Thread(target=self._wait, args=(callback,), name="moroccron-stop", daemon=True).start()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._received.is_set():
            name = signal.Signals(signum).name
            # No logging here (its lock may be held by the code this handler interrupted).
            os.write(2, f"moroccron: second stop signal ({name}): exiting now, without finishing the stop\n".encode())
            os._exit(128 + signum)
        self._signum = signum
        self._received.set()
        if self._on_stop is None:
            raise StoppedDuringStart(signal.Signals(signum).name)

    def _wait(self, callback: Callable[[str], None]) -> None:
        self._received.wait()
        name = self.received or "signal"
        log.info("%s received: stopping cleanly (send it again to exit at once)", name)
        callback(name)
