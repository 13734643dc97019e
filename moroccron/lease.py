"""Leader election without ZooKeeper: a lease in the shared database.

Every instance started without ``--zk`` contends for one lease (the ``framework`` row,
see :mod:`moroccron.store.lease`). The first takes it and leads; any other waits as a
standby, as it would with ZooKeeper: it serves reads, sends writes to the leader, and
takes over when the lease ends. Waiting rather than refusing to start was chosen
because it is what ``--zk`` does, and because it makes overlaps safe: a ``systemctl
restart`` whose new process starts before the old one has gone, or a second instance
started by mistake, cannot take the leadership from a working leader.

- **Taking the lease** is a compare-and-set that also increments the leadership epoch,
  the same epoch that fences every write (a replaced leader's writes are refused).
- **The leader renews it** every ``lease_renew_seconds``. If it has not renewed it
  successfully for ``lease_seconds - lease_renew_seconds`` (the database unreachable, the
  process paused), it stops launching at once and reports the loss (``on_lost``), like
  a leader whose ZooKeeper session is suspended: it exits for its supervisor to restart.
- **A standby takes over** a lease that nobody holds (a leader that stopped cleanly ends
  its lease: the next instance leads within a poll, a fraction of a second), or one
  that has not changed for ``lease_seconds`` since this standby first saw it. Only this
  standby's own monotonic clock measures that, never another host's clock, so clock
  skew cannot shorten a lease. The leader gives up one renewal interval before any
  standby can act (``lease_renew_seconds``), and the epoch fences whatever is in flight.

A crashed leader (SIGKILL, a dead host) costs ``lease_seconds`` before a standby leads,
as a ZooKeeper session timeout does; so does a leader's own restart after a crash,
since its new process cannot tell that the old one is gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from moroccron.ratelog import Throttled
from moroccron.store.lease import LeaseRecord, claim_lease, end_leadership, read_lease, renew_lease

__all__ = ["STANDBY_POLL", "DatabaseLease"]

log = logging.getLogger("moroccron.lease")

STANDBY_POLL = 0.25
"""Seconds between a standby's looks at the lease: how soon it leads after a clean stop."""


