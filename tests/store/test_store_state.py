"""Owners, scheduler state and framework/leadership rows in the Store, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from moroccron.errors import NotFound, StaleEpoch
from moroccron.model import Owner
from moroccron.store import Store
from tests.store.factories import T0, job

# --------------------------------------------------------------------------- owners


def test_owner_crud(store: Store) -> None:
    alice = Owner(
        id="alice@example.com",
        name="Alice",
        slack="@alice",
        preferences={"failure": ("slack", "email"), "success": ()},
        mute_until=datetime(2026, 5, 1, 9, 30, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    )
    assert store.put_owner(alice) is True
    back = store.get_owner("alice@example.com")
    assert back == alice and back.mute_until is not None and back.mute_until.tzinfo is UTC
    assert back.email == "alice@example.com"
    assert back.preferences["failure"] == ("slack", "email")

    quiet = Owner(id="alice@example.com", name="Alice B.", preferences={"failure": ()})
    assert store.put_owner(quiet) is False
    assert store.get_owner("alice@example.com") == quiet
    store.put_owner(Owner(id="ops", pagerduty="PXYZ"))
    assert [o.id for o in store.list_owners()] == ["alice@example.com", "ops"]

    store.delete_owner("ops")
    with pytest.raises(NotFound, match="owner 'ops' not found"):
        store.get_owner("ops")
    with pytest.raises(NotFound, match="owner 'ops' not found"):
        store.delete_owner("ops")
    assert store.list_owners() == [quiet]


# --------------------------------------------------------------------------- job state


def test_job_state(store: Store) -> None:
    store.apply_jobs([job("a"), job("b"), job("c")], [])
    assert store.get_job_states() == {}
    store.set_job_state("a", T0, T0 + timedelta(minutes=5))
    store.set_job_state("b", None, None)
    store.set_job_state("a", T0 + timedelta(minutes=5), None)  # replaces
    assert store.get_job_states() == {"a": (T0 + timedelta(minutes=5), None), "b": (None, None)}

    later = T0 + timedelta(hours=1, microseconds=7)
    store.set_job_states({"a": (later, None), "c": (later, later)})
    states = store.get_job_states()
    assert states["c"] == (later, later) and states["a"] == (later, None)
    assert all(t is None or t.tzinfo is UTC for pair in states.values() for t in pair)


def test_job_state_of_unknown_jobs_writes_nothing(store: Store) -> None:
    store.create_job(job("a"))
    with pytest.raises(NotFound, match="job 'x' not found"):
        store.set_job_states({"a": (T0, None), "x": (T0, None)})
    assert store.get_job_states() == {}


def test_job_state_is_fenced_too(store: Store) -> None:
    store.create_job(job("a"))
    old = store.take_leadership("one", "h1")
    store.take_leadership("two", "h2")
    with pytest.raises(StaleEpoch):
        store.set_job_state("a", T0, None, epoch=old)
    assert store.get_job_states() == {}


# --------------------------------------------------------------------------- framework


def test_framework_id(store: Store) -> None:
    assert store.get_framework_id() is None
    store.set_framework_id("5e1c-0001")
    assert store.get_framework_id() == "5e1c-0001"
    store.set_framework_id(None)
    assert store.get_framework_id() is None


def test_leadership(store: Store) -> None:
    assert store.leader() is None and store.current_epoch() == 0
    before = datetime.now(UTC)
    assert store.take_leadership("host-a:1", "http://a:4400") == 1
    assert store.take_leadership("host-b:1", "http://b:4400") == 2
    leader = store.leader()
    assert leader is not None
    assert (leader["leader_id"], leader["address"], leader["epoch"]) == ("host-b:1", "http://b:4400", 2)
    assert leader["updated_at"] >= before - timedelta(seconds=1)
    assert store.current_epoch() == 2
    store.set_framework_id("fw")  # does not touch the leadership
    assert store.current_epoch() == 2
