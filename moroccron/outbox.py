"""Delivering the notification outbox, in the background, with retries.

Messages are written to the outbox in the transaction of the change that caused them
(moroccron.service). This worker takes the due ones, renders them, hands them to the
notifier plugins (``moroccron_notify``) and records each target's outcome. A target
that failed is retried with exponential backoff (30 s doubling, at most an hour apart,
12 attempts); targets that succeeded are not sent again. A notifier that is down delays
nothing but its own messages, and loses none of them.

No mail storm: while a job keeps failing, the first failure is sent and later ones are
recorded as ``collapsed``; the recovery message says how many failures there were.
Repeated ``skipped`` messages for a job are collapsed the same way for an hour.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from moroccron.hooks.manager import PluginManager
from moroccron.hooks.runner import HookTimeout, call_within
from moroccron.notify import Renderer
from moroccron.routing import covered_by

if TYPE_CHECKING:
    from moroccron.store.interfaces import OutboxStore
    from moroccron.store.store import OutboxItem

__all__ = ["Deliverer"]

log = logging.getLogger("moroccron.outbox")

MAX_ATTEMPTS = 12
FIRST_RETRY = 30.0
MAX_RETRY = 3600.0
NOTIFY_TIMEOUT = 60.0
"""Seconds the notifiers get to deliver one message; a hung one is retried later like a failed one."""


class Deliverer:
    """The outbox worker: a daemon thread, woken by :meth:`wake` or every ``interval`` seconds."""

    def __init__(
        self,
        store: OutboxStore,
        plugins: PluginManager,
        renderer: Renderer,
        *,
        interval: float = 2.0,
        enabled: Callable[[], bool] | None = None,
        clock: Callable[[], datetime] | None = None,
        timeout: float = NOTIFY_TIMEOUT,
    ) -> None:
        self.timeout = timeout
        self.store = store
        self.plugins = plugins
        self.renderer = renderer
        self.interval = interval
        self.enabled = enabled or (lambda: True)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._flush_until: float | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="moroccron-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0, *, flush: float = 0.0) -> None:
        """Stop the worker. With ``flush``, it first delivers what is due, for at most that
        many seconds (a clean stop: messages need not wait for the next leader)."""
        self._flush_until = time.monotonic() + flush if flush > 0 else None
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + max(flush, 0.0))

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set() or not self.enabled():
                continue
            try:
                while self.deliver_due() and not self._stop.is_set():
                    pass
            except Exception as exc:  # database down: try again on the next round
                log.warning("notification delivery round failed: %s", exc)
        self._flush()

    def _flush(self) -> None:
        """On a stop with ``flush``: deliver what is due, one message at a time, until the deadline."""
        until = self._flush_until
        if until is None or not self.enabled():
            return
        sent = 0
        try:
            while time.monotonic() < until:
                items = self.store.due_notifications(self.clock(), limit=1)
                if not items:
                    break
                self.deliver(items[0])
                sent += 1
        except Exception as exc:  # the next leader delivers what is left
            log.warning("flushing the notification outbox failed: %s", exc)
        if sent:
            log.info("flushed %d notification(s) before stopping", sent)

    def deliver_due(self, limit: int = 50) -> int:
        """Deliver what is due now; returns how many messages were handled."""
        items = self.store.due_notifications(self.clock(), limit=limit)
        for item in items:
            self.deliver(item)
        return len(items)

    def deliver(self, item: OutboxItem) -> None:
        now = self.clock()
        if self._collapse(item, now):
            return
        previous = dict(item.results or {})
        pending = None if not previous else [t for t, r in previous.items() if not r.get("ok")]
        owners = {o.id: o for o in self.store.list_owners()}
        notification = self.renderer.build(item.event, item.payload, owners, now, only=pending)
        if not notification.targets:
            self._finish(item, "delivered", previous, None, now)
            return
        results = dict(previous)
        answered: set[str] = set()
        try:
            delivered = call_within(
                self.timeout, lambda: self.plugins.notify(notification=notification), f"notify-{item.id}"
            )
        except HookTimeout:
            # A notifier hung: this message is retried like a failed one, the others go on.
            delivered = []
            for target in notification.targets:
                if not results.get(str(target), {}).get("ok"):
                    results[str(target)] = {
                        "ok": False,
                        "at": now.isoformat(),
                        "detail": f"no notifier answered within {self.timeout:g}s",
                    }
        for result in delivered:
            key = str(result.target)
            if key in answered and results[key]["ok"]:
                continue  # another notifier already delivered to this target this round
            answered.add(key)
            results[key] = {"ok": result.ok, "detail": result.detail, "at": now.isoformat()}
        failed = [t for t in (str(t) for t in notification.targets) if not results.get(t, {}).get("ok")]
        if not failed:
            log.info(
                "%s notification for %s delivered to %s",
                item.event,
                item.job,
                ", ".join(str(t) for t in notification.targets),
            )
            self._finish(item, "delivered", results, None, now)
            return
        attempts = item.attempts + 1
        error = "; ".join(f"{t}: {results.get(t, {}).get('detail', 'no notifier answered')}" for t in failed)
        if attempts >= MAX_ATTEMPTS:
            log.error(
                "giving up on %s notification for %s after %d attempts: %s", item.event, item.job, attempts, error
            )
            self._finish(item, "failed", results, error, now, attempts=attempts)
            return
        delay = min(FIRST_RETRY * 2 ** (attempts - 1), MAX_RETRY)
        log.warning("%s notification for %s not delivered (%s); retrying in %.0fs", item.event, item.job, error, delay)
        self.store.update_notification(
            item.id,
            state="pending",
            attempts=attempts,
            next_attempt_at=now + timedelta(seconds=delay),
            results=results,
            last_error=error,
            delivered_at=None,
        )

    def _collapse(self, item: OutboxItem, now: datetime) -> bool:
        """Record ``item`` as collapsed when an earlier message already covers it (:func:`covered_by`)."""
        prev = covered_by(
            item.event,
            now,
            lambda events, states: self.store.last_notification(item.job, events, states=states, before_id=item.id),
        )
        if prev is None:
            return False
        self._finish(item, "collapsed", item.results, f"covered by notification {prev.id}", now)
        return True

    def _finish(
        self,
        item: OutboxItem,
        state: str,
        results: Any,
        error: str | None,
        now: datetime,
        *,
        attempts: int | None = None,
    ) -> None:
        self.store.update_notification(
            item.id,
            state=state,
            attempts=item.attempts if attempts is None else attempts,
            next_attempt_at=item.next_attempt_at,
            results=results,
            last_error=error,
            delivered_at=now if state == "delivered" else None,
        )
