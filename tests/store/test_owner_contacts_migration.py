"""Migration 0010: owners' email, slack and pagerduty columns become the ``contacts`` JSON
column, and back, with the data, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import inspect, text

from moroccron.model import Owner
from moroccron.store import Store


def owner_columns(store: Store) -> set[str]:
    return {c["name"] for c in inspect(store.engine).get_columns("owners")}


def rows(store: Store, columns: str) -> dict[str, tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(text(f"SELECT id, {columns} FROM owners ORDER BY id"))}


def test_upgrade_carries_the_columns_into_contacts_and_downgrade_carries_them_back(db_url: str) -> None:
    with Store(db_url) as store:
        store.upgrade("0009")
        prefs = json.dumps({"failure": ["email", "slack", "pagerduty"]})
        with store.engine.begin() as conn:
            for values in (
                {
                    "id": "alice@example.com",
                    "name": "Alice",
                    "email": "alice@example.com",
                    "slack": "@alice",
                    "pagerduty": "data-oncall",
                },
                {"id": "ops", "name": "", "email": None, "slack": None, "pagerduty": "PXYZ"},
                {"id": "bob", "name": "Bob", "email": "b@example.com", "slack": "#bob", "pagerduty": None},
            ):
                conn.execute(
                    text(
                        "INSERT INTO owners (id, name, email, slack, pagerduty, preferences) "
                        "VALUES (:id, :name, :email, :slack, :pagerduty, :prefs)"
                    ),
                    {**values, "prefs": prefs},
                )

        store.upgrade("0010")
        assert {"email", "slack", "pagerduty"}.isdisjoint(owner_columns(store)) and "contacts" in owner_columns(store)
        alice = store.get_owner("alice@example.com")
        assert alice.email == "alice@example.com" and alice.slack == "@alice" and alice.pagerduty == "data-oncall"
        assert dict(alice.contacts) == {"slack": "@alice", "pagerduty": "data-oncall"}
        assert alice.preferences["failure"] == ("email", "slack", "pagerduty") and alice.name == "Alice"
        ops = store.get_owner("ops")
        assert ops.email is None and dict(ops.contacts) == {"pagerduty": "PXYZ"}
        assert dict(store.get_owner("bob").contacts) == {"slack": "#bob"}
        assert store.get_owner("bob").email == "b@example.com"

        # a contact on a channel the older schema has no column for: dropped on the way down
        store.put_owner(Owner(id="carol@example.com", slack="#carol"))
        with store.engine.begin() as conn:
            conn.execute(
                text("UPDATE owners SET contacts = :c WHERE id = 'carol@example.com'"),
                {"c": json.dumps({"email": "carol@example.com", "slack": "#carol", "opsgenie": "team-c"})},
            )
        assert store.get_owner("carol@example.com").contacts["opsgenie"] == "team-c"  # read back leniently

        store.downgrade("0009")
        assert {"email", "slack", "pagerduty"} <= owner_columns(store) and "contacts" not in owner_columns(store)
        assert rows(store, "email, slack, pagerduty") == {
            "alice@example.com": ("alice@example.com", "@alice", "data-oncall"),
            "bob": ("b@example.com", "#bob", None),
            "carol@example.com": ("carol@example.com", "#carol", None),
            "ops": (None, None, "PXYZ"),
        }

        store.upgrade("head")
        assert dict(store.get_owner("alice@example.com").contacts) == {"slack": "@alice", "pagerduty": "data-oncall"}
        assert store.get_owner("carol@example.com").email == "carol@example.com"
        assert dict(store.get_owner("carol@example.com").contacts) == {"slack": "#carol"}
