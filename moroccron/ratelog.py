"""Logging a recurring problem once, not a thousand times a second.

A fault that repeats on every scheduler step (a plugin that raises on every call, a
Mesos call that keeps failing) must not bury the log, nor fill a disk: the first
occurrence is logged in full, later ones are counted and summed up at most once per
``interval`` seconds, each line naming what it is about.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["Throttled"]


class Throttled:
    """Logs each ``key`` once, then a count of its repeats at most every ``interval`` seconds.

    :param logger: where the lines go.
    :param interval: seconds between two lines about the same key.
    :param max_keys: keys remembered at most; the oldest are forgotten first (a key
        forgotten is logged in full again when it comes back).
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = 60.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self.clock = clock
        self._seen: dict[Hashable, list[float]] = {}  # key -> [last logged at, repeats since]
        self._lock = threading.Lock()

    def log(self, key: Hashable, level: int, message: str, *args: Any, exc_info: Any = None) -> bool:
        """Log ``message % args`` unless ``key`` was logged within the interval. True if logged."""
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.interval:
                seen[1] += 1
                return False
            repeats = int(seen[1]) if seen is not None else 0
            if seen is None and len(self._seen) >= self.max_keys:
                del self._seen[next(iter(self._seen))]
            self._seen[key] = [now, 0]
        if repeats:
            message += f" (and {repeats} more time{'s' if repeats != 1 else ''} since it was last logged)"
            exc_info = None  # the traceback was logged the first time
        self.logger.log(level, message, *args, exc_info=exc_info)
        return True

    def forget(self, key: Hashable) -> None:
        """Log ``key`` in full next time (the problem went away)."""
        with self._lock:
            self._seen.pop(key, None)

    def repeats(self, key: Hashable) -> int:
        """Occurrences of ``key`` not logged yet."""
        with self._lock:
            seen = self._seen.get(key)
            return int(seen[1]) if seen is not None else 0
