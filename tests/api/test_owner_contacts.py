"""Owners' contacts through the API and the CLI, and a channel added by a plugin alone: an
owner gets a contact on it through the API, and a failure reaches the plugin with it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from moroccron import channels
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.cli import main
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.model import Run, RunState
from moroccron.notify import Renderer, payload_for
from moroccron.outbox import Deliverer
from moroccron.store import Store
from tests.hooks.plugins.opsgenie import Opsgenie

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _channels_of_this_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Channels registered here do not outlive the test."""
    monkeypatch.setattr(channels, "_registry", dict(channels._registry))
    yield


def client_for(store: Store, *plugins: object) -> TestClient:
    pm = PluginManager(load_entrypoints=False)
    for plugin in plugins:
        pm.register(plugin)
    client = TestClient(create_app(AppContext(Settings(), store, pm)))
    client.plugins = pm  # type: ignore[attr-defined]
    return client


def test_slack_and_pagerduty_are_contacts_and_still_fields(store: Store) -> None:
    with client_for(store) as client:
        r = client.put("/api/v1/owners/ops@example.com", json={"name": "Ops", "slack": "#ops", "pagerduty": "P1"})
        assert r.status_code == 201, r.text
        assert r.json()["contacts"] == {"slack": "#ops", "pagerduty": "P1"}
        assert r.json()["slack"] == "#ops" and r.json()["pagerduty"] == "P1"
        assert store.get_owner("ops@example.com").contacts == {"slack": "#ops", "pagerduty": "P1"}

        # contacts merge per channel; null removes one; the old fields still work
        r = client.patch("/api/v1/owners/ops@example.com", json={"contacts": {"slack": "#ops-2", "pagerduty": None}})
        assert r.status_code == 200, r.text
        assert r.json()["contacts"] == {"slack": "#ops-2"} and r.json()["pagerduty"] is None
        r = client.patch("/api/v1/owners/ops@example.com", json={"pagerduty": "P2"})
        assert r.json()["contacts"] == {"slack": "#ops-2", "pagerduty": "P2"}
        r = client.patch("/api/v1/owners/ops@example.com", json={"slack": None})
        assert r.json()["contacts"] == {"pagerduty": "P2"} and r.json()["slack"] is None

        # a GET answer PUT back is the same owner
        got = client.get("/api/v1/owners/ops@example.com").json()
        assert client.put("/api/v1/owners/ops@example.com", json=got).json() == got

        r = client.put("/api/v1/owners/ops@example.com", json={"slack": "#a", "contacts": {"slack": "#b"}})
        assert r.status_code == 422 and r.json()["field"] == "slack" and "contacts.slack" in r.json()["error"]
        r = client.put("/api/v1/owners/ops@example.com", json={"contacts": ["slack", "#a"]})
        assert r.status_code == 422 and r.json()["field"] == "contacts"


def test_a_plugin_channel_reaches_the_plugin_without_a_change_to_the_core(store: Store) -> None:
    opsgenie = Opsgenie()
    with client_for(store) as plain:  # without the plugin: refused, naming the registered channels
        r = plain.put("/api/v1/owners/data@example.com", json={"contacts": {"opsgenie": "team-data"}})
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "contacts.opsgenie" and "unknown channel" in r.json()["error"]
        assert "email | slack | pagerduty | webhook" in r.json()["error"]
        r = plain.post(
            "/api/v1/jobs",
            json={"name": "etl", "command": "false", "notify": {"on_failure": ["opsgenie:ops-escalation"]}},
        )
        assert r.status_code == 422 and "unknown channel 'opsgenie'" in r.text

    with client_for(store, opsgenie) as client:
        r = client.put(
            "/api/v1/owners/data@example.com",
            json={
                "name": "Data",
                "contacts": {"opsgenie": "Team-Data"},
                "preferences": {"failure": ["opsgenie", "email"], "recovery": ["opsgenie"]},
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["contacts"] == {"opsgenie": "team-data"}  # normalised by the plugin's validator
        r = client.put("/api/v1/owners/bad@example.com", json={"contacts": {"opsgenie": "team data!"}})
        assert r.status_code == 422 and r.json()["field"] == "contacts.opsgenie"
        assert "is not an Opsgenie team" in r.json()["error"]
        r = client.post(
            "/api/v1/jobs",
            json={
                "name": "etl",
                "command": "false",
                "owners": ["data@example.com"],
                "notify": {"on_failure": ["opsgenie:ops-escalation"]},
            },
        )
        assert r.status_code == 201, r.text

        job = store.get_job("etl")
        failed = Run(
            job="etl", scheduled_at=NOW, state=RunState.FAILED, launched_at=NOW, finished_at=NOW, exit_status=1
        )
        store.enqueue_notification("failure", "etl", failed.task_id, payload_for(job, failed, {}), now=NOW)
        settings = Settings()
        deliverer = Deliverer(store, client.plugins, Renderer(settings), clock=lambda: NOW)
        assert deliverer.deliver_due() == 1

    assert [(event, team) for event, team, _ in opsgenie.delivered] == [
        ("failure", "team-data"),
        ("failure", "ops-escalation"),
    ]
    assert "etl" in opsgenie.delivered[0][2]
    item = store.notifications()[0]
    assert item.results["opsgenie:team-data"]["ok"] and item.results["opsgenie:ops-escalation"]["ok"]
    assert not item.results["email:data@example.com"]["ok"]  # no email plugin here: recorded undelivered


def test_cli_owners_set_contact(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/m.db"
    assert main(["owners", "set", "ops@example.com", "--contact", "slack=#ops", "--pagerduty", "P1", "--db", db]) == 0
    with Store(db) as store:
        assert store.get_owner("ops@example.com").contacts == {"slack": "#ops", "pagerduty": "P1"}
    assert main(["owners", "set", "ops@example.com", "--slack", "#ops-2", "--contact", "pagerduty=", "--db", db]) == 0
    with Store(db) as store:
        assert store.get_owner("ops@example.com").contacts == {"slack": "#ops-2"}
    capsys.readouterr()
    assert main(["owners", "set", "ops@example.com", "--contact", "teams=general", "--db", db]) == 1
    err = capsys.readouterr().err
    assert "contacts.teams" in err and "unknown channel" in err and "slack" in err
    assert main(["owners", "set", "ops@example.com", "--contact", "slack", "--db", db]) == 2
    assert "expected CHANNEL=ADDRESS" in capsys.readouterr().err
