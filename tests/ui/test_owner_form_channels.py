"""The owner form has a field per registered channel: a plugin's channel gets one without
a change to the core, and its validator's errors show next to it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from moroccron import channels
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.masking import MASK
from moroccron.model import Owner
from moroccron.store import Store
from tests.hooks.plugins.opsgenie import Opsgenie


@pytest.fixture(autouse=True)
def _channels_of_this_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(channels, "_registry", dict(channels._registry))
    yield


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def errors_of(html: str) -> dict[str, str]:
    return {k: v for k, v in re.findall(r'id="err-(\w+)" role="alert">([^<]*)<', html) if v}


def inputs_of(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input id="f-[\w-]+" name="([\w-]+)" value="([^"]*)"', html))


def test_the_owner_form_has_a_field_per_registered_channel(store: Store) -> None:
    pm = PluginManager(load_entrypoints=False)
    pm.register(Opsgenie(), "opsgenie")
    client = TestClient(create_app(AppContext(Settings(), store, pm)))
    store.put_owner(Owner(id="data@example.com", name="Data", slack="#data", pagerduty="P1"))

    page = client.get("/owners/edit?id=data@example.com")
    assert page.status_code == 200
    fields = inputs_of(page.text)
    assert fields["slack"] == "#data" and fields["pagerduty"] == MASK  # the routing key stays hidden
    assert fields["contact_opsgenie"] == "" and fields["contact_webhook"] == ""
    assert "an Opsgenie team; e.g. team-data" in page.text

    form = {**fields, "editing": "1", "contact_opsgenie": "not a team!", "csrf": csrf_of(page.text)}
    r = client.post("/owners/edit", data=form, follow_redirects=False)
    assert r.status_code == 422
    assert errors_of(r.text) == {
        "contact_opsgenie": "is not an Opsgenie team (letters, digits and &#39;-&#39;, "
        "e.g. team-data) (allowed: an Opsgenie team)"
    }
    assert store.get_owner("data@example.com").contacts == {"slack": "#data", "pagerduty": "P1"}

    r = client.post("/owners/edit", data={**form, "contact_opsgenie": "Team-Data"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert store.get_owner("data@example.com").contacts == {
        "slack": "#data",
        "pagerduty": "P1",
        "opsgenie": "team-data",
    }
    listing = client.get("/owners").text
    assert "opsgenie team-data" in listing and "pagerduty (key set)" in listing and "P1" not in listing
