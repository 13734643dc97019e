"""DatabaseLease: leadership without ZooKeeper, on SQLite and PostgreSQL, with short leases.

The timings here are the lease's own (a 2.5 s lease renewed every 0.5 s); the tests
wait for conditions and assert the order of events, never how long they took.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

import moroccron.lease as lease_module
from moroccron.lease import DatabaseLease
from moroccron.store import Store
from moroccron.store.lease import read_lease
from tests.e2e.harness import wait_for

LEASE, RENEW, POLL = 2.5, 0.5, 0.05


class Contender:
    """A DatabaseLease and a record of what it reported, with the time of each report."""

    def __init__(self, store: Store, name: str, *, elected: Any = None) -> None:
        self.name = name
        self.events: list[tuple[str, float, str]] = []
        self._elected = elected
        self.lease = DatabaseLease(
            store,
            f"{name}:4400",
            name,
            on_elected=self.on_elected,
            on_lost=self.on_lost,
            lease_seconds=LEASE,
            renew_seconds=RENEW,
            poll_seconds=POLL,
        )

    def on_elected(self) -> None:
        self.events.append(("elected", time.monotonic(), ""))
        if self._elected is not None:
            self._elected()

    def on_lost(self, reason: str) -> None:
        self.events.append(("lost", time.monotonic(), reason))

    def happened(self, kind: str) -> list[tuple[str, float, str]]:
        return [e for e in self.events if e[0] == kind]


@pytest.fixture
def contenders(store: Store) -> Iterator[list[Contender]]:
    made: list[Contender] = []
    yield made
    for c in made:
        c.lease.stop()


def start(contenders: list[Contender], store: Store, name: str, **kw: Any) -> Contender:
    c = Contender(store, name, **kw)
    contenders.append(c)
    c.lease.start()
    return c


def test_one_leads_the_other_waits_then_takes_over_at_once_after_a_clean_stop(store, contenders):
    a = start(contenders, store, "a")
    wait_for(lambda: a.happened("elected"), 20, what="a to lead")
    b = start(contenders, store, "b")
    # b waits as a standby for as long as a renews: several lease lengths
    deadline = time.monotonic() + 2 * LEASE
    while time.monotonic() < deadline:
        assert not b.happened("elected") and a.lease.is_leader and not b.lease.is_leader
        time.sleep(0.1)
    assert b.lease.leader() == {"address": "a:4400", "instance": "a"}
    assert a.lease.epoch == 1
    a.lease.stop()
    assert read_lease(store).holder in (None, "b"), "a clean stop ends the lease"
    wait_for(lambda: b.happened("elected"), 20, what="b to take over")
    assert b.lease.epoch == 2 and read_lease(store).holder == "b"
    assert not a.happened("lost"), "a stop is not a loss"
    assert not b.happened("lost")


def test_a_leader_that_cannot_renew_steps_down_before_a_standby_can_take_over(store, contenders, monkeypatch):
    a = start(contenders, store, "a")
    wait_for(lambda: a.happened("elected"), 20, what="a to lead")
    b = start(contenders, store, "b")
    time.sleep(RENEW * 2)  # b has seen a's lease being renewed (if not, it only waits longer)

    real_renew = lease_module.renew_lease

    def unreachable(store_: Any, holder: str, epoch: int, at: Any) -> bool:
        if holder == "a":
            raise OperationalError("UPDATE framework", {}, Exception("connection refused"))
        return real_renew(store_, holder, epoch, at)

    monkeypatch.setattr(lease_module, "renew_lease", unreachable)
    wait_for(lambda: a.happened("lost"), 20, what="a to give up its leadership")
    assert "not renewed within" in a.happened("lost")[0][2]
    assert not a.lease.is_leader
    wait_for(lambda: b.happened("elected"), 20, what="b to take over the expired lease")
    # a stopped leading before b started: never two leaders at once
    assert a.happened("lost")[0][1] < b.happened("elected")[0][1]
    assert b.lease.epoch == 2 and read_lease(store).holder == "b"


def test_a_leader_whose_lease_was_taken_learns_it_at_its_next_renewal(store, contenders):
    a = start(contenders, store, "a")
    wait_for(lambda: a.happened("elected"), 20, what="a to lead")
    # another instance takes the leadership under it (as a standby would after a pause)
    from moroccron.store.lease import claim_lease

    assert claim_lease(store, "usurper", "u:4400", read_lease(store)) == 2
    wait_for(lambda: a.happened("lost"), 20, what="a to notice")
    assert "epoch 1 has ended" in a.happened("lost")[0][2]
    assert read_lease(store).holder == "usurper", "a lost leader does not end its successor's lease"
    a.lease.stop()
    assert read_lease(store).holder == "usurper"


def test_a_take_over_that_fails_gives_the_lease_to_the_next(store, contenders):
    def broken() -> None:
        raise RuntimeError("plugin exploded")

    a = start(contenders, store, "a", elected=broken)
    wait_for(lambda: a.happened("lost"), 20, what="a's take-over to fail")
    assert "take-over failed" in a.happened("lost")[0][2]
    b = start(contenders, store, "b")
    wait_for(lambda: b.happened("elected"), 20, what="b to lead at once: a gave the lease back")
    assert b.lease.epoch == 2


def test_many_contenders_one_leader(store, contenders):
    elected = threading.Event()
    for n in range(4):
        start(contenders, store, f"i{n}", elected=elected.set)
    wait_for(elected.is_set, 20, what="someone to lead")
    time.sleep(2 * LEASE)
    leaders = [c for c in contenders if c.happened("elected")]
    assert len(leaders) == 1 and leaders[0].lease.is_leader
    assert read_lease(store).holder == leaders[0].name and store.current_epoch() == 1


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"MOROCCRON_LEASE_SECONDS": "2", "MOROCCRON_LEASE_RENEW_SECONDS": "1"}, "lease_seconds"),
        ({"MOROCCRON_LEASE_RENEW_SECONDS": "0"}, "lease_renew_seconds"),
        ({"MOROCCRON_LEASE_SECONDS": "soon"}, "environment variable MOROCCRON_LEASE_SECONDS"),
    ],
)
def test_lease_settings_that_leave_no_room_to_renew_are_refused(env, field):
    from moroccron.config import load_settings
    from moroccron.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        load_settings(environ=env)
    assert caught.value.errors[0].field == field


def test_default_lease_settings():
    from moroccron.config import load_settings

    settings = load_settings(environ={})
    assert (settings.lease_seconds, settings.lease_renew_seconds) == (10.0, 2.0)


def test_the_lease_is_renewed_while_a_slow_take_over_loads_the_state(store, contenders):
    """Loading 100,000 jobs takes seconds: the lease must not run out meanwhile."""
    loading = threading.Event()
    a = start(contenders, store, "a", elected=lambda: (loading.set(), time.sleep(2 * LEASE)))
    wait_for(loading.is_set, 20, what="a to start taking over")
    b = start(contenders, store, "b")
    time.sleep(2 * LEASE)
    assert not a.happened("lost") and not b.happened("elected")
    assert read_lease(store).holder == "a" and store.current_epoch() == 1