class DatabaseLease:
    """The leadership lease for one instance; the same shape as :class:`moroccron.ha.Leadership`.

    :param on_elected: called (on this object's thread) once the lease is taken; raising
        gives the lease up and reports the loss.
    :param on_lost: called once, from any of this object's threads, when the leadership
        ends other than by :meth:`stop`: the caller must stop launching at once.
    """

    in_database = True
    """Where the leader is recorded is where it is decided: nothing to cross-check (moroccron/api/deps.py)."""

    def __init__(
        self,
        store: Any,
        address: str,
        instance_id: str,
        *,
        on_elected: Callable[[], None],
        on_lost: Callable[[str], None],
        lease_seconds: float = 10.0,
        renew_seconds: float = 2.0,
        poll_seconds: float = STANDBY_POLL,
    ) -> None:
        if not (renew_seconds > 0 and 3 * renew_seconds <= lease_seconds):
            raise ValueError("lease_seconds must be at least 3 times renew_seconds, both > 0")
        self.store = store
        self.address = address
        self.instance_id = instance_id
        self.on_elected = on_elected
        self.on_lost = on_lost
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.poll_seconds = poll_seconds
        self.is_leader = False
        self.epoch: int | None = None
        self._valid_until = 0.0  # time.monotonic() until which this leader may act without renewing
        self._renewed_at: datetime | None = None
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._throttle = Throttled(log)
        self._readable = True  # the last look at the lease got an answer

    @property
    def connected(self) -> bool:
        """Whether this instance could read the lease at its last look (a standby needs the
        database to take over), as :attr:`moroccron.ha.Leadership.connected` for ZooKeeper."""
        return self._readable or self.is_leader

    def __str__(self) -> str:
        return f"a lease in the database ({self.lease_seconds:g} s, renewed every {self.renew_seconds:g} s)"

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Contend: returns at once; ``on_elected`` is called when this instance leads."""
        self._spawn(self._run, "moroccron-lease")

    def stop(self) -> None:
        """Stop contending; end the lease if this instance took it, so that a standby takes
        over at once (a compare-and-set: a lease someone else holds by now is left alone)."""
        self._stop.set()
        with self._lock:
            self._lost.set()  # from here on, nothing is reported lost: this is a stop
            self.is_leader = False
            epoch = self.epoch
        if epoch is not None:
            try:
                if end_leadership(self.store, self.instance_id, epoch):
                    log.info("leadership lease released (epoch %d): a standby, if any, takes over now", epoch)
            except Exception as exc:  # the database is away: the lease expires by itself
                log.warning(
                    "could not release the leadership lease (%s); a standby takes over when it expires, within %g s",
                    _short(exc),
                    self.lease_seconds,
                )
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)

    def leader(self) -> dict[str, Any] | None:
        """The current holder's ``{"address", "instance"}``, None if nobody holds the lease."""
        try:
            record = read_lease(self.store)
        except Exception:
            return None
        return None if record.holder is None else {"address": record.address, "instance": record.holder}

    def framework_id(self) -> str | None:
        return None  # kept in the database only

    def set_framework_id(self, framework_id: str | None) -> None:
        pass

    # ------------------------------------------------------------------ standby

    def _run(self) -> None:
        taken = self._wait_for_lease()
        if taken is None:
            return
        epoch, sent = taken
        with self._lock:
            self.epoch = epoch  # set even when stopped meanwhile: stop() or the line below gives it back
            stopped = self._stop.is_set()
            if not stopped:
                self.is_leader = True
                self._valid_until = sent + self.lease_seconds - self.renew_seconds
        if stopped:
            self._release_quietly()
            return
        log.info("took the leadership lease: epoch %d, at %s", epoch, self.address)
        # Renewed from now on, while the take-over loads the state (seconds, with many jobs).
        self._spawn(self._watch, "moroccron-lease-watch")
        self._spawn(self._renew, "moroccron-lease-renew")
        try:
            self.on_elected()
        except Exception as exc:  # could not take over: leave the lease to someone else
            log.exception("taking over failed: %s", exc)
            self._lose(f"take-over failed: {exc}")
            self._release_quietly()

    def _wait_for_lease(self) -> tuple[int, float] | None:
        """Watch the lease until it is free or expired and this instance takes it: (epoch,
        monotonic time the claim was sent); None when stopped first."""
        seen: LeaseRecord | None = None
        seen_since = 0.0
        announced: tuple[str | None, int] | None = None
        while not self._stop.is_set():
            try:
                record = read_lease(self.store)
                self._readable = True
            except Exception as exc:
                self._readable = False
                self._throttle.log(
                    ("read", type(exc).__name__),
                    logging.WARNING,
                    "cannot read the leadership lease (%s); still waiting",
                    _short(exc),
                )
                self._stop.wait(self.poll_seconds * 4)
                continue
            now = time.monotonic()
            if record != seen:  # renewed, released or taken: the clock starts again
                seen, seen_since = record, now
            expired = record.holder is not None and now - seen_since >= self.lease_seconds
            if record.holder is None or expired:
                sent = time.monotonic()
                try:
                    epoch = claim_lease(self.store, self.instance_id, self.address, record)
                except Exception as exc:
                    self._throttle.log(
                        ("claim", type(exc).__name__),
                        logging.WARNING,
                        "cannot take the leadership lease (%s); trying again",
                        _short(exc),
                    )
                    self._stop.wait(self.poll_seconds)
                    continue
                if epoch is not None:
                    if expired:
                        log.warning(
                            "the leadership lease of %s at %s (epoch %d) was not renewed for %g s: taking over",
                            record.holder,
                            record.address,
                            record.epoch,
                            self.lease_seconds,
                        )
                    return epoch, sent
                continue  # someone moved first: look again at once
            if announced != (record.holder, record.epoch):
                announced = (record.holder, record.epoch)
                log.info(
                    "standby: %s at %s leads (epoch %d); this instance takes over when its lease ends",
                    record.holder,
                    record.address,
                    record.epoch,
                )
            self._stop.wait(self.poll_seconds)
        return None

    # ------------------------------------------------------------------ leader

    def _renew(self) -> None:
        assert self.epoch is not None
        while not self._stop.wait(self.renew_seconds) and not self._lost.is_set():
            sent = time.monotonic()
            # Strictly increasing, whatever this host's clock does: a renewal must look like a change.
            now = datetime.now(UTC)
            at = (
                now
                if self._renewed_at is None or now > self._renewed_at
                else self._renewed_at + timedelta(microseconds=1)
            )
            try:
                renewed = renew_lease(self.store, self.instance_id, self.epoch, at)
            except Exception as exc:
                left = self._valid_until - time.monotonic()
                self._throttle.log(
                    ("renew", type(exc).__name__),
                    logging.ERROR,
                    "cannot renew the leadership lease (%s); this instance stops leading in %.1f s unless it can",
                    _short(exc),
                    max(0.0, left),
                )
                continue
            if self._lost.is_set():
                return  # stopped or lost meanwhile: what this renewal found no longer matters
            if not renewed:
                self._lose(f"another instance holds the leadership lease: epoch {self.epoch} has ended")
                return
            self._renewed_at = at
            with self._lock:
                if not self._lost.is_set():
                    self._valid_until = sent + self.lease_seconds - self.renew_seconds

    def _watch(self) -> None:
        """End the leadership the moment the lease runs out unrenewed, even while a renewal hangs."""
        while not self._stop.is_set() and not self._lost.is_set():
            left = self._valid_until - time.monotonic()
            if left <= 0:
                self._lose(f"the leadership lease was not renewed within {self.lease_seconds - self.renew_seconds:g} s")
                return
            self._stop.wait(min(left, self.renew_seconds))

    def _lose(self, reason: str) -> None:
        with self._lock:
            if self._lost.is_set():
                return
            self._lost.set()
            self.is_leader = False
        log.critical("leadership lost: %s", reason)
        self.on_lost(reason)

    def _release_quietly(self) -> None:
        if self.epoch is None:
            return
        try:
            end_leadership(self.store, self.instance_id, self.epoch)
        except Exception as exc:
            log.warning("could not release the leadership lease: %s", _short(exc))

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
