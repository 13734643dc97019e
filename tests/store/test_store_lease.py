"""The leadership lease's compare-and-set operations, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from moroccron.errors import StaleEpoch
from moroccron.store import Store
from moroccron.store.lease import LeaseRecord, claim_lease, end_leadership, read_lease, renew_lease


def test_a_free_lease_is_taken_once(store: Store) -> None:
    free = read_lease(store)
    assert free == LeaseRecord(None, None, 0, None)
    assert claim_lease(store, "a", "10.0.0.1:4400", free) == 1
    # a second instance that saw the same free lease loses the race: nothing changes
    assert claim_lease(store, "b", "10.0.0.2:4400", free) is None
    held = read_lease(store)
    assert (held.holder, held.address, held.epoch) == ("a", "10.0.0.1:4400", 1)
    assert store.leader()["leader_id"] == "a" and store.current_epoch() == 1


def test_renewal_changes_the_record_and_fails_for_anyone_else(store: Store) -> None:
    epoch = claim_lease(store, "a", "h1", read_lease(store))
    assert epoch == 1
    before = read_lease(store)
    at = datetime.now(UTC) + timedelta(seconds=1)
    assert renew_lease(store, "a", epoch, at)
    after = read_lease(store)
    assert after != before and after.renewed_at == at and after.epoch == epoch
    assert not renew_lease(store, "b", epoch, at + timedelta(seconds=1)), "not b's lease"
    assert not renew_lease(store, "a", epoch + 1, at + timedelta(seconds=1)), "not that epoch"
    assert read_lease(store) == after


def test_an_expired_lease_is_taken_only_if_unchanged_since_it_was_seen(store: Store) -> None:
    epoch = claim_lease(store, "a", "h1", read_lease(store))
    seen = read_lease(store)
    # the holder renews after the standby looked: the standby's claim must fail
    assert renew_lease(store, "a", epoch, seen.renewed_at + timedelta(milliseconds=1))
    assert claim_lease(store, "b", "h2", seen) is None
    assert read_lease(store).holder == "a"
    # no renewal since it looked: the claim succeeds, with the next epoch, and fences "a"
    seen = read_lease(store)
    assert claim_lease(store, "b", "h2", seen) == epoch + 1
    assert not renew_lease(store, "a", epoch, datetime.now(UTC) + timedelta(seconds=5))
    with pytest.raises(StaleEpoch):
        store.check_epoch(epoch)


def test_ending_the_leadership_frees_the_lease_and_keeps_the_epoch(store: Store) -> None:
    epoch = claim_lease(store, "a", "h1", read_lease(store))
    assert not end_leadership(store, "b", epoch), "only the holder can end it"
    assert end_leadership(store, "a", epoch)
    free = read_lease(store)
    assert free.holder is None and free.address is None and free.epoch == epoch
    assert store.leader() is None and store.current_epoch() == epoch
    assert not end_leadership(store, "a", epoch), "ended already"
    assert claim_lease(store, "b", "h2", free) == epoch + 1
    assert not end_leadership(store, "a", epoch), "a replaced leader cannot end its successor's lease"
    assert read_lease(store).holder == "b"


def test_zookeeper_leaders_and_the_lease_share_one_epoch(store: Store) -> None:
    """take_leadership (after a ZooKeeper election) and the lease count the same epochs."""
    assert store.take_leadership("zk-leader", "h1") == 1
    assert end_leadership(store, "zk-leader", 1)
    assert claim_lease(store, "b", "h2", read_lease(store)) == 2


def test_the_framework_id_does_not_move_the_lease(store: Store) -> None:
    epoch = claim_lease(store, "a", "h1", read_lease(store))
    store.set_framework_id("fw-1")  # a change the standby sees; harmless: the holder keeps the lease
    assert renew_lease(store, "a", epoch, datetime.now(UTC) + timedelta(seconds=1))
    assert read_lease(store).holder == "a" and store.get_framework_id() == "fw-1"


def test_concurrent_claims_of_a_free_lease_make_one_leader(store: Store) -> None:
    free = read_lease(store)
    won: list[tuple[str, int | None]] = []
    barrier = threading.Barrier(6)

    def contend(name: str) -> None:
        barrier.wait()
        won.append((name, claim_lease(store, name, f"{name}:4400", free)))

    threads = [threading.Thread(target=contend, args=(f"i{n}",)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [name for name, epoch in won if epoch is not None]
    assert len(won) == 6 and len(winners) == 1
    assert read_lease(store).holder == winners[0] and store.current_epoch() == 1
